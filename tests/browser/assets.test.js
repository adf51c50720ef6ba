// Checks of the dashboard's files that need no browser: every string the page shows exists in
// Chinese and English, the enum labels are the core's, and nothing is loaded from elsewhere.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { repo } from './harness.js';

const assets = path.join(repo, 'server', 'assets', 'dashboard');
const read = (name) => readFileSync(path.join(assets, name), 'utf8');

function loadI18n(lang) {
  const store = new Map(lang ? [['doorstep.lang', lang]] : []);
  const window = {};
  const localStorage = {
    getItem: (k) => (store.has(k) ? store.get(k) : null),
    setItem: (k, v) => store.set(k, String(v)),
  };
  vm.runInNewContext(read('i18n.js'), { window, localStorage });
  return window.DoorstepI18n;
}

const I = loadI18n();
const app = read('app.js');

// The families of keys app.js builds from a value, with every value it can build them from.
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
  'conflicts.kind.': ['double_delivery', 'competing_assignment', 'concurrent_status'],
  'live.': ['on', 'off', 'connecting'],
};

test('every message key app.js uses exists in Chinese and English', () => {
  const keys = new Set([...app.matchAll(/\bt\('([a-z0-9_]+(?:\.[a-z0-9_]+)+)'/g)].map((m) => m[1]));
  assert.ok(keys.size > 150, `found ${keys.size} keys`);
  for (const [prefix, values] of Object.entries(FAMILIES)) for (const v of values) keys.add(prefix + v);
  const missing = [...keys].filter((k) => !(k in I.MESSAGES));
  assert.deepEqual(missing, []);
  // A key built from a value belongs to a family listed above, so none escapes this check.
  const built = [...app.matchAll(/\bt\(`([a-z_.]*)\$\{/g)].map((m) => m[1]);
  assert.ok(built.length > 5);
  for (const prefix of built) assert.ok(prefix in FAMILIES, `app.js builds keys from ${prefix}…; list them in FAMILIES`);
});

test('each message has both languages with the same placeholders', () => {
  for (const [key, pair] of Object.entries(I.MESSAGES)) {
    assert.equal(pair.length, 2, key);
    assert.ok(pair[0] && pair[1], `${key} is empty in a language`);
    const holes = (s) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    assert.deepEqual(holes(pair[1]), holes(pair[0]), `${key} placeholders`);
  }
  assert.equal(I.t('overview.requests_waiting', { n: 3 }), '待处理诉求 3 件');
  assert.equal(loadI18n('en').t('overview.requests_waiting', { n: 3 }), 'Requests waiting: 3');
  assert.equal(I.lang(), 'zh', 'Chinese unless English was chosen');
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
  };
  const found = {};
  for (const file of ['control_status.rs', 'need_tag.rs', 'vocabulary.rs']) {
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

test('the page loads nothing from elsewhere and runs no inline script', () => {
  for (const name of ['index.html', 'app.css', 'app.js', 'i18n.js']) {
    const text = read(name);
    assert.doesNotMatch(text, /https?:\/\//, `${name} names an outside address`);
    assert.doesNotMatch(text, /@import|url\(\s*['"]?\/\//, `${name} imports from elsewhere`);
  }
  const html = read('index.html');
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script (the content security policy forbids it)');
  assert.doesNotMatch(html, /\son[a-z]+=/, 'no inline event handlers');
  assert.doesNotMatch(app, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/, 'text is never parsed as HTML');
});
