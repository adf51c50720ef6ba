// @ts-check
// The relay's dashboard API over fetch: JSON in and out, a refusal as an `ApiError`.

import { t } from './i18n.js';
import { state } from './state.js';

export const API = '/dashboard/api';

/** What to do when the relay answers 401 (the session ended): the sign-in page registers it. */
let signedOutHandler = (/** @type {string} */ _message) => {};

/** Registers what a 401 does (the sign-in page shows itself, with `message`). */
export function whenSignedOut(handler) {
  signedOutHandler = handler;
}

/** A refusal or failure: the HTTP status (0: the relay was not reached) and the JSON body. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {{ error?: string, reason?: string, errors?: any[] } | null} body
   */
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

async function request(method, path, body, opts) {
  const o = opts || {};
  /** @type {RequestInit & { headers: Record<string, string> }} */
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
    if (res.status === 401 && !o.quiet) signedOutHandler(t('login.expired'));
    throw new ApiError(res.status, data);
  }
  return data;
}

export const api = {
  get: (path) => request('GET', path),
  post: (path, body, opts) => request('POST', path, body, opts),
};

export function cpath(rest) {
  return `${API}/compounds/${encodeURIComponent(state.compound.id)}${rest}`;
}
