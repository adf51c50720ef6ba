// @ts-check
// How values are written on the page: times on the compound's clock, addresses, counts.

import * as I from './i18n.js';
import { t } from './i18n.js';
import { state } from './state.js';

/** Minutes east of UTC the compound tells time in (its roster's setting; UTC+8 by default). */
export function zoneMinutes() {
  return state.zone ? state.zone.minutes : 480;
}

/** Before this (2000-01-01), a time is a wrong clock's. */
const EARLIEST_PLAUSIBLE_MS = 946_684_800_000;

/** A time as the compound's clock shows it, whatever the browser's own time zone. */
export function fmtTime(ms) {
  if (ms === null || ms === undefined) return '';
  const d = new Date(Number(ms) + zoneMinutes() * 60_000);
  // A device whose clock was reset (1970) or a crafted change's time shows no date, not
  // "Invalid Date" or a false one.
  if (!Number.isFinite(d.getTime()) || Number(ms) < EARLIEST_PLAUSIBLE_MS) return t('time.unknown');
  return d.toLocaleString(I.lang() === 'zh' ? 'zh-CN' : 'en-GB', {
    timeZone: 'UTC',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
  });
}

/** How long `ms` milliseconds are (either sign): to the hour from a day on, to the minute under
 * one: `3 天 2 小时`, `3 days 2 h`, `40 min`. */
export function fmtSpan(ms) {
  const minutes = Math.round(Math.abs(Number(ms)) / 60_000);
  if (minutes >= 1440) {
    const hours = Math.round(minutes / 60);
    return t('span.days_hours', { days: Math.floor(hours / 24), hours: hours % 24 });
  }
  if (minutes >= 60) return t('span.hours_minutes', { hours: Math.floor(minutes / 60), minutes: minutes % 60 });
  return t('span.minutes', { minutes });
}

/** Today's date on the compound's clock. */
export function today() {
  const d = new Date(Date.now() + zoneMinutes() * 60_000);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

export function fmtAddress(a) {
  if (!a) return '';
  return t(a.unit ? 'address.full' : 'address.no_unit', {
    estate: a.estate || '',
    building: a.building,
    unit: a.unit,
    flat: a.flat,
  }).trim();
}

export function buildingName(estate, building) {
  return t('address.building', { estate: estate || '', building }).trim();
}

export function numeric(a, b) {
  const na = Number(a);
  const nb = Number(b);
  if (!Number.isNaN(na) && !Number.isNaN(nb)) return na - nb;
  return String(a).localeCompare(String(b), 'zh');
}

export function shortId(id) {
  return id ? String(id).slice(0, 8) : '';
}

// 户内人数 is unknown (null) when the ledger left it blank.
export function peopleText(people) {
  return people == null ? t('household.people_unknown') : String(people);
}

/** `UTC+8`, `UTC-3:30`: how an offset in minutes is named (the relay names it the same way). */
export function zoneLabel(minutes) {
  if (!minutes) return 'UTC';
  const a = Math.abs(minutes);
  const rest = a % 60;
  return `UTC${minutes < 0 ? '-' : '+'}${Math.floor(a / 60)}${rest ? `:${String(rest).padStart(2, '0')}` : ''}`;
}
