// @ts-check
// The frame around every view (top bar, navigation, banner) and which view the address shows.
// This module and login.js import each other (signing in draws the frame; the frame carries the
// sign-out and language buttons): only functions cross, and they run once both have loaded.

import * as I from './i18n.js';
import { t, label } from './i18n.js';
import { h, fill, field, select, button } from './dom.js';
import { STORED_COMPOUND, state } from './state.js';
import { clearError } from './notices.js';
import { loadTimeZone, loadMembers, personName } from './compound-data.js';
import { runRefresh, connectEvents, updateLive } from './live.js';
import { route, go } from './route.js';
import { langButton, logout } from './login.js';
import { Conflicts } from './page-conflicts.js';
import { HouseholdView } from './page-household.js';
import { MapView } from './page-map.js';
import { Members } from './page-members.js';
import { Overview } from './page-overview.js';
import { Requests } from './page-requests.js';
import { Roster } from './page-roster.js';
import { RoundView } from './page-round.js';
import { Rounds } from './page-rounds.js';
import { SetAside } from './page-set-aside.js';
import { Sheets } from './page-sheets.js';

const NAV = ['overview', 'map', 'roster', 'rounds', 'requests', 'conflicts', 'set_aside', 'sheets'];


export function renderShell() {
  document.documentElement.lang = I.htmlLang();
  const me = state.me;
  const compoundSelect = state.usable.length
    ? field(
        t('shell.compound'),
        select(
          'compound-select',
          state.usable.map((c) => [c.id, `${c.name} · ${label('role', c.role)}`]),
          state.compound && state.compound.id,
          {
            onchange: async (ev) => {
              delete document.getElementById('view').dataset.ready;
              state.compound = state.usable.find((c) => c.id === ev.target.value);
              localStorage.setItem(STORED_COMPOUND, state.compound.id);
              state.households = null;
              state.rounds = null;
              await Promise.all([loadMembers(), loadTimeZone()]);
              connectEvents();
              go('#/overview');
            },
          },
        ),
        'compound-field',
      )
    : null;
  const who = me.name || personName(me.person);
  const header = h(
    'header',
    { class: 'topbar' },
    h('div', { class: 'brand' }, h('strong', null, t('app.name')), h('span', null, t('app.tagline'))),
    compoundSelect,
    h(
      'div',
      { class: 'session' },
      h('span', { class: 'live', testid: 'live-status', role: 'status', 'aria-live': 'polite' }),
      h('span', { class: 'who', title: String(me.person || '') }, t('shell.signed_in_as', { who })),
      langButton(),
      button(t('shell.logout'), 'logout', logout),
    ),
  );
  const nav = h(
    'nav',
    { class: 'mainnav', 'aria-label': t('shell.nav') },
    navNames().map((name) => h('a', { href: `#/${name}`, testid: `nav-${name}`, dataset: { view: name } }, t(`nav.${name}`))),
  );
  const banner = h('div', { class: 'banner error', role: 'alert', testid: 'error-banner', hidden: true });
  const toastEl = h('div', { class: 'toast', role: 'status', 'aria-live': 'polite', testid: 'toast', hidden: true });
  const main = h('main', { id: 'view', testid: 'view' });
  fill(document.getElementById('app'), header, nav, banner, main, toastEl);
  updateLive();
  if (!state.compound) {
    fill(main, h('p', { class: 'empty', testid: 'no-compound' }, t('shell.no_compound')));
    return;
  }
  renderView();
}

const VIEWS = {
  overview: () => Overview(),
  map: (r) => MapView(r.query),
  roster: (r) => Roster(r.query),
  households: (r) => HouseholdView(r.parts[1]),
  rounds: (r) => (r.parts[1] ? RoundView(r.parts[1]) : Rounds()),
  requests: () => Requests(),
  conflicts: () => Conflicts(),
  set_aside: () => SetAside(),
  sheets: () => Sheets(),
  members: () => Members(),
};

export async function renderView() {
  const main = document.getElementById('view');
  if (!main || !state.compound) return;
  const r = route();
  const name = VIEWS[r.parts[0]] ? r.parts[0] : 'overview';
  /** @type {NodeListOf<HTMLAnchorElement>} */ (document.querySelectorAll('.mainnav a')).forEach((a) => {
    const here = a.dataset.view === name || (name === 'households' && a.dataset.view === 'roster');
    if (here) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
  clearError();
  const view = VIEWS[name](r);
  state.view = view;
  fill(main, view.root);
  main.dataset.view = name;
  document.title = `${t(`nav.${name === 'households' ? 'roster' : name}`)} — ${state.compound.name} — ${t('app.name')}`;
  await runRefresh(view);
  if (state.view === view) {
    main.dataset.ready = name;
    main.dataset.compound = state.compound.id;
  }
}

/** Whether the signed-in person runs the current compound (volunteers never see Members). */
function runsCompound() {
  return Boolean(state.compound && (state.compound.role === 'coordinator' || state.compound.role === 'admin'));
}

/** The nav's pages: the Members page only for someone who runs the compound. */
function navNames() {
  return runsCompound() ? [...NAV, 'members'] : NAV;
}
