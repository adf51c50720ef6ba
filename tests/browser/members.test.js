// The members page in a real browser, at a desktop's width and a phone's: the list of people and
// devices, an invite that shows a code and the relay's QR code (a command-line phone joins with
// the link read off the page), and removing a person after a confirm step (their phone wipes the
// compound at its next sync), and what the relay refuses said in the page's language, also to a
// coordinator an admin removed while their page was open. Each test
// gets its own relay, so they stand alone (DOORSTEP_TEST_ORDER=reverse or shuffle shows it).

import { test as nodeTest } from 'node:test';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import assert from 'node:assert/strict';
import { Relay, Phone, browser, screenshot, tempDir, cleanup, inOrder, screens } from './harness.js';
import { Session, compound, dashboard } from './world.js';

const tests = [];
/** Registers a test; `inOrder` (harness.js) decides the order they run in. */
const test = (name, fn) => tests.push([name, fn]);

const tid = (id) => `[data-testid="${id}"]`;

/** How far the page is wider than the screen, in pixels. */
const overflow = (page) => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);

/** The on-screen box of the first element matching `selector`. */
const box = (page, selector) =>
  page.$eval(selector, (el) => {
    const r = el.getBoundingClientRect();
    return { left: r.left, right: r.right, width: r.width, height: r.height, screen: document.documentElement.clientWidth };
  });

/** `11/30 23:42`: what the page shows for Unix milliseconds `ms` at `minutes` east of UTC. */
function wallClock(ms, minutes) {
  const d = new Date(ms + minutes * 60_000);
  const pad = (n) => String(n).padStart(2, '0');
  return `${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
}

/** Runs `body(relay, dir, shown)` against a relay of its own started with `flags`; a dashboard
 * the body opens goes in `shown.ui`, and is closed (failing the test on a script error the page
 * raised) before the relay stops and its folder goes. */
async function onItsOwnRelay(prefix, flags, body) {
  const dir = tempDir(prefix);
  const relay = await Relay.start(dir, flags);
  const shown = { ui: null };
  try {
    await body(relay, dir, shown);
  } finally {
    try {
      if (shown.ui) await shown.ui.close();
    } finally {
      await relay.stop();
      cleanup(dir);
    }
  }
}

/** Names in the live members table. */
const liveNames = (page) => page.$$eval(`${tid('member-row')} td.lead`, (tds) => tds.map((td) => td.textContent.trim()));

for (const [device, options, tag] of screens) {
  test(`on ${device} a coordinator invites with a code and QR, and removes a person`, async () => {
    const dir = tempDir(`members-${tag}`);
    const relay = await Relay.start(dir);
    const b = await browser(options);
    const errors = [];
    try {
      const compound = await relay.createCompound('香樟苑');
      const token = await relay.joinToken(await relay.invite(compound, 'coordinator'), '王协调');
      const p = b.context.pages()[0] || (await b.context.newPage());
      p.setDefaultTimeout(15_000);
      p.on('pageerror', (e) => errors.push(String(e)));
      await p.goto(`${relay.url}/dashboard`);
      await p.fill(tid('login-token'), token);
      await p.click(tid('login-submit'));
      await p.waitForSelector('main[data-ready="overview"]');

      // The nav item is there and on the screen; the page lists the coordinator.
      const nav = await box(p, tid('nav-members'));
      assert.ok(nav.left >= 0 && nav.right <= nav.screen + 0.5, `the Members nav item spans ${nav.left}–${nav.right} of ${nav.screen}px`);
      assert.equal((await p.textContent(tid('nav-members'))).trim(), '成员');
      await p.click(tid('nav-members'));
      await p.waitForSelector('main[data-ready="members"]');
      // The compound's admin (who created it) and the coordinator, who may remove neither.
      assert.deepEqual(await liveNames(p), ['admin', '王协调（本人）']);
      assert.equal(await p.$(`${tid('member-row')} ${tid('member-revoke')}`), null, 'a coordinator removes no admin, nor themselves');

      // Inviting a volunteer shows the code as text and the QR code as an image the relay drew.
      await p.selectOption(tid('invite-role'), 'volunteer');
      await p.click(tid('invite-submit'));
      await p.waitForSelector(tid('invite-code'));
      const code = (await p.textContent(tid('invite-code'))).trim();
      assert.match(code, /^[0-9A-Z]{4}(-[0-9A-Z]{1,4})+$/, `an invite code: ${code}`);
      const link = (await p.textContent(tid('invite-shown-link'))).trim();
      assert.equal(link, `doorstep://join?relay=${encodeURIComponent(relay.url)}&code=${code}`);
      const qr = await p.$eval(tid('invite-shown-qr'), (img) => ({
        loaded: img.complete && img.naturalWidth > 0,
        svg: decodeURIComponent(img.src.replace(/^data:image\/svg\+xml;charset=utf-8,/, '')),
        alt: img.alt,
        ...img.getBoundingClientRect().toJSON(),
        screen: document.documentElement.clientWidth,
      }));
      assert.ok(qr.loaded, 'the QR image renders');
      assert.match(qr.svg, /^<svg[^>]*viewBox="0 0 \d+ \d+"[^>]*>.*<path fill="#000" d="M\d+ \d+h/s, 'the relay drew the QR as SVG');
      assert.equal(qr.alt, '加入小区的二维码');
      assert.ok(qr.width >= 150 && qr.right <= qr.screen, `the QR is ${qr.width}px wide and ends at ${qr.right}px of ${qr.screen}px`);
      const shownCode = await box(p, tid('invite-code'));
      assert.ok(shownCode.right <= shownCode.screen + 0.5, 'the code is on the screen');
      assert.ok((await overflow(p)) <= 1, 'the page fits the width with the invite shown');
      await screenshot(p, `30-${tag}-members-invite`, { fullPage: tag === 'desktop' });

      // A phone joins with the link read off the page (no --relay: the link names it), and shows
      // up in the list with its device.
      const phone = new Phone(dir, '李强');
      await phone.run('join', '--name', '李强', link);
      await p.click(tid('nav-overview'));
      await p.waitForSelector('main[data-ready="overview"]');
      await p.click(tid('nav-members'));
      await p.waitForSelector('main[data-ready="members"]');
      assert.deepEqual(await liveNames(p), ['admin', '王协调（本人）', '李强']);
      const row = `${tid('member-row')}:nth-child(3)`;
      assert.equal((await p.textContent(`${row} ${tid('member-device')}`)).includes('从未同步'), false, 'the joined phone has synced');

      // Removing asks first; cancelling keeps the person; confirming removes them.
      await p.click(`${row} ${tid('member-revoke')}`);
      assert.match(await p.textContent(tid('revoke-confirm')), /确定将 李强 移出本小区/);
      await p.click(tid('revoke-no'));
      assert.deepEqual(await liveNames(p), ['admin', '王协调（本人）', '李强'], 'cancel keeps them');
      await p.click(`${row} ${tid('member-revoke')}`);
      if (tag === 'phone') await screenshot(p, `31-${tag}-members-confirm`);
      await p.click(tid('revoke-yes'));
      await p.waitForFunction(() => document.querySelectorAll('[data-testid="member-row"]').length === 2);
      assert.deepEqual(await liveNames(p), ['admin', '王协调（本人）']);
      const gone = await p.$$eval(`${tid('member-revoked-row')} td.lead`, (tds) => tds.map((td) => td.textContent.trim()));
      assert.deepEqual(gone, ['李强'], 'the removed person is listed apart');
      assert.ok((await overflow(p)) <= 1, 'the page fits the width after the removal');

      // The removed phone wipes the compound at its next sync.
      const report = await phone.run('sync').catch((e) => String(e.message));
      assert.match(JSON.stringify(report), /香樟苑/, `the phone names the compound it was removed from: ${JSON.stringify(report)}`);
      const status = await phone.run('status');
      assert.deepEqual(status.removed_from, ['香樟苑'], JSON.stringify(status));
      // The compound's time zone: times on the page follow it, whatever the browser's own zone.
      const wang = `${tid('member-row')}:nth-child(2) td:nth-child(3)`;
      const joinedAt = await p.evaluate(async () => {
        const compound = document.querySelector('main').dataset.compound;
        const list = await (await fetch(`/dashboard/api/compounds/${compound}/members`)).json();
        return list.find((m) => m.name === '王协调').joined_at;
      });
      assert.equal((await p.textContent(wang)).trim(), wallClock(joinedAt, 480), 'UTC+8 by default');
      assert.equal(await p.inputValue(tid('zone-select')), '480');
      await p.selectOption(tid('zone-select'), '-300');
      await p.click(tid('zone-submit'));
      await p.waitForFunction(([s, v]) => document.querySelector(s).textContent.trim() === v, [wang, wallClock(joinedAt, -300)]);
      assert.ok((await overflow(p)) <= 1, 'the page fits the width with the time zone form');
      assert.deepEqual(errors, [], 'no script errors');
    } finally {
      await b.close();
      await relay.stop();
      cleanup(dir);
    }
  });
}

/** The error banner's text once it shows. */
async function banner(page) {
  await page.waitForSelector(`${tid('error-banner')}:not([hidden])`);
  return (await page.textContent(`${tid('error-banner')} span`)).trim();
}

test("the relay's refusals of member changes read in Chinese, and in English on the switch", async () => {
  const dir = tempDir('members-refused');
  const relay = await Relay.start(dir);
  const b = await browser({ viewport: { width: 1400, height: 900 } });
  const errors = [];
  try {
    const compound = await relay.createCompound('香樟苑');
    const coordinator = await relay.joinToken(await relay.invite(compound, 'coordinator'), '王协调');
    const join = async (name) => {
      const res = await fetch(`${relay.url}/v1/join`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ invite_code: await relay.invite(compound, 'volunteer'), device_name: `${name}的手机`, name }),
      });
      return (await res.json()).person;
    };
    const li = await join('李强');
    const zhao = await join('赵敏');
    const p = b.context.pages()[0] || (await b.context.newPage());
    p.setDefaultTimeout(15_000);
    p.on('pageerror', (e) => errors.push(String(e)));
    await p.goto(`${relay.url}/dashboard`);
    await p.fill(tid('login-token'), coordinator);
    await p.click(tid('login-submit'));
    await p.waitForSelector('main[data-ready="overview"]');
    await p.click(tid('nav-members'));
    await p.waitForSelector('main[data-ready="members"]');
    assert.deepEqual(await liveNames(p), ['admin', '王协调（本人）', '李强', '赵敏']);

    // Another coordinator's `doorstep admin` removes 李强 while this page still lists him: the
    // relay answers 404, and the page says so in Chinese and shows the list as it now is.
    await relay.admin('revoke', '--person', li, '--compound', compound);
    const row = (person) => `${tid('member-row')}[data-person="${person}"]`;
    await p.click(`${row(li)} ${tid('member-revoke')}`);
    await p.click(tid('revoke-yes'));
    const gone = await banner(p);
    assert.equal(gone, '出错了: 李强 已不是本小区的成员（可能刚被他人移出），列表已更新。');
    assert.doesNotMatch(gone, /[A-Za-z]/, 'no English in the Chinese page');
    await p.waitForFunction(() => document.querySelectorAll('[data-testid="member-revoked-row"]').length === 1);
    assert.deepEqual(await liveNames(p), ['admin', '王协调（本人）', '赵敏']);
    await screenshot(p, '32-desktop-members-refused');

    // In English, the same refusal for 赵敏 reads in English.
    await p.click(tid('lang-toggle'));
    await p.waitForSelector('main[data-ready="members"]');
    await relay.admin('revoke', '--person', zhao, '--compound', compound);
    await p.click(`${row(zhao)} ${tid('member-revoke')}`);
    await p.click(tid('revoke-yes'));
    assert.equal(
      await banner(p),
      'Error: 赵敏 is no longer a member of this compound (someone may just have removed them); the list is up to date again.',
    );

    // The district admin mints a token for a blank device name: the relay's 400, in Chinese.
    const admin = await browser({ viewport: { width: 1400, height: 900 } });
    try {
      const a = admin.context.pages()[0] || (await admin.context.newPage());
      a.setDefaultTimeout(15_000);
      a.on('pageerror', (e) => errors.push(String(e)));
      await a.goto(`${relay.url}/dashboard`);
      await a.fill(tid('login-token'), relay.adminToken);
      await a.click(tid('login-submit'));
      await a.waitForSelector('main[data-ready="overview"]');
      await a.click(tid('nav-members'));
      await a.waitForSelector('main[data-ready="members"]');
      const wang = (await a.$$eval(tid('member-row'), (trs) => trs.find((tr) => tr.textContent.includes('王协调')).dataset.person));
      await a.click(`${row(wang)} ${tid('member-token')}`);
      await a.fill(tid('device-name'), '   ');
      await a.click(tid('token-submit'));
      assert.equal(await banner(a), '出错了: 设备名称须为 1 至 200 个字。');
      assert.equal(await a.$(tid('token-secret')), null, 'no token was shown');
    } finally {
      await admin.close();
    }
    assert.deepEqual(errors, [], 'no script errors');
  } finally {
    await b.close();
    await relay.stop();
    cleanup(dir);
  }
});

/** How many invites the relay's SQLite file holds, read with Python's sqlite3 (the scripts need Python 3). */
async function inviteCount(relay) {
  const count = 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM invites").fetchone()[0])';
  const { stdout } = await promisify(execFile)('python3', ['-c', count, relay.db]);
  return Number(stdout.trim());
}

for (const [device, options, tag] of screens) {
  test(`on ${device} a coordinator removed while the members page is open is told so in Chinese and English, and nothing changes`, async () => {
    const dir = tempDir(`members-removed-${tag}`);
    const relay = await Relay.start(dir);
    const b = await browser(options);
    const errors = [];
    try {
      const compound = await relay.createCompound('香樟苑');
      const wangToken = await relay.joinToken(await relay.invite(compound, 'coordinator'), '王协调');
      // Another person who runs the compound: an admin of it (a coordinator may not remove a
      // coordinator; the relay asks for an admin).
      const zhangToken = await relay.joinToken(await relay.invite(compound, 'admin'), '张管理');
      await relay.joinToken(await relay.invite(compound, 'volunteer'), '李强');
      const p = b.context.pages()[0] || (await b.context.newPage());
      p.setDefaultTimeout(15_000);
      p.on('pageerror', (e) => errors.push(String(e)));
      await p.goto(`${relay.url}/dashboard`);
      await p.fill(tid('login-token'), wangToken);
      await p.click(tid('login-submit'));
      await p.waitForSelector('main[data-ready="overview"]');
      await p.click(tid('nav-members'));
      await p.waitForSelector('main[data-ready="members"]');
      assert.deepEqual(await liveNames(p), ['admin', '王协调（本人）', '张管理', '李强']);
      const row = (name) => p.$$eval(tid('member-row'), (trs, n) => trs.find((tr) => tr.querySelector('td.lead').textContent.trim() === n).dataset.person, name);
      const wang = await row('王协调（本人）');
      const liPerson = await row('李强');

      // A page that offers a role the relay will not let a coordinator invite (here added by
      // hand, as a stale page would): the relay's 403 is said as the rule, in Chinese.
      await p.$eval(tid('invite-role'), (sel) => sel.append(new Option('协调员', 'coordinator')));
      await p.selectOption(tid('invite-role'), 'coordinator');
      await p.click(tid('invite-submit'));
      assert.equal(await banner(p), '出错了: 不能邀请协调员：协调员只能邀请志愿者和医护人员，邀请协调员或管理员须由管理员操作。');
      await p.click(tid('error-dismiss'));

      // 张管理 removes 王协调 through the dashboard's API while 王协调's page still shows the
      // invite form and the remove button.
      const zhang = await Session.signIn(relay, zhangToken);
      const members = `/dashboard/api/compounds/${compound}/members`;
      await zhang.send('POST', `${members}/${wang}/revoke`, '{}', 'application/json');
      const invitesBefore = await inviteCount(relay);

      // Invite: the relay refuses (403), and the page says why in Chinese: not the rule about
      // which roles a coordinator may invite (they asked for a volunteer), but that they no
      // longer run the compound.
      const zh = '出错了: 你已不再负责香樟苑（可能刚被管理员移出），不能邀请或移出成员，页面上的名单也不再更新。如有疑问，请联系本小区的管理员。';
      await p.selectOption(tid('invite-role'), 'volunteer');
      await p.click(tid('invite-submit'));
      assert.equal(await banner(p), zh);
      assert.equal(await p.$(tid('invite-code')), null, 'no code was shown');
      assert.ok((await overflow(p)) <= 1, 'the page fits the width with the refusal shown');
      await screenshot(p, `33-${tag}-members-removed-refused`);

      // Remove 李强: refused the same way, and the row keeps its remove button.
      await p.click(tid('error-dismiss'));
      await p.click(`${tid('member-row')}[data-person="${liPerson}"] ${tid('member-revoke')}`);
      await p.click(tid('revoke-yes'));
      assert.equal(await banner(p), zh);
      await p.waitForSelector(`${tid('member-row')}[data-person="${liPerson}"] ${tid('member-revoke')}`);
      assert.deepEqual(await liveNames(p), ['admin', '王协调（本人）', '张管理', '李强'], 'the list is left as it was');

      // Nothing changed on the relay: no invite made, 李强 still a member, 王协调 still removed.
      assert.equal(await inviteCount(relay), invitesBefore, 'no invite was made');
      const list = await zhang.send('GET', members);
      assert.equal(list.find((m) => m.person === liPerson).revoked, false, '李强 is still a member');
      assert.equal(list.find((m) => m.person === wang).revoked, true, '王协调 is still removed');

      // In English the page, redrawn, says the same in English (its list can no longer be
      // fetched), and so does a second try at inviting.
      const en =
        "Error: You no longer run 香樟苑 (an admin may just have removed you), so you may not invite or remove members, and the list here is no longer kept up to date. If this is a mistake, ask the compound's admin.";
      await p.click(tid('lang-toggle'));
      await p.waitForSelector('main[data-ready="members"]');
      assert.equal(await banner(p), en);
      await p.click(tid('error-dismiss'));
      await p.click(tid('invite-submit'));
      assert.equal(await banner(p), en);
      assert.equal(await inviteCount(relay), invitesBefore, 'still no invite');
      assert.ok((await overflow(p)) <= 1, 'the English page fits the width too');
      assert.deepEqual(errors, [], 'no script errors');
    } finally {
      await b.close();
      await relay.stop();
      cleanup(dir);
    }
  });
}

/** `n` characters no compression shrinks much: CJK from a fixed-seed generator. */
function noise(n, seed) {
  let x = seed;
  let out = '';
  for (let i = 0; i < n; i += 1) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out += String.fromCodePoint(0x4e00 + (x % 20000));
  }
  return out;
}

/** Adds building 9 and its door 9-1-301 (赵六) to the world's compound. */
async function addDoor9301(world) {
  await world.session.operate(world.compound, { op: 'add_building', estate: '', label: '9', lift: false });
  await world.session.operate(world.compound, {
    op: 'add_household',
    draft: {
      address: { estate: '', building: '9', unit: '1', floor: 3, flat: '301' },
      head: '赵六', phone: '', people: 1, aged_60_plus: 1, children_under_6: 0,
      needs: [], status: 'normal', lift: false, notes: '',
    },
  });
}

test("a volunteer's phone refused for its share of the roster is named on the members page", async () => {
  // A share of 1/1024 MiB (1 KiB) a day for a volunteer; a volunteer's phone rewrites one
  // household's notes, 1,000 characters (about 3 KB: a message larger than a whole share is taken
  // from a full one) at a time, until the relay refuses the roster's growth.
  await onItsOwnRelay('members-share', ['--growth-share-mib', String(1 / 1024)], async (relay, dir, shown) => {
    const world = await compound(relay, dir, '香樟苑', { volunteers: 1 });
    await addDoor9301(world);
    const phone = world.phones[0];
    await phone.sync();
    const members = `${world.cbase}/members`;
    const refusedOf = async () => (await world.session.send('GET', members)).find((m) => m.person === phone.person).share_refused;
    let notes = 0;
    while (!(await refusedOf())) {
      assert.ok(notes < 10, `${notes} notes of 1,000 characters and the relay never refused the roster's growth`);
      notes += 1;
      await phone.run('notes', '9-1-301', noise(1000, notes));
      // A refused share leaves the roster behind this time, which `phone sync` says with its exit.
      await phone.sync().catch((e) => assert.ok(e.message.includes('(document_full)'), e.message));
    }
    const refused = await refusedOf();
    assert.equal(refused.kind, 'roster');
    assert.ok(refused.times >= 1, JSON.stringify(refused));

    // The page says so under the volunteer's name, in Chinese, then in English.
    const p = (shown.ui = await dashboard(world)).page;
    await p.click(tid('nav-members'));
    await p.waitForSelector('main[data-ready="members"]');
    const row = `${tid('member-row')}[data-person="${phone.person}"]`;
    const warning = (await p.textContent(`${row} ${tid('member-share-refused')}`)).trim();
    assert.ok(warning.startsWith('这部手机向住户台账写入的数据超过每日份额，已被拒收'), warning);
    assert.ok(warning.includes(`${refused.times} 次`), warning);
    assert.equal(await p.$$eval(tid('member-share-refused'), (els) => els.length), 1, 'under the one person refused only');
    await screenshot(p, 'members-share-refused');
    await p.click(tid('lang-toggle'));
    await p.waitForSelector('main[data-ready="members"]');
    const english = (await p.textContent(`${row} ${tid('member-share-refused')}`)).trim();
    assert.ok(english.startsWith("This person's phone tried to add more than a day's share to the household roster"), english);
    assert.ok((await overflow(p)) <= 1, 'the page fits the width');
  });
});

test("a phone whose clock is wrong is named on the members page until it is set right", async () => {
  // No sweep writes what the relay noted of each sync within the test (every five minutes): the
  // page shows it at once from the relay's memory.
  await onItsOwnRelay('members-clock', [], async (relay, dir, shown) => {
    const world = await compound(relay, dir, '香樟苑', { volunteers: 2 });
    const [wrong, right] = world.phones;
    const members = `${world.cbase}/members`;
    const offOf = async () =>
      (await world.session.send('GET', members)).find((m) => m.person === wrong.person).devices[0].clock_off_by_ms;
    // Its date three days ahead (a battery run flat, a date set by hand).
    await wrong.runWithClock('+3d', 'sync');
    const ahead = await offOf();
    assert.ok(Math.abs(ahead - 3 * 86_400_000) < 60_000, `three days ahead at once, not ${ahead} ms`);

    const p = (shown.ui = await dashboard(world)).page;
    await p.click(tid('nav-members'));
    await p.waitForSelector('main[data-ready="members"]');
    const warningOf = (phone) => `${tid('member-row')}[data-person="${phone.person}"] ${tid('member-clock-off')}`;
    const warning = (await p.textContent(warningOf(wrong))).trim();
    assert.ok(warning.startsWith('手机时钟快了 3 天 0 小时：请提醒此人校准手机的日期、时间和时区'), warning);
    assert.equal(await p.$$eval(tid('member-clock-off'), (els) => els.length), 1, 'beside the one wrong phone only');
    assert.equal(await p.$(warningOf(right)), null);
    await screenshot(p, 'members-clock-off');
    await p.click(tid('lang-toggle'));
    await p.waitForSelector('main[data-ready="members"]');
    const english = (await p.textContent(warningOf(wrong))).trim();
    assert.ok(english.startsWith("phone's clock 3 days 0 h ahead: ask them to set the phone's date, time and time zone"), english);
    assert.ok((await overflow(p)) <= 1, 'the page fits the width');

    // Set right, and synced: the warning goes at the page's next look.
    await wrong.sync();
    assert.equal(await offOf(), undefined, 'the warning goes with a sync with the clock set right');
    await p.click(tid('nav-overview'));
    await p.waitForSelector('main[data-ready="overview"]');
    await p.click(tid('nav-members'));
    await p.waitForSelector('main[data-ready="members"]');
    assert.equal(await p.$$eval(tid('member-clock-off'), (els) => els.length), 0);
  });
});

test("when most phones are off by the same days the page says the relay's clock is wrong, not theirs", async () => {
  await onItsOwnRelay('members-relay-clock', [], async (relay, dir, shown) => {
    const world = await compound(relay, dir, '香樟苑', { volunteers: 3 });
    // The relay's own clock forty days behind: every right phone is forty days ahead of it.
    for (const phone of world.phones) await phone.runWithClock('+40d', 'sync');
    const p = (shown.ui = await dashboard(world)).page;
    await p.click(tid('nav-members'));
    await p.waitForSelector('main[data-ready="members"]');
    const warnings = await p.$$eval(tid('member-clock-off'), (els) => els.map((e) => e.textContent.trim()));
    assert.equal(warnings.length, 3, String(warnings));
    for (const warning of warnings) {
      assert.ok(warning.startsWith('与中继的时钟相差 40 天 0 小时，多数手机也相差这么多：可能是中继服务器的时钟有误'), warning);
      assert.ok(!warning.includes('请提醒此人校准手机'), warning);
    }
    await screenshot(p, 'members-relay-clock');
    await p.click(tid('lang-toggle'));
    await p.waitForSelector('main[data-ready="members"]');
    const english = (await p.textContent(tid('member-clock-off'))).trim();
    assert.ok(english.includes("the relay's own clock is probably wrong, not this phone's"), english);
  });
});

test("a district admin revokes a volunteer's lost phone alone, and their other phone keeps working", async () => {
  await onItsOwnRelay('members-device', [], async (relay, dir, shown) => {
    const world = await compound(relay, dir, '香樟苑', { volunteers: 1 });
    const [kept] = world.phones;
    // A second phone for the same volunteer, from a token the district admin minted.
    const admin = await Session.signIn(relay, relay.adminToken);
    const minted = await admin.send('POST', `${world.cbase}/members/${kept.person}/tokens`, JSON.stringify({ device_name: '备用机' }), 'application/json');
    await addDoor9301(world);
    const lost = new Phone(world.dir, 'spare');
    await lost.run('login', '--relay', relay.url, minted.token);
    await lost.sync();
    // Work written on it offline that never reaches the relay: it goes with the wipe.
    await lost.run('notes', '9-1-301', '备用机上写的，未同步');

    const p = (shown.ui = await dashboard(world, undefined, relay.adminToken)).page;
    await p.click(tid('nav-members'));
    await p.waitForSelector('main[data-ready="members"]');
    const devices = `${tid('member-row')}[data-person="${kept.person}"] ${tid('member-device')}`;
    const spare = p.locator(devices).filter({ hasText: '备用机' });
    await spare.locator(tid('device-revoke')).click();
    const asked = (await p.textContent(tid('device-revoke-confirm'))).trim();
    assert.ok(asked.startsWith('停用 volunteer-1 的「备用机」？这台手机下次同步时会清除全部数据'), asked);
    await screenshot(p, 'members-device-revoke');
    await p.click(tid('device-revoke-yes'));
    await p.waitForSelector(`${devices}[data-revoked="true"]`);
    assert.equal(await p.locator(`${devices}[data-revoked="false"]`).count(), 1, 'the other phone is still live');
    assert.equal(await p.locator(`${devices}[data-revoked="true"]`).filter({ hasText: '备用机' }).count(), 1);

    // The lost phone is refused and wipes itself; the one in the volunteer's hand syncs on.
    await assert.rejects(lost.sync(), /revoked|停用|removed|移出/);
    const synced = await kept.sync();
    assert.ok(synced && typeof synced === 'object', JSON.stringify(synced));

    // A coordinator may revoke a volunteer's phone too (the volunteer's live one has the button),
    // never their own.
    const head = await dashboard(world);
    try {
      await head.page.click(tid('nav-members'));
      await head.page.waitForSelector('main[data-ready="members"]');
      assert.equal(await head.page.locator(`${devices} ${tid('device-revoke')}`).count(), 1);
      assert.equal(await head.page.locator(tid('device-revoke')).count(), 1, 'none on the coordinator\'s own phone');
      // Beside the revoked phone: what went with its wipe, for the coordinator to ask about.
      const wiped = (await head.page.textContent(`${devices} ${tid('member-wiped')}`)).trim();
      assert.ok(wiped.includes('有 1 条工作尚未送达中继，已随之删除'), wiped);
    } finally {
      await head.close();
    }
  });
});

for (const [name, fn] of inOrder(tests)) nodeTest(name, fn);
