// @ts-check
// The compound map (参谋图): each building's elevation, flats filled by control status with need
// marks, and with an open round chosen each flat's door.

import * as I from './i18n.js';
import { t, label } from './i18n.js';
import { h, fill, field, select, visible } from './dom.js';
import { buildingName, numeric } from './format.js';
import { state } from './state.js';
import { api, cpath } from './api.js';
import { showError } from './notices.js';
import { rounds, roundOf } from './compound-data.js';
import { go } from './route.js';
import { inLang, needMark } from './need-marks.js';
import { pageHeader, printButton } from './widgets.js';

const SWATCH_ORDER = ['red', 'pink', 'brown', 'yellow', 'green', 'none'];

const DOOR_STATES = ['delivered', 'attempted', 'pending'];


/** The map's legend, from the relay's: fills, need marks and, with a round shown, door states. */
function legend(data) {
  const fills = data.legend.fills.map((f) =>
    h('li', { dataset: { colour: f.fill } }, h('span', { class: `swatch c-${f.fill}`, 'aria-hidden': 'true' }, inLang(f.glyph)), h('span', null, inLang(f.label))),
  );
  const needs = data.legend.needs.map((n) => h('li', { dataset: { need: n.need } }, needMark(n), h('span', null, inLang(n.label))));
  const doors = data.round
    ? DOOR_STATES.map((d) =>
        h('li', { dataset: { door: d } }, h('span', { class: `door-mark d-${d}`, 'aria-hidden': 'true' }, t(`map.door.mark.${d}`)), h('span', null, t(`map.door.${d}`))),
      )
    : null;
  return h(
    'div',
    { class: 'legend', testid: 'legend', role: 'group', 'aria-label': t('map.legend') },
    h('div', { class: 'legend-group' }, h('h3', null, t('map.legend_fill')), h('ul', null, fills)),
    h('div', { class: 'legend-group' }, h('h3', null, t('map.legend_needs')), h('ul', { testid: 'legend-needs' }, needs)),
    doors ? h('div', { class: 'legend-group' }, h('h3', null, t('map.legend_doors')), h('ul', { testid: 'legend-doors' }, doors)) : null,
  );
}

/** Marks every sideways-scrolling box whose content is wider than it, so its cue shows. */
function markOverflow(container) {
  for (const box of container.querySelectorAll('.scroll')) {
    const over = box.scrollWidth - box.clientWidth > 1;
    box.dataset.overflow = over ? 'true' : 'false';
    const cue = box.previousElementSibling;
    if (cue && cue.classList.contains('scroll-cue')) cue.hidden = !over;
  }
}

/** @returns {import('./state.js').View} */
export function MapView(query) {
  let data = null;
  const filters = { estate: '', highlight: '', round: query.get('round') || '' };
  const estateSel = select('map-estate', [['', t('common.all')]], '', {
    onchange: (ev) => {
      filters.estate = ev.target.value;
      draw();
    },
  });
  const roundSel = select('map-round', [['', t('map.round_none')]], '', {
    onchange: (ev) => {
      filters.round = ev.target.value;
      // The choice goes into the address, so a reload or a shared link keeps it.
      history.replaceState(null, '', filters.round ? `#/map?round=${encodeURIComponent(filters.round)}` : '#/map');
      refresh().catch(showError);
    },
  });
  const highlightSel = select(
    'map-highlight',
    [
      ['', t('map.highlight_none')],
      ...I.values('control_status').map((s) => [`status:${s}`, label('control_status', s)]),
      ...I.values('need_tag').map((n) => [`need:${n}`, label('need_tag', n)]),
    ],
    '',
    {
      onchange: (ev) => {
        filters.highlight = ev.target.value;
        draw();
      },
    },
  );
  const legendBox = h('div');
  const roundLine = h('p', { class: 'map-round-progress', testid: 'map-round-progress', role: 'status', hidden: true });
  const summary = h('p', { class: 'map-summary', testid: 'map-summary' });
  const grid = h('div', { class: 'map', testid: 'map' });
  const root = h(
    'section',
    { testid: 'page-map', class: 'map-page' },
    pageHeader(t('map.title', { name: state.compound.name }), printButton()),
    h(
      'div',
      { class: 'filters no-print' },
      field(t('map.estate'), estateSel),
      field(t('map.highlight'), highlightSel),
      field(t('map.round'), roundSel),
    ),
    legendBox,
    roundLine,
    summary,
    grid,
  );
  // The cue follows the layout: a narrower window, a font that loads late, a longer label.
  const resized = typeof ResizeObserver !== 'undefined' ? new ResizeObserver(() => markOverflow(grid)) : null;
  if (resized) resized.observe(grid);

  function matches(flat) {
    if (!filters.highlight) return true;
    const [kind, value] = filters.highlight.split(':');
    return kind === 'status' ? flat.status === value : (flat.needs || []).includes(value);
  }

  function flatButton(b, unit, floor, flat) {
    const colour = flat.colour || 'none';
    const needs = (flat.needs || []).map((n) => label('need_tag', n)).join('、');
    const door = data.round ? (flat.door ? flat.door.state : 'outside') : null;
    let doorText = '';
    if (door === 'attempted') {
      const why = flat.door.outcome ? label('outcome', flat.door.outcome) : '';
      doorText = why ? t('map.door.attempted_why', { why }) : t('map.door.attempted_short');
    } else if (door) doorText = t(`map.door.${door}`);
    const desc = [
      buildingName(b.estate, b.label),
      unit.unit ? t('address.unit', { unit: unit.unit }) : '',
      flat.flat,
      label('control_status', flat.status),
      needs,
      doorText,
    ]
      .filter(Boolean)
      .join(' · ');
    const byNeed = new Map(data.legend.needs.map((n) => [n.need, n]));
    const marks = (flat.needs || []).map((n) => byNeed.get(n)).filter(Boolean);
    const dim = !matches(flat) || door === 'outside';
    return h(
      'button',
      {
        type: 'button',
        class: `flat c-${colour}${dim ? ' dim' : ''}${door ? ` door-${door}` : ''}`,
        testid: 'flat',
        title: desc,
        'aria-label': desc,
        dataset: {
          household: flat.household,
          estate: b.estate,
          building: b.label,
          unit: unit.unit,
          floor: floor.floor,
          flat: flat.flat,
          colour,
          status: flat.status,
          needs: (flat.needs || []).join(' '),
          // Only with a round shown (a dataset turns undefined into the text "undefined").
          ...(door ? { door } : {}),
        },
        onclick: () => go(`#/households/${flat.household}`),
      },
      door && door !== 'outside' ? h('span', { class: `door-mark d-${door}`, testid: 'door-mark', 'aria-hidden': 'true' }, t(`map.door.mark.${door}`)) : null,
      h('span', { class: 'no' }, flat.flat),
      colour !== 'none' ? h('span', { class: 'mark', 'aria-hidden': 'true' }, t(`colour.mark.${colour}`)) : null,
      marks.length ? h('span', { class: 'needs' }, marks.map(needMark)) : null,
    );
  }

  // A flat's place along its floor ("03" for 703 on floor 7), so flats stack in columns the
  // way the building stands.
  function position(floor, flat) {
    const f = String(floor);
    const s = String(flat);
    return s.length > f.length && s.startsWith(f) ? s.slice(f.length) : s;
  }

  function drawBuilding(b) {
    const floors = new Set();
    const columns = b.units.map((u) => {
      const places = new Set();
      for (const f of u.floors) {
        floors.add(f.floor);
        for (const x of f.flats) places.add(position(f.floor, x.flat));
      }
      return [...places].sort(numeric);
    });
    const order = [...floors].sort((a, c) => c - a);
    const tally = {};
    for (const u of b.units) for (const f of u.floors) for (const x of f.flats) tally[x.colour] = (tally[x.colour] || 0) + 1;
    const marked = SWATCH_ORDER.filter((c) => c !== 'none' && tally[c]).map((c) => `${t(`colour.${c}`)} ${tally[c]}`);
    return h(
      'section',
      { class: 'building card', testid: 'map-building', dataset: { estate: b.estate, building: b.label } },
      h('h2', null, buildingName(b.estate, b.label), h('span', { class: 'meta' }, marked.join(' · '))),
      h('p', { class: 'scroll-cue no-print', testid: 'scroll-cue', hidden: true }, t('map.scroll_cue')),
      h(
        'div',
        { class: 'scroll', testid: 'map-scroll', tabindex: '0', role: 'region', 'aria-label': buildingName(b.estate, b.label) },
        h(
          'table',
          { class: 'elevation' },
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              h('th', { scope: 'col' }, t('map.floor')),
              b.units.map((u, i) =>
                h('th', { scope: 'colgroup', colspan: columns[i].length || 1, class: 'unit' }, u.unit ? t('address.unit', { unit: u.unit }) : '—'),
              ),
            ),
          ),
          h(
            'tbody',
            null,
            order.map((fl) =>
              h(
                'tr',
                null,
                h('th', { scope: 'row' }, String(fl)),
                b.units.map((u, i) => {
                  const f = u.floors.find((x) => x.floor === fl);
                  return (columns[i].length ? columns[i] : ['']).map((place, j) =>
                    h(
                      'td',
                      { class: j === 0 ? 'unit-start' : null },
                      f ? f.flats.filter((x) => position(fl, x.flat) === place).map((x) => flatButton(b, u, f, x)) : null,
                    ),
                  );
                }),
              ),
            ),
          ),
        ),
      ),
    );
  }

  function draw() {
    if (!data) return;
    const shown = data.buildings.filter((b) => !filters.estate || b.estate === filters.estate);
    let flats = 0;
    let hits = 0;
    for (const b of shown)
      for (const u of b.units)
        for (const f of u.floors)
          for (const x of f.flats) {
            flats += 1;
            if (filters.highlight && matches(x)) hits += 1;
          }
    summary.textContent = filters.highlight
      ? t('map.summary_highlight', { buildings: shown.length, flats, hits })
      : t('map.summary', { buildings: shown.length, flats });
    fill(legendBox, legend(data));
    const r = data.round;
    roundLine.hidden = !r;
    if (r) {
      roundLine.textContent = visible(
        t('map.round_progress', { title: r.round.title, doors: r.doors, delivered: r.delivered, attempted: r.attempted, pending: r.pending }) +
          (r.not_drawn ? t('map.round_not_drawn', { n: r.not_drawn }) : ''),
      );
      Object.assign(roundLine.dataset, { round: r.round.document, doors: r.doors, delivered: r.delivered, attempted: r.attempted, pending: r.pending, notDrawn: r.not_drawn || 0 });
    }
    fill(grid, ...shown.map(drawBuilding));
    markOverflow(grid);
    if (resized) for (const table of grid.querySelectorAll('.scroll > table')) resized.observe(table);
  }

  async function refresh() {
    const open = (await rounds()).map(roundOf).filter((x) => x.status === 'open');
    // A round closed since it was chosen leaves the map plain rather than failing.
    if (filters.round && !open.some((x) => x.document === filters.round)) filters.round = '';
    fill(roundSel, h('option', { value: '' }, t('map.round_none')), ...open.map((x) => h('option', { value: x.document }, `${x.title} · ${x.date}`)));
    roundSel.value = filters.round;
    /** @type {HTMLElement} */ (roundSel.closest('.field')).hidden = !open.length;
    data = await api.get(cpath(filters.round ? `/map?round=${encodeURIComponent(filters.round)}` : '/map'));
    const estates = [...new Set(data.buildings.map((b) => b.estate).filter(Boolean))];
    const keep = filters.estate;
    fill(estateSel, h('option', { value: '' }, t('common.all')), ...estates.map((e) => h('option', { value: e }, e)));
    estateSel.value = estates.includes(keep) ? keep : '';
    /** @type {HTMLElement} */ (estateSel.closest('.field')).hidden = estates.length < 2;
    draw();
  }
  // A redraw rebuilds the buildings and leaves the filters as they are, so a phone's sync shows
  // at once even while the coordinator is still in one of the lists.
  return { root, refresh, keepsControls: true };
}
