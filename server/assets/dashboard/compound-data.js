// @ts-check
// The compound's data the pages share: households, rounds, members and the time zone, fetched
// once and dropped when a change makes them stale; and the small derivations built on them.

import { t, label } from './i18n.js';
import { numeric, shortId } from './format.js';
import { state } from './state.js';
import { api, cpath } from './api.js';
import { showError } from './notices.js';

export function invalidate(kindOrOp) {
  // A roster change (or an operation on households) makes the household cache stale; any
  // change can add or end a round.
  if (!kindOrOp || kindOrOp === 'roster' || /household|status|need|notes|import/.test(kindOrOp)) {
    state.households = null;
  }
  state.rounds = null;
}

export async function households() {
  if (!state.households) {
    const list = await api.get(cpath('/households'));
    state.households = { list, byId: new Map(list.map((x) => [x.id, x])) };
    state.knownHouseholds = state.households;
  }
  return state.households;
}

/** Households by ID for labels: the latest list fetched, even if a change has made it stale. */
export function knownHousehold(id) {
  return state.knownHouseholds ? state.knownHouseholds.byId.get(id) : undefined;
}

export async function rounds() {
  if (!state.rounds) state.rounds = await api.get(cpath('/rounds'));
  return state.rounds;
}

/** The compound's time zone, which every time on the page is shown in. */
export async function loadTimeZone() {
  try {
    state.zone = await api.get(cpath('/time-zone'));
  } catch (e) {
    state.zone = null;
    if (e.status !== 404) showError(e);
  }
}

export async function loadMembers() {
  try {
    state.members = await api.get(cpath('/members'));
  } catch (e) {
    state.members = [];
    if (e.status !== 404) showError(e);
  }
}

export function personName(id, names) {
  if (!id) return t('common.nobody');
  if (names && names[id]) return names[id];
  if (state.me && state.me.person === id && state.me.name) return state.me.name;
  const m = state.members.find((x) => x.person === id);
  return m ? m.name || shortId(id) : shortId(id);
}

export function volunteerOptions(withNobody) {
  // Volunteers first: they carry the bags; coordinators and admins can be chosen too.
  const rank = { volunteer: 0, coordinator: 1, medic: 2, admin: 3 };
  const opts = state.members
    .filter((m) => !m.revoked)
    .sort((a, b) => (rank[a.role] ?? 9) - (rank[b.role] ?? 9) || String(a.name).localeCompare(String(b.name), 'zh'))
    .map((m) => [m.person, `${m.name || shortId(m.person)} (${label('role', m.role)})`]);
  return withNobody ? [['', t('common.nobody')], ...opts] : opts;
}

export function roundOf(info) {
  // Rounds come as {round, total, …} in lists and as a bare round elsewhere.
  return info && info.round && typeof info.round === 'object' ? info.round : info;
}

export function buildingsOf(list) {
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

export function buildingKey(b) {
  return `${b.estate}\u0000${b.building}`;
}

export function parseBuildingKey(key) {
  const [estate, building] = key.split('\u0000');
  return { estate, building };
}
