// @ts-check
// Conflicts the phones' concurrent edits left: double deliveries, competing assignments, deliveries
// to a task cancelled meanwhile, status, ledger fields, triage.

import { t, label } from './i18n.js';
import { h, fill, field, button } from './dom.js';
import { fmtTime, fmtAddress, shortId } from './format.js';
import { api, cpath } from './api.js';
import { households, rounds, personName, roundOf } from './compound-data.js';
import { operate } from './operate.js';
import { pageHeader, printButton, removedMark } from './widgets.js';
import { attemptList } from './tasks.js';

/** @returns {import('./state.js').View} */
export function Conflicts() {
  const list = h('ul', { class: 'conflicts', testid: 'conflicts-list' });
  const reviewed = h('ul', { class: 'conflicts reviewed', testid: 'conflicts-reviewed' });
  const root = h(
    'section',
    { testid: 'page-conflicts' },
    pageHeader(t('conflicts.title'), printButton()),
    h('p', { class: 'hint' }, t('conflicts.hint')),
    list,
    h('h2', null, t('conflicts.reviewed_title')),
    h('p', { class: 'hint' }, t('conflicts.reviewed_hint')),
    reviewed,
  );

  /** The conflict's subject, as `review_conflict` names it. */
  function subject(c) {
    if (c.kind === 'concurrent_status') return { kind: c.kind, household: c.household };
    if (c.kind === 'concurrent_ledger_edit') return { kind: c.kind, household: c.household, field: c.field };
    if (c.kind === 'concurrent_triage') return { kind: c.kind, request: c.request };
    return { kind: c.kind, round: c.round, task: c.task };
  }

  /** A ledger value as the roster shows it: a count, 有/无 for the lift, or the text. */
  function ledgerValue(field, v) {
    if (field === 'lift') return t(v === 'true' ? 'conflicts.lift_yes' : 'conflicts.lift_no');
    return v === '' ? t('conflicts.value_unknown') : v;
  }

  /** The edit that writes `v` back into `field`, settling the conflict. */
  function ledgerEdit(field, v) {
    if (field === 'lift') return { [field]: v === 'true' };
    if (field === 'head' || field === 'phone') return { [field]: v };
    return { [field]: v === '' ? null : Number(v) };
  }

  function reviewControl(c) {
    const note = h('input', { testid: 'conflict-review-note', placeholder: t('conflicts.review_note_hint') });
    return h(
      'details',
      { class: 'review no-print' },
      h('summary', { testid: 'conflict-review-open' }, t('conflicts.review')),
      field(t('conflicts.review_note'), note),
      button(t('conflicts.review_confirm'), 'conflict-review', () =>
        operate({ op: 'review_conflict', conflict: subject(c), note: note.value }, t('conflicts.reviewed_toast')),
      ),
    );
  }

  function reviewRecord(c) {
    const r = c.review;
    return h(
      'p',
      { class: 'review-record', testid: 'conflict-review-record' },
      t('conflicts.reviewed_by', { who: personName(r.by, c.names), at: fmtTime(r.at) }),
      r.note ? h('span', { testid: 'conflict-review-note-text' }, ` · ${r.note}`) : '',
    );
  }

  /** The review a new value outgrew: what was noted before the conflict reopened. */
  function earlierReview(c) {
    const r = c.earlier_review;
    if (!r) return null;
    return h(
      'p',
      { class: 'review-record hint', testid: 'conflict-earlier-review' },
      t('conflicts.earlier_review', { who: personName(r.by, c.names), at: fmtTime(r.at) }),
      r.note ? h('span', { testid: 'conflict-earlier-review-note' }, ` · ${r.note}`) : '',
    );
  }

  function where(c, hh, titles) {
    const x = hh.get(c.household);
    const address = c.address ? (typeof c.address === 'string' ? c.address : fmtAddress(c.address)) : x ? fmtAddress(x.address) : shortId(c.household);
    return h(
      'p',
      { class: 'meta' },
      h('a', { href: `#/households/${c.household}` }, address),
      removedMark(c.household_removed),
      c.head || (x ? x.head : '') ? ` ${c.head || x.head}` : '',
      c.round ? [' · ', h('a', { href: `#/rounds/${c.round}` }, titles.get(c.round) || shortId(c.round))] : null,
      c.round_closed ? [' ', h('span', { class: 'badge', testid: 'conflict-round-closed', title: t('conflicts.round_closed_hint') }, t('conflicts.round_closed'))] : null,
    );
  }

  async function refresh() {
    const [cs, rs, all] = await Promise.all([api.get(cpath('/conflicts')), rounds(), households()]);
    const titles = new Map(rs.map(roundOf).map((r) => [r.document, r.title]));
    const card = (c) => {
      let body;
      if (c.kind === 'double_delivery') {
        body = [
          h('p', null, t('conflicts.double_delivery_text', { n: (c.deliveries || []).length })),
          attemptList(c.deliveries, c.names),
          h('p', { class: 'hint' }, t('conflicts.double_delivery_hint')),
        ];
      } else if (c.kind === 'cancelled_but_delivered') {
        const x = c.cancellation || {};
        body = [
          h('p', null, t('conflicts.cancelled_text', { who: personName(x.by, c.names), at: fmtTime(x.at), reason: x.reason || '' })),
          attemptList(c.deliveries, c.names),
          h('p', { class: 'hint' }, t('conflicts.cancelled_hint')),
        ];
      } else if (c.kind === 'competing_assignment') {
        body = [
          h('p', null, t('conflicts.competing_text', { winner: personName(c.winner, c.names) })),
          h(
            'div',
            { class: 'actions no-print' },
            (c.candidates || []).map((p) =>
              button(t('conflicts.keep_assignee', { who: personName(p, c.names) }), 'conflict-resolve', () =>
                operate(
                  p ? { op: 'assign_task', round: c.round, task: c.task, volunteer: p } : { op: 'unassign_task', round: c.round, task: c.task },
                  t('conflicts.resolved'),
                ),
              { dataset: { value: p || '' } }),
            ),
          ),
        ];
      } else if (c.kind === 'concurrent_status') {
        body = [
          h('p', null, t('conflicts.status_text', { winner: label('control_status', c.winner), all: (c.candidates || []).map((s) => label('control_status', s)).join(' / ') })),
          h(
            'div',
            { class: 'actions no-print' },
            (c.candidates || []).map((s) =>
              button(t('conflicts.keep_status', { status: label('control_status', s) }), 'conflict-resolve', () =>
                operate({ op: 'set_control_status', household: c.household, status: s }, t('conflicts.resolved')),
              { dataset: { value: s } }),
            ),
          ),
        ];
      } else if (c.kind === 'concurrent_ledger_edit') {
        const values = c.candidates || [];
        body = [
          h('p', null, t('conflicts.ledger_text', { field: label('ledger_field', c.field), winner: ledgerValue(c.field, values[0]), all: values.map((v) => ledgerValue(c.field, v)).join(' / ') })),
          h(
            'div',
            { class: 'actions no-print' },
            values.map((v) =>
              button(t('conflicts.keep_value', { value: ledgerValue(c.field, v) }), 'conflict-resolve', () =>
                operate({ op: 'edit_household', household: c.household, edit: ledgerEdit(c.field, v) }, t('conflicts.resolved')),
              { dataset: { value: v } }),
            ),
          ),
        ];
      } else if (c.kind === 'concurrent_triage') {
        const statuses = c.statuses || [];
        const urgencies = c.urgencies || [];
        body = [
          h('p', null, t('conflicts.triage_text', {
            statuses: statuses.map((s) => label('request_status', s)).join(' / '),
            urgencies: urgencies.map((u) => label('urgency', u)).join(' / '),
            winner: `${label('request_status', statuses[0])} · ${label('urgency', urgencies[0])}`,
          })),
          h(
            'div',
            { class: 'actions no-print' },
            statuses.map((s) =>
              button(t('conflicts.keep_status', { status: label('request_status', s) }), 'conflict-resolve', () =>
                operate({ op: 'triage_request', request: c.request, status: s, urgency: urgencies[0] }, t('conflicts.resolved')),
              { dataset: { value: s } }),
            ),
          ),
        ];
      } else {
        body = h('pre', null, JSON.stringify(c, null, 2));
      }
      return h(
        'li',
        {
          class: c.review ? 'card conflict reviewed' : 'card conflict',
          testid: c.review ? 'conflict-reviewed-card' : 'conflict-card',
          dataset: { kind: c.kind, task: c.task || '', household: c.household || '', field: c.field || '', request: c.request || '' },
        },
        h('h2', null, t(`conflicts.kind.${c.kind}`)),
        where(c, all.byId, titles),
        body,
        c.review ? null : earlierReview(c),
        c.review ? reviewRecord(c) : reviewControl(c),
      );
    };
    const pending = cs.filter((c) => !c.review);
    const done = cs.filter((c) => c.review);
    fill(list, ...pending.map(card));
    fill(reviewed, ...done.map(card));
    if (!pending.length) list.append(h('li', { class: 'empty', testid: 'conflicts-none' }, t('conflicts.none')));
    if (!done.length) reviewed.append(h('li', { class: 'empty', testid: 'conflicts-reviewed-none' }, t('common.none')));
  }
  return { root, refresh };
}
