// The coordinators' dashboard: a single page over the relay's /dashboard/api.
//
// Why plain DOM code and no framework: the relay embeds these files in its binary and serves
// them on a district's own machine with no network at run time, so there is no build step and
// nothing to fetch. Every element is built with `h()` and text is set as text (never as HTML),
// so names and notes typed by anyone can never run as script. Every visible string goes through
// `t()` (i18n.js), Chinese first. The page follows the relay's Server-Sent Events: when a phone
// syncs, the visible view fetches its data again, without a reload and without touching what a
// coordinator is typing.
'use strict';

(function () {
  const I = window.DoorstepI18n;
  const t = (key, params) => I.t(key, params);
  const label = (kind, value) => I.label(kind, value);

  const API = '/dashboard/api';
  const STORED_COMPOUND = 'doorstep.compound';
  const SWATCH_ORDER = ['red', 'pink', 'brown', 'yellow', 'green', 'none'];
  const STATUS_COLOUR = {
    confirmed: 'red',
    central_quarantine: 'pink',
    home_quarantine: 'brown',
    home_monitoring: 'yellow',
    normal: 'none',
  };
  const DOOR_STATES = ['delivered', 'attempted', 'pending'];

  // ---------------------------------------------------------------------------------------------
  // DOM helpers.

  /** Builds an element. `attrs.testid` sets data-testid; `on…` functions become listeners. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    let value;
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'testid') el.dataset.testid = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'value') value = v;
      else if (k === 'checked' || k === 'selected' || k === 'disabled' || k === 'required') el[k] = true;
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, String(v));
    }
    append(el, children);
    // A select's value can only be set once its options exist.
    if (value !== undefined) el.value = value;
    return el;
  }

  /** Replaces an element's children; arrays among them are flattened. */
  function fill(el, ...children) {
    el.replaceChildren();
    append(el, children);
    return el;
  }

  function append(el, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : String(c));
    }
  }

  let uid = 0;
  /** A labelled form field: the label's `for` points at the control. */
  function field(text, control, extraClass) {
    if (!control.id) control.id = `f${++uid}`;
    return h('div', { class: `field ${extraClass || ''}` }, h('label', { for: control.id }, text), control);
  }

  function select(testid, options, value, attrs) {
    return h(
      'select',
      Object.assign({ testid, value }, attrs || {}),
      options.map(([v, text]) => h('option', { value: v }, text)),
    );
  }

  function button(text, testid, onclick, attrs) {
    return h('button', Object.assign({ type: 'button', testid, onclick }, attrs || {}), text);
  }

  function badge(kind, value, extra) {
    return h('span', { class: `badge ${kind}-${value} ${extra || ''}`, dataset: { value } }, label(kind, value));
  }

  function swatch(colour) {
    return h('span', { class: `swatch c-${colour}`, 'aria-hidden': 'true' }, t(`colour.mark.${colour}`));
  }

  /** Minutes east of UTC the compound tells time in (its roster's setting; UTC+8 by default). */
  function zoneMinutes() {
    return state.zone ? state.zone.minutes : 480;
  }

  /** A time as the compound's clock shows it, whatever the browser's own time zone. */
  function fmtTime(ms) {
    if (ms === null || ms === undefined) return '';
    const d = new Date(Number(ms) + zoneMinutes() * 60_000);
    return d.toLocaleString(I.lang() === 'zh' ? 'zh-CN' : 'en-GB', {
      timeZone: 'UTC',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
    });
  }

  /** Today's date on the compound's clock. */
  function today() {
    const d = new Date(Date.now() + zoneMinutes() * 60_000);
    const pad = (n) => String(n).padStart(2, '0');
    return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  }

  function fmtAddress(a) {
    if (!a) return '';
    return t(a.unit ? 'address.full' : 'address.no_unit', {
      estate: a.estate || '',
      building: a.building,
      unit: a.unit,
      flat: a.flat,
    }).trim();
  }

  function buildingName(estate, building) {
    return t('address.building', { estate: estate || '', building }).trim();
  }

  function numeric(a, b) {
    const na = Number(a);
    const nb = Number(b);
    if (!Number.isNaN(na) && !Number.isNaN(nb)) return na - nb;
    return String(a).localeCompare(String(b), 'zh');
  }

  function shortId(id) {
    return id ? String(id).slice(0, 8) : '';
  }

  // ---------------------------------------------------------------------------------------------
  // The HTTP API.

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.error) || `HTTP ${status}`);
      this.status = status;
      this.body = body || {};
    }
  }

  async function request(method, path, body, opts) {
    const o = opts || {};
    const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      if (body instanceof ArrayBuffer || body instanceof Blob) {
        init.body = body;
        init.headers['Content-Type'] = o.type || 'application/octet-stream';
      } else {
        init.body = JSON.stringify(body);
        init.headers['Content-Type'] = 'application/json';
      }
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, { error: t('error.network'), reason: String(e.message || e) });
    }
    const text = await res.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (_) {
        data = { error: text.slice(0, 300) };
      }
    }
    if (!res.ok) {
      if (res.status === 401 && !o.quiet) signedOut(t('login.expired'));
      throw new ApiError(res.status, data);
    }
    return data;
  }

  const api = {
    get: (path) => request('GET', path),
    post: (path, body, opts) => request('POST', path, body, opts),
  };

  function cpath(rest) {
    return `${API}/compounds/${encodeURIComponent(state.compound.id)}${rest}`;
  }

  /** Applies a core operation through the relay; refreshes the view; returns what it answered. */
  async function operate(op, okMessage) {
    try {
      const out = await api.post(cpath('/operations'), op);
      toast(okMessage || t('toast.saved'));
      invalidate(op.op);
      scheduleRefresh(0, true);
      return out;
    } catch (e) {
      showError(e);
      return null;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // State and caches.

  const state = {
    me: null,
    compound: null,
    zone: null,
    members: [],
    households: null,
    rounds: null,
    view: null,
    events: null,
    live: 'off',
    lastEvent: null,
    refreshes: 0,
  };

  function invalidate(kindOrOp) {
    // A roster change (or an operation on households) makes the household cache stale; any
    // change can add or end a round.
    if (!kindOrOp || kindOrOp === 'roster' || /household|status|need|notes|import/.test(kindOrOp)) {
      state.households = null;
    }
    state.rounds = null;
  }

  async function households() {
    if (!state.households) {
      const list = await api.get(cpath('/households'));
      state.households = { list, byId: new Map(list.map((x) => [x.id, x])) };
      state.knownHouseholds = state.households;
    }
    return state.households;
  }

  /** Households by ID for labels: the latest list fetched, even if a change has made it stale. */
  function knownHousehold(id) {
    return state.knownHouseholds ? state.knownHouseholds.byId.get(id) : undefined;
  }

  async function rounds() {
    if (!state.rounds) state.rounds = await api.get(cpath('/rounds'));
    return state.rounds;
  }

  /** The compound's time zone, which every time on the page is shown in. */
  async function loadTimeZone() {
    try {
      state.zone = await api.get(cpath('/time-zone'));
    } catch (e) {
      state.zone = null;
      if (e.status !== 404) showError(e);
    }
  }

  async function loadMembers() {
    try {
      state.members = await api.get(cpath('/members'));
    } catch (e) {
      state.members = [];
      if (e.status !== 404) showError(e);
    }
  }

  function personName(id, names) {
    if (!id) return t('common.nobody');
    if (names && names[id]) return names[id];
    if (state.me && state.me.person === id && state.me.name) return state.me.name;
    const m = state.members.find((x) => x.person === id);
    return m ? m.name || shortId(id) : shortId(id);
  }

  function volunteerOptions(withNobody) {
    // Volunteers first: they carry the bags; coordinators and admins can be chosen too.
    const rank = { volunteer: 0, coordinator: 1, medic: 2, admin: 3 };
    const opts = state.members
      .filter((m) => !m.revoked)
      .sort((a, b) => (rank[a.role] ?? 9) - (rank[b.role] ?? 9) || String(a.name).localeCompare(String(b.name), 'zh'))
      .map((m) => [m.person, `${m.name || shortId(m.person)} (${label('role', m.role)})`]);
    return withNobody ? [['', t('common.nobody')], ...opts] : opts;
  }

  function roundOf(info) {
    // Rounds come as {round, total, …} in lists and as a bare round elsewhere.
    return info && info.round && typeof info.round === 'object' ? info.round : info;
  }

  function buildingsOf(list) {
    const seen = new Map();
    for (const x of list) {
      const a = x.address || {};
      const key = `${a.estate || ''}\u0000${a.building}`;
      if (!seen.has(key)) seen.set(key, { estate: a.estate || '', building: a.building, count: 0 });
      seen.get(key).count += 1;
    }
    return [...seen.values()].sort(
      (a, b) => a.estate.localeCompare(b.estate, 'zh') || numeric(a.building, b.building),
    );
  }

  function buildingKey(b) {
    return `${b.estate}\u0000${b.building}`;
  }

  function parseBuildingKey(key) {
    const [estate, building] = key.split('\u0000');
    return { estate, building };
  }

  // ---------------------------------------------------------------------------------------------
  // Messages to the person.

  let toastTimer = null;
  function toast(text) {
    const el = document.querySelector('[data-testid="toast"]');
    if (!el) return;
    el.textContent = text;
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => {
      el.hidden = true;
    }, 3000);
  }

  function errorText(e) {
    const b = (e && e.body) || {};
    const main = b.error || (e && e.message) || String(e);
    return b.reason && b.reason !== main ? `${main} — ${b.reason}` : main;
  }

  // 户内人数 is unknown (null) when the ledger left it blank.
  function peopleText(people) {
    return people == null ? t('household.people_unknown') : String(people);
  }

  function showError(e) {
    const el = document.querySelector('[data-testid="error-banner"]');
    if (!el) return;
    fill(el,
      h('span', null, `${t('error.prefix')}: ${errorText(e)}`),
      button(t('common.dismiss'), 'error-dismiss', () => {
        el.hidden = true;
      }),
    );
    el.hidden = false;
  }

  function clearError() {
    const el = document.querySelector('[data-testid="error-banner"]');
    if (el) el.hidden = true;
  }

  // ---------------------------------------------------------------------------------------------
  // Sign-in.

  function signedOut(message) {
    state.me = null;
    closeEvents();
    renderLogin(message);
  }

  function langButton() {
    return button(t('lang.switch'), 'lang-toggle', () => {
      I.setLang(I.lang() === 'zh' ? 'en' : 'zh');
      if (state.me) renderShell();
      else renderLogin();
    }, { lang: I.lang() === 'zh' ? 'en' : 'zh' });
  }

  function renderLogin(message) {
    document.title = `${t('app.name')} — ${t('login.title')}`;
    const input = h('input', {
      type: 'password',
      testid: 'login-token',
      autocomplete: 'current-password',
      required: true,
      spellcheck: 'false',
    });
    const status = h('p', { class: 'login-message', role: 'alert', testid: 'login-error', hidden: !message }, message || '');
    const submit = h('button', { type: 'submit', testid: 'login-submit', class: 'primary' }, t('login.submit'));
    const form = h(
      'form',
      {
        class: 'login card',
        testid: 'login-form',
        onsubmit: async (ev) => {
          ev.preventDefault();
          submit.disabled = true;
          status.hidden = true;
          try {
            await api.post('/dashboard/login', { token: input.value.trim() }, { quiet: true });
            await start();
          } catch (e) {
            const key = e.status === 403 ? 'login.volunteer' : e.status === 401 ? 'login.bad_token' : null;
            status.textContent = key ? t(key) : errorText(e);
            if (e.status === 403 && e.body.reason) status.textContent += ` (${e.body.reason})`;
            status.hidden = false;
          } finally {
            submit.disabled = false;
          }
        },
      },
      h('h1', null, t('app.name')),
      h('p', { class: 'subtitle' }, t('app.tagline')),
      field(t('login.token'), input),
      h('p', { class: 'hint' }, t('login.hint')),
      status,
      h('div', { class: 'actions' }, submit, langButton()),
    );
    document.documentElement.lang = I.htmlLang();
    fill(document.getElementById('app'), h('div', { class: 'login-page', testid: 'login-page' }, form));
    input.focus();
  }

  async function start() {
    let me;
    try {
      me = await api.get(`${API}/me`);
    } catch (e) {
      if (e.status === 401 || e.status === 403) {
        renderLogin(e.status === 403 ? t('login.volunteer') : '');
        return;
      }
      renderLogin(errorText(e));
      return;
    }
    state.me = me;
    const usable = (me.compounds || []).filter((c) => c.role === 'coordinator' || c.role === 'admin');
    state.usable = usable;
    const stored = localStorage.getItem(STORED_COMPOUND);
    state.compound = usable.find((c) => c.id === stored) || usable[0] || null;
    if (state.compound) await Promise.all([loadMembers(), loadTimeZone()]);
    renderShell();
    connectEvents();
  }

  async function logout() {
    try {
      await api.post('/dashboard/logout', {}, { quiet: true });
    } catch (_) {
      // Signing out locally is what matters; the cookie expires anyway.
    }
    signedOut(t('login.signed_out'));
  }

  // ---------------------------------------------------------------------------------------------
  // The frame around every view.

  const NAV = ['overview', 'map', 'roster', 'rounds', 'requests', 'conflicts', 'set_aside', 'sheets'];

  function route() {
    const raw = location.hash.replace(/^#\/?/, '');
    const [path, query] = raw.split('?');
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    return { parts, query: new URLSearchParams(query || '') };
  }

  function go(hash) {
    if (location.hash === hash) renderView();
    else location.hash = hash;
  }

  function renderShell() {
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

  async function renderView() {
    const main = document.getElementById('view');
    if (!main || !state.compound) return;
    const r = route();
    const name = VIEWS[r.parts[0]] ? r.parts[0] : 'overview';
    document.querySelectorAll('.mainnav a').forEach((a) => {
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

  async function runRefresh(view) {
    try {
      view.root.setAttribute('aria-busy', 'true');
      await view.refresh();
      state.refreshes += 1;
      document.body.dataset.refreshes = String(state.refreshes);
    } catch (e) {
      if (e.status !== 401) showError(e);
    } finally {
      view.root.removeAttribute('aria-busy');
    }
  }

  // Live refresh: coalesce bursts of events into one fetch per view.
  let refreshTimer = null;
  let refreshing = false;
  let refreshAgain = false;
  let postponed = 0;

  /** Whether the person is in a form control of the view (a redraw would take it from them). */
  function editing() {
    const el = document.activeElement;
    const main = document.getElementById('view');
    return !!el && !!main && main.contains(el) && /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName);
  }

  /** Refetches the visible view soon; `force` (after one's own change) even mid-edit. */
  function scheduleRefresh(delay, force) {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(async () => {
      if (!state.view) return;
      // A phone's sync waits (up to half a minute) while someone is choosing in a list.
      if (!force && editing() && !state.view.keepsControls && postponed < 20) {
        postponed += 1;
        scheduleRefresh(1500);
        return;
      }
      postponed = 0;
      if (refreshing) {
        refreshAgain = true;
        return;
      }
      refreshing = true;
      const view = state.view;
      await runRefresh(view);
      refreshing = false;
      if (refreshAgain) {
        refreshAgain = false;
        scheduleRefresh(0);
      }
    }, delay === undefined ? 250 : delay);
  }

  function closeEvents() {
    if (state.events) state.events.close();
    state.events = null;
    state.live = 'off';
  }

  function connectEvents() {
    closeEvents();
    if (!state.compound || typeof EventSource === 'undefined') return;
    const es = new EventSource(`${API}/events?compound=${encodeURIComponent(state.compound.id)}`);
    state.events = es;
    state.live = 'connecting';
    es.onopen = () => {
      state.live = 'on';
      updateLive();
    };
    es.onerror = () => {
      // The browser reconnects by itself; say so.
      state.live = es.readyState === EventSource.CLOSED ? 'off' : 'connecting';
      updateLive();
    };
    es.addEventListener('changed', (ev) => {
      let data = {};
      try {
        data = JSON.parse(ev.data);
      } catch (_) {
        // An event we cannot read still means something changed.
      }
      if (data.compound && state.compound && data.compound !== state.compound.id) return;
      invalidate(data.kind);
      state.lastEvent = Date.now();
      updateLive();
      // The time zone is a roster field: another coordinator may have changed it.
      if (!data.kind || data.kind === 'roster') loadTimeZone().then(() => scheduleRefresh());
      else scheduleRefresh();
    });
    updateLive();
  }

  function updateLive() {
    const el = document.querySelector('[data-testid="live-status"]');
    if (!el) return;
    el.dataset.state = state.live;
    let text = t(`live.${state.live}`);
    if (state.lastEvent) text += ` · ${t('live.last', { time: fmtTime(state.lastEvent) })}`;
    el.textContent = text;
  }

  function pageHeader(title, ...actions) {
    return h('div', { class: 'page-head' }, h('h1', null, title), h('div', { class: 'actions no-print' }, actions));
  }

  function printButton() {
    return button(t('common.print'), 'print', () => window.print());
  }

  function progress(delivered, total, testid, extra) {
    const pct = total ? Math.round((100 * delivered) / total) : 0;
    return h(
      'div',
      { class: 'progress', testid, dataset: Object.assign({ delivered, total }, extra || {}) },
      h('progress', { max: total || 1, value: delivered, 'aria-label': t('round.progress') }),
      h('span', { class: 'progress-text' }, t('round.delivered_of', { delivered, total, pct })),
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Overview.

  function Overview() {
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
              I.values('task_status').map((s) =>
                h('li', { testid: `task-count-${s}`, dataset: { count: byTask[s] ?? 0 } }, badge('task_status', s), h('span', { class: 'num' }, String(byTask[s] ?? 0))),
              ),
            ),
            h(
              'p',
              null,
              h('a', { href: '#/requests', testid: 'requests-waiting', dataset: { count: o.requests_waiting ?? 0 } }, t('overview.requests_waiting', { n: o.requests_waiting ?? 0 })),
            ),
            o.conflicts !== undefined
              ? h('p', null, h('a', { href: '#/conflicts', testid: 'conflicts-waiting', dataset: { count: o.conflicts } }, t('overview.conflicts', { n: o.conflicts })))
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
      r.double_deliveries ? h('a', { href: '#/conflicts', class: 'warn' }, t('round.double_deliveries', { n: r.double_deliveries })) : null,
      lateMark(r.late, info.document),
    );
  }

  // Attempts that reached a round after it was closed (made before the close): 迟到 / late.
  function lateMark(n, round) {
    return n ? h('span', { class: 'warn', title: t('round.late_hint'), testid: 'round-late', dataset: { round, count: n } }, t('round.late', { n })) : null;
  }

  // ---------------------------------------------------------------------------------------------
  // The compound map (参谋图).

  /** A text the relay gives in both languages ({zh, en}), in the page's language. */
  function inLang(pair) {
    return pair ? pair[I.lang() === 'en' ? 'en' : 'zh'] : '';
  }

  /** A need tag's mark: its glyph on its own colour, named for screen readers by the flat. */
  function needMark(entry) {
    return h('span', { class: `need n-${entry.need}`, testid: 'need-mark', dataset: { need: entry.need }, 'aria-hidden': 'true' }, inLang(entry.glyph));
  }

  /** The map's need marks by tag, fetched once from the relay's legend (map_marks.rs). */
  async function needMarks() {
    if (!state.needMarks) {
      const legend = await api.get(`${API}/legend`);
      state.needMarks = new Map(legend.needs.map((n) => [n.need, n]));
    }
    return state.needMarks;
  }

  /** A household's need tags as badges, each with the map's mark for it (glyph on its colour). */
  function needBadges(needs, extra) {
    return (needs || []).map((n) => {
      const entry = state.needMarks && state.needMarks.get(n);
      return h('span', { class: `badge need-badge need_tag-${n} ${extra || ''}`, testid: 'need-badge', dataset: { value: n } },
        entry ? needMark(entry) : null, ' ', label('need_tag', n));
    });
  }

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

  function MapView(query) {
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
        roundLine.textContent = t('map.round_progress', { title: r.round.title, doors: r.doors, delivered: r.delivered, attempted: r.attempted, pending: r.pending });
        Object.assign(roundLine.dataset, { round: r.round.document, doors: r.doors, delivered: r.delivered, attempted: r.attempted, pending: r.pending });
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
      roundSel.closest('.field').hidden = !open.length;
      data = await api.get(cpath(filters.round ? `/map?round=${encodeURIComponent(filters.round)}` : '/map'));
      const estates = [...new Set(data.buildings.map((b) => b.estate).filter(Boolean))];
      const keep = filters.estate;
      fill(estateSel, h('option', { value: '' }, t('common.all')), ...estates.map((e) => h('option', { value: e }, e)));
      estateSel.value = estates.includes(keep) ? keep : '';
      estateSel.closest('.field').hidden = estates.length < 2;
      draw();
    }
    // A redraw rebuilds the buildings and leaves the filters as they are, so a phone's sync shows
    // at once even while the coordinator is still in one of the lists.
    return { root, refresh, keepsControls: true };
  }

  // ---------------------------------------------------------------------------------------------
  // Roster.

  function Roster(query) {
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

  // ---------------------------------------------------------------------------------------------
  // One household.

  /** A form whose fields the live refresh leaves alone once the person has started typing. */
  function guardedForm(testid, build, onsubmit) {
    const form = h('form', { class: 'card form', testid });
    form.addEventListener('input', () => {
      form.dataset.dirty = '1';
    });
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
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

  function HouseholdView(id) {
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

  // Who changed a household or a task, what and when, newest first: the entries of
  // `…/history`, whose names come from the relay's actor bindings.
  const HISTORY_FIELDS = {
    head: 'household.head', phone: 'household.phone', people: 'household.people',
    aged_60_plus: 'household.aged_60_plus', children_under_6: 'household.children_under_6',
    needs: 'household.needs', status: 'household.status', lift: 'household.lift', notes: 'household.notes',
    assignee: 'task.assignee', attempts: 'task.attempts', items: 'task.items', priority: 'task.priority',
    kind: 'task.kind', cancelled: 'history.cancelled', created: 'history.created', deleted: 'history.deleted',
  };

  function historyList(entries) {
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

  function kindSelect(testid, value) {
    return select(testid, I.values('task_kind').map((v) => [v, label('task_kind', v)]), value);
  }

  function prioritySelect(testid, value) {
    return select(testid, I.values('priority').map((v) => [v, label('priority', v)]), value);
  }

  function attemptList(attempts, names) {
    if (!attempts || !attempts.length) return null;
    return h(
      'ul',
      { class: 'attempts' },
      attempts.map((a) =>
        h(
          'li',
          { testid: 'attempt', dataset: { outcome: a.outcome } },
          badge('outcome', a.outcome),
          ` ${personName(a.by, names)} · ${fmtTime(a.at)}`,
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
  function taskTable(rows, opts) {
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
            const assignee =
              o.actions && live && o.roundOpen
                ? select('task-assignee', volunteerOptions(true), task.assignee || '', {
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
                : h('td', { class: 'lead' }, household ? h('a', { href: `#/households/${household.id}` }, fmtAddress(household.address)) : shortId(task.household)),
              o.roundTitles ? null : h('td', { class: 'task-head', dataset: { label: t('household.head') } }, h('span', { testid: 'task-head' }, household ? household.head : '')),
              cell('task.kind', label('task_kind', task.kind)),
              cell('task.items', task.items, task.request ? h('a', { href: '#/requests', class: 'tag', title: t('task.from_request') }, t('task.request_tag')) : null),
              cell('task.priority', badge('priority', task.priority)),
              cell('task.status', badge('task_status', row.status)),
              cell('task.assignee', assignee),
              h('td', { class: 'wide', dataset: { label: t('task.attempts') } }, attemptList(task.attempts), task.cancelled ? h('p', { class: 'meta' }, t('task.cancelled_by', { who: personName(task.cancelled.by), reason: task.cancelled.reason || '' })) : null, taskHistory(task)),
              o.actions ? h('td', { class: 'no-print wide' }, live && o.roundOpen ? cancelControl(task) : null) : null,
            );
          }),
        ),
      ),
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Rounds.

  function selectionFields(all) {
    const by = select('round-by', ['all', 'building', 'status', 'need'].map((v) => [v, t(`selection.${v}`)]), 'building');
    const building = select('round-building', buildingsOf(all).map((b) => [buildingKey(b), `${buildingName(b.estate, b.building)} (${b.count})`]));
    const status = select('round-status', I.values('control_status').map((s) => [s, label('control_status', s)]));
    const need = select('round-need', I.values('need_tag').map((n) => [n, label('need_tag', n)]));
    const wraps = {
      building: field(t('selection.building'), building),
      status: field(t('selection.status'), status),
      need: field(t('selection.need'), need),
    };
    const preview = h('p', { class: 'meta', testid: 'round-preview-count', role: 'status' });
    const value = () => {
      switch (by.value) {
        case 'building':
          return Object.assign({ by: 'building' }, parseBuildingKey(building.value || '\u0000'));
        case 'status':
          return { by: 'status', status: status.value };
        case 'need':
          return { by: 'need', need: need.value };
        default:
          return { by: 'all' };
      }
    };
    const matches = (x, sel) => {
      if (sel.by === 'building') return x.address.building === sel.building && (!sel.estate || x.address.estate === sel.estate);
      if (sel.by === 'status') return x.status === sel.status;
      if (sel.by === 'need') return (x.needs || []).includes(sel.need);
      return true;
    };
    const update = () => {
      for (const [k, w] of Object.entries(wraps)) w.hidden = by.value !== k;
      const sel = value();
      const n = all.filter((x) => matches(x, sel)).length;
      preview.textContent = t('round.will_create', { n });
      preview.dataset.count = String(n);
    };
    for (const s of [by, building, status, need]) s.addEventListener('change', update);
    update();
    return { nodes: [field(t('selection.by'), by), wraps.building, wraps.status, wraps.need, preview], value };
  }

  function Rounds() {
    const list = h('div');
    const formBox = h('div');
    const root = h('section', { testid: 'page-rounds' }, pageHeader(t('rounds.title'), printButton()), formBox, list);
    let built = false;

    async function buildForm() {
      const all = (await households()).list;
      const sel = selectionFields(all);
      const title = h('input', { testid: 'round-title', required: true, placeholder: t('round.title_hint') });
      const kind = kindSelect('round-kind', 'groceries');
      const date = h('input', { type: 'date', testid: 'round-date', value: today(), required: true });
      const items = h('input', { testid: 'round-items', placeholder: t('round.items_hint') });
      const priority = prioritySelect('round-priority', 'normal');
      const submit = h('button', { type: 'submit', class: 'primary', testid: 'round-create' }, t('round.create'));
      const form = h(
        'form',
        {
          class: 'card form no-print',
          testid: 'round-form',
          onsubmit: async (ev) => {
            ev.preventDefault();
            submit.disabled = true;
            const out = await operate(
              {
                op: 'create_round',
                title: title.value.trim(),
                kind: kind.value,
                date: date.value,
                selection: sel.value(),
                items: items.value,
                priority: priority.value,
              },
              t('round.created'),
            );
            submit.disabled = false;
            const created = out && ((out.created && out.created[0]) || out.new_entity);
            if (created) go(`#/rounds/${created}`);
          },
        },
        h('h2', null, t('round.create')),
        h(
          'div',
          { class: 'grid' },
          field(t('round.title_field'), title),
          field(t('task.kind'), kind),
          field(t('round.date'), date),
          field(t('task.items'), items),
          field(t('task.priority'), priority),
          sel.nodes,
        ),
        submit,
      );
      fill(formBox, form);
      built = true;
    }

    async function refresh() {
      if (!built) await buildForm();
      const rs = await rounds();
      fill(list,
        h(
          'section',
          { class: 'card' },
          h('h2', null, t('rounds.all')),
          rs.length
            ? h(
                'div',
                { class: 'scroll' },
                h(
                  'table',
                  { class: 'data', testid: 'rounds-table' },
                  h(
                    'thead',
                    null,
                    h(
                      'tr',
                      null,
                      ['round.title_field', 'task.kind', 'round.date', 'round.status', 'round.progress'].map((k) => h('th', { scope: 'col' }, t(k))),
                    ),
                  ),
                  h(
                    'tbody',
                    null,
                    rs.map((r) => {
                      const info = roundOf(r);
                      return h(
                        'tr',
                        { testid: 'round-row', dataset: { round: info.document, status: info.status } },
                        h('td', null, h('a', { href: `#/rounds/${info.document}` }, info.title)),
                        h('td', null, label('task_kind', info.kind)),
                        h('td', null, info.date),
                        h('td', null, badge('round_status', info.status)),
                        h('td', null, progress(r.delivered || 0, r.total || 0, 'round-progress', { round: info.document }), lateMark(r.late, info.document)),
                      );
                    }),
                  ),
                ),
              )
            : h('p', { class: 'empty' }, t('rounds.none')),
        ),
      );
    }
    return { root, refresh };
  }

  function printHref(round, b) {
    const params = new URLSearchParams({ building: b.building, estate: b.estate });
    return cpath(`/print/rounds/${encodeURIComponent(round)}?${params}`);
  }

  function RoundView(id) {
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
      for (const r of rows) by[r.status] = (by[r.status] || 0) + 1;
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
            I.values('task_status').map((s) =>
              h('li', { testid: `round-count-${s}`, dataset: { count: by[s] } }, badge('task_status', s), h('span', { class: 'num' }, String(by[s]))),
            ),
          ),
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
              g.rows.map((r) => ({ task: r.task, status: r.status, household: r.householdObj || r.task.household })),
              { actions: true, roundOpen: open },
            ),
          );
        }),
      );
      if (!ordered.length) groups.append(h('p', { class: 'empty' }, t('rounds.no_tasks')));
    }
    return { root, refresh };
  }

  // ---------------------------------------------------------------------------------------------
  // Requests inbox.

  const CATEGORY_KIND = { groceries: 'groceries', medicine: 'medicine', medical: 'visit', other: 'other' };
  const URGENCY_PRIORITY = { normal: 'normal', urgent: 'high', critical: 'urgent' };
  const URGENCY_RANK = { critical: 0, urgent: 1, normal: 2 };
  const STATUS_RANK = { new: 0, accepted: 1, done: 2, rejected: 3 };

  function requestCard(r, opts) {
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

  function Requests() {
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
      const kept = new Map([...list.children].filter((li) => dirty.has(li.dataset.request)).map((li) => [li.dataset.request, li]));
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

  // ---------------------------------------------------------------------------------------------
  // Conflicts.

  function Conflicts() {
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
      return c.kind === 'concurrent_status' ? { kind: c.kind, household: c.household } : { kind: c.kind, round: c.round, task: c.task };
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

    function where(c, hh, titles) {
      const x = hh.get(c.household);
      const address = c.address ? (typeof c.address === 'string' ? c.address : fmtAddress(c.address)) : x ? fmtAddress(x.address) : shortId(c.household);
      return h(
        'p',
        { class: 'meta' },
        h('a', { href: `#/households/${c.household}` }, address),
        c.head || (x ? x.head : '') ? ` ${c.head || x.head}` : '',
        c.round ? [' · ', h('a', { href: `#/rounds/${c.round}` }, titles.get(c.round) || shortId(c.round))] : null,
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
        } else {
          body = h('pre', null, JSON.stringify(c, null, 2));
        }
        return h(
          'li',
          {
            class: c.review ? 'card conflict reviewed' : 'card conflict',
            testid: c.review ? 'conflict-reviewed-card' : 'conflict-card',
            dataset: { kind: c.kind, task: c.task || '', household: c.household || '' },
          },
          h('h2', null, t(`conflicts.kind.${c.kind}`)),
          where(c, all.byId, titles),
          body,
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

  // ---------------------------------------------------------------------------------------------
  // Set aside: what volunteers' phones could not sync (the relay refused it for good), for a
  // coordinator to apply as their own operation or dismiss with a reason.

  function SetAside() {
    const list = h('ul', { class: 'conflicts', testid: 'set-aside-list' });
    const decided = h('ul', { class: 'conflicts reviewed', testid: 'set-aside-decided' });
    const root = h(
      'section',
      { testid: 'page-set-aside' },
      pageHeader(t('set_aside.title'), printButton()),
      h('p', { class: 'hint' }, t('set_aside.hint')),
      list,
      h('h2', null, t('set_aside.decided_title')),
      decided,
    );

    async function act(item, what, body, okMessage) {
      try {
        await api.post(cpath(`/set-aside/${item.id}/${what}`), body);
        toast(okMessage);
        if (what === 'apply' && item.op) invalidate(item.op);
        scheduleRefresh(0, true);
      } catch (e) {
        showError(e);
      }
    }

    function controls(item) {
      const reason = h('input', { testid: 'set-aside-dismiss-reason', placeholder: t('set_aside.dismiss_hint') });
      return h(
        'div',
        { class: 'actions no-print' },
        item.operation
          ? button(t('set_aside.apply'), 'set-aside-apply', () => act(item, 'apply', {}, t('set_aside.applied_toast')))
          : h('p', { class: 'hint' }, t('set_aside.nothing_to_apply')),
        h(
          'details',
          { class: 'review' },
          h('summary', { testid: 'set-aside-dismiss-open' }, t('set_aside.dismiss')),
          field(t('set_aside.dismiss_reason'), reason),
          button(t('set_aside.dismiss_confirm'), 'set-aside-dismiss', () => {
            if (!reason.value.trim()) {
              showError(new Error(t('set_aside.reason_required')));
              return;
            }
            act(item, 'dismiss', { reason: reason.value }, t('set_aside.dismissed_toast'));
          }),
        ),
      );
    }

    function outcome(item) {
      const who = item.decided_by_name || shortId(item.decided_by);
      const at = fmtTime(item.decided_at);
      return h(
        'p',
        { class: 'review-record', testid: 'set-aside-outcome', dataset: { state: item.state } },
        item.state === 'applied' ? t('set_aside.applied_by', { who, at }) : t('set_aside.dismissed_by', { who, at, reason: item.note || '' }),
      );
    }

    function card(item) {
      const what = item.op ? t('set_aside.what', { op: item.op }) : t('set_aside.what_unknown');
      return h(
        'li',
        { class: item.state === 'pending' ? 'card conflict' : 'card conflict reviewed', testid: 'set-aside-card', dataset: { id: item.id, state: item.state } },
        h('h2', null, item.address || item.summary),
        h(
          'p',
          { class: 'meta' },
          t('set_aside.who_when', { who: item.person_name || shortId(item.person), at: fmtTime(item.made_at || item.set_aside_at) }),
        ),
        h('p', null, what, ' · ', h('span', { class: 'hint' }, item.summary)),
        h('p', { testid: 'set-aside-why' }, t('set_aside.why', { rule: item.rule, reason: item.reason })),
        item.operation ? h('details', null, h('summary', null, t('set_aside.operation')), h('pre', null, JSON.stringify(item.operation, null, 2))) : null,
        item.state === 'pending' ? controls(item) : outcome(item),
      );
    }

    async function refresh() {
      const items = await api.get(cpath('/set-aside'));
      const pending = items.filter((i) => i.state === 'pending');
      const done = items.filter((i) => i.state !== 'pending');
      fill(list, ...pending.map(card));
      fill(decided, ...done.map(card));
      if (!pending.length) list.append(h('li', { class: 'empty', testid: 'set-aside-none' }, t('set_aside.none')));
      if (!done.length) decided.append(h('li', { class: 'empty' }, t('common.none')));
    }
    return { root, refresh };
  }

  // ---------------------------------------------------------------------------------------------
  // Spreadsheets: import with preview, export, print.

  function fileType(name) {
    return /\.xlsx$/i.test(name) ? 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' : 'text/csv';
  }

  function Sheets() {
    const file = h('input', { type: 'file', accept: '.csv,.xlsx,text/csv', testid: 'import-file' });
    const result = h('div', { testid: 'import-result', 'aria-live': 'polite' });
    let bytes = null;
    let name = '';
    const previewBtn = h('button', { type: 'submit', class: 'primary', testid: 'import-preview' }, t('import.preview'));
    const form = h(
      'form',
      {
        class: 'card form no-print',
        testid: 'import-form',
        onsubmit: async (ev) => {
          ev.preventDefault();
          const f = file.files && file.files[0];
          if (!f) {
            showError({ body: { error: t('import.choose') } });
            return;
          }
          previewBtn.disabled = true;
          try {
            name = f.name;
            bytes = await f.arrayBuffer();
            const p = await api.post(cpath('/import?mode=preview'), bytes, { type: fileType(name) });
            showPreview(p);
          } catch (e) {
            if (e.status === 422 && e.body && e.body.errors) showPreview(Object.assign({ households: 0 }, e.body));
            else showError(e);
          } finally {
            previewBtn.disabled = false;
          }
        },
      },
      h('h2', null, t('import.title')),
      h('p', { class: 'hint' }, t('import.hint')),
      field(t('import.file'), file),
      previewBtn,
    );

    // A row message in the reader's language: the relay sends Chinese and English.
    const reasonText = (e) => (I.lang() === 'en' ? e.reason : e.reason_zh || e.reason) || '';

    function errorTable(errors, kind = 'errors') {
      const rowId = kind === 'errors' ? 'import-error-row' : 'import-warning-row';
      return h(
        'div',
        { class: 'scroll' },
        h(
          'table',
          { class: `data ${kind} stack`, testid: `import-${kind}` },
          h('caption', null, t(`import.${kind}`, { n: errors.length })),
          h('thead', null, h('tr', null, ['line', 'column', 'value', 'reason'].map((k) => h('th', { scope: 'col' }, t(`import.${k}`))))),
          h(
            'tbody',
            null,
            errors.map((e) =>
              h(
                'tr',
                { testid: rowId, dataset: { line: e.line, code: e.code || '' } },
                h('td', { class: 'n', dataset: { label: t('import.line') } }, String(e.line ?? '')),
                h('td', { dataset: { label: t('import.column') } }, e.column || ''),
                h('td', { dataset: { label: t('import.value') } }, e.value || ''),
                h('td', { class: 'wide reason', testid: 'import-reason', dataset: { label: t('import.reason') } }, reasonText(e)),
              ),
            ),
          ),
        ),
      );
    }

    function showPreview(p) {
      const errors = p.errors || [];
      const warnings = p.warnings || [];
      const good = p.households || 0;
      const commit = async (acceptGood) => {
        try {
          const q = acceptGood ? '&accept_good_rows=true' : '';
          const out = await api.post(cpath(`/import?mode=commit${q}`), bytes, { type: fileType(name) });
          invalidate('import');
          fill(result,
            h('p', { class: 'banner ok', testid: 'import-done', dataset: out }, t('import.done', { added: out.added ?? 0, updated: out.updated ?? 0, left: out.rows_left_out ?? 0 })),
          );
          toast(t('import.done_short'));
        } catch (e) {
          if (e.status === 422 && e.body && e.body.errors) {
            fill(result, h('p', { class: 'banner error', testid: 'import-refused' }, t('import.refused')), errorTable(e.body.errors));
          } else showError(e);
        }
      };
      fill(result,
        h(
          'section',
          { class: 'card', testid: 'import-preview-box' },
          h('h2', null, t('import.preview_title', { name })),
          h('p', { testid: 'import-households', dataset: { count: good } }, t('import.households', { n: good })),
          (p.estates || []).length ? h('p', { testid: 'import-estates' }, t('import.estates', { list: p.estates.join('、') })) : null,
          (p.ignored_columns || []).length ? h('p', { class: 'meta', testid: 'import-ignored' }, t('import.ignored', { list: p.ignored_columns.join('、') })) : null,
          errors.length ? errorTable(errors) : h('p', { class: 'ok', testid: 'import-no-errors' }, t('import.no_errors')),
          p.omitted_errors ? h('p', { class: 'warn' }, t('import.omitted', { n: p.omitted_errors })) : null,
          warnings.length ? errorTable(warnings, 'warnings') : null,
          p.omitted_warnings ? h('p', { class: 'meta' }, t('import.omitted_warnings', { n: p.omitted_warnings })) : null,
          h(
            'div',
            { class: 'actions' },
            errors.length
              ? [
                  h('p', { class: 'warn' }, t('import.blocked', { n: errors.length })),
                  good ? button(t('import.commit_good', { n: good, bad: errors.length }), 'import-commit-good', () => commit(true)) : null,
                ]
              : button(t('import.commit', { n: good }), 'import-commit', () => commit(false), { class: 'primary' }),
          ),
        ),
      );
    }

    const exports = h('section', { class: 'card', testid: 'exports' });
    const prints = h('section', { class: 'card no-print', testid: 'prints' });
    const root = h('section', { testid: 'page-sheets' }, pageHeader(t('sheets.title')), form, result, h('div', { class: 'columns' }, exports, prints));

    const link = (href, testid, text) => h('a', { class: 'button', href: cpath(href), download: '', testid }, text);

    async function refresh() {
      const [rs, all] = await Promise.all([rounds(), households()]);
      const infos = rs.map(roundOf);
      const rsel = select('export-round', infos.map((r) => [r.document, `${r.title} (${r.date})`]));
      const roundLinks = h('span', { class: 'actions' });
      const drawRoundLinks = () => {
        const r = encodeURIComponent(rsel.value);
        fill(roundLinks, link(`/export/rounds/${r}.csv`, 'export-round-csv', t('export.csv')), link(`/export/rounds/${r}.xlsx`, 'export-round-xlsx', t('export.xlsx')));
      };
      rsel.addEventListener('change', drawRoundLinks);
      if (infos.length) drawRoundLinks();
      fill(exports,
        h('h2', null, t('export.title')),
        h('h3', null, t('export.roster')),
        h('p', { class: 'actions' }, link('/export/roster.csv', 'export-roster-csv', t('export.csv')), link('/export/roster.xlsx', 'export-roster-xlsx', t('export.xlsx'))),
        h('h3', null, t('export.special')),
        h('p', { class: 'actions' }, link('/export/special-needs.csv', 'export-special-csv', t('export.csv')), link('/export/special-needs.xlsx', 'export-special-xlsx', t('export.xlsx'))),
        h('h3', null, t('export.round')),
        infos.length ? [field(t('round.round'), rsel), roundLinks] : h('p', { class: 'empty' }, t('rounds.none')),
      );
      const open = infos.filter((r) => r.status !== 'closed');
      if (!open.length) {
        fill(prints, h('h2', null, t('print.title')), h('p', { class: 'empty' }, t('household.no_open_rounds')));
        return;
      }
      const psel = select('print-round', open.map((r) => [r.document, `${r.title} (${r.date})`]));
      const bsel = select('print-building', buildingsOf(all.list).map((b) => [buildingKey(b), buildingName(b.estate, b.building)]));
      const go2 = h('a', { class: 'button', target: '_blank', rel: 'noopener', testid: 'print-open' }, t('print.open'));
      const upd = () => {
        go2.href = printHref(psel.value, parseBuildingKey(bsel.value || '\u0000'));
      };
      psel.addEventListener('change', upd);
      bsel.addEventListener('change', upd);
      upd();
      fill(prints, h('h2', null, t('print.title')), h('p', { class: 'hint' }, t('print.hint')), field(t('round.round'), psel), field(t('selection.building'), bsel), go2);
    }
    return { root, refresh };
  }

  // ---------------------------------------------------------------------------------------------
  // Members: the compound's people and devices; invite (a code and the relay's QR code), remove
  // (after a confirm step; their phones wipe the compound at their next sync), and for a district
  // admin a new device token for an existing person. Every rule is the relay's: the page only
  // hides what the relay would refuse.

  /** Whether the signed-in person runs the current compound (volunteers never see Members). */
  function runsCompound() {
    return Boolean(state.compound && (state.compound.role === 'coordinator' || state.compound.role === 'admin'));
  }

  /** The nav's pages: the Members page only for someone who runs the compound. */
  function navNames() {
    return runsCompound() ? [...NAV, 'members'] : NAV;
  }

  /** The roles the signed-in person may invite, as the relay rules: an admin invites anyone. */
  function invitableRoles() {
    const admin = (state.me && state.me.district_admin) || (state.compound && state.compound.role === 'admin');
    return admin ? ['volunteer', 'medic', 'coordinator', 'admin'] : ['volunteer', 'medic'];
  }

  /** Whether the relay would let the signed-in person remove `m`: not themselves, and a
   *  coordinator or admin only if they are an admin. */
  function mayRevoke(m) {
    if (state.me && state.me.person === m.person) return false;
    const admin = (state.me && state.me.district_admin) || (state.compound && state.compound.role === 'admin');
    return admin || !(m.role === 'coordinator' || m.role === 'admin');
  }

  /** A QR code the relay drew, shown as an image (the SVG is never parsed into the page). */
  function qrImage(svg, testid) {
    return h('img', {
      class: 'qr',
      testid,
      alt: t('members.qr_alt'),
      src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`,
    });
  }

  /** A secret shown once: the big text to type, its QR code and the link it encodes. */
  function shownOnce(testid, title, secret, secretTestid, qrSvg, link, note) {
    return h(
      'div',
      { class: 'shown-once', testid, role: 'status' },
      h('h3', null, title),
      h('div', { class: 'shown-once-body' },
        qrImage(qrSvg, `${testid}-qr`),
        h('div', null,
          h('p', { class: 'secret', testid: secretTestid }, secret),
          note ? h('p', { class: 'hint' }, note) : null,
          h('p', { class: 'hint link' }, `${t('members.link')}: `, h('code', { testid: `${testid}-link` }, link)),
        ),
      ),
    );
  }

  /** `UTC+8`, `UTC-3:30`: how an offset in minutes is named (the relay names it the same way). */
  function zoneLabel(minutes) {
    if (!minutes) return 'UTC';
    const a = Math.abs(minutes);
    const rest = a % 60;
    return `UTC${minutes < 0 ? '-' : '+'}${Math.floor(a / 60)}${rest ? `:${String(rest).padStart(2, '0')}` : ''}`;
  }

  /** The compound's time zone, which sheets, exports, phones and this page tell time in. */
  function timeZoneForm() {
    const options = [];
    for (let m = -720; m <= 840; m += 15) options.push([String(m), m === 480 ? t('zone.china', { label: zoneLabel(m) }) : zoneLabel(m)]);
    const zoneSel = select('zone-select', options, String(zoneMinutes()));
    return h(
      'form',
      {
        class: 'card zone no-print',
        testid: 'zone-form',
        onsubmit: async (ev) => {
          ev.preventDefault();
          const out = await operate({ op: 'set_utc_offset', minutes: Number(zoneSel.value) }, t('zone.saved', { label: zoneLabel(Number(zoneSel.value)) }));
          if (out) {
            await loadTimeZone();
            scheduleRefresh(0, true);
          }
        },
      },
      h('h2', null, t('zone.title')),
      h('p', { class: 'hint' }, t('zone.hint')),
      h('div', { class: 'filters' }, field(t('zone.offset'), zoneSel), h('button', { type: 'submit', testid: 'zone-submit' }, t('common.save'))),
    );
  }

  function Members() {
    const roleSel = select('invite-role', invitableRoles().map((r) => [r, label('role', r)]), 'volunteer');
    const inviteOut = h('div', { testid: 'invite-out' });
    const inviteForm = h(
      'form',
      {
        class: 'card invite no-print',
        testid: 'invite-form',
        onsubmit: async (ev) => {
          ev.preventDefault();
          try {
            const inv = await api.post(cpath('/members/invites'), { role: roleSel.value });
            fill(inviteOut,
              shownOnce('invite-shown', `${t('members.invite_code')} · ${label('role', inv.role)}`, inv.code, 'invite-code', inv.qr_svg, inv.link,
                t('members.invite_expires', { time: fmtTime(inv.expires_at) })),
            );
          } catch (e) {
            showError(e);
          }
        },
      },
      h('h2', null, t('members.invite_title')),
      h('p', { class: 'hint' }, t('members.invite_hint')),
      h('div', { class: 'filters' }, field(t('members.role'), roleSel), h('button', { type: 'submit', testid: 'invite-submit' }, t('members.invite'))),
      inviteOut,
    );
    const tokenOut = h('div', { testid: 'token-out' });
    const tbody = h('tbody');
    const revokedBody = h('tbody');
    const head = (cols) => h('thead', null, h('tr', null, cols.map((k) => h('th', { scope: 'col' }, t(k)))));
    const table = h('table', { class: 'data stack members', testid: 'members-table' },
      head(['members.name', 'members.role', 'members.joined', 'members.devices', 'common.actions']), tbody);
    const revokedTable = h('table', { class: 'data stack members', testid: 'members-revoked' },
      head(['members.name', 'members.role', 'members.joined', 'members.devices']), revokedBody);
    const revokedSection = h('section', { class: 'revoked', hidden: true }, h('h2', null, t('members.revoked_title')), h('div', { class: 'scroll' }, revokedTable));
    const root = h(
      'section',
      { testid: 'page-members' },
      pageHeader(t('members.title')),
      inviteForm,
      tokenOut,
      h('div', { class: 'scroll' }, table),
      revokedSection,
      timeZoneForm(),
    );

    function devicesCell(m) {
      return h('ul', { class: 'devices' },
        (m.devices || []).map((d) =>
          h('li', { testid: 'member-device', dataset: { revoked: String(d.revoked) } },
            d.name, ' · ',
            d.revoked ? t('members.device_revoked') : d.last_seen ? fmtTime(d.last_seen) : t('members.never_synced')),
        ),
      );
    }

    /** The row's actions; a confirm step replaces them until the coordinator decides. */
    function actions(m, cell) {
      const revoke = !mayRevoke(m) ? null : button(t('members.revoke'), 'member-revoke', () => confirmRevoke(m, cell), { class: 'danger' });
      const token = state.me && state.me.district_admin ? button(t('members.new_token'), 'member-token', () => askDevice(m, cell)) : null;
      return fill(cell, revoke, ' ', token);
    }

    function confirmRevoke(m, cell) {
      fill(cell,
        h('div', { class: 'confirm', role: 'alertdialog', testid: 'revoke-confirm' },
          h('p', null, t('members.revoke_confirm', { name: m.name })),
          button(t('members.revoke_yes'), 'revoke-yes', async () => {
            try {
              await api.post(cpath(`/members/${encodeURIComponent(m.person)}/revoke`), {});
              toast(t('members.revoked_toast', { name: m.name }));
              await loadMembers();
              await refresh();
            } catch (e) {
              showError(e);
              actions(m, cell);
            }
          }, { class: 'danger' }),
          ' ',
          button(t('common.cancel'), 'revoke-no', () => actions(m, cell)),
        ),
      );
    }

    function askDevice(m, cell) {
      const name = h('input', { type: 'text', testid: 'device-name', value: t('members.device_default', { name: m.name }), maxlength: 200 });
      fill(cell,
        h('form', {
          class: 'confirm',
          onsubmit: async (ev) => {
            ev.preventDefault();
            try {
              const out = await api.post(cpath(`/members/${encodeURIComponent(m.person)}/tokens`), { device_name: name.value });
              fill(tokenOut, shownOnce('token-shown', t('members.token_title', { name: m.name }), out.token, 'token-secret', out.qr_svg, out.link, t('members.token_hint')));
              await loadMembers();
              await refresh();
            } catch (e) {
              showError(e);
            }
          },
        },
        field(t('members.device_name'), name),
        h('button', { type: 'submit', testid: 'token-submit' }, t('members.mint')),
        ' ',
        button(t('common.cancel'), 'token-no', () => actions(m, cell)),
        ),
      );
    }

    function row(m, live) {
      const you = state.me && state.me.person === m.person ? t('members.you') : '';
      const cells = [
        h('td', { class: 'lead' }, m.name, you),
        h('td', { dataset: { label: t('members.role') } }, label('role', m.role)),
        h('td', { dataset: { label: t('members.joined') } }, fmtTime(m.joined_at)),
        h('td', { class: 'wide', dataset: { label: t('members.devices') } }, devicesCell(m)),
      ];
      if (live) cells.push(actions(m, h('td', { class: 'wide no-print' })));
      return h('tr', { testid: live ? 'member-row' : 'member-revoked-row', dataset: { person: m.person, role: m.role } }, cells);
    }

    async function refresh() {
      const list = await api.get(cpath('/members'));
      const live = list.filter((m) => !m.revoked);
      const gone = list.filter((m) => m.revoked);
      fill(tbody, live.map((m) => row(m, true)));
      if (!live.length) tbody.append(h('tr', null, h('td', { colspan: 5, class: 'empty' }, t('members.none'))));
      fill(revokedBody, gone.map((m) => row(m, false)));
      revokedSection.hidden = !gone.length;
    }
    return { root, refresh };
  }

  // ---------------------------------------------------------------------------------------------
  // Start.

  window.addEventListener('hashchange', () => {
    if (state.me) renderView();
  });
  function boot() {
    document.documentElement.lang = I.htmlLang();
    start();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();
