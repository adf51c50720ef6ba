// @ts-check
// Messages to the person: the passing toast and the error banner.

import { t } from './i18n.js';
import { h, fill, button, byTestId, visible } from './dom.js';

let toastTimer = null;
export function toast(text) {
  const el = byTestId('toast');
  if (!el) return;
  el.textContent = visible(String(text));
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    el.hidden = true;
  }, 3000);
}

export function errorText(e) {
  const b = (e && e.body) || {};
  const main = b.error || (e && e.message) || String(e);
  return b.reason && b.reason !== main ? `${main} — ${b.reason}` : main;
}



export function showError(e) {
  const el = byTestId('error-banner');
  if (!el) return;
  fill(el,
    h('span', null, `${t('error.prefix')}: ${errorText(e)}`),
    button(t('common.dismiss'), 'error-dismiss', () => {
      el.hidden = true;
    }),
  );
  el.hidden = false;
}

export function clearError() {
  const el = byTestId('error-banner');
  if (el) el.hidden = true;
}
