// The coordinators' dashboard in a real browser, against the real relay and command-line phones:
// a coordinator's day (import, the map, a round, phones working it, conflicts, requests, exports).
// The tests share one relay process and nothing else: each builds the compound it needs
// (world.js: a compound of its own, the ledger, phones, a round) and opens a browser of its own,
// so they pass in any order (DOORSTEP_TEST_ORDER=reverse or shuffle runs them so). The tests that
// only read share one such compound, built by whichever of them runs first and changed by none.

import { test as nodeTest, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Relay, browser, screenshot, readLedger, sampleData, tempDir, cleanup, inOrder, screens } from './harness.js';
import { ROSTER, tid, compound, dashboard } from './world.js';

const STATUS = { 正常: 'normal', 居家监测: 'home_monitoring', 居家隔离: 'home_quarantine', 集中隔离: 'central_quarantine', 确诊: 'confirmed' };
const NEED = { 独居老人: 'elderly_alone', 孕产妇: 'pregnant', 透析: 'dialysis', 化疗: 'chemotherapy', 慢性病: 'chronic_illness', 残疾人: 'disabled', 行动不便: 'mobility_impaired', 聋哑: 'deaf_mute' };
const rows = readLedger(ROSTER).map((r) => ({
  estate: r['小区'],
  building: r['楼号'].replace(/号楼$/, ''),
  unit: r['单元'].replace(/单元$/, ''),
  floor: r['楼层'],
  flat: r['房号'],
  head: r['户主'],
  status: STATUS[r['管控状态']],
  needs: r['重点人群'] ? r['重点人群'].split('、').map((n) => NEED[n]) : [],
}));

const timings = {};
let relay;
let dir;

before(async () => {
  dir = tempDir('browser');
  relay = await Relay.start(dir);
});

after(async () => {
  if (relay) await relay.stop();
  if (dir) cleanup(dir);
  if (Object.keys(timings).length) console.log(`# timings (ms): ${JSON.stringify(timings)}`);
});

/** A compound of the test's own (world.js says what `needs` can ask for); the time it took adds up in `timings.setup`. */
async function ownCompound(name, needs) {
  const t0 = Date.now();
  const world = await compound(relay, dir, name, needs);
  timings.setup = (timings.setup || 0) + (Date.now() - t0);
  return world;
}

let readOnly = null;
/**
 * 北林社区 with the ledger imported, volunteer-1's phone, and an open round for 北林小区 1号楼
 * assigned to it with one door delivered: for the tests that only read. Built once, by whichever
 * of them runs first; none of them changes it.
 */
function readOnlyCompound() {
  readOnly ??= ownCompound('北林社区', { roster: true, volunteers: 1, round: true }).then(async (world) => {
    await world.phones[0].run('attempt', world.doors[0].tasks[0].id, 'delivered');
    await world.phones[0].sync();
    return world;
  });
  return readOnly;
}

/** The dashboard signed in to `world` in a browser of its own, closed (and checked for script errors) after the test `t`. */
async function openDashboard(t, world, options, token) {
  const ui = await dashboard(world, options, token);
  t.after(() => ui.close());
  return ui;
}

const tests = [];
/** Registers a test; `inOrder` (harness.js) decides the order they run in. */
const test = (name, fn) => tests.push([name, fn]);

/** Waits until `selector`'s data-`attr` equals `value`. */
async function waitData(page, selector, attr, value, timeout) {
  await page.waitForFunction(
    ([s, a, v]) => {
      const el = document.querySelector(s);
      return !!el && el.dataset[a] === String(v);
    },
    [selector, attr, value],
    { timeout: timeout || 15_000 },
  );
}

/** Goes to a view and waits until it has loaded its data. */
async function open(page, hash, view) {
  await page.evaluate((h) => {
    delete document.querySelector('main').dataset.ready;
    // The same hash fires no hashchange of its own; the page renders on the event.
    if (location.hash === h) window.dispatchEvent(new HashChangeEvent('hashchange'));
    else location.hash = h;
  }, hash);
  await page.waitForSelector(`main[data-ready="${view}"]`);
}

/** GET through the page's own session; returns {status, body}. */
function apiGet(page, url) {
  return page.evaluate(async (u) => {
    const res = await fetch(u, { credentials: 'same-origin' });
    const text = await res.text();
    let body = text;
    try {
      body = JSON.parse(text);
    } catch (_) {
      // Not JSON.
    }
    return { status: res.status, body };
  }, url);
}

async function signIn(page, token) {
  await page.fill(tid('login-token'), token);
  await page.click(tid('login-submit'));
}

test('the sign-in page is Chinese by default and refuses a bad token', async (t) => {
  const b = await browser();
  t.after(() => b.close());
  const page = b.context.pages()[0] || (await b.context.newPage());
  page.setDefaultTimeout(15_000);
  const t0 = Date.now();
  await page.goto(`${relay.url}/dashboard`);
  await page.waitForSelector(tid('login-form'));
  timings.first_paint = Date.now() - t0;
  assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
  assert.equal((await page.textContent(tid('login-submit'))).trim(), '登录');
  await screenshot(page, '01-login');
  await signIn(page, 'dst_not-a-real-token');
  await page.waitForSelector(`${tid('login-error')}:not([hidden])`);
  assert.match(await page.textContent(tid('login-error')), /令牌无效/);
  // A tooltip or a screen reader's label shows a stored control or direction character as its
  // code point, as the page's text does; a field's value keeps it (a save writes it back).
  const shown = await page.evaluate(async () => {
    const { h } = await import('/dashboard/assets/dom.js');
    const el = h('button', { title: '10\u202E11', 'aria-label': '王\u0007芳' });
    const input = h('input', { value: '10\u202E11', placeholder: '\u2066x' });
    return [el.title, el.getAttribute('aria-label'), input.value, input.placeholder];
  });
  assert.deepEqual(shown, ['10⟨U+202E⟩11', '王⟨U+0007⟩芳', '10\u202E11', '⟨U+2066⟩x']);
});

test("a coordinator signs in with their device token and sees the empty compound", async (t) => {
  const ui = await openDashboard(t, await ownCompound('北林社区'));
  const { page } = ui;
  assert.equal(await page.textContent(`${tid('count-households')} .num`), '0');
  // An empty compound says what to do first, and links there.
  assert.match(await page.textContent(tid('overview-empty-hint')), /导入台账/);
  assert.equal(await page.getAttribute(`${tid('overview-empty-hint')} a`, 'href'), '#/sheets');
  const cookies = await ui.browser.context.cookies();
  const session = cookies.find((c) => c.name === 'doorstep_session');
  assert.ok(session, 'the session cookie is set');
  assert.ok(session.httpOnly, 'the session cookie is HttpOnly');
  // The live stream is connected.
  await waitData(page, tid('live-status'), 'state', 'on');
});

test('importing the roster shows a preview first, then commits 857 households', async (t) => {
  const world = await ownCompound('北林社区');
  const { page } = await openDashboard(t, world);
  const cbase = () => world.cbase;
  await open(page, '#/sheets', 'sheets');
  await page.setInputFiles(tid('import-file'), path.join(sampleData, ROSTER));
  const t0 = Date.now();
  await page.click(tid('import-preview'));
  await waitData(page, tid('import-households'), 'count', 857);
  timings.import_preview = Date.now() - t0;
  assert.ok(await page.$(tid('import-no-errors')), 'the sample ledger has no row errors');
  assert.match(await page.textContent(tid('import-estates')), /北林小区/);
  await screenshot(page, '02-import-preview');
  // A preview writes nothing.
  const before = await apiGet(page, `${cbase()}/overview`);
  assert.equal(before.status, 200);
  assert.equal(before.body.counts.households, 0);

  const t1 = Date.now();
  await page.click(tid('import-commit'));
  await waitData(page, tid('import-done'), 'added', 857, 60_000);
  timings.import_commit = Date.now() - t1;

  await open(page, '#/overview', 'overview');
  assert.equal(await page.textContent(`${tid('count-households')} .num`), '857');
  const expected = { normal: 757, home_monitoring: 23, central_quarantine: 14, home_quarantine: 59, confirmed: 4 };
  for (const [status, n] of Object.entries(expected)) {
    assert.equal(await page.getAttribute(tid(`status-count-${status}`), 'data-count'), String(n), status);
  }
  // The labels are the core's Chinese ones.
  assert.match(await page.textContent(tid('status-count-central_quarantine')), /集中隔离/);
  assert.equal(await page.getAttribute(tid('need-count-dialysis'), 'data-count'), '10');
  await screenshot(page, '03-overview');
});

/** What colour the 参谋图 gives a row of the ledger, where the rule leaves no doubt. */
function expectedColour(r) {
  if (r.status === 'confirmed') return 'red';
  if (r.status === 'central_quarantine') return 'pink';
  if (r.status === 'home_quarantine') return 'brown';
  if (r.status === 'home_monitoring') return 'yellow';
  if (r.needs.includes('mobility_impaired') && r.status === 'normal') return 'green';
  if (r.status === 'normal' && r.needs.length === 0) return 'none';
  return null;
}

function flatSelector(r) {
  return `${tid('flat')}[data-estate="${r.estate}"][data-building="${r.building}"][data-unit="${r.unit}"][data-flat="${r.flat}"]`;
}

test('the map colours flats as the ledger says, with a legend, and opens a household', async (t) => {
  const { page } = await openDashboard(t, await readOnlyCompound());
  const t0 = Date.now();
  await open(page, '#/map', 'map');
  timings.map_render = Date.now() - t0;
  assert.equal(await page.$$eval(tid('flat'), (els) => els.length), 857);
  assert.equal(await page.$$eval(tid('map-building'), (els) => els.length), 15);

  // Every confirmed, central-quarantine and home-quarantine flat, every mobility-impaired one,
  // and a sample of plain ones.
  const sample = [];
  const plain = [];
  for (const r of rows) {
    const c = expectedColour(r);
    if (c && c !== 'none') sample.push([r, c]);
    else if (c === 'none') plain.push([r, c]);
  }
  sample.push(...plain.filter((_, i) => i % 97 === 0));
  assert.ok(sample.filter(([, c]) => c === 'red').length === 4);
  assert.ok(sample.some(([, c]) => c === 'green'), 'the ledger has a mobility-impaired household to check');
  assert.equal(sample.filter(([, c]) => c === 'yellow').length, 23, 'every 居家监测 household is checked');

  // The legend is drawn again when the compound's settings arrive (its time zone); read its
  // colours once every swatch has one.
  await page.waitForFunction(
    (sel) => {
      const swatches = [...document.querySelectorAll(`${sel} li[data-colour] .swatch`)];
      return swatches.length >= 6 && swatches.every((el) => el.isConnected && getComputedStyle(el).backgroundColor !== '');
    },
    tid('legend'),
  );
  const legend = await page.$eval(tid('legend'), (root) =>
    Object.fromEntries(
      ['red', 'pink', 'brown', 'yellow', 'green', 'none'].map((c) => [
        c,
        getComputedStyle(root.querySelector(`li[data-colour="${c}"] .swatch`)).backgroundColor,
      ]),
    ),
  );
  assert.equal(new Set(Object.values(legend)).size, 6, 'six distinct legend colours');
  for (const [r, colour] of sample) {
    const sel = flatSelector(r);
    const got = await page.$eval(sel, (el) => ({ colour: el.dataset.colour, bg: getComputedStyle(el).backgroundColor, label: el.getAttribute('aria-label') }));
    assert.equal(got.colour, colour, `${r.estate} ${r.building}-${r.unit}-${r.flat} (${r.status})`);
    assert.equal(got.bg, legend[colour], `${r.building}-${r.unit}-${r.flat} is painted as the legend's ${colour}`);
  }
  // The legend and each coloured flat say it in words too, not only in colour.
  assert.match(await page.textContent(tid('legend')), /确诊.*集中隔离.*居家隔离.*居家监测.*行动不便/s);
  const red = sample.find(([, c]) => c === 'red')[0];
  assert.match(await page.getAttribute(flatSelector(red), 'aria-label'), /确诊/);

  await screenshot(page, '04-map');
  await page.emulateMedia({ media: 'print' });
  assert.equal(await page.$eval('nav.mainnav', (el) => getComputedStyle(el).display), 'none', 'printing hides the navigation');
  assert.equal(
    await page.$eval(`${flatSelector(red)}`, (el) => getComputedStyle(el).backgroundColor),
    legend.red,
    'printing keeps the colours',
  );
  await screenshot(page, '05-map-print');
  await page.emulateMedia({ media: 'screen' });
  // Highlighting the confirmed households counts four and fades the rest.
  await page.selectOption(tid('map-highlight'), 'status:confirmed');
  assert.match(await page.textContent(tid('map-summary')), /符合条件 4 户/);
  assert.equal(await page.$$eval(`${tid('flat')}:not(.dim)`, (els) => els.length), 4);
  await page.selectOption(tid('map-highlight'), '');

  await page.click(flatSelector(red));
  await page.waitForSelector('main[data-ready="households"]');
  assert.equal(await page.textContent(`${tid('hh-ledger')} dd[data-field="head"]`), red.head);
});

/** WCAG contrast ratio of two computed `rgb(…)` colours. */
function contrast(a, b) {
  const lum = (css) => {
    const [r, g, bl] = css.match(/[\d.]+/g).slice(0, 3).map((v) => {
      const c = Number(v) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

test('every need tag has its own mark on the map, in the legend, with a glyph and readable contrast', async (t) => {
  const { page } = await openDashboard(t, await readOnlyCompound());
  await open(page, '#/map', 'map');
  const legend = await page.$$eval(`${tid('legend-needs')} li`, (els) =>
    els.map((li) => {
      const mark = li.querySelector('.need');
      const style = getComputedStyle(mark);
      return { need: li.dataset.need, glyph: mark.textContent, bg: style.backgroundColor, fg: style.color, text: li.textContent };
    }),
  );
  assert.deepEqual(legend.map((l) => l.need), Object.values(NEED), 'the legend lists all eight need tags, in core order');
  assert.equal(new Set(legend.map((l) => l.bg)).size, 8, 'eight distinct mark colours');
  assert.equal(new Set(legend.map((l) => l.glyph)).size, 8, 'eight distinct glyphs: colour is not the only signal');
  for (const l of legend) {
    const zh = Object.keys(NEED).find((k) => NEED[k] === l.need);
    assert.ok(l.text.includes(zh), `${l.need} is named ${zh} in the legend`);
    assert.ok(zh.startsWith(l.glyph), `${l.need}'s glyph ${l.glyph} is its name's first character`);
    assert.ok(contrast(l.bg, l.fg) >= 4.5, `${l.need}'s glyph has contrast ${contrast(l.bg, l.fg).toFixed(2)}`);
  }
  // Every flat with need tags carries one mark per tag, painted as the legend's.
  const byNeed = Object.fromEntries(legend.map((l) => [l.need, l]));
  for (const need of Object.values(NEED)) {
    const households = rows.filter((r) => r.needs.includes(need));
    assert.ok(households.length > 0, `the ledger has a ${need} household`);
    for (const r of households) {
      const mark = await page.$eval(`${flatSelector(r)} .need[data-need="${need}"]`, (el) => ({
        bg: getComputedStyle(el).backgroundColor,
        glyph: el.textContent,
        visible: el.getBoundingClientRect().width > 0,
      }));
      assert.deepEqual(mark, { bg: byNeed[need].bg, glyph: byNeed[need].glyph, visible: true }, `${need} on ${r.building}-${r.unit}-${r.flat}`);
      assert.match(await page.getAttribute(flatSelector(r), 'aria-label'), new RegExp(Object.keys(NEED).find((k) => NEED[k] === need)));
    }
  }
  const unmarked = rows.find((r) => !r.needs.length);
  assert.equal(await page.$$eval(`${flatSelector(unmarked)} .need`, (els) => els.length), 0, 'a household without needs has no mark');
  // The fills' text is readable too.
  for (const c of ['red', 'pink', 'brown', 'yellow', 'green']) {
    const s = await page.$eval(`${tid('legend')} li[data-colour="${c}"] .swatch`, (el) => [getComputedStyle(el).backgroundColor, getComputedStyle(el).color]);
    assert.ok(contrast(...s) >= 4.5, `${c} fill's glyph has contrast ${contrast(...s).toFixed(2)}`);
  }
  await screenshot(page, '04b-map-needs', { fullPage: false });
});

test('the roster filters by status, need, building and search', async (t) => {
  const { page } = await openDashboard(t, await readOnlyCompound());
  await open(page, '#/roster?status=confirmed', 'roster');
  await waitData(page, tid('roster-count'), 'count', 4);
  const heads = await page.$$eval(`${tid('roster-row')} td:nth-child(2)`, (els) => els.map((e) => e.textContent).sort());
  assert.deepEqual(heads, rows.filter((r) => r.status === 'confirmed').map((r) => r.head).sort());

  await page.click(tid('roster-clear'));
  await waitData(page, tid('roster-count'), 'count', 857);
  await page.selectOption(tid('roster-need'), 'dialysis');
  await waitData(page, tid('roster-count'), 'count', rows.filter((r) => r.needs.includes('dialysis')).length);

  await page.click(tid('roster-clear'));
  await waitData(page, tid('roster-count'), 'count', 857);
  await page.selectOption(tid('roster-building'), { label: '北林小区 1号楼 (111)' });
  await waitData(page, tid('roster-count'), 'count', 111);

  await page.click(tid('roster-clear'));
  await waitData(page, tid('roster-count'), 'count', 857);
  const someone = rows.find((r) => r.status === 'central_quarantine');
  const namesakes = rows.filter((r) => r.head.includes(someone.head)).length;
  await page.fill(tid('roster-search'), someone.head);
  await waitData(page, tid('roster-count'), 'count', namesakes);
  const found = await page.$$eval(`${tid('roster-row')} td:nth-child(2)`, (els) => els.map((e) => e.textContent));
  assert.ok(found.includes(someone.head), `searching ${someone.head} finds them`);
  await screenshot(page, '06-roster');
});

test("every need tag is badged on the roster and a household's page with the map's mark", async (t) => {
  const { page } = await openDashboard(t, await readOnlyCompound());
  const legend = (await apiGet(page, '/dashboard/api/legend')).body;
  const glyph = Object.fromEntries(legend.needs.map((n) => [n.need, n.glyph.zh]));
  assert.deepEqual(Object.keys(glyph), Object.values(NEED), 'the legend the roster uses lists all eight need tags');
  const withNeeds = rows.filter((r) => r.needs.length);
  await open(page, '#/roster?need=any', 'roster');
  await waitData(page, tid('roster-count'), 'count', withNeeds.length);
  const shown = await page.$$eval(tid('roster-row'), (trs) =>
    trs.map((tr) => ({
      head: tr.children[1].textContent,
      badges: [...tr.querySelectorAll('[data-testid="need-badge"]')].map((b) => {
        const mark = b.querySelector('.need');
        return { need: b.dataset.value, mark: mark && mark.dataset.need, glyph: mark && mark.textContent, bg: mark && getComputedStyle(mark).backgroundColor, text: b.textContent };
      }),
    })),
  );
  const key = (head, needs) => `${head}|${[...needs].sort().join(',')}`;
  assert.deepEqual(
    shown.map((r) => key(r.head, r.badges.map((b) => b.need))).sort(),
    withNeeds.map((r) => key(r.head, r.needs)).sort(),
    'every household shows a badge for each of its need tags, and no other',
  );
  const colours = {};
  for (const b of shown.flatMap((r) => r.badges)) {
    const zh = Object.keys(NEED).find((k) => NEED[k] === b.need);
    assert.equal(b.mark, b.need, `the ${b.need} badge carries the ${b.need} mark`);
    assert.equal(b.glyph, glyph[b.need], `the ${b.need} badge's mark is the map's glyph`);
    assert.ok(b.text.includes(zh), `the ${b.need} badge is named ${zh}`);
    colours[b.need] = colours[b.need] || new Set();
    colours[b.need].add(b.bg);
  }
  assert.deepEqual(Object.keys(colours).sort(), Object.values(NEED).sort(), 'all eight need tags appear on the roster');
  for (const [need, set] of Object.entries(colours)) assert.equal(set.size, 1, `${need} marks share one colour`);
  assert.equal(new Set(Object.values(colours).map((set) => [...set][0])).size, 8, 'eight distinct mark colours, as on the map');

  // A household's own page badges its needs the same way.
  const several = withNeeds.find((r) => r.needs.length >= 2);
  const link = await page.$$eval(tid('roster-row'), (trs, head) => trs.find((tr) => tr.children[1].textContent === head).querySelector('a').getAttribute('href'), several.head);
  await open(page, link, 'households');
  const badges = await page.$$eval(`.badges ${tid('need-badge')}`, (els) => els.map((b) => [b.dataset.value, b.querySelector('.need').textContent]));
  assert.deepEqual(badges.map(([n]) => n).sort(), [...several.needs].sort());
  for (const [n, g] of badges) assert.equal(g, glyph[n]);
  await screenshot(page, '06b-roster-needs', { fullPage: false });
});

test("editing a household's notes and status goes through the core and reaches the phones", async (t) => {
  const world = await ownCompound('北林社区', { roster: true, volunteers: 1 });
  const { page } = await openDashboard(t, world);
  const r = rows.find((x) => x.estate === '北林小区' && x.building === '2' && x.status === 'normal' && !x.needs.length);
  await open(page, '#/map', 'map');
  await page.click(flatSelector(r));
  await page.waitForSelector('main[data-ready="households"]');
  await page.fill(tid('hh-notes'), '老人行动慢，敲门后多等一会儿');
  await page.click(tid('hh-notes-save'));
  await page.waitForFunction(() => document.querySelector('[data-field="notes"]').textContent.includes('多等一会儿'));
  await page.selectOption(tid('hh-status'), 'home_monitoring');
  await page.click(tid('hh-status-save'));
  await page.waitForFunction(() => document.querySelector('[data-field="status"]').textContent === '居家监测');
  await screenshot(page, '07-household');

  const phone = world.phones[0];
  await phone.sync();
  const found = await phone.run('find', `${r.estate}${r.building}号楼${r.unit}单元${r.flat}`);
  assert.equal(found.notes, '老人行动慢，敲门后多等一会儿');
  assert.equal(found.status, 'home_monitoring');
});

test('a round for one building is created, assigned, and reaches the volunteers', async (t) => {
  const world = await ownCompound('北林社区', { roster: true, volunteers: 2 });
  const { page } = await openDashboard(t, world);
  await open(page, '#/rounds', 'rounds');
  await page.fill(tid('round-title'), '蔬菜包 第1轮');
  await page.selectOption(tid('round-by'), 'building');
  await page.selectOption(tid('round-building'), { label: '北林小区 1号楼 (111)' });
  await waitData(page, tid('round-preview-count'), 'count', 111);
  await page.fill(tid('round-items'), '蔬菜包1份');
  await screenshot(page, '08a-rounds-new');
  await page.click(tid('round-create'));
  await page.waitForSelector(tid('page-round'));
  await waitData(page, `${tid('page-round')} ${tid('round-progress')}`, 'total', 111);
  assert.equal(await page.$$eval(tid('task-row'), (els) => els.length), 111);

  // Assign the building to volunteer 1 (the phone joined under that name).
  const phone = world.phones[0];
  await page.selectOption(tid('assign-volunteer'), { label: `${phone.name} (志愿者)` });
  await page.click(tid('assign-building-submit'));
  await waitData(page, tid('round-count-assigned'), 'count', 111);

  for (const p of world.phones) await p.sync();
  const mine = await phone.doors(false);
  assert.equal(mine.length, 111, 'volunteer 1 has the whole building');
  assert.equal((await world.phones[1].doors(false)).length, 0, 'volunteer 2 has nothing of it');
  assert.equal((await world.phones[1].doors(true)).length, 111, 'but volunteer 2 sees the round');
  await screenshot(page, '08-round');
});

test("the round's progress follows a phone's sync live, without a reload", async (t) => {
  const world = await ownCompound('北林社区', { roster: true, volunteers: 1, round: true });
  const { page } = await openDashboard(t, world);
  await open(page, `#/rounds/${world.round}`, 'rounds');
  await page.evaluate(() => {
    window.__sameDocument = true;
  });
  const phone = world.phones[0];
  const tasks = world.doors.slice(0, 4).map((d) => d.tasks[0].id);
  for (const task of tasks.slice(0, 3)) await phone.run('attempt', task, 'delivered');
  await phone.run('attempt', tasks[3], 'nobody_home', '--note', '敲门无人');
  const t0 = Date.now();
  await phone.sync();
  const synced = Date.now();
  timings.phone_sync = synced - t0;
  await waitData(page, tid('round-count-delivered'), 'count', 3, 10_000);
  await waitData(page, tid('round-count-attempted'), 'count', 1, 10_000);
  timings.live_update_after_sync = Date.now() - synced;
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page was not reloaded');
  await waitData(page, `${tid('page-round')} ${tid('round-progress')}`, 'delivered', 3);
  const note = await page.textContent(`${tid('task-row')}[data-task="${tasks[3]}"]`);
  assert.match(note, /无人应答/);
  assert.match(note, /敲门无人/);
  await screenshot(page, '09-round-live');
});

test("the map's round count leaves out a door removed from the roster, which it does not draw, and says so", async (t) => {
  const world = await ownCompound('北林社区', { roster: true, volunteers: 1, round: true });
  const gone = world.doors[5];
  await world.session.operate(world.compound, { op: 'remove_household', household: gone.household.id });
  const { page } = await openDashboard(t, world);
  await open(page, `#/map?round=${world.round}`, 'map');
  await waitData(page, tid('map-round-progress'), 'round', world.round);
  const shown = await page.$eval(tid('map-round-progress'), (el) => ({ doors: +el.dataset.doors, pending: +el.dataset.pending, notDrawn: +el.dataset.notDrawn }));
  assert.deepEqual(shown, { doors: 110, pending: 110, notDrawn: 1 });
  const drawn = await page.$$eval(tid('flat'), (els) => els.filter((el) => ['delivered', 'attempted', 'pending'].includes(el.dataset.door || '')).length);
  assert.equal(drawn, 110, 'the doors drawn are the doors counted');
  assert.equal(await page.$(`${tid('flat')}[data-household="${gone.household.id}"]`), null);
  assert.match(await page.textContent(tid('map-round-progress')), /共 110 户.*另有 1 户已从名册移除，图上未画出/);
});

test("the map shows an open round's doors as delivered, attempted or to go, and follows phones live", async (t) => {
  const world = await ownCompound('北林社区', { roster: true, volunteers: 1, round: true });
  const { page } = await openDashboard(t, world);
  const phone = world.phones[0];
  const doors = world.doors;
  for (const d of doors.slice(0, 3)) await phone.run('attempt', d.tasks[0].id, 'delivered');
  await phone.run('attempt', doors[3].tasks[0].id, 'nobody_home', '--note', '敲门无人');
  await phone.sync();
  // The round's page links to its doors on the map.
  await open(page, `#/rounds/${world.round}`, 'rounds');
  await page.click(tid('round-on-map'));
  await waitData(page, tid('map-round-progress'), 'round', world.round);
  assert.equal(await page.$eval(tid('map-round'), (el) => el.value), world.round, 'the list shows the round chosen');
  const counts = () =>
    page.$eval(tid('map-round-progress'), (el) => ({ doors: +el.dataset.doors, delivered: +el.dataset.delivered, attempted: +el.dataset.attempted, pending: +el.dataset.pending }));
  assert.deepEqual(await counts(), { doors: 111, delivered: 3, attempted: 1, pending: 107 });
  assert.match(await page.textContent(tid('map-round-progress')), /蔬菜包 第1轮.*已送达 3.*敲门未送达 1.*待送 107/);
  const door = (d) => page.getAttribute(`${tid('flat')}[data-household="${d.household.id}"]`, 'data-door');
  for (const d of doors.slice(0, 3)) assert.equal(await door(d), 'delivered');
  assert.equal(await door(doors[3]), 'attempted');
  assert.match(await page.getAttribute(`${tid('flat')}[data-household="${doors[3].household.id}"]`, 'aria-label'), /敲门未送达：无人应答/);
  assert.equal(await door(doors[4]), 'pending');
  assert.equal(await page.$$eval(`${tid('flat')}[data-door="outside"]`, (els) => els.length), 857 - 111, 'the other buildings are outside the round');
  assert.equal(await page.$$eval(`${tid('flat')}[data-door="outside"]:not(.dim)`, (els) => els.length), 0, 'and fade');
  assert.match(await page.textContent(tid('legend-doors')), /已送达.*敲门未送达.*待送/s);
  assert.equal(await page.evaluate(() => location.hash), `#/map?round=${world.round}`, 'the choice is in the address');

  // A phone delivers and syncs: the map follows without a reload.
  await page.evaluate(() => {
    window.__sameMap = true;
  });
  await phone.run('attempt', doors[5].tasks[0].id, 'delivered');
  await phone.run('attempt', doors[6].tasks[0].id, 'refused');
  await phone.sync();
  await waitData(page, tid('map-round-progress'), 'delivered', 4, 10_000);
  assert.deepEqual(await counts(), { doors: 111, delivered: 4, attempted: 2, pending: 105 });
  assert.equal(await door(doors[5]), 'delivered');
  assert.equal(await door(doors[6]), 'attempted');
  assert.equal(await page.evaluate(() => window.__sameMap), true, 'the page was not reloaded');
  await page.selectOption(tid('map-estate'), '北林小区');
  await screenshot(page, '09b-map-round', { fullPage: false });
  await page.selectOption(tid('map-estate'), '');
  await page.selectOption(tid('map-round'), '');
  await page.waitForFunction(() => document.querySelector('[data-testid="map-round-progress"]').hidden);
  assert.equal(await page.$$eval(`${tid('flat')}[data-door]`, (els) => els.length), 0, 'no round, no door marks');
  assert.equal(await page.evaluate(() => location.hash), '#/map');
  // Choosing it from the list shows it again.
  await page.selectOption(tid('map-round'), world.round);
  await page.waitForFunction(() => !document.querySelector('[data-testid="map-round-progress"]').hidden);
  assert.equal(await page.$$eval(`${tid('flat')}[data-door="delivered"]`, (els) => els.length), 4);
});

/** Both volunteers' phones deliver one task of the round (volunteer-2's with a note); returns its ID. */
async function doubleDelivery(world) {
  const [a, b] = world.phones;
  const task = world.doors[10].tasks[0].id;
  // Both phones hold the task from their last sync; each delivers it before hearing of the other.
  await b.run('attempt', task, 'delivered', '--note', '放门口');
  await a.run('attempt', task, 'delivered');
  await a.sync();
  await b.sync();
  return task;
}

test('two phones delivering the same task show up as a double delivery', async (t) => {
  const world = await ownCompound('北林社区', { roster: true, volunteers: 2, round: true });
  const { page } = await openDashboard(t, world);
  await open(page, '#/conflicts', 'conflicts');
  assert.ok(await page.$(tid('conflicts-none')));
  const task = await doubleDelivery(world);
  const card = `${tid('conflict-card')}[data-kind="double_delivery"][data-task="${task}"]`;
  await page.waitForSelector(card, { timeout: 10_000 });
  assert.equal(await page.$$eval(`${card} ${tid('attempt')}`, (els) => els.length), 2);
  const text = await page.textContent(card);
  assert.match(text, /重复送达/);
  assert.match(text, /volunteer-1/);
  assert.match(text, /volunteer-2/);
  assert.match(text, /放门口/);
  await screenshot(page, '10-conflicts');
});

test('a coordinator marks the double delivery reviewed with a note, and it leaves the count', async (t) => {
  const world = await ownCompound('北林社区', { roster: true, volunteers: 2, round: true });
  // Both syncs land before the page opens, so no live redraw closes the review form mid-use.
  const task = await doubleDelivery(world);
  const { page } = await openDashboard(t, world);
  const cbase = () => world.cbase;
  const card = `${tid('conflict-card')}[data-kind="double_delivery"][data-task="${task}"]`;
  await open(page, '#/conflicts', 'conflicts');
  await page.waitForSelector(card, { timeout: 10_000 });
  await page.click(`${card} ${tid('conflict-review-open')}`);
  await page.fill(`${card} ${tid('conflict-review-note')}`, '已核实，第二份转给 2-1-302');
  await page.click(`${card} ${tid('conflict-review')}`);
  await page.waitForSelector(card, { state: 'detached', timeout: 10_000 });
  const done = `${tid('conflict-reviewed-card')}[data-kind="double_delivery"][data-task="${task}"]`;
  await page.waitForSelector(done, { timeout: 10_000 });
  const text = await page.textContent(done);
  assert.match(text, /已核实，第二份转给 2-1-302/);
  assert.equal(await page.$$eval(`${done} ${tid('attempt')}`, (els) => els.length), 2, 'both deliveries stay');
  const overview = await apiGet(page, `${cbase()}/overview`);
  assert.equal(overview.body.conflicts, 0, 'the overview counts unreviewed conflicts only');
  await screenshot(page, '10b-conflicts-reviewed');
});

test('closing the round leaves its double deliveries, early and late, listed and reviewable, and the overview counts the late ones', async (t) => {
  const world = await ownCompound('北林社区', { roster: true, volunteers: 2, round: true });
  const early = await doubleDelivery(world);
  // Offline, both phones deliver another door while the coordinator closes the round.
  const [a, b] = world.phones;
  const late = world.doors[11].tasks[0].id;
  await a.run('attempt', late, 'delivered');
  await b.run('attempt', late, 'delivered');
  const { page } = await openDashboard(t, world);
  const cbase = () => world.cbase;
  await open(page, `#/rounds/${world.round}`, 'rounds');
  await page.click(tid('round-close'));
  await page.click(tid('round-close-confirm'));
  await page.waitForSelector(`${tid('page-round')} .round_status-closed`);
  await a.sync();
  await b.sync();

  await open(page, '#/', 'overview');
  await page.waitForSelector(`${tid('late-attempts')}[data-count="2"]`, { timeout: 10_000 });
  assert.match(await page.textContent(tid('late-attempts')), /已结束轮次的迟到记录 2 条/);
  await page.waitForSelector(`${tid('conflicts-waiting')}[data-count="2"]`, { timeout: 10_000 });

  await open(page, '#/conflicts', 'conflicts');
  const card = (task) => `${tid('conflict-card')}[data-kind="double_delivery"][data-task="${task}"]`;
  for (const task of [early, late]) {
    await page.waitForSelector(card(task), { timeout: 10_000 });
    assert.match(await page.textContent(`${card(task)} ${tid('conflict-round-closed')}`), /轮次已结束/);
  }
  await page.click(`${card(late)} ${tid('conflict-review-open')}`);
  await page.fill(`${card(late)} ${tid('conflict-review-note')}`, '结束后才同步，已核实');
  await page.click(`${card(late)} ${tid('conflict-review')}`);
  const done = `${tid('conflict-reviewed-card')}[data-kind="double_delivery"][data-task="${late}"]`;
  await page.waitForSelector(done, { timeout: 10_000 });
  assert.match(await page.textContent(done), /结束后才同步，已核实/);
  assert.ok(await page.$(card(early)), 'the early one still waits');
  const overview = await apiGet(page, `${cbase()}/overview`);
  assert.equal(overview.body.conflicts, 1);
  assert.equal(overview.body.counts.late_attempts, 2);
});

test('concurrent status edits are resolved by writing a value', async (t) => {
  const world = await ownCompound('北林社区', { roster: true, coordinators: 2 });
  const { page } = await openDashboard(t, world);
  const cbase = () => world.cbase;
  const coordinators = world.coordinatorPhones;
  await open(page, '#/conflicts', 'conflicts');
  const r = rows.find((x) => x.estate === '人和花园北院' && x.status === 'normal' && !x.needs.length);
  const address = `${r.estate}${r.building}号楼${r.unit}单元${r.flat}`;
  const household = (await coordinators[0].run('find', address)).id;
  await coordinators[0].run('op', JSON.stringify({ op: 'set_control_status', household, status: 'home_quarantine' }));
  await coordinators[1].run('op', JSON.stringify({ op: 'set_control_status', household, status: 'central_quarantine' }));
  for (const p of coordinators) await p.sync();
  const card = `${tid('conflict-card')}[data-kind="concurrent_status"][data-household="${household}"]`;
  await page.waitForSelector(card, { timeout: 10_000 });
  await page.click(`${card} ${tid('conflict-resolve')}[data-value="home_quarantine"]`);
  await page.waitForSelector(card, { state: 'detached', timeout: 10_000 });
  const detail = await apiGet(page, `${cbase()}/households/${household}`);
  assert.equal(detail.body.household.status, 'home_quarantine');
});

test('competing assignments are resolved by choosing the assignee', async (t) => {
  const world = await ownCompound('北林社区', { roster: true, volunteers: 2, coordinators: 2, round: true });
  const { page } = await openDashboard(t, world);
  const [a, b] = world.coordinatorPhones;
  const v2 = world.phones[1];
  const task = world.doors[20].tasks[0].id;
  await open(page, '#/conflicts', 'conflicts');
  // Two coordinators, each offline, hand the same door to different volunteers.
  await a.run('op', JSON.stringify({ op: 'assign_task', round: world.round, task, volunteer: v2.person }));
  await b.run('op', JSON.stringify({ op: 'assign_task', round: world.round, task, volunteer: a.person }));
  await a.sync();
  await b.sync();
  const card = `${tid('conflict-card')}[data-kind="competing_assignment"][data-task="${task}"]`;
  await page.waitForSelector(card, { timeout: 10_000 });
  const text = await page.textContent(card);
  assert.match(text, /coordinator-a/);
  assert.match(text, /volunteer-2/);
  await screenshot(page, '11-conflicts-assignment');
  await page.click(`${card} ${tid('conflict-resolve')}[data-value="${v2.person}"]`);
  await page.waitForSelector(card, { state: 'detached', timeout: 10_000 });
  await v2.sync();
  assert.ok((await v2.doors(false)).some((d) => d.tasks.some((x) => x.id === task)), 'the door is on volunteer 2’s list');
});

test('a request taken at the door is triaged and turned into a linked task', async (t) => {
  const world = await ownCompound('北林社区', { roster: true, volunteers: 2, round: true });
  const { page } = await openDashboard(t, world);
  const r = rows.find((x) => x.estate === '北林小区' && x.building === '3' && x.needs.includes('dialysis'));
  const phone = world.phones[1];
  await open(page, '#/requests', 'requests');
  await phone.run('request', `${r.estate}${r.building}号楼${r.unit}单元${r.flat}`, '需要透析用药，周三前', '--category', 'medicine', '--urgency', 'urgent');
  await phone.sync();
  const card = `${tid('request-card')}[data-status="new"]`;
  await page.waitForSelector(card, { timeout: 10_000 });
  assert.match(await page.textContent(card), /需要透析用药/);
  const id = await page.getAttribute(card, 'data-request');
  await page.selectOption(`${card} ${tid('request-kind')}`, 'medicine');
  await page.click(`${card} ${tid('request-to-task')}`);
  const linked = `${tid('request-card')}[data-request="${id}"] ${tid('request-links')}`;
  await page.waitForSelector(linked, { timeout: 10_000 });
  await waitData(page, `${tid('request-card')}[data-request="${id}"]`, 'status', 'accepted');
  await screenshot(page, '12-requests');
  // The volunteer's phone gets the new task, linked to the request.
  await phone.sync();
  const doors = await phone.doors(true);
  const door = doors.find((d) => d.household.head === r.head);
  assert.ok(door, 'the task reached the phone');
  assert.ok(door.tasks.some((x) => x.request === id && x.kind === 'medicine'));
});

test('a request taken at a door removed meanwhile still names the door, marked removed', async (t) => {
  const world = await ownCompound('北林社区', { roster: true, volunteers: 1 });
  const r = rows.find((x) => x.estate === '北林小区' && x.building === '2' && x.head);
  const phone = world.phones[0];
  // Offline at the door the volunteer takes a request; meanwhile a coordinator removes the household.
  await phone.run('request', `${r.estate}${r.building}号楼${r.unit}单元${r.flat}`, '胰岛素用完了，今天必须送到', '--category', 'medicine', '--urgency', 'critical');
  const all = await world.session.send('GET', `${world.cbase}/households`);
  const gone = all.find((x) => x.head === r.head && x.address.flat === r.flat && x.address.building === r.building);
  assert.ok(gone, 'the household is in the roster');
  await world.session.operate(world.compound, { op: 'remove_household', household: gone.id });
  await phone.sync();
  const { page } = await openDashboard(t, world);
  await open(page, '#/requests', 'requests');
  const card = `${tid('request-card')}[data-status="new"]`;
  await page.waitForSelector(card, { timeout: 10_000 });
  const text = await page.textContent(card);
  assert.match(text, /胰岛素用完了/);
  assert.ok(text.includes(`${r.building}号楼`) && text.includes(r.flat) && text.includes(r.head), `the card names the door and its head: ${text}`);
  assert.match(await page.textContent(`${card} ${tid('household-removed')}`), /已从名册移除/);
  await page.click(`${card} a[href="#/households/${gone.id}"]`);
  await page.waitForSelector(tid('household-removed-banner'), { timeout: 10_000 });
  assert.match(await page.textContent(tid('household-removed-banner')), /已于 .* 从名册移除/);
});

test("a task held by a volunteer removed since is marked, and can be given to a current member", async (t) => {
  const world = await ownCompound('北林社区', { roster: true, volunteers: 2, round: true });
  const [gone, stays] = world.phones;
  await world.session.send('POST', `${world.cbase}/members/${gone.person}/revoke`, '{}', 'application/json');
  const { page } = await openDashboard(t, world);
  await open(page, `#/rounds/${world.round}`, 'rounds');
  await page.waitForSelector(tid('assignee-removed'));
  const marks = await page.$$eval(tid('assignee-removed'), (els) => els.length);
  assert.equal(marks, 111, 'every task of the removed volunteer is marked');
  assert.match(await page.textContent(tid('assignee-removed')), /已移出/);
  // Given to a current member, the mark goes.
  await page.selectOption(tid('assign-volunteer'), { label: `${stays.name} (志愿者)` });
  await page.click(tid('assign-building-submit'));
  await page.waitForFunction((s) => document.querySelectorAll(s).length === 0, tid('assignee-removed'), { timeout: 10_000 });
});

test('review items from a volunteer removed meanwhile say whether they were made after the removal', async (t) => {
  const world = await ownCompound('北林社区', { roster: true, volunteers: 1 });
  const phone = world.phones[0];
  const r = rows.find((x) => x.estate === '北林小区' && x.building === '3');
  const door = `${r.estate}${r.building}号楼${r.unit}单元${r.flat}`;
  // Offline, a note before the removal and one after it (a lost phone still in someone's hands).
  await phone.run('notes', door, '移出之前写的');
  await world.session.send('POST', `${world.cbase}/members/${phone.person}/revoke`, '{}', 'application/json');
  await phone.run('notes', door, '移出之后写的');
  await phone.sync().catch(() => {});
  const { page } = await openDashboard(t, world);
  await open(page, '#/set_aside', 'set_aside');
  const warnings = tid('set-aside-former-member');
  await page.waitForFunction((s) => document.querySelectorAll(s).length === 2, warnings, { timeout: 10_000 });
  const after = await page.textContent(`${warnings}[data-after="true"]`);
  assert.match(after, /被移出本小区.*之后.*丢失的手机/);
  const before = await page.textContent(`${warnings}[data-after="false"]`);
  assert.match(before, /被移出本小区.*之前/);
});

test('knocks waiting in the set-aside inbox are marked on their tasks, and the overview counts the items waiting', async (t) => {
  const world = await ownCompound('北林社区', { roster: true, volunteers: 1, round: true });
  const token = await relay.joinToken(await relay.invite(world.compound, 'volunteer'), '被退回的手机');
  const [a, b] = [world.doors[2].tasks[0].id, world.doors[3].tasks[0].id];
  const now = Date.now();
  const knock = (hash, task) => ({
    id: hash.repeat(64), doc: world.round, person: null, summary: '记录：已送达 (delivered)',
    operation: JSON.stringify({ op: 'record_attempt', round: world.round, task, outcome: 'delivered', note: '' }),
    made_at: now, set_aside_at: now, rule: 'closed_rounds_are_final', reason: 'the round is closed',
  });
  const sent = await fetch(`${relay.url}/v1/set-aside`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ items: [knock('a', a), knock('b', b)], awaiting: [] }),
  });
  assert.equal(sent.status, 200, await sent.text());
  const { page } = await openDashboard(t, world);
  await open(page, '#/', 'overview');
  await page.waitForSelector(`${tid('set-aside-waiting')}[data-count="2"]`, { timeout: 10_000 });
  assert.match(await page.textContent(tid('set-aside-waiting')), /待处理搁置 2 件/);
  await open(page, `#/rounds/${world.round}`, 'rounds');
  for (const task of [a, b]) {
    const mark = `${tid('task-row')}[data-task="${task}"] ${tid('knock-waiting')}`;
    await page.waitForSelector(mark, { timeout: 10_000 });
    assert.match(await page.textContent(mark), /有上门记录待处理 1 条/);
  }
  assert.equal(await page.$$eval(tid('knock-waiting'), (els) => els.length), 2, 'only those two tasks are marked');
});

test('an item asking for a change its sender may not make is applied only after a step that shows the operation', async (t) => {
  const world = await ownCompound('北林社区', { roster: true });
  // A modified phone's item: its words say "delivered", its operation removes a household.
  const token = await relay.joinToken(await relay.invite(world.compound, 'volunteer'), '改过的手机');
  const households = await world.session.send('GET', `${world.cbase}/households`);
  const [victim, other] = [households[7], households[9]];
  const done = await world.session.operate(world.compound, { op: 'edit_notes', household: other.id, notes: '核实过' });
  const now = Date.now();
  const item = {
    id: 'f'.repeat(64), doc: done.changed[0], person: null, summary: '记录：已送达 (delivered)',
    operation: JSON.stringify({ op: 'remove_household', household: victim.id }),
    made_at: now, set_aside_at: now, rule: 'network', reason: 'timeout',
  };
  const sent = await fetch(`${relay.url}/v1/set-aside`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ items: [item], awaiting: [] }),
  });
  assert.equal(sent.status, 200, await sent.text());
  const { page } = await openDashboard(t, world);
  await open(page, '#/set_aside', 'set_aside');
  const card = `${tid('set-aside-card')}[data-state="pending"]`;
  await page.waitForSelector(`${card} ${tid('set-aside-beyond-role')}`, { timeout: 10_000 });
  // No apply button in sight until the step that shows the operation is opened.
  assert.equal(await page.isVisible(`${card} ${tid('set-aside-apply')}`), false, 'applied with one click');
  await page.click(`${card} ${tid('set-aside-apply-open')}`);
  const shown = await page.textContent(`${card} ${tid('set-aside-apply-checked')}`);
  assert.match(shown, /remove_household/);
  assert.ok(shown.includes(victim.id), shown);
  await page.click(`${card} ${tid('set-aside-apply')}`);
  await page.waitForSelector(`${tid('set-aside-card')}[data-state="applied"]`, { timeout: 10_000 });
});

/** Downloads the read-only compound's roster (`kind` csv or xlsx) from the sheets page, as a coordinator does; returns the file. */
async function exportedRoster(page, kind, file) {
  await open(page, '#/sheets', 'sheets');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(tid(`export-roster-${kind}`))]);
  await download.saveAs(file);
  return file;
}

test('the exports download: roster, special-needs ledger, a round\'s results', async (t) => {
  const { page } = await openDashboard(t, await readOnlyCompound());
  const scratch = tempDir('export');
  t.after(() => cleanup(scratch));
  const csvFile = await exportedRoster(page, 'csv', path.join(scratch, 'exported.csv'));
  assert.match(readFileSync(csvFile, 'utf8'), /小区,楼号,单元,楼层,房号,户主/);
  const xlsxFile = await exportedRoster(page, 'xlsx', path.join(scratch, 'exported.xlsx'));
  assert.equal(readFileSync(xlsxFile).subarray(0, 2).toString(), 'PK', 'the XLSX is a zip');
  const [special] = await Promise.all([page.waitForEvent('download'), page.click(tid('export-special-csv'))]);
  const specialText = readFileSync(await special.path(), 'utf8');
  const dialysis = rows.find((x) => x.needs.includes('dialysis'));
  assert.ok(specialText.includes(dialysis.head), 'the special-needs ledger lists a dialysis patient');
  const plain = rows.find((x) => !x.needs.length && rows.filter((y) => y.head === x.head).length === 1);
  assert.ok(!specialText.includes(`,${plain.head},`), 'and leaves out households without needs');
  const [roundCsv] = await Promise.all([page.waitForEvent('download'), page.click(tid('export-round-csv'))]);
  const results = readFileSync(await roundCsv.path(), 'utf8');
  assert.ok(results.split('\n').length > 100, "the round's results list its tasks");
  assert.match(results, /已送达/);
});

/** Signs the district admin in, in a browser of their own, on a new compound. */
async function adminOnNewCompound(name) {
  const compound = await relay.createCompound(name);
  const admin = await browser();
  const p = admin.context.pages()[0] || (await admin.context.newPage());
  p.setDefaultTimeout(15_000);
  await p.goto(`${relay.url}/dashboard`);
  await signIn(p, relay.adminToken);
  await p.waitForSelector('main[data-ready="overview"]');
  await p.selectOption(tid('compound-select'), compound);
  await p.waitForSelector(`main[data-ready="overview"][data-compound="${compound}"]`);
  await open(p, '#/sheets', 'sheets');
  return { admin, p, compound };
}

/** A roster CSV without each row's export version (导出版本: the roster's own heads, so two
 * rosters holding the same households export different ones). */
function withoutVersions(csv) {
  return csv.replace(/,[0-9a-f]{16}(\+[0-9a-f]{16})*(?=\r?$)/gm, '');
}

test('the exported CSV re-imports to the same roster', async (t) => {
  const world = await readOnlyCompound();
  const { page } = await openDashboard(t, world);
  const cbase = () => world.cbase;
  const scratch = tempDir('export');
  t.after(() => cleanup(scratch));
  const csvFile = await exportedRoster(page, 'csv', path.join(scratch, 'exported.csv'));
  const { admin, p, compound } = await adminOnNewCompound('北林社区（CSV 副本）');
  try {
    await p.setInputFiles(tid('import-file'), csvFile);
    await p.click(tid('import-preview'));
    await waitData(p, tid('import-households'), 'count', 857);
    assert.ok(await p.$(tid('import-no-errors')));
    await p.click(tid('import-commit'));
    await waitData(p, tid('import-done'), 'added', 857, 60_000);
    const a = await apiGet(page, `${cbase()}/overview`);
    const b = await apiGet(p, `/dashboard/api/compounds/${compound}/overview`);
    for (const k of ['households', 'people', 'aged_60_plus', 'children_under_6', 'special_needs', 'by_status', 'by_need']) {
      assert.deepEqual(b.body.counts[k], a.body.counts[k], k);
    }
    const again = await apiGet(p, `/dashboard/api/compounds/${compound}/export/roster.csv`);
    // fetch's text() drops the byte-order mark the file starts with; the rest is compared as is,
    // but for each roster's own export version (导出版本, the last cell of every row).
    assert.equal(withoutVersions(again.body), withoutVersions(readFileSync(csvFile, 'utf8').replace(/^\uFEFF/, '')), 'the copy exports the same roster, row for row');
  } finally {
    await admin.close();
  }
});

test('the exported XLSX re-imports to the same roster', async (t) => {
  const { page } = await openDashboard(t, await readOnlyCompound());
  const scratch = tempDir('export');
  t.after(() => cleanup(scratch));
  const csvFile = await exportedRoster(page, 'csv', path.join(scratch, 'exported.csv'));
  const xlsxFile = await exportedRoster(page, 'xlsx', path.join(scratch, 'exported.xlsx'));
  const { admin, p, compound } = await adminOnNewCompound('北林社区（XLSX 副本）');
  try {
    await p.setInputFiles(tid('import-file'), xlsxFile);
    await p.click(tid('import-preview'));
    await p.waitForSelector(tid('import-households'));
    const errors = await p.$$eval(tid('import-error-row'), (els) => els.slice(0, 3).map((e) => e.textContent));
    assert.deepEqual(errors, [], 'the exported XLSX previews without row errors');
    await waitData(p, tid('import-households'), 'count', 857);
    await p.click(tid('import-commit'));
    await waitData(p, tid('import-done'), 'added', 857, 60_000);
    const again = await apiGet(p, `/dashboard/api/compounds/${compound}/export/roster.csv`);
    assert.equal(withoutVersions(again.body), withoutVersions(readFileSync(csvFile, 'utf8').replace(/^\uFEFF/, '')), 'the copy exports the same roster');
  } finally {
    await admin.close();
  }
});

/** A copy of the ledger's header with four new rows, two of them bad (lines 3 and 4); returns its path. */
function brokenSpreadsheet() {
  const lines = readFileSync(path.join(sampleData, ROSTER), 'utf8').split(/\r?\n/).filter(Boolean);
  const bad = [
    lines[0],
    '北林小区,9号楼,1单元,1,101,新住户甲,13800000001,2,0,0,,正常,无,',
    '北林小区,9号楼,1单元,一楼,102,新住户乙,13800000002,2,0,0,,正常,无,',
    '北林小区,9号楼,1单元,1,103,新住户丙,13800000003,2,0,0,,阳性,无,',
    '北林小区,9号楼,1单元,2,201,新住户丁,13800000004,2,0,0,,正常,无,',
  ].join('\n');
  const file = path.join(dir, 'broken.csv');
  writeFileSync(file, `\uFEFF${bad}\n`);
  return file;
}

test('a broken spreadsheet lists its row errors and commits nothing', async (t) => {
  const world = await readOnlyCompound();
  const { page } = await openDashboard(t, world);
  const cbase = () => world.cbase;
  const file = brokenSpreadsheet();
  await open(page, '#/sheets', 'sheets');
  await page.setInputFiles(tid('import-file'), file);
  await page.click(tid('import-preview'));
  await page.waitForSelector(tid('import-errors'));
  const lineNumbers = await page.$$eval(tid('import-error-row'), (els) => els.map((e) => Number(e.dataset.line)));
  assert.deepEqual(lineNumbers.sort(), [3, 4]);
  const reasons = await page.textContent(tid('import-errors'));
  assert.match(reasons, /一楼/);
  assert.match(reasons, /阳性/);
  assert.equal(await page.$(tid('import-commit')), null, 'no plain commit while rows have errors');
  assert.ok(await page.$(tid('import-commit-good')));
  await screenshot(page, '13-import-errors');
  const overview = await apiGet(page, `${cbase()}/overview`);
  assert.equal(overview.body.counts.households, 857, 'the preview wrote nothing');
  const search = await apiGet(page, `${cbase()}/households?q=${encodeURIComponent('新住户甲')}`);
  assert.deepEqual(search.body, []);
});

test('the English switch relabels the page and is remembered', async (t) => {
  const { page } = await openDashboard(t, await readOnlyCompound());
  await open(page, '#/overview', 'overview');
  await page.click(tid('lang-toggle'));
  await page.waitForSelector('main[data-ready="overview"]');
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  assert.equal((await page.textContent(tid('nav-map'))).trim(), 'Map');
  assert.match(await page.textContent(tid('status-count-confirmed')), /Confirmed/);
  await page.reload();
  await page.waitForSelector('main[data-ready="overview"]');
  assert.equal((await page.textContent(tid('nav-roster'))).trim(), 'Roster', 'English after a reload');
  await screenshot(page, '14-overview-en');
  await open(page, '#/map', 'map');
  assert.match(await page.textContent(tid('legend')), /Confirmed.*Central quarantine.*Home quarantine.*Home monitoring.*Mobility impaired/s);
  // The need marks switch to their English abbreviations.
  assert.deepEqual(
    await page.$$eval(`${tid('legend-needs')} .need`, (els) => els.map((e) => e.textContent)),
    ['EA', 'PG', 'DI', 'CH', 'CI', 'DS', 'MI', 'DM'],
  );
  await screenshot(page, '14b-map-en', { fullPage: false });
  await page.click(tid('lang-toggle'));
  await page.waitForSelector('main[data-ready="map"]');
  assert.equal((await page.textContent(tid('nav-map'))).trim(), '参谋图');
});

test('a printable delivery sheet opens for a building of the round', async (t) => {
  const world = await readOnlyCompound();
  const { page, browser: b } = await openDashboard(t, world);
  await open(page, `#/rounds/${world.round}`, 'rounds');
  const [sheet] = await Promise.all([b.context.waitForEvent('page'), page.click(tid('print-sheet'))]);
  await sheet.waitForLoadState();
  const text = await sheet.textContent('body');
  const first = rows.find((r) => r.estate === '北林小区' && r.building === '1');
  assert.ok(text.includes(first.head), 'the sheet lists the building’s households');
  await screenshot(sheet, '15-print-sheet');
  await sheet.close();
});

test('closing the round takes it off the phones', async (t) => {
  const world = await ownCompound('北林社区', { roster: true, volunteers: 1, round: true });
  const { page } = await openDashboard(t, world);
  await open(page, `#/rounds/${world.round}`, 'rounds');
  await page.click(tid('round-close'));
  await page.click(tid('round-close-confirm'));
  await page.waitForSelector(`${tid('page-round')} .round_status-closed`);
  assert.equal(await page.$(tid('assign-form')), null, 'a closed round takes no assignments');
  const phone = world.phones[0];
  assert.ok((await phone.doors(true)).length > 0, 'the phone held the round');
  await phone.sync();
  assert.equal((await phone.doors(true)).filter((d) => d.tasks.some((x) => x.round === world.round)).length, 0);
});

test("a volunteer's credential cannot open the coordinators' pages", async () => {
  const world = await ownCompound('志愿者小区');
  const cbase = () => world.cbase;
  const volunteerToken = await relay.joinToken(await relay.invite(world.compound, 'volunteer'), '只读志愿者');
  const b = await browser();
  try {
    const p = b.context.pages()[0] || (await b.context.newPage());
    p.setDefaultTimeout(15_000);
    await p.goto(`${relay.url}/dashboard`);
    await signIn(p, volunteerToken);
    await p.waitForSelector(`${tid('login-error')}:not([hidden])`);
    assert.match(await p.textContent(tid('login-error')), /志愿者/);
    assert.equal(await p.$(tid('page-overview')), null);
    assert.equal((await b.context.cookies()).filter((c) => c.name === 'doorstep_session').length, 0, 'no session cookie');
    await screenshot(p, '16-volunteer-refused');
    const direct = await apiGet(p, `${cbase()}/overview`);
    assert.equal(direct.status, 401, 'the API answers nothing without a session');
    const bearer = await fetch(`${relay.url}${cbase()}/households`, { headers: { Authorization: `Bearer ${volunteerToken}` } });
    assert.ok(bearer.status === 401 || bearer.status === 403, `a volunteer's bearer token is refused (${bearer.status})`);
  } finally {
    await b.close();
  }
});

/** How far the page is wider than the screen (0 when nothing scrolls sideways). */
const pageOverflow = (p) => p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);

/** The layout facts of the visible elements matching `selector`: box edges and the screen's width. */
const boxes = (p, selector) =>
  p.$$eval(selector, (els) =>
    els
      .filter((el) => el.getClientRects().length)
      .map((el) => {
        const r = el.getBoundingClientRect();
        return { left: r.left, right: r.right, width: r.width, height: r.height, screen: document.documentElement.clientWidth };
      }),
  );

for (const [device, options, tag] of screens) {
  test(`on ${device} every page fits the width and nothing is out of reach`, async (t) => {
    const world = await readOnlyCompound();
    const { page: p } = await openDashboard(t, world, options);
    for (const [hash, view, name] of [
      ['#/overview', 'overview', 'overview'],
      ['#/map', 'map', 'map'],
      ['#/roster?status=home_quarantine', 'roster', 'roster'],
      [`#/rounds/${world.round}`, 'rounds', 'round'],
      ['#/requests', 'requests', 'requests'],
      ['#/sheets', 'sheets', 'sheets'],
      ['#/set_aside', 'set_aside', 'set-aside'],
    ]) {
      await open(p, hash, view);
      const overflow = await pageOverflow(p);
      assert.ok(overflow <= 1, `${view} is ${overflow}px wider than the screen`);
      if (['overview', 'map'].includes(name)) await screenshot(p, `20-${tag}-${name}`, { fullPage: view === 'overview' });
    }

    // Every navigation item is on the screen, none hidden off its edge.
    const nav = await boxes(p, '.mainnav a');
    assert.equal(nav.length, 9, "eight pages and Members");
    for (const [i, n] of nav.entries()) assert.ok(n.left >= 0 && n.right <= n.screen + 0.5, `nav item ${i} spans ${n.left}–${n.right} of ${n.screen}px`);

    // The round's tasks: names read on one line and every column is on the screen.
    await open(p, `#/rounds/${world.round}`, 'rounds');
    const heads = await boxes(p, `${tid('task-head')}`);
    assert.ok(heads.length >= 111, `${heads.length} names of the round's households`);
    const lineHeight = await p.$eval(tid('task-head'), (el) => parseFloat(getComputedStyle(el).lineHeight) || 22);
    for (const hd of heads) {
      assert.ok(hd.height < 1.8 * lineHeight, `a head of household's name wraps (${hd.width}×${hd.height}px)`);
      assert.ok(hd.right <= hd.screen, `a name ends at ${hd.right}px, off the ${hd.screen}px screen`);
    }
    const cells = await boxes(p, `${tid('task-row')}:first-child td`);
    for (const c of cells) assert.ok(c.right <= c.screen + 0.5, `a task column ends at ${c.right}px, off the ${c.screen}px screen`);
    const stacked = await p.$eval(`${tid('task-table')} thead`, (el) => getComputedStyle(el).display === 'none');
    assert.equal(stacked, tag === 'phone', tag === 'phone' ? 'a phone shows each task as a card' : 'a desktop keeps the table');
    await screenshot(p, `21-${tag}-round-tasks`, { fullPage: false });

    // The map: a building wider than the screen says it scrolls sideways, and only then.
    await open(p, '#/map', 'map');
    const scrolls = await p.$$eval(tid('map-scroll'), (els) =>
      els.map((el) => ({ wide: el.scrollWidth - el.clientWidth > 1, marked: el.dataset.overflow, cue: !el.previousElementSibling.hidden })),
    );
    assert.equal(scrolls.length, 15);
    for (const sc of scrolls) assert.deepEqual([sc.marked, sc.cue], [String(sc.wide), sc.wide], 'the cue shows exactly when the building scrolls');
    if (tag === 'phone') assert.ok(scrolls.some((sc) => sc.wide), 'at 390 px some building is wider than the screen');
    const cue = await boxes(p, `${tid('scroll-cue')}:not([hidden])`);
    for (const c of cue) assert.ok(c.right <= c.screen && c.height > 0, 'the cue itself is on the screen');

    // The import preview's reasons are on the screen, wide enough to read.
    await open(p, '#/sheets', 'sheets');
    await p.setInputFiles(tid('import-file'), brokenSpreadsheet());
    await p.click(tid('import-preview'));
    await p.waitForSelector(tid('import-errors'));
    const reasons = await boxes(p, tid('import-reason'));
    assert.equal(reasons.length, 2);
    for (const r of reasons) {
      assert.ok(r.left >= 0 && r.right <= r.screen + 0.5, `a reason spans ${r.left}–${r.right} of ${r.screen}px`);
      assert.ok(r.width >= Math.min(300, r.screen - 60), `a reason is ${r.width}px wide`);
    }
    const [caption] = await boxes(p, `${tid('import-errors')} caption`);
    assert.ok(caption.height < 40 && caption.width > 100, `the errors' caption reads on one line (${caption.width}×${caption.height}px)`);
    assert.ok((await pageOverflow(p)) <= 1, 'the preview fits the width');
    await screenshot(p, `22-${tag}-import-errors`, { fullPage: false });
  });
}

for (const [name, fn] of inOrder(tests)) nodeTest(name, fn);
