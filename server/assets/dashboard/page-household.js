// @ts-check
// One household: its ledger, edits (status, needs, fields, notes), tasks, requests and history.

import * as I from './i18n.js';
import { t, label } from './i18n.js';
import { h, fill, field, select, badge } from './dom.js';
import { fmtAddress, fmtTime, peopleText } from './format.js';
import { api, cpath } from './api.js';
import { toast, showError } from './notices.js';
import { households, rounds, roundOf } from './compound-data.js';
import { operate } from './operate.js';
import { needMarks, needBadges } from './need-marks.js';
import { pageHeader, printButton, guardedForm, kindSelect, prioritySelect } from './widgets.js';
import { historyList, taskTable } from './tasks.js';
import { requestCard } from './page-requests.js';

/** @returns {import('./state.js').View} */
export function HouseholdView(id) {
  const head = h('div');
  const info = h('div');
  const tasks = h('section', { class: 'card', testid: 'hh-tasks' });
  const reqs = h('section', { class: 'card', testid: 'hh-requests' });
  const history = h('section', { class: 'card', testid: 'hh-history' });
  let current = null;
  let openRounds = [];

  const statusForm = guardedForm(
    'hh-status-form',
    (x) => [
      h('h2', null, t('household.status')),
      field(t('household.status'), select('hh-status', I.values('control_status').map((s) => [s, label('control_status', s)]), x.status)),
      h('button', { type: 'submit', testid: 'hh-status-save' }, t('common.save')),
    ],
    async (form) => !!(await operate({ op: 'set_control_status', household: id, status: form.querySelector('select').value })),
  );
  const needsForm = guardedForm(
    'hh-needs-form',
    (x) => [
      h('h2', null, t('household.needs')),
      h(
        'fieldset',
        { class: 'checks' },
        h('legend', { class: 'sr-only' }, t('household.needs')),
        I.values('need_tag').map((n) =>
          h('label', null, h('input', { type: 'checkbox', value: n, testid: `hh-need-${n}`, checked: (x.needs || []).includes(n) }), ` ${label('need_tag', n)}`),
        ),
      ),
      h('button', { type: 'submit', testid: 'hh-needs-save' }, t('common.save')),
    ],
    async (form) => {
      const needs = [...form.querySelectorAll('input:checked')].map((c) => c.value);
      return !!(await operate({ op: 'set_need_tags', household: id, needs }));
    },
  );
  const fieldsForm = guardedForm(
    'hh-fields-form',
    (x) => [
      h('h2', null, t('household.edit')),
      field(t('household.head'), h('input', { name: 'head', value: x.head, testid: 'hh-head' })),
      field(t('household.phone'), h('input', { name: 'phone', value: x.phone, type: 'tel', testid: 'hh-phone' })),
      field(t('household.people'), h('input', { name: 'people', value: x.people ?? '', placeholder: t('household.people_unknown'), type: 'number', min: 0 })),
      field(t('household.aged_60_plus'), h('input', { name: 'aged_60_plus', value: x.aged_60_plus, type: 'number', min: 0 })),
      field(t('household.children_under_6'), h('input', { name: 'children_under_6', value: x.children_under_6, type: 'number', min: 0 })),
      h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'lift', checked: x.lift }), ` ${t('household.lift')}`),
      h('button', { type: 'submit', testid: 'hh-fields-save' }, t('common.save')),
    ],
    async (form) => {
      const get = (n) => form.querySelector(`[name=${n}]`);
      const edit = {};
      const x = current;
      if (get('head').value !== x.head) edit.head = get('head').value;
      if (get('phone').value !== x.phone) edit.phone = get('phone').value;
      for (const n of ['people', 'aged_60_plus', 'children_under_6']) {
        // An unknown 户内人数 left blank stays unknown.
        if (x[n] == null && get(n).value.trim() === '') continue;
        const v = Number(get(n).value);
        if (!Number.isInteger(v) || v < 0) {
          showError({ body: { error: t('household.bad_number', { what: t(`household.${n}`) }) } });
          return false;
        }
        if (v !== x[n]) edit[n] = v;
      }
      if (get('lift').checked !== x.lift) edit.lift = get('lift').checked;
      if (!Object.keys(edit).length) {
        toast(t('toast.nothing'));
        return true;
      }
      return !!(await operate({ op: 'edit_household', household: id, edit }));
    },
  );
  const notesForm = guardedForm(
    'hh-notes-form',
    (x) => [
      h('h2', null, t('household.notes')),
      field(t('household.notes'), h('textarea', { rows: 4, testid: 'hh-notes' }, x.notes || '')),
      h('button', { type: 'submit', testid: 'hh-notes-save' }, t('common.save')),
    ],
    async (form) => !!(await operate({ op: 'edit_notes', household: id, notes: form.querySelector('textarea').value })),
  );
  const taskForm = guardedForm(
    'hh-task-form',
    () => [
      h('h2', null, t('household.add_task')),
      openRounds.length
        ? [
            field(t('round.round'), select('hh-task-round', openRounds.map((r) => [r.document, `${r.title} (${r.date})`]))),
            field(t('task.kind'), kindSelect('hh-task-kind')),
            field(t('task.items'), h('input', { name: 'items', testid: 'hh-task-items' })),
            field(t('task.priority'), prioritySelect('hh-task-priority')),
            h('button', { type: 'submit', testid: 'hh-task-add' }, t('household.add_task')),
          ]
        : h('p', { class: 'empty' }, t('household.no_open_rounds')),
    ],
    async (form) =>
      !!(await operate({
        op: 'add_task',
        round: form.querySelector('[data-testid=hh-task-round]').value,
        household: id,
        kind: form.querySelector('[data-testid=hh-task-kind]').value,
        items: form.querySelector('[name=items]').value,
        priority: form.querySelector('[data-testid=hh-task-priority]').value,
        request: null,
      })),
  );
  const requestForm = guardedForm(
    'hh-request-form',
    () => [
      h('h2', null, t('household.add_request')),
      field(t('request.channel'), select('hh-req-channel', I.values('channel').map((v) => [v, label('channel', v)]), 'phone')),
      field(t('request.category'), select('hh-req-category', I.values('category').map((v) => [v, label('category', v)]))),
      field(t('request.urgency'), select('hh-req-urgency', I.values('urgency').map((v) => [v, label('urgency', v)]))),
      field(t('request.text'), h('textarea', { rows: 2, testid: 'hh-req-text', required: true })),
      h('button', { type: 'submit', testid: 'hh-req-add' }, t('household.add_request')),
    ],
    async (form) =>
      !!(await operate({
        op: 'add_request',
        household: id,
        channel: form.querySelector('[data-testid=hh-req-channel]').value,
        category: form.querySelector('[data-testid=hh-req-category]').value,
        urgency: form.querySelector('[data-testid=hh-req-urgency]').value,
        text: form.querySelector('textarea').value,
      })),
  );

  const root = h(
    'section',
    { testid: 'page-household' },
    head,
    h('div', { class: 'columns' }, info, h('div', { class: 'no-print' }, statusForm, needsForm), h('div', { class: 'no-print' }, fieldsForm)),
    notesForm,
    tasks,
    reqs,
    history,
    h('div', { class: 'columns forms no-print' }, taskForm, requestForm),
  );

  async function refresh() {
    const [d, rs, changes] = await Promise.all([
      api.get(cpath(`/households/${encodeURIComponent(id)}`)),
      rounds(),
      api.get(cpath(`/households/${encodeURIComponent(id)}/history`)),
      needMarks(),
    ]);
    await households();
    const x = d.household;
    current = x;
    openRounds = rs.map(roundOf).filter((r) => r.status !== 'closed');
    fill(head,
      pageHeader(fmtAddress(x.address), h('a', { href: '#/roster', class: 'button' }, t('household.back')), printButton()),
      h('p', { class: 'badges' }, badge('control_status', x.status, 'big'), needBadges(x.needs, 'big')),
      d.removed_at ? h('p', { class: 'warn', testid: 'household-removed-banner' }, t('household.removed_at', { at: fmtTime(d.removed_at) })) : null,
    );
    const row = (k, v) => [h('dt', null, t(`household.${k}`)), h('dd', { dataset: { field: k } }, v)];
    fill(info,
      h(
        'section',
        { class: 'card', testid: 'hh-ledger' },
        h('h2', null, t('household.ledger')),
        h(
          'dl',
          { class: 'ledger' },
          row('head', x.head),
          row('phone', x.phone),
          row('people', peopleText(x.people)),
          row('aged_60_plus', String(x.aged_60_plus)),
          row('children_under_6', String(x.children_under_6)),
          row('lift', x.lift ? t('common.yes') : t('common.no')),
          row('status', label('control_status', x.status)),
          row('needs', (x.needs || []).map((n) => label('need_tag', n)).join('、') || t('common.none')),
          row('notes', x.notes || t('common.none')),
        ),
      ),
    );
    statusForm.rebuild(x);
    needsForm.rebuild(x);
    fieldsForm.rebuild(x);
    notesForm.rebuild(x);
    taskForm.rebuild();
    requestForm.rebuild();
    fill(tasks, h('h2', null, t('household.tasks')), taskTable(d.tasks || [], { roundTitles: true }));
    fill(reqs,
      h('h2', null, t('household.requests')),
      (d.requests || []).length
        ? h('ul', { class: 'requests' }, d.requests.map((r) => requestCard(r, { compact: true, titles: new Map(rs.map(roundOf).map((x) => [x.document, x.title])) })))
        : h('p', { class: 'empty' }, t('common.none')),
    );
    fill(history, h('h2', null, t('household.history')), historyList(changes));
  }
  return { root, refresh };
}
