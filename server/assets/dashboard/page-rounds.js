// @ts-check
// The rounds page: every round with its progress, and the form that creates one.

import * as I from './i18n.js';
import { t, label } from './i18n.js';
import { h, fill, field, select, badge } from './dom.js';
import { today, buildingName } from './format.js';
import { households, rounds, roundOf, buildingsOf, buildingKey, parseBuildingKey } from './compound-data.js';
import { operate } from './operate.js';
import { go } from './route.js';
import { pageHeader, printButton, progress, lateMark, toReassignMark, kindSelect, prioritySelect } from './widgets.js';

function selectionFields(all) {
  const by = select('round-by', ['all', 'building', 'status', 'need'].map((v) => [v, t(`selection.${v}`)]), 'building');
  const building = select('round-building', buildingsOf(all).map((b) => [buildingKey(b), `${buildingName(b.estate, b.building)} (${b.count})`]));
  const status = select('round-status', I.values('control_status').map((s) => [s, label('control_status', s)]));
  const need = select('round-need', I.values('need_tag').map((n) => [n, label('need_tag', n)]));
  const wraps = {
    building: field(t('selection.building'), building),
    status: field(t('selection.status'), status),
    need: field(t('selection.need'), need),
  };
  const preview = h('p', { class: 'meta', testid: 'round-preview-count', role: 'status' });
  const value = () => {
    switch (by.value) {
      case 'building':
        return Object.assign({ by: 'building' }, parseBuildingKey(building.value || '\u0000'));
      case 'status':
        return { by: 'status', status: status.value };
      case 'need':
        return { by: 'need', need: need.value };
      default:
        return { by: 'all' };
    }
  };
  const matches = (x, sel) => {
    if (sel.by === 'building') return x.address.building === sel.building && (!sel.estate || x.address.estate === sel.estate);
    if (sel.by === 'status') return x.status === sel.status;
    if (sel.by === 'need') return (x.needs || []).includes(sel.need);
    return true;
  };
  const update = () => {
    for (const [k, w] of Object.entries(wraps)) w.hidden = by.value !== k;
    const sel = value();
    const n = all.filter((x) => matches(x, sel)).length;
    preview.textContent = t('round.will_create', { n });
    preview.dataset.count = String(n);
  };
  for (const s of [by, building, status, need]) s.addEventListener('change', update);
  update();
  return { nodes: [field(t('selection.by'), by), wraps.building, wraps.status, wraps.need, preview], value };
}

/** @returns {import('./state.js').View} */
export function Rounds() {
  const list = h('div');
  const formBox = h('div');
  const root = h('section', { testid: 'page-rounds' }, pageHeader(t('rounds.title'), printButton()), formBox, list);
  let built = false;

  async function buildForm() {
    const all = (await households()).list;
    const sel = selectionFields(all);
    const title = h('input', { testid: 'round-title', required: true, placeholder: t('round.title_hint') });
    const kind = kindSelect('round-kind', 'groceries');
    const date = h('input', { type: 'date', testid: 'round-date', value: today(), required: true });
    const items = h('input', { testid: 'round-items', placeholder: t('round.items_hint') });
    const priority = prioritySelect('round-priority', 'normal');
    const submit = h('button', { type: 'submit', class: 'primary', testid: 'round-create' }, t('round.create'));
    const form = h(
      'form',
      {
        class: 'card form no-print',
        testid: 'round-form',
        onsubmit: async (ev) => {
          ev.preventDefault();
          submit.disabled = true;
          const out = await operate(
            {
              op: 'create_round',
              title: title.value.trim(),
              kind: kind.value,
              date: date.value,
              selection: sel.value(),
              items: items.value,
              priority: priority.value,
            },
            t('round.created'),
          );
          submit.disabled = false;
          const created = out && ((out.created && out.created[0]) || out.new_entity);
          if (created) go(`#/rounds/${created}`);
        },
      },
      h('h2', null, t('round.create')),
      h(
        'div',
        { class: 'grid' },
        field(t('round.title_field'), title),
        field(t('task.kind'), kind),
        field(t('round.date'), date),
        field(t('task.items'), items),
        field(t('task.priority'), priority),
        sel.nodes,
      ),
      submit,
    );
    fill(formBox, form);
    built = true;
  }

  async function refresh() {
    if (!built) await buildForm();
    const rs = await rounds();
    fill(list,
      h(
        'section',
        { class: 'card' },
        h('h2', null, t('rounds.all')),
        rs.length
          ? h(
              'div',
              { class: 'scroll' },
              h(
                'table',
                { class: 'data', testid: 'rounds-table' },
                h(
                  'thead',
                  null,
                  h(
                    'tr',
                    null,
                    ['round.title_field', 'task.kind', 'round.date', 'round.status', 'round.progress'].map((k) => h('th', { scope: 'col' }, t(k))),
                  ),
                ),
                h(
                  'tbody',
                  null,
                  rs.map((r) => {
                    const info = roundOf(r);
                    return h(
                      'tr',
                      { testid: 'round-row', dataset: { round: info.document, status: info.status } },
                      h('td', null, h('a', { href: `#/rounds/${info.document}` }, info.title)),
                      h('td', null, label('task_kind', info.kind)),
                      h('td', null, info.date),
                      h('td', null, badge('round_status', info.status)),
                      h('td', null, progress(r.delivered || 0, r.total || 0, 'round-progress', { round: info.document }), lateMark(r.late, info.document), toReassignMark(r.to_reassign, info.document)),
                    );
                  }),
                ),
              ),
            )
          : h('p', { class: 'empty' }, t('rounds.none')),
      ),
    );
  }
  return { root, refresh };
}
