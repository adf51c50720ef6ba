// @ts-check
// The map's need marks (glyph on colour, from the relay's legend, map_marks.rs), used as badges
// wherever a need tag is shown.

import * as I from './i18n.js';
import { label } from './i18n.js';
import { h } from './dom.js';
import { state } from './state.js';
import { API, api } from './api.js';

/** A text the relay gives in both languages ({zh, en}), in the page's language. */
export function inLang(pair) {
  return pair ? pair[I.lang() === 'en' ? 'en' : 'zh'] : '';
}

/** A need tag's mark: its glyph on its own colour, named for screen readers by the flat. */
export function needMark(entry) {
  return h('span', { class: `need n-${entry.need}`, testid: 'need-mark', dataset: { need: entry.need }, 'aria-hidden': 'true' }, inLang(entry.glyph));
}

/** The map's need marks by tag, fetched once from the relay's legend (map_marks.rs). */
export async function needMarks() {
  if (!state.needMarks) {
    const legend = await api.get(`${API}/legend`);
    state.needMarks = new Map(legend.needs.map((n) => [n.need, n]));
  }
  return state.needMarks;
}

/** A household's need tags as badges, each with the map's mark for it (glyph on its colour). */
export function needBadges(needs, extra) {
  return (needs || []).map((n) => {
    const entry = state.needMarks && state.needMarks.get(n);
    return h('span', { class: `badge need-badge need_tag-${n} ${extra || ''}`, testid: 'need-badge', dataset: { value: n } },
      entry ? needMark(entry) : null, ' ', label('need_tag', n));
  });
}
