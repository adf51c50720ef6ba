// @ts-check
// One round: progress, assigning a building, its tasks by building, closing and reopening.

import * as I from './i18n.js';
import { t, label } from './i18n.js';
import { h, fill, field, select, button, badge } from './dom.js';
import { buildingName, numeric } from './format.js';
import { api, cpath } from './api.js';
import { households, volunteerOptions, roundOf, buildingKey, parseBuildingKey } from './compound-data.js';
import { operate } from './operate.js';
import { pageHeader, printButton, progress, lateMark } from './widgets.js';
import { taskTable } from './tasks.js';

export function printHref(round, b) {
  const params = new URLSearchParams({ building: b.building, estate: b.estate });
  return cpath(`/print/rounds/${encodeURIComponent(round)}?${params}`);
}

/** @returns {import('./state.js').View} */
export function RoundView(id) {
  const head = h('div');
  const assign = h('div');
  const groups = h('div');
  const root = h('section', { testid: 'page-round', dataset: { round: id } }, head, assign, groups);
  let confirming = false;

  async function refresh() {
    const [d, all] = await Promise.all([api.get(cpath(`/rounds/${encodeURIComponent(id)}`)), households()]);
    const info = roundOf(d.round);
    const open = info.status !== 'closed';
    const rows = d.tasks || [];
    const by = {};
    for (const s of I.values('task_status')) by[s] = 0;
    // A task assigned, not visited yet, to someone removed is 待改派, not assigned (as the relay's
    // progress counts it): nobody holds it and no volunteer may claim it.
    let toReassign = 0;
    for (const r of rows) {
      if (r.status === 'assigned' && r.assignee_removed) toReassign += 1;
      else by[r.status] = (by[r.status] || 0) + 1;
    }
    const hh = all.byId;
    const withHousehold = rows.map((r) => {
      const x = r.household && typeof r.household === 'object' ? r.household : hh.get(r.household || r.task.household);
      return Object.assign({}, r, { householdObj: x });
    });
    const closeBtn = open
      ? confirming
        ? [
            h('span', { class: 'confirm' }, t('round.close_question')),
            button(t('round.close_confirm'), 'round-close-confirm', async () => {
              confirming = false;
              await operate({ op: 'close_round', round: id }, t('round.closed'));
            }, { class: 'danger' }),
            button(t('common.cancel'), 'round-close-cancel', () => {
              confirming = false;
              refresh();
            }),
          ]
        : button(t('round.close'), 'round-close', () => {
            confirming = true;
            refresh();
          })
      : button(t('round.reopen'), 'round-reopen', async () => {
          await operate({ op: 'reopen_round', round: id }, t('round.reopened'));
        });
    fill(head,
      pageHeader(
        info.title,
        open ? h('a', { class: 'button', href: `#/map?round=${encodeURIComponent(id)}`, testid: 'round-on-map' }, t('round.on_map')) : null,
        h('a', { class: 'button', href: cpath(`/export/rounds/${encodeURIComponent(id)}.csv`), download: '', testid: 'round-export-csv' }, t('round.export_csv')),
        h('a', { class: 'button', href: cpath(`/export/rounds/${encodeURIComponent(id)}.xlsx`), download: '', testid: 'round-export-xlsx' }, t('round.export_xlsx')),
        printButton(),
        closeBtn,
      ),
      h(
        'p',
        { class: 'meta' },
        badge('round_status', info.status),
        ` ${label('task_kind', info.kind)} · ${info.date} `,
        lateMark(d.progress && d.progress.late, id),
      ),
      h(
        'div',
        { class: 'card round-summary' },
        progress(by.delivered, rows.length, 'round-progress', { round: id }),
        h(
          'ul',
          { class: 'tally inline' },
          I.values('task_status').flatMap((s) => [
            h('li', { testid: `round-count-${s}`, dataset: { count: by[s] } }, badge('task_status', s), h('span', { class: 'num' }, String(by[s]))),
            s === 'assigned' && toReassign
              ? h('li', { testid: 'round-count-to_reassign', class: 'warn', title: t('task.to_reassign_hint'), dataset: { count: toReassign } }, h('span', { class: 'badge task_status-to_reassign' }, t('task.to_reassign')), h('span', { class: 'num' }, String(toReassign)))
              : null,
          ]),
        ),
        toReassign ? h('p', { class: 'hint warn', testid: 'round-to-reassign-hint' }, t('task.to_reassign_hint')) : null,
      ),
    );

    // Group by building, in climbing order.
    const buildings = new Map();
    for (const r of withHousehold) {
      const a = (r.householdObj && r.householdObj.address) || { estate: '', building: '?' };
      const key = buildingKey({ estate: a.estate || '', building: a.building });
      if (!buildings.has(key)) buildings.set(key, { estate: a.estate || '', building: a.building, rows: [] });
      buildings.get(key).rows.push(r);
    }
    const ordered = [...buildings.values()].sort((a, b) => a.estate.localeCompare(b.estate, 'zh') || numeric(a.building, b.building));
    for (const g of ordered) {
      g.rows.sort((a, b) => {
        const x = (a.householdObj && a.householdObj.address) || {};
        const y = (b.householdObj && b.householdObj.address) || {};
        return numeric(x.unit || 0, y.unit || 0) || (x.floor || 0) - (y.floor || 0) || numeric(x.flat || 0, y.flat || 0);
      });
    }

    if (open && !assign.querySelector('form[data-dirty]')) {
      const bsel = select('assign-building', ordered.map((g) => [buildingKey(g), buildingName(g.estate, g.building)]));
      const vsel = select('assign-volunteer', volunteerOptions(false));
      fill(assign,
        h(
          'form',
          {
            class: 'card form inline no-print',
            testid: 'assign-form',
            oninput: (ev) => {
              ev.currentTarget.dataset.dirty = '1';
            },
            onsubmit: async (ev) => {
              ev.preventDefault();
              const form = ev.currentTarget;
              if (!vsel.value) return;
              const b = parseBuildingKey(bsel.value);
              delete form.dataset.dirty;
              await operate({ op: 'assign_building', round: id, estate: b.estate, building: b.building, volunteer: vsel.value });
            },
          },
          h('h2', null, t('round.assign_building')),
          field(t('selection.building'), bsel),
          field(t('round.volunteer'), vsel),
          h('button', { type: 'submit', testid: 'assign-building-submit' }, t('round.assign')),
        ),
      );
    } else if (!open) {
      fill(assign);
    }

    fill(groups,
      ...ordered.map((g) => {
        const delivered = g.rows.filter((r) => r.status === 'delivered').length;
        return h(
          'section',
          { class: 'card building-tasks', testid: 'round-building', dataset: { estate: g.estate, building: g.building } },
          h(
            'div',
            { class: 'page-head' },
            h('h2', null, buildingName(g.estate, g.building)),
            h('a', { class: 'button no-print', href: printHref(id, g), target: '_blank', rel: 'noopener', testid: 'print-sheet' }, t('round.print_sheet')),
          ),
          progress(delivered, g.rows.length, 'building-progress'),
          taskTable(
            g.rows.map((r) => ({ task: r.task, status: r.status, household: r.householdObj || r.task.household, household_removed: r.household_removed, assignee_name: r.assignee_name, assignee_removed: r.assignee_removed, knocks_waiting: r.knocks_waiting })),
            { actions: true, roundOpen: open },
          ),
        );
      }),
    );
    if (!ordered.length) groups.append(h('p', { class: 'empty' }, t('rounds.no_tasks')));
  }
  return { root, refresh };
}
