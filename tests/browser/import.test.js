// Importing a messy ledger in a real browser, at a desktop's width and a phone's: a GB18030 CSV
// with blank 户内人数, grouped and blank phone numbers and rows repeated exactly, and an XLSX laid
// out as coordinators lay one out (a title row, a 序号 column, 楼号 merged over a building's
// rows). The preview names every problem in Chinese (English on the switch) as a warning, not a
// refusal; every household is imported, none with a count made up, and a number searched as the
// ledger wrote it finds its household. The ledgers are in fixtures/ (make_ledgers.py writes them).
// Each test has its own relay and compound, so they stand alone in any order.

import { test as nodeTest } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Relay, tempDir, cleanup, screenshot, inOrder, screens } from './harness.js';
import { compound, dashboard, tid } from './world.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

const tests = [];
/** Registers a test; `inOrder` (harness.js) decides the order they run in. */
const test = (name, fn) => tests.push([name, fn]);

/** Goes to a view and waits until it has loaded its data. */
async function open(page, hash, view) {
  await page.evaluate((h) => {
    delete document.querySelector('main').dataset.ready;
    if (location.hash === h) window.dispatchEvent(new HashChangeEvent('hashchange'));
    else location.hash = h;
  }, hash);
  await page.waitForSelector(`main[data-ready="${view}"]`);
}

/** Previews `file` on the Sheets page; waits for the preview. */
async function preview(page, file) {
  await open(page, '#/sheets', 'sheets');
  await page.setInputFiles(tid('import-file'), path.join(fixtures, file));
  await page.click(tid('import-preview'));
  await page.waitForSelector(tid('import-preview-box'));
}

/** The warning rows shown: line, code and the reason as the page says it. */
const warnings = (page) =>
  page.$$eval(`${tid('import-warning-row')}`, (trs) =>
    trs.map((tr) => [Number(tr.dataset.line), tr.dataset.code, tr.querySelector('[data-testid="import-reason"]').textContent.trim()]),
  );

/** How far the page is wider than the screen, in pixels. */
const overflow = (page) => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);

const BLANK = ['户内人数 为空，已按“未填”导入，请补填', 'is empty; imported as unknown (未填), please fill it in'];

for (const [device, options, tag] of screens) {
  test(`on ${device} a messy GB18030 ledger imports every household, each problem a warning in Chinese and English`, async () => {
    const dir = tempDir(`import-messy-${tag}`);
    const relay = await Relay.start(dir);
    try {
      const world = await compound(relay, dir, '香樟苑');
      const ui = await dashboard(world, options);
      try {
        const p = ui.page;
        await preview(p, 'messy-gb18030.csv');
        assert.equal(await p.getAttribute(tid('import-households'), 'data-count'), '12', 'every household, the repeated rows once');
        assert.ok(await p.$(tid('import-no-errors')), 'nothing is refused');
        const zh = await warnings(p);
        assert.deepEqual(zh.map(([line, code]) => [line, code]), [
          [2, 'people_blank'],
          [3, 'people_blank'],
          [7, 'phone_blank'],
          [8, 'phone_implausible'],
          [14, 'duplicate_row'],
          [15, 'duplicate_row'],
        ]);
        assert.equal(zh[0][2], BLANK[0]);
        assert.equal(zh[2][2], '联系电话 为空，请补填，志愿者联系不上会白跑一趟');
        assert.match(zh[3][2], /^"12345" 不像手机号/);
        assert.equal(zh[4][2], '与第 11 行完全相同，可以删除（未重复导入）');
        // Each reason is on the screen, wide enough to read, and the page fits the width.
        const reasons = await p.$$eval(tid('import-reason'), (els) => els.map((el) => el.getBoundingClientRect().toJSON()));
        const screen = await p.evaluate(() => document.documentElement.clientWidth);
        for (const r of reasons) assert.ok(r.left >= 0 && r.right <= screen + 0.5 && r.width >= Math.min(300, screen - 60), `a reason spans ${r.left}–${r.right} of ${screen}px`);
        assert.ok((await overflow(p)) <= 1, 'the preview fits the width');
        await screenshot(p, `40-${tag}-import-warnings`, { fullPage: tag === 'desktop' });

        // In English, the same warnings in English.
        await p.click(tid('lang-toggle'));
        await preview(p, 'messy-gb18030.csv');
        const en = await warnings(p);
        assert.equal(en[1][2], `户内人数 ${BLANK[1]}`);
        assert.equal(en[5][2], 'identical to line 12, safe to drop (not imported twice)');
        assert.equal(en[2][2], '联系电话 is empty; fill it in, so volunteers can call ahead');

        // Importing keeps every household; a blank count stays unknown, shown as not filled in.
        await p.click(tid('import-commit'));
        await p.waitForSelector(tid('import-done'));
        assert.equal(await p.getAttribute(tid('import-done'), 'data-added'), '12');
        await p.click(tid('lang-toggle'));
        await open(p, '#/roster', 'roster');
        const people = await p.$$eval(tid('roster-row'), (trs) => Object.fromEntries(trs.map((tr) => [tr.children[1].textContent, tr.children[3].textContent])));
        assert.equal(people['谢燕杰'], '未填');
        assert.equal(people['徐珍庆'], '未填', 'the household with 60岁以上 = 2 and no count is imported, its count not made up');
        assert.equal(people['郎兰桂'], '2');

        // A number searched as the ledger wrote it finds the digits the importer stored.
        for (const [typed, head] of [['19999736261', '郎兰桂'], ['199 9973 6262', '殷兰艳'], ['+86 199-9973-6263', '和燕']]) {
          await p.fill(tid('roster-search'), typed);
          // The list is redrawn when the search arrives: wait until it is the one household asked for.
          const shown = () => p.$$eval(`${tid('roster-row')} td:nth-child(2)`, (tds) => tds.map((td) => td.textContent));
          await p
            .waitForFunction((h) => {
              const heads = [...document.querySelectorAll('[data-testid="roster-row"] td:nth-child(2)')].map((td) => td.textContent);
              return heads.length === 1 && heads[0] === h;
            }, head, { timeout: 5000 })
            .catch(async () => assert.fail(`searching ${typed} shows ${JSON.stringify(await shown())}, not ${head}`));
        }
      } finally {
        await ui.close();
      }
    } finally {
      await relay.stop();
      cleanup(dir);
    }
  });

  test(`on ${device} an XLSX with a title row, 序号 and merged 楼号 cells imports every row`, async () => {
    const dir = tempDir(`import-merged-${tag}`);
    const relay = await Relay.start(dir);
    try {
      const world = await compound(relay, dir, '香樟苑');
      const ui = await dashboard(world, options);
      try {
        const p = ui.page;
        await preview(p, 'merged-title.xlsx');
        assert.equal(await p.getAttribute(tid('import-households'), 'data-count'), '24');
        assert.ok(await p.$(tid('import-no-errors')), 'no row is refused for an empty 楼号');
        assert.match(await p.textContent(tid('import-ignored')), /序号/);
        assert.ok((await overflow(p)) <= 1, 'the preview fits the width');
        await screenshot(p, `41-${tag}-import-merged`, { fullPage: false });
        await p.click(tid('import-commit'));
        await p.waitForSelector(tid('import-done'));
        assert.equal(await p.getAttribute(tid('import-done'), 'data-added'), '24');
        // Each building holds its eight flats: the merged cell's value reached every row.
        const buildings = await world.session.send('GET', `${world.cbase}/households`);
        const count = {};
        for (const h of buildings) count[h.address.building] = (count[h.address.building] || 0) + 1;
        assert.deepEqual(count, { 1: 8, 2: 8, 3: 8 });
      } finally {
        await ui.close();
      }
    } finally {
      await relay.stop();
      cleanup(dir);
    }
  });
}

test('a file past the relay\'s limit is refused on the page before it is sent, saying both sizes', async () => {
  const dir = tempDir('import-too-large');
  const relay = await Relay.start(dir);
  try {
    const world = await compound(relay, dir, '香樟苑');
    const ui = await dashboard(world, screens[0][1]);
    try {
      const p = ui.page;
      const sent = [];
      p.on('request', (r) => {
        if (r.url().includes('/import?')) sent.push(r.url());
      });
      await open(p, '#/sheets', 'sheets');
      // 9 MiB against the relay's 8: on a slow link the relay stops reading a refused upload
      // after a while, and the browser said only "cannot reach the server".
      const buffer = Buffer.alloc(9 * 1024 * 1024, 0x31);
      await p.setInputFiles(tid('import-file'), { name: '台账.csv', mimeType: 'text/csv', buffer });
      await p.click(tid('import-preview'));
      await p.waitForSelector(`${tid('error-banner')}:not([hidden])`);
      const said = await p.textContent(tid('error-banner'));
      assert.match(said, /文件为 9 MiB，大于中继接受的上限（8 MiB）；请按小区拆分后分别导入/);
      assert.deepEqual(sent, [], 'nothing was sent');
    } finally {
      await ui.close();
    }
  } finally {
    await relay.stop();
    cleanup(dir);
  }
});

for (const [name, fn] of inOrder(tests)) nodeTest(name, fn);
