// Real parts for the browser tests: the `doorstep` relay as a process on 127.0.0.1 port 0 with its
// own SQLite file, the admin command line on that file, command-line phones with their own
// replica files, and Debian's Chromium driven by playwright-core. Nothing is mocked.

import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { after } from 'node:test';
import { chromium } from 'playwright-core';

const run = promisify(execFile);

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const sampleData = path.resolve(repo, 'data');

/** The `doorstep` binary that scripts/test-browser built. */
export function doorstepBin() {
  if (process.env.DOORSTEP_BIN) return process.env.DOORSTEP_BIN;
  const target = process.env.CARGO_TARGET_DIR || path.join(repo, 'target');
  return path.join(target, 'debug', 'doorstep');
}

export const chromiumPath = process.env.DOORSTEP_CHROMIUM || '/usr/bin/chromium';

export const screenshotDir = process.env.DOORSTEP_SCREENSHOTS || path.join(repo, 'target', 'screenshots');

/**
 * The two screens every page is tested on: a desktop at 1400 px and a phone at 390 px (touch,
 * twice the pixels), each as [what the test title says, the browser context's options, the tag
 * in screenshot names].
 * @type {Array<[string, object, string]>}
 */
export const screens = [
  ['a desktop (1400 px)', { viewport: { width: 1400, height: 900 } }, 'desktop'],
  ['a phone (390 px)', { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 }, 'phone'],
];

/** A fresh temporary directory, removed by `cleanup`. */
export function tempDir(prefix) {
  return mkdtempSync(path.join(tmpdir(), `doorstep-${prefix}-`));
}

/** A relay process on loopback. */
export class Relay {
  /** A relay on its own SQLite file in `dir`; `extra` are more `serve` flags. */
  static async start(dir, extra = []) {
    const db = path.join(dir, 'relay.db');
    const child = spawn(doorstepBin(), ['serve', '--db', db, '--listen', '127.0.0.1:0', '--rate', '1000', ...extra], {
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stderr = [];
    child.stderr.on('data', (chunk) => {
      stderr.push(chunk);
      if (stderr.length > 200) stderr.shift();
    });
    const lines = createInterface({ input: child.stdout });
    let adminToken = null;
    const url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the relay did not start within 30 s')), 30_000);
      child.once('exit', (code) =>
        reject(new Error(`the relay exited (${code}) before listening: ${Buffer.concat(stderr).toString()}`)),
      );
      lines.on('line', (line) => {
        const token = line.match(/^admin token: (\S+)/);
        if (token) adminToken = token[1];
        const listening = line.match(/^doorstep listening on (http:\/\/\S+)/);
        if (listening) {
          clearTimeout(timer);
          resolve(listening[1]);
        }
      });
    });
    return new Relay({ db, url, adminToken, child, stderr });
  }

  constructor(fields) {
    Object.assign(this, fields);
  }

  /** Runs `doorstep admin --db … args`; returns stdout. */
  async admin(...args) {
    const { stdout } = await run(doorstepBin(), ['admin', '--db', this.db, ...args], {
      env: { ...process.env, RUST_LOG: 'error' },
    });
    return stdout;
  }

  async createCompound(name) {
    // Tests on one relay make many compounds of one name, each a test's own: `--again` says
    // that is meant (the command refuses a name that exists otherwise).
    return (await this.admin('create-compound', '--name', name, '--again')).trim();
  }

  async invite(compound, role) {
    return (await this.admin('invite', '--compound', compound, '--role', role)).trim();
  }

  /** Joins with an invite over HTTP, as a phone does; returns the device token. */
  async joinToken(code, name) {
    const res = await fetch(`${this.url}/v1/join`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ invite_code: code, device_name: name, name }),
    });
    const body = await res.json();
    if (!res.ok) throw new Error(`join failed (${res.status}): ${JSON.stringify(body)}`);
    return body.token;
  }

  async stop() {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

/** Debian's libfaketime, wherever this machine's architecture keeps it. */
function libfaketime() {
  const found = ['x86_64-linux-gnu', 'aarch64-linux-gnu', '.']
    .map((arch) => path.join('/usr/lib', arch, 'faketime', 'libfaketime.so.1'))
    .find((candidate) => existsSync(candidate));
  if (!found) throw new Error('libfaketime.so.1 is not installed: run scripts/test-browser, which installs Debian\'s faketime');
  return found;
}

/** A command-line phone (`doorstep phone --json`) with its own replica file. */
export class Phone {
  constructor(dir, name) {
    this.db = path.join(dir, `${name}.sqlite`);
    this.name = name;
  }

  async run(...args) {
    return this.runWithClock(null, ...args);
  }

  /** `run` with the phone's clock `offset` from the real one (`+3d`, `-40d`), `null` for the
   * real clock. The phone runs with Debian's libfaketime preloaded (scripts/test-browser installs
   * it), not under the `faketime` wrapper: the wrapper names a POSIX semaphore after its own pid
   * and refuses to start when a killed earlier run left one of that name behind. */
  async runWithClock(offset, ...args) {
    const file = doorstepBin();
    const argv = ['phone', '--db', this.db, '--json', ...args];
    const env = { ...process.env, RUST_LOG: 'error' };
    if (offset !== null) {
      env.LD_PRELOAD = libfaketime();
      env.FAKETIME = offset;
      env.FAKETIME_DONT_FAKE_MONOTONIC = '1';
    }
    try {
      const { stdout } = await run(file, argv, { env });
      const text = stdout.trim();
      try {
        return JSON.parse(text);
      } catch (_) {
        return text;
      }
    } catch (e) {
      throw new Error(`phone ${this.name} ${args.join(' ')} failed: ${e.stdout || ''}${e.stderr || e.message}`);
    }
  }

  join(relay, code) {
    return this.run('join', '--relay', relay.url, '--name', this.name, code);
  }

  sync() {
    return this.run('sync');
  }

  /** Pending tasks by door; `all` for everyone's. */
  async doors(all) {
    const out = await this.run('tasks', ...(all ? ['--all'] : []));
    return Array.isArray(out) ? out : [];
  }
}

let chromiumProcess = null;
/** The one Chromium of this test file, started when first needed and stopped after the file's tests. */
function sharedChromium() {
  chromiumProcess ??= chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return chromiumProcess;
}

after(async () => {
  if (chromiumProcess) await (await chromiumProcess).close();
});

/**
 * A browser of the test's own: a fresh context (cookies, storage and cache of its own, as a new
 * profile has) in the file's one Chromium, which starts once rather than per test. `close()`
 * closes the context.
 */
export async function browser(options) {
  const context = await (await sharedChromium()).newContext({
    viewport: { width: 1366, height: 900 },
    locale: 'zh-CN',
    acceptDownloads: true,
    ...(options || {}),
  });
  return {
    context,
    async close() {
      await context.close();
    },
  };
}

/** Saves a full-page screenshot as `<dir>/<name>.png`. */
export async function screenshot(page, name, options) {
  mkdirSync(screenshotDir, { recursive: true });
  const file = path.join(screenshotDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true, ...(options || {}) });
  checkScreenshot(file, name, await page.evaluate(() => window.devicePixelRatio), page.viewportSize());
  return file;
}

/**
 * Checks a screenshot as CI takes it: exactly as wide as the screen (a page wider than a 390 px
 * phone would make the full-page image wider, and a reader scroll sideways) and not blank (a
 * page that failed to draw compresses to almost nothing). Throws, failing the test, otherwise.
 */
export function checkScreenshot(file, name, ratio, viewport) {
  const png = readFileSync(file);
  if (png.length < 24 || png.toString('latin1', 12, 16) !== 'IHDR') throw new Error(`screenshot ${name}: not a PNG`);
  const width = png.readUInt32BE(16);
  const height = png.readUInt32BE(20);
  const screen = Math.round(viewport.width * ratio);
  if (width !== screen) {
    throw new Error(`screenshot ${name} is ${width} px wide on a ${viewport.width} px screen (×${ratio}): the page is wider than the screen`);
  }
  // A blank 390 × 844 page is about 1 KiB as PNG; the emptiest page here is well over 10 KiB.
  const least = 4000;
  if (png.length < least) throw new Error(`screenshot ${name} is ${png.length} bytes: the page looks blank`);
  console.log(`# screenshot ${name}.png: ${width}×${height}, ${png.length} bytes, as wide as the ${viewport.width} px screen`);
}

/** Splits CSV text into rows of cells (RFC 4180: quoted cells may hold commas, quotes, newlines). */
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i += 1;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(cell);
      cell = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i += 1;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else cell += ch;
  }
  if (cell || row.length) {
    row.push(cell);
    rows.push(row);
  }
  return rows.filter((r) => r.length > 1 || r[0] !== '');
}

/** The sample ledger's rows as objects keyed by their Chinese headers. */
export function readLedger(name) {
  const [columns, ...rows] = parseCsv(readFileSync(path.join(sampleData, name), 'utf8').replace(/^\uFEFF/, ''));
  return rows.map((cells) => {
    if (cells.length !== columns.length) throw new Error(`unexpected CSV row: ${cells.join(',')}`);
    return Object.fromEntries(columns.map((c, i) => [c, cells[i]]));
  });
}

/**
 * The order to run a file's tests in: as written, or with DOORSTEP_TEST_ORDER=reverse backwards,
 * or with DOORSTEP_TEST_ORDER=shuffle (or shuffle:<seed>, to repeat one) in a random order, whose
 * seed is printed. No test may rely on another having run first; this shows that they do not.
 */
export function inOrder(tests) {
  const how = process.env.DOORSTEP_TEST_ORDER || '';
  if (!how) return tests;
  if (how === 'reverse') {
    console.log('# tests in reverse order');
    return [...tests].reverse();
  }
  const shuffle = how.match(/^shuffle(?::(\d+))?$/);
  if (!shuffle) throw new Error(`DOORSTEP_TEST_ORDER is '', reverse, shuffle or shuffle:<seed>, not ${how}`);
  const seed = shuffle[1] ? Number(shuffle[1]) : Math.floor(Math.random() * 2 ** 31);
  console.log(`# tests shuffled with DOORSTEP_TEST_ORDER=shuffle:${seed}`);
  // A small seeded generator (mulberry32), so a failing order can be run again.
  let state = seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
  };
  const out = [...tests];
  for (let i = out.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

export function cleanup(dir) {
  rmSync(dir, { recursive: true, force: true });
}
