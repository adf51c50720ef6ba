// Checks of the dashboard's files that need no browser: every string the page shows exists in
// Chinese and English, the enum labels are the core's, the native modules form one graph from
// app.js, and nothing is loaded from elsewhere.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { repo } from './harness.js';

const assets = path.join(repo, 'server', 'assets', 'dashboard');
const read = (name) => readFileSync(path.join(assets, name), 'utf8');
const files = readdirSync(assets).filter((name) => !name.startsWith('.')).sort();
const modules = files.filter((name) => name.endsWith('.js'));

// i18n.js reads the chosen language from localStorage, which Node gives no page's worth of: each
// check names the language it wants in this stand-in.
const stored = new Map();
Object.defineProperty(globalThis, 'localStorage', {
  configurable: true,
  writable: true,
  value: { getItem: (k) => (stored.has(k) ? stored.get(k) : null), setItem: (k, v) => stored.set(k, String(v)) },
});
const I = await import(pathToFileURL(path.join(assets, 'i18n.js')).href);
/** The messages in `lang` ('zh' unless English was chosen). */
function inLanguage(lang, fn) {
  stored.clear();
  if (lang) stored.set('doorstep.lang', lang);
  try {
    return fn();
  } finally {
    stored.clear();
  }
}

// Every module but the messages themselves: where keys are used.
const app = modules.filter((name) => name !== 'i18n.js').map(read).join('\n');

// The families of keys the modules build from a value, with every value it can build them from.
const FAMILIES = {
  'nav.': ['overview', 'map', 'roster', 'rounds', 'requests', 'conflicts', 'set_aside', 'sheets'],
  'colour.': ['red', 'pink', 'brown', 'yellow', 'green', 'none'],
  'colour.mark.': ['red', 'pink', 'brown', 'yellow', 'green', 'none'],
  'map.door.': ['delivered', 'attempted', 'pending', 'outside'],
  'map.door.mark.': ['delivered', 'attempted', 'pending'],
  'counts.': ['households', 'people', 'aged_60_plus', 'children_under_6', 'special_needs'],
  'household.': ['address', 'head', 'phone', 'people', 'aged_60_plus', 'children_under_6', 'needs', 'status', 'lift', 'notes'],
  'selection.': ['all', 'building', 'status', 'need'],
  'import.': ['line', 'column', 'value', 'reason'],
  'conflicts.kind.': ['double_delivery', 'competing_assignment', 'cancelled_but_delivered', 'concurrent_status', 'concurrent_ledger_edit', 'concurrent_triage'],
  'live.': ['on', 'off', 'connecting'],
  'members.doc.': ['roster', 'round', 'requests', 'care'],
};

test('every message key the modules use exists in Chinese and English', () => {
  const keys = new Set([...app.matchAll(/\bt\('([a-z0-9_]+(?:\.[a-z0-9_]+)+)'/g)].map((m) => m[1]));
  assert.ok(keys.size > 150, `found ${keys.size} keys`);
  for (const [prefix, values] of Object.entries(FAMILIES)) for (const v of values) keys.add(prefix + v);
  const missing = [...keys].filter((k) => !(k in I.MESSAGES));
  assert.deepEqual(missing, []);
  // A key built from a value belongs to a family listed above, so none escapes this check.
  const built = [...app.matchAll(/\bt\(`([a-z_.]*)\$\{/g)].map((m) => m[1]);
  assert.ok(built.length > 5);
  for (const prefix of built) assert.ok(prefix in FAMILIES, `the modules build keys from ${prefix}…; list them in FAMILIES`);
});

test('each message has both languages with the same placeholders', () => {
  for (const [key, pair] of Object.entries(I.MESSAGES)) {
    // A third form is the English for a count of one: only where there is a count.
    assert.ok(pair.length === 2 || (pair.length === 3 && pair[0].includes('{n}')), key);
    assert.ok(pair.every(Boolean), `${key} is empty in a language`);
    const holes = (s) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    assert.deepEqual(holes(pair[1]), holes(pair[0]), `${key} placeholders`);
    if (pair[2]) assert.deepEqual(holes(pair[2]), holes(pair[0]), `${key} placeholders of the singular`);
  }
  assert.equal(inLanguage('en', () => I.t('import.errors', { n: 1 })), '1 row has errors');
  assert.equal(inLanguage('en', () => I.t('import.errors', { n: 2 })), '2 rows have errors');
  assert.equal(inLanguage(null, () => I.t('import.errors', { n: 1 })), '1 行有错误');
  assert.equal(inLanguage(null, () => I.t('overview.requests_waiting', { n: 3 })), '待处理诉求 3 件');
  assert.equal(inLanguage('en', () => I.t('overview.requests_waiting', { n: 3 })), 'Requests waiting: 3');
  assert.equal(inLanguage(null, () => I.lang()), 'zh', 'Chinese unless English was chosen');
});

test("the enum labels are the core's", () => {
  const kinds = {
    ControlStatus: 'control_status',
    NeedTag: 'need_tag',
    TaskKind: 'task_kind',
    Priority: 'priority',
    Outcome: 'outcome',
    TaskStatus: 'task_status',
    RoundStatus: 'round_status',
    Channel: 'channel',
    Category: 'category',
    Urgency: 'urgency',
    RequestStatus: 'request_status',
    LedgerField: 'ledger_field',
  };
  const found = {};
  for (const file of ['control_status.rs', 'need_tag.rs', 'vocabulary.rs', 'ledger_field.rs']) {
    const text = readFileSync(path.join(repo, 'core', 'src', 'schema', file), 'utf8');
    for (const block of text.split('labelled_enum!(').slice(1)) {
      const name = block.match(/^\s*(?:\/\/\/.*\n\s*)*(\w+),/)[1];
      found[name] = [...block.matchAll(/=> \("(\w+)", "([^"]+)", "([^"]+)"\)/g)].map((m) => [m[1], m[2], m[3]]);
    }
  }
  for (const [rust, kind] of Object.entries(kinds)) {
    assert.ok(found[rust], `${rust} not found in the core`);
    const ours = Object.entries(I.LABELS[kind]).map(([wire, [zh, en]]) => [wire, zh, en]);
    assert.deepEqual(ours, found[rust], kind);
  }
});

test('index.html loads app.js as a module, whose imports reach every module and only those', () => {
  const html = read('index.html');
  const scripts = [...html.matchAll(/<script\b([^>]*)>/g)].map((m) => m[1]);
  assert.deepEqual(scripts, [' type="module" src="/dashboard/assets/app.js"'], 'one entry module, no classic scripts');
  // Static imports only, each a file beside it (the relay serves the folder flat, no subfolders).
  const reached = new Set();
  const queue = ['app.js'];
  while (queue.length) {
    const name = queue.shift();
    if (reached.has(name)) continue;
    reached.add(name);
    const text = read(name);
    assert.match(text, /^\/\/ @ts-check\n/, `${name} starts with // @ts-check`);
    const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
    assert.doesNotMatch(code, /\bimport\s*\(/, `${name} imports nothing dynamically`);
    for (const [, spec] of text.matchAll(/^import\s[^'";]*?['"]([^'"]+)['"];$/gm)) {
      assert.match(spec, /^\.\/[a-z0-9-]+\.js$/, `${name} imports ${spec}: a module beside it`);
      const target = spec.slice(2);
      assert.ok(files.includes(target), `${name} imports ${spec}, which does not exist`);
      queue.push(target);
    }
  }
  assert.deepEqual([...reached].sort(), modules, 'every module is reached from app.js, and nothing else is imported');
  assert.ok(modules.length >= 20, `one module per page or concept (${modules.length})`);
});

test('the page loads nothing from elsewhere and runs no inline script', () => {
  for (const name of files) {
    const text = read(name);
    assert.doesNotMatch(text, /https?:\/\//, `${name} names an outside address`);
    assert.doesNotMatch(text, /@import|url\(\s*['"]?\/\//, `${name} imports from elsewhere`);
  }
  const html = read('index.html');
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script (the content security policy forbids it)');
  assert.doesNotMatch(html, /\son[a-z]+=/, 'no inline event handlers');
  assert.doesNotMatch(app, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/, 'text is never parsed as HTML');
});

test('a control or text-direction character in a shown text is shown as its code point, not obeyed', async () => {
  const { visible } = await import(pathToFileURL(path.join(assets, 'dom.js')).href);
  assert.equal(visible('10\u202E11'), '10⟨U+202E⟩11');
  assert.equal(visible('王\u0007芳\u2066'), '王⟨U+0007⟩芳⟨U+2066⟩');
  assert.equal(visible('独居\n敲门\t要大声\r\n'), '独居\n敲门\t要大声\r\n', 'tabs and line breaks stay');
  assert.equal(visible('👨‍👩‍👧 \u200B'), '👨‍👩‍👧 \u200B', 'joiners and zero-width spaces stay');
});

test("a time no clock could have meant is shown as unknown, not as 'Invalid Date' or 1970", async () => {
  const { fmtTime } = await import(pathToFileURL(path.join(assets, 'format.js')).href);
  const unknown = I.t('time.unknown');
  for (const ms of [0, 86_400_000, -1, 2 ** 53, -(2 ** 53), Number.MAX_SAFE_INTEGER]) {
    assert.equal(fmtTime(ms), unknown, String(ms));
  }
  const shown = fmtTime(Date.UTC(2026, 11, 7, 2, 5));
  assert.notEqual(shown, unknown);
  assert.match(shown, /12.*07|07.*12/, 'a real time keeps its date');
  assert.match(shown, /10:05/, 'on the compound clock, UTC+8 by default');
});
