// @ts-check
// The overview page: counts by status, need and task state, and the open rounds.

import * as I from './i18n.js';
import { t, label } from './i18n.js';
import { h, fill, badge, swatch } from './dom.js';
import { state } from './state.js';
import { api, cpath } from './api.js';
import { roundOf } from './compound-data.js';
import { pageHeader, printButton, progress, lateMark, toReassignMark } from './widgets.js';

const STATUS_COLOUR = {
  confirmed: 'red',
  central_quarantine: 'pink',
  home_quarantine: 'brown',
  home_monitoring: 'yellow',
  normal: 'none',
};

/** @returns {import('./state.js').View} */
export function Overview() {
  const body = h('div', { class: 'overview' });
  const root = h('section', { testid: 'page-overview' }, pageHeader(t('overview.title', { name: state.compound.name }), printButton()), body);
  async function refresh() {
    const o = await api.get(cpath('/overview'));
    const c = o.counts || {};
    const stat = (key) =>
      h('div', { class: 'stat card', testid: `count-${key}` }, h('span', { class: 'num' }, String(c[key] ?? 0)), h('span', { class: 'what' }, t(`counts.${key}`)));
    const byStatus = c.by_status || {};
    const byNeed = c.by_need || {};
    const byTask = c.by_task_status || {};
    const openRounds = (o.rounds || []).filter((r) => roundOf(r).status !== 'closed');
    fill(body,
      (c.households ?? 0) === 0
        ? h('p', { class: 'card hint', testid: 'overview-empty-hint' }, h('a', { href: '#/sheets' }, t('overview.empty')))
        : null,
      h('div', { class: 'stats' }, ['households', 'people', 'aged_60_plus', 'children_under_6', 'special_needs'].map(stat)),
      h(
        'div',
        { class: 'columns' },
        h(
          'section',
          { class: 'card' },
          h('h2', null, t('overview.by_status')),
          h(
            'ul',
            { class: 'tally' },
            I.values('control_status').map((s) =>
              h(
                'li',
                { testid: `status-count-${s}`, dataset: { count: byStatus[s] ?? 0 } },
                swatch(STATUS_COLOUR[s]),
                h('a', { href: `#/roster?status=${s}` }, label('control_status', s)),
                h('span', { class: 'num' }, String(byStatus[s] ?? 0)),
              ),
            ),
          ),
        ),
        h(
          'section',
          { class: 'card' },
          h('h2', null, t('overview.by_need')),
          h(
            'ul',
            { class: 'tally' },
            I.values('need_tag').map((n) =>
              h(
                'li',
                { testid: `need-count-${n}`, dataset: { count: byNeed[n] ?? 0 } },
                h('a', { href: `#/roster?need=${n}` }, label('need_tag', n)),
                h('span', { class: 'num' }, String(byNeed[n] ?? 0)),
              ),
            ),
          ),
        ),
        h(
          'section',
          { class: 'card' },
          h('h2', null, t('overview.tasks')),
          h(
            'ul',
            { class: 'tally' },
            I.values('task_status').flatMap((s) => [
              h('li', { testid: `task-count-${s}`, dataset: { count: byTask[s] ?? 0 } }, badge('task_status', s), h('span', { class: 'num' }, String(byTask[s] ?? 0))),
              // Beside assigned: tasks whose assignee was removed, counted in neither.
              s === 'assigned' && c.to_reassign
                ? h('li', { testid: 'task-count-to_reassign', class: 'warn', title: t('task.to_reassign_hint'), dataset: { count: c.to_reassign } }, h('span', { class: 'badge task_status-to_reassign' }, t('task.to_reassign')), h('span', { class: 'num' }, String(c.to_reassign)))
                : null,
            ]),
          ),
          h(
            'p',
            null,
            h('a', { href: '#/requests', testid: 'requests-waiting', dataset: { count: o.requests_waiting ?? 0 } }, t('overview.requests_waiting', { n: o.requests_waiting ?? 0 })),
          ),
          o.conflicts !== undefined
            ? h('p', null, h('a', { href: '#/conflicts', testid: 'conflicts-waiting', dataset: { count: o.conflicts } }, t('overview.conflicts', { n: o.conflicts })))
            : null,
          o.set_aside_waiting
            ? h('p', null, h('a', { href: '#/set_aside', class: 'warn', testid: 'set-aside-waiting', dataset: { count: o.set_aside_waiting } }, t('overview.set_aside_waiting', { n: o.set_aside_waiting })))
            : null,
          c.cancelled_but_delivered
            ? h('p', null, h('a', { href: '#/conflicts', class: 'warn', testid: 'cancelled-but-delivered', dataset: { count: c.cancelled_but_delivered } }, t('overview.cancelled_but_delivered', { n: c.cancelled_but_delivered })))
            : null,
          c.late_attempts
            ? h('p', null, h('a', { href: '#/rounds', class: 'warn', title: t('round.late_hint'), testid: 'late-attempts', dataset: { count: c.late_attempts } }, t('overview.late_attempts', { n: c.late_attempts })))
            : null,
        ),
      ),
      h(
        'section',
        { class: 'card' },
        h('h2', null, t('overview.open_rounds')),
        openRounds.length
          ? h('ul', { class: 'round-list' }, openRounds.map((r) => roundLine(r)))
          : h('p', { class: 'empty' }, t('overview.no_rounds')),
      ),
    );
  }
  return { root, refresh };
}

function roundLine(r) {
  const info = roundOf(r);
  return h(
    'li',
    { testid: 'overview-round', dataset: { round: info.document } },
    h('a', { href: `#/rounds/${info.document}` }, info.title),
    h('span', { class: 'meta' }, `${label('task_kind', info.kind)} · ${info.date}`),
    progress(r.delivered || 0, r.total || 0, 'round-progress', { round: info.document }),
    // The relay counts assigned tasks within `open` (not yet visited).
    h('span', { class: 'meta' }, t('round.breakdown', { open: r.open || 0, assigned: r.assigned || 0, attempted: r.attempted || 0, cancelled: r.cancelled || 0 })),
    toReassignMark(r.to_reassign, info.document),
    r.double_deliveries ? h('a', { href: '#/conflicts', class: 'warn' }, t('round.double_deliveries', { n: r.double_deliveries })) : null,
    r.cancelled_but_delivered ? h('a', { href: '#/conflicts', class: 'warn', testid: 'round-cancelled-but-delivered' }, t('round.cancelled_but_delivered', { n: r.cancelled_but_delivered })) : null,
    lateMark(r.late, info.document),
  );
}
