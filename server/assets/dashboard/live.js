// @ts-check
// Keeping the visible view current: the relay's Server-Sent Events, coalesced into refetches that
// wait while someone is choosing in a list.

import { t } from './i18n.js';
import { byTestId } from './dom.js';
import { fmtTime } from './format.js';
import { state } from './state.js';
import { API } from './api.js';
import { showError } from './notices.js';
import { invalidate, loadTimeZone } from './compound-data.js';

export async function runRefresh(view) {
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

/**
 * Whether the person is in a form control of the view, or has typed into one of its text boxes
 * and not sent it yet (a review note, reaching for its button): a redraw would take it from them.
 * A phone's sync redrew the conflicts page between a typed note and the click on 确认已核实,
 * closing the form and losing the note.
 */
function editing() {
  const el = document.activeElement;
  const main = document.getElementById('view');
  if (!main) return false;
  if (el && main.contains(el) && /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName)) return true;
  return [...main.querySelectorAll('textarea')].some((box) => box.value !== box.defaultValue);
}

/** Refetches the visible view soon; `force` (after one's own change) even mid-edit. */
export function scheduleRefresh(delay, force) {
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

export function closeEvents() {
  if (state.events) state.events.close();
  state.events = null;
  state.live = 'off';
}

export function connectEvents() {
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

export function updateLive() {
  const el = byTestId('live-status');
  if (!el) return;
  el.dataset.state = state.live;
  let text = t(`live.${state.live}`);
  if (state.lastEvent) text += ` · ${t('live.last', { time: fmtTime(state.lastEvent) })}`;
  el.textContent = text;
}
