// @ts-check
// The roster: every household, filtered by search, building, status and need.

import * as I from './i18n.js';
import { t, label } from './i18n.js';
import { h, fill, field, select, button, badge } from './dom.js';
import { fmtAddress, buildingName, peopleText } from './format.js';
import { api, cpath } from './api.js';
import { showError } from './notices.js';
import { households, buildingsOf, buildingKey, parseBuildingKey } from './compound-data.js';
import { needMarks, needBadges } from './need-marks.js';
import { pageHeader, printButton } from './widgets.js';

/** @returns {import('./state.js').View} */
export function Roster(query) {
  const f = {
    q: query.get('q') || '',
    estate: query.get('estate') || '',
    building: query.get('building') || '',
    status: query.get('status') || '',
    need: query.get('need') || '',
  };
  const q = h('input', { type: 'search', testid: 'roster-search', value: f.q, placeholder: t('roster.search_hint') });
  const buildingSel = select('roster-building', [['', t('common.all')]], '');
  const statusSel = select(
    'roster-status',
    [['', t('common.all')], ...I.values('control_status').map((s) => [s, label('control_status', s)])],
    f.status,
  );
  const needSel = select(
    'roster-need',
    [['', t('common.all')], ['any', t('roster.any_need')], ...I.values('need_tag').map((n) => [n, label('need_tag', n)])],
    f.need,
  );
  const count = h('p', { class: 'count', testid: 'roster-count', role: 'status' });
  const tbody = h('tbody');
  const table = h(
    'table',
    { class: 'data roster', testid: 'roster-table' },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        ['address', 'head', 'phone', 'people', 'aged_60_plus', 'children_under_6', 'needs', 'status', 'lift'].map((k) =>
          h('th', { scope: 'col' }, t(`household.${k}`)),
        ),
      ),
    ),
    tbody,
  );
  let timer = null;
  const changed = () => {
    f.q = q.value.trim();
    const b = buildingSel.value ? parseBuildingKey(buildingSel.value) : { estate: '', building: '' };
    f.estate = b.estate;
    f.building = b.building;
    f.status = statusSel.value;
    f.need = needSel.value;
    const params = new URLSearchParams(Object.entries(f).filter(([, v]) => v));
    history.replaceState(null, '', `#/roster${params.toString() ? `?${params}` : ''}`);
    refresh().catch(showError);
  };
  q.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(changed, 300);
  });
  for (const s of [buildingSel, statusSel, needSel]) s.addEventListener('change', changed);
  const clear = button(t('roster.clear'), 'roster-clear', () => {
    q.value = '';
    buildingSel.value = '';
    statusSel.value = '';
    needSel.value = '';
    changed();
  });
  const root = h(
    'section',
    { testid: 'page-roster' },
    pageHeader(t('roster.title'), printButton()),
    h(
      'div',
      { class: 'filters no-print', role: 'search' },
      field(t('roster.search'), q, 'grow'),
      field(t('roster.building'), buildingSel),
      field(t('roster.status'), statusSel),
      field(t('roster.need'), needSel),
      clear,
    ),
    count,
    h('div', { class: 'scroll' }, table),
  );

  async function refresh() {
    await needMarks();
    const all = await households();
    const keep = f.building ? buildingKey({ estate: f.estate, building: f.building }) : '';
    fill(buildingSel,
      h('option', { value: '' }, t('common.all')),
      ...buildingsOf(all.list).map((b) => h('option', { value: buildingKey(b) }, `${buildingName(b.estate, b.building)} (${b.count})`)),
    );
    buildingSel.value = keep;
    const params = new URLSearchParams();
    for (const k of ['q', 'estate', 'building', 'status']) if (f[k]) params.set(k, f[k]);
    if (f.need && f.need !== 'any') params.set('need', f.need);
    let list = await api.get(cpath(`/households${params.toString() ? `?${params}` : ''}`));
    if (f.need === 'any') list = list.filter((x) => (x.needs || []).length);
    count.textContent = t('roster.count', { n: list.length, total: all.list.length });
    count.dataset.count = String(list.length);
    fill(tbody,
      ...list.map((x) =>
        h(
          'tr',
          { testid: 'roster-row', dataset: { household: x.id, status: x.status } },
          h('td', null, h('a', { href: `#/households/${x.id}` }, fmtAddress(x.address))),
          h('td', null, x.head),
          h('td', null, x.phone),
          // The labels show only on a phone, where the table turns into cards.
          h('td', { class: 'n', dataset: { label: t('household.people') } }, peopleText(x.people)),
          h('td', { class: 'n', dataset: { label: t('household.aged_60_plus') } }, String(x.aged_60_plus)),
          h('td', { class: 'n', dataset: { label: t('household.children_under_6') } }, String(x.children_under_6)),
          h('td', null, needBadges(x.needs)),
          h('td', null, badge('control_status', x.status)),
          h('td', { dataset: { label: t('household.lift') } }, x.lift ? t('common.yes') : t('common.no')),
        ),
      ),
    );
    if (!list.length) tbody.append(h('tr', null, h('td', { colspan: 9, class: 'empty' }, t('roster.none'))));
  }
  return { root, refresh };
}
