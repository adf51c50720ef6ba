// @ts-check
// The requests inbox: requests taken at the door, triaged and turned into linked tasks.

import * as I from './i18n.js';
import { t, label } from './i18n.js';
import { h, fill, field, select, badge } from './dom.js';
import { fmtTime, fmtAddress, shortId } from './format.js';
import { api, cpath } from './api.js';
import { showError } from './notices.js';
import { households, knownHousehold, rounds, personName, roundOf } from './compound-data.js';
import { operate } from './operate.js';
import { pageHeader, printButton, kindSelect, prioritySelect, removedMark } from './widgets.js';

const CATEGORY_KIND = { groceries: 'groceries', medicine: 'medicine', medical: 'visit', other: 'other' };
const URGENCY_PRIORITY = { normal: 'normal', urgent: 'high', critical: 'urgent' };
const URGENCY_RANK = { critical: 0, urgent: 1, normal: 2 };
const STATUS_RANK = { new: 0, accepted: 1, done: 2, rejected: 3 };

export function requestCard(r, opts) {
  const o = opts || {};
  const hh = knownHousehold(r.household);
  const linked = Object.entries(r.tasks || {});
  const card = h(
    'li',
    { class: `request card urgency-${r.urgency}`, testid: 'request-card', dataset: { request: r.id, status: r.status } },
    h(
      'div',
      { class: 'request-head' },
      o.compact
        ? null
        : h('a', { href: `#/households/${r.household}` }, hh ? `${fmtAddress(hh.address)} ${hh.head}` : `${r.address || shortId(r.household)} ${r.head || ''}`),
      o.compact ? null : removedMark(r.household_removed),
      badge('category', r.category),
      badge('urgency', r.urgency),
      badge('request_status', r.status),
    ),
    h('p', { class: 'request-text' }, r.text),
    h('p', { class: 'meta' }, t('request.meta', { channel: label('channel', r.channel), by: r.by_name || personName(r.by), at: fmtTime(r.at) })),
    linked.length
      ? h(
          'p',
          { class: 'meta', testid: 'request-links' },
          t('request.linked'),
          ' ',
          linked.map(([task, round]) =>
            h('a', { href: `#/rounds/${round}`, class: 'tag', dataset: { task } }, (o.titles && o.titles.get(round)) || shortId(task)),
          ),
        )
      : null,
  );
  return card;
}

/** @returns {import('./state.js').View} */
export function Requests() {
  const filter = select(
    'requests-filter',
    [['waiting', t('requests.waiting')], ['', t('common.all')], ...I.values('request_status').map((s) => [s, label('request_status', s)])],
    'waiting',
    { onchange: () => refresh().catch(showError) },
  );
  const list = h('ul', { class: 'requests', testid: 'requests-list' });
  const count = h('p', { class: 'count', role: 'status', testid: 'requests-count' });
  const root = h(
    'section',
    { testid: 'page-requests' },
    pageHeader(t('requests.title'), printButton()),
    h('div', { class: 'filters no-print' }, field(t('requests.show'), filter)),
    count,
    list,
  );
  const dirty = new Set();

  function actions(r, openRounds) {
    const status = select('request-status', I.values('request_status').map((s) => [s, label('request_status', s)]), r.status === 'new' ? 'accepted' : r.status);
    const urgency = select('request-urgency', I.values('urgency').map((s) => [s, label('urgency', s)]), r.urgency);
    const triage = h(
      'form',
      {
        class: 'inline no-print',
        testid: 'request-triage-form',
        oninput: () => dirty.add(r.id),
        onsubmit: async (ev) => {
          ev.preventDefault();
          dirty.delete(r.id);
          await operate({
            op: 'triage_request',
            request: r.id,
            status: status.value,
            urgency: urgency.value === r.urgency ? null : urgency.value,
          });
        },
      },
      field(t('request.status'), status),
      field(t('request.urgency'), urgency),
      h('button', { type: 'submit', testid: 'request-triage' }, t('request.triage')),
    );
    const toTask = openRounds.length
      ? (() => {
          const round = select('request-round', openRounds.map((x) => [x.document, `${x.title} (${x.date})`]));
          const kind = kindSelect('request-kind', CATEGORY_KIND[r.category] || 'other');
          const items = h('input', { testid: 'request-items', value: r.text });
          const priority = prioritySelect('request-priority', URGENCY_PRIORITY[r.urgency] || 'normal');
          return h(
            'form',
            {
              class: 'inline no-print',
              testid: 'request-task-form',
              oninput: () => dirty.add(r.id),
              onsubmit: async (ev) => {
                ev.preventDefault();
                dirty.delete(r.id);
                const out = await operate(
                  { op: 'add_task', round: round.value, household: r.household, kind: kind.value, items: items.value, priority: priority.value, request: r.id },
                  t('request.task_added'),
                );
                if (out && r.status === 'new') {
                  await operate({ op: 'triage_request', request: r.id, status: 'accepted', urgency: null }, t('request.task_added'));
                }
              },
            },
            field(t('round.round'), round),
            field(t('task.kind'), kind),
            field(t('task.items'), items),
            field(t('task.priority'), priority),
            h('button', { type: 'submit', testid: 'request-to-task' }, t('request.to_task')),
          );
        })()
      : h('p', { class: 'meta' }, t('household.no_open_rounds'));
    return h('details', { class: 'request-actions', open: r.status === 'new' }, h('summary', null, t('request.handle')), triage, toTask);
  }

  async function refresh() {
    const [all, rs] = await Promise.all([api.get(cpath('/requests')), rounds(), households()]);
    const openRounds = rs.map(roundOf).filter((x) => x.status !== 'closed');
    const titles = new Map(rs.map(roundOf).map((x) => [x.document, x.title]));
    const f = filter.value;
    const shown = all
      .filter((r) => (f === 'waiting' ? r.status === 'new' || r.status === 'accepted' : !f || r.status === f))
      .sort((a, b) => STATUS_RANK[a.status] - STATUS_RANK[b.status] || URGENCY_RANK[a.urgency] - URGENCY_RANK[b.urgency] || b.at - a.at);
    count.textContent = t('requests.count', { n: shown.length, total: all.length });
    count.dataset.count = String(shown.length);
    // Leave a request alone while someone is filling in its forms.
    const kept = new Map([.../** @type {HTMLCollectionOf<HTMLElement>} */ (list.children)].filter((li) => dirty.has(li.dataset.request)).map((li) => [li.dataset.request, li]));
    fill(list,
      ...shown.map((r) => {
        if (kept.has(r.id)) return kept.get(r.id);
        const card = requestCard(r, { titles });
        card.append(actions(r, openRounds));
        return card;
      }),
    );
    if (!shown.length) list.append(h('li', { class: 'empty' }, t('requests.none')));
  }
  return { root, refresh };
}
