// @ts-check
// Task tables, attempts and who-changed-what histories, shared by the household and round pages.

import { t, label } from './i18n.js';
import { h, fill, field, select, button, badge } from './dom.js';
import { fmtTime, fmtAddress, shortId } from './format.js';
import { api, cpath } from './api.js';
import { knownHousehold, personName, volunteerOptions } from './compound-data.js';
import { operate } from './operate.js';
import { assigneeRemovedMark, removedMark } from './widgets.js';

// Who changed a household or a task, what and when, newest first: the entries of
// `…/history`, whose names come from the relay's actor bindings.
const HISTORY_FIELDS = {
  head: 'household.head', phone: 'household.phone', people: 'household.people',
  aged_60_plus: 'household.aged_60_plus', children_under_6: 'household.children_under_6',
  needs: 'household.needs', status: 'household.status', lift: 'household.lift', notes: 'household.notes',
  assignee: 'task.assignee', attempts: 'task.attempts', items: 'task.items', priority: 'task.priority',
  kind: 'task.kind', cancelled: 'history.cancelled', created: 'history.created', deleted: 'history.deleted',
};

export function historyList(entries) {
  if (!entries || !entries.length) return h('p', { class: 'empty' }, t('history.none'));
  return h(
    'ul',
    { class: 'history', testid: 'history' },
    [...entries].reverse().map((e) =>
      h(
        'li',
        { testid: 'history-entry', dataset: { person: e.person || '' } },
        h('strong', null, e.name || (e.person ? personName(e.person) : t('history.unknown'))),
        ` · ${fmtTime(e.at)} · `,
        e.fields.map((f) => (HISTORY_FIELDS[f] ? t(HISTORY_FIELDS[f]) : f)).join('、'),
      ),
    ),
  );
}

// A task's history, fetched when the coordinator opens it.
function taskHistory(task) {
  const body = h('div');
  return h(
    'details',
    {
      class: 'no-print',
      testid: 'task-history',
      ontoggle: async (ev) => {
        if (!ev.target.open) return;
        const path = `/rounds/${encodeURIComponent(task.round)}/tasks/${encodeURIComponent(task.id)}/history`;
        fill(body, historyList(await api.get(cpath(path))));
      },
    },
    h('summary', null, t('history.show')),
    body,
  );
}


export function attemptList(attempts, names) {
  if (!attempts || !attempts.length) return null;
  return h(
    'ul',
    { class: 'attempts' },
    attempts.map((a) =>
      h(
        'li',
        { testid: 'attempt', dataset: { outcome: a.outcome } },
        badge('outcome', a.outcome),
        ` ${personName(a.knocked_by || a.by, names)} · ${fmtTime(a.knocked_at || a.at)}`,
        a.knocked_by ? ` · ${t('task.recorded_by', { who: personName(a.by, names), at: fmtTime(a.at) })}` : '',
        a.note ? ` · ${a.note}` : '',
      ),
    ),
  );
}

function cancelControl(task) {
  const reason = h('input', { testid: 'task-cancel-reason', placeholder: t('task.cancel_reason') });
  return h(
    'details',
    { class: 'cancel no-print' },
    h('summary', null, t('task.cancel')),
    field(t('task.cancel_reason'), reason),
    button(t('task.cancel_confirm'), 'task-cancel', () =>
      operate({ op: 'cancel_task', round: task.round, task: task.id, reason: reason.value }),
    ),
  );
}

/** Tasks as {task, status, round_title?, household?} rows. */
export function taskTable(rows, opts) {
  if (!rows.length) return h('p', { class: 'empty' }, t('common.none'));
  const o = opts || {};
  return h(
    'div',
    { class: 'scroll' },
    h(
      'table',
      { class: 'data tasks stack', testid: 'task-table' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          o.roundTitles ? h('th', { scope: 'col' }, t('round.round')) : h('th', { scope: 'col' }, t('household.address')),
          o.roundTitles ? null : h('th', { scope: 'col' }, t('household.head')),
          h('th', { scope: 'col' }, t('task.kind')),
          h('th', { scope: 'col' }, t('task.items')),
          h('th', { scope: 'col' }, t('task.priority')),
          h('th', { scope: 'col' }, t('task.status')),
          h('th', { scope: 'col' }, t('task.assignee')),
          h('th', { scope: 'col' }, t('task.attempts')),
          o.actions ? h('th', { scope: 'col', class: 'no-print' }, t('common.actions')) : null,
        ),
      ),
      h(
        'tbody',
        null,
        rows.map((row) => {
          const task = row.task;
          const household =
            row.household && typeof row.household === 'object' ? row.household : knownHousehold(row.household || task.household);
          const live = row.status !== 'delivered' && row.status !== 'cancelled';
          // Someone removed since is not among the members to choose from: shown as chosen, marked.
          const gone = row.assignee_removed && task.assignee
            ? [[task.assignee, `${row.assignee_name || personName(task.assignee)} (${t('task.assignee_removed')})`]]
            : [];
          const assignee =
            o.actions && live && o.roundOpen
              ? select('task-assignee', [...volunteerOptions(true), ...gone], task.assignee || '', {
                  'aria-label': t('task.assignee'),
                  onchange: (ev) =>
                    operate(
                      ev.target.value
                        ? { op: 'assign_task', round: task.round, task: task.id, volunteer: ev.target.value }
                        : { op: 'unassign_task', round: task.round, task: task.id },
                    ),
                })
              : personName(task.assignee);
          const cell = (key, ...content) => h('td', { dataset: { label: t(key) } }, ...content);
          return h(
            'tr',
            { testid: 'task-row', dataset: { task: task.id, status: row.status, household: task.household } },
            o.roundTitles
              ? h('td', { class: 'lead' }, h('a', { href: `#/rounds/${task.round}` }, row.round_title || shortId(task.round)))
              : h('td', { class: 'lead' }, household ? h('a', { href: `#/households/${household.id}` }, fmtAddress(household.address)) : shortId(task.household), removedMark(row.household_removed)),
            o.roundTitles ? null : h('td', { class: 'task-head', dataset: { label: t('household.head') } }, h('span', { testid: 'task-head' }, household ? household.head : '')),
            cell('task.kind', label('task_kind', task.kind)),
            cell('task.items', task.items, task.request ? h('a', { href: '#/requests', class: 'tag', title: t('task.from_request') }, t('task.request_tag')) : null),
            cell('task.priority', badge('priority', task.priority)),
            cell('task.status', badge('task_status', row.status), row.knocks_waiting ? [' ', h('a', { href: '#/set_aside', class: 'badge warn', testid: 'knock-waiting', title: t('task.knock_waiting_hint'), dataset: { count: row.knocks_waiting } }, t('task.knock_waiting', { n: row.knocks_waiting }))] : null),
            cell('task.assignee', assignee, ' ', assigneeRemovedMark(live && row.assignee_removed)),
            h('td', { class: 'wide', dataset: { label: t('task.attempts') } }, attemptList(task.attempts), task.cancelled ? h('p', { class: 'meta' }, t('task.cancelled_by', { who: personName(task.cancelled.by), reason: task.cancelled.reason || '' })) : null, taskHistory(task)),
            o.actions ? h('td', { class: 'no-print wide' }, live && o.roundOpen ? cancelControl(task) : null) : null,
          );
        }),
      ),
    ),
  );
}
