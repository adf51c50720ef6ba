// @ts-check
// Pieces several pages build with: page headers, progress bars, guarded forms, enum lists.

import * as I from './i18n.js';
import { t, label } from './i18n.js';
import { h, fill, append, select, button } from './dom.js';

export function pageHeader(title, ...actions) {
  return h('div', { class: 'page-head' }, h('h1', null, title), h('div', { class: 'actions no-print' }, actions));
}

export function printButton() {
  return button(t('common.print'), 'print', () => window.print());
}

export function progress(delivered, total, testid, extra) {
  const pct = total ? Math.round((100 * delivered) / total) : 0;
  return h(
    'div',
    { class: 'progress', testid, dataset: Object.assign({ delivered, total }, extra || {}) },
    h('progress', { max: total || 1, value: delivered, 'aria-label': t('round.progress') }),
    h('span', { class: 'progress-text' }, t('round.delivered_of', { delivered, total, pct })),
  );
}


// A household removed from the roster since the work that names it was done: the work is shown
// at its last address, marked.
export function removedMark(removed) {
  return removed ? h('span', { class: 'badge household-removed', testid: 'household-removed' }, t('household.removed')) : null;
}

// A task assigned to someone who is no longer a member of the compound (removed since): nobody
// will deliver it until it is reassigned.
export function assigneeRemovedMark(removed) {
  return removed ? h('span', { class: 'badge household-removed', testid: 'assignee-removed', title: t('task.assignee_removed_hint') }, t('task.assignee_removed')) : null;
}

// Tasks assigned, not visited yet, to someone no longer a member (待改派): neither assigned (nobody
// holds them) nor open (no volunteer may claim them); a link to the round, where they are
// reassigned. Nothing when there are none.
export function toReassignMark(n, round) {
  if (!n) return null;
  const href = round ? `#/rounds/${round}` : '#/rounds';
  return h('a', { href, class: 'warn', title: t('task.to_reassign_hint'), testid: 'to-reassign', dataset: { count: n, round: round || '' } }, t('round.to_reassign', { n }));
}

// Attempts that reached a round after it was closed (made before the close): 迟到 / late.
export function lateMark(n, round) {
  return n ? h('span', { class: 'warn', title: t('round.late_hint'), testid: 'round-late', dataset: { round, count: n } }, t('round.late', { n })) : null;
}


/** A form whose fields the live refresh leaves alone once the person has started typing. */
export function guardedForm(testid, build, onsubmit) {
  const form = h('form', { class: 'card form', testid });
  form.addEventListener('input', () => {
    form.dataset.dirty = '1';
  });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    /** @type {HTMLButtonElement | null} */
    const submit = form.querySelector('[type=submit]');
    if (submit) submit.disabled = true;
    try {
      const ok = await onsubmit(form);
      if (ok) delete form.dataset.dirty;
    } finally {
      if (submit) submit.disabled = false;
    }
  });
  form.rebuild = (...args) => {
    if (form.dataset.dirty) return;
    fill(form);
    append(form, build(...args));
  };
  return form;
}


export function kindSelect(testid, value) {
  return select(testid, I.values('task_kind').map((v) => [v, label('task_kind', v)]), value);
}

export function prioritySelect(testid, value) {
  return select(testid, I.values('priority').map((v) => [v, label('priority', v)]), value);
}
