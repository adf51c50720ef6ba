// @ts-check
// What the page knows at run time: who is signed in, the compound shown, its caches and the view.

export const STORED_COMPOUND = 'doorstep.compound';

/**
 * A compound the signed-in person belongs to, with their role there.
 * @typedef {{ id: string, name: string, role: string }} CompoundRole
 */

/**
 * Who is signed in (`GET /dashboard/api/me`).
 * @typedef {{ person: string, name?: string, district_admin?: boolean, compounds?: CompoundRole[], max_upload_bytes?: number }} Me
 */

/**
 * A member of the compound (`GET …/members`).
 * @typedef {{ person: string, name: string, role: string, revoked: boolean, joined_at?: number, devices?: any[] }} Member
 */

/**
 * The compound's households, as listed and by ID.
 * @typedef {{ list: any[], byId: Map<string, any> }} HouseholdCache
 */

/**
 * A page: its root element, how it fetches and redraws its data, and whether a redraw leaves
 * its controls alone (so a live refresh need not wait while someone is choosing in a list).
 * @typedef {{ root: HTMLElement, refresh: () => Promise<void>, keepsControls?: boolean }} View
 */

/**
 * @typedef {object} State
 * @property {Me | null} me who is signed in
 * @property {CompoundRole[]} usable the compounds they may run (coordinator or admin)
 * @property {CompoundRole | null} compound the compound shown
 * @property {{ minutes: number } | null} zone its time zone (null until fetched: UTC+8)
 * @property {Member[]} members its members, for names
 * @property {HouseholdCache | null} households its households; null when stale
 * @property {HouseholdCache | null} knownHouseholds the last households fetched, stale or not, for labels
 * @property {any[] | null} rounds its rounds; null when stale
 * @property {Map<string, any> | null} needMarks the map's need marks by tag, fetched once
 * @property {View | null} view the view shown
 * @property {EventSource | null} events the relay's event stream
 * @property {'off' | 'on' | 'connecting'} live whether the stream is up
 * @property {number | null} lastEvent when the last change arrived (Unix ms)
 * @property {number} refreshes how many times a view has fetched its data (the tests wait on it)
 */

/** @type {State} */
export const state = {
  me: null,
  usable: [],
  compound: null,
  zone: null,
  members: [],
  households: null,
  knownHouseholds: null,
  rounds: null,
  needMarks: null,
  view: null,
  events: null,
  live: 'off',
  lastEvent: null,
  refreshes: 0,
};
