// @ts-check
// Core operations through the relay (`POST …/operations`), the path every edit on the page takes.

import { t } from './i18n.js';
import { api, cpath } from './api.js';
import { toast, showError } from './notices.js';
import { invalidate } from './compound-data.js';
import { scheduleRefresh } from './live.js';

/** Applies a core operation through the relay; refreshes the view; returns what it answered. */
export async function operate(op, okMessage) {
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
