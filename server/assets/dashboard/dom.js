// @ts-check
// Building the page: elements made with `h()`, text always set as text (never parsed as HTML).

import { t, label } from './i18n.js';

/**
 * What an element is built from: nodes and text; arrays are flattened, and null, undefined and
 * false are left out (so `cond ? h(…) : null` can sit among children).
 * @typedef {Node | string | number | null | undefined | false | Child[]} Child
 */

/**
 * An element's attributes: `class`, `testid` (data-testid), `dataset`, `value` (set after the
 * children, so a select's options exist), the boolean properties, `on…` listeners, and any other
 * attribute as text. Null, undefined and false leave an attribute out.
 * @typedef {Record<string, any>} Attrs
 */

/** Attributes a person reads (a tooltip, what a screen reader says, a hint in an empty field):
 * their text is shown with `visible`, as children's is. A field's `value` is not: it is what a
 * save writes back. */
const SHOWN_ATTRIBUTES = new Set(['title', 'aria-label', 'placeholder', 'alt']);

/**
 * Builds an element. `attrs.testid` sets data-testid; `on…` functions become listeners.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Attrs | null} [attrs]
 * @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  let value;
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'testid') el.dataset.testid = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value') value = v;
    else if (k === 'checked' || k === 'selected' || k === 'disabled' || k === 'required') /** @type {any} */ (el)[k] = true;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, SHOWN_ATTRIBUTES.has(k) ? visible(String(v)) : String(v));
  }
  append(el, children);
  // A select's value can only be set once its options exist.
  if (value !== undefined) /** @type {any} */ (el).value = value;
  return el;
}

/**
 * Replaces an element's children; arrays among them are flattened.
 * @template {Element} E
 * @param {E} el
 * @param {...Child} children
 * @returns {E}
 */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/**
 * Appends children to an element; arrays among them are flattened, and text is shown with
 * `visible`.
 * @param {Element} el
 * @param {Child[]} children
 */
export function append(el, children) {
  // Checked as plain values: the type of an arbitrarily nested flatten is beyond the checker.
  for (const c of /** @type {any[]} */ (children).flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : visible(String(c)));
  }
}

/** The control and text-direction characters no text of a compound holds (core's
 * `rulebook/characters.rs`), tabs and line breaks aside. */
const UNWELCOME = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/gu;

/**
 * `text` with each character no text holds shown as its code point (⟨U+202E⟩) instead of obeyed:
 * the relay refuses them since stop 41, but a text stored before (or a name) may still hold one,
 * and an override would show a door or a note in another order than it is written.
 * @param {string} text
 * @returns {string}
 */
export function visible(text) {
  return text.replace(UNWELCOME, (c) => `⟨U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}⟩`);
}

let uid = 0;
/**
 * A labelled form field: the label's `for` points at the control.
 * @param {string} text
 * @param {HTMLElement} control
 * @param {string} [extraClass]
 */
export function field(text, control, extraClass) {
  if (!control.id) control.id = `f${++uid}`;
  return h('div', { class: `field ${extraClass || ''}` }, h('label', { for: control.id }, text), control);
}

/**
 * A list to choose from: `options` are [value, text] pairs.
 * @param {string} testid
 * @param {string[][]} options each [value, text]
 * @param {string | null} [value]
 * @param {Attrs} [attrs]
 * @returns {HTMLSelectElement}
 */
export function select(testid, options, value, attrs) {
  return h(
    'select',
    Object.assign({ testid, value }, attrs || {}),
    options.map(([v, text]) => h('option', { value: v }, text)),
  );
}

/**
 * A plain button (not a form's submit).
 * @param {string} text
 * @param {string} testid
 * @param {(ev: MouseEvent) => unknown} onclick
 * @param {Attrs} [attrs]
 * @returns {HTMLButtonElement}
 */
export function button(text, testid, onclick, attrs) {
  return h('button', Object.assign({ type: 'button', testid, onclick }, attrs || {}), text);
}

/** An enum value as a coloured badge with its label. */
export function badge(kind, value, extra) {
  return h('span', { class: `badge ${kind}-${value} ${extra || ''}`, dataset: { value } }, label(kind, value));
}

/** A status colour's swatch, with its glyph (colour is never the only signal). */
export function swatch(colour) {
  return h('span', { class: `swatch c-${colour}`, 'aria-hidden': 'true' }, t(`colour.mark.${colour}`));
}

/**
 * The element with this data-testid, if the page has one.
 * @param {string} testid
 * @returns {HTMLElement | null}
 */
export function byTestId(testid) {
  return document.querySelector(`[data-testid="${testid}"]`);
}
