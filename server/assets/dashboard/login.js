// @ts-check
// Signing in with a device token, signing out, and the language switch.

import * as I from './i18n.js';
import { t } from './i18n.js';
import { h, fill, field, button, visible } from './dom.js';
import { STORED_COMPOUND, state } from './state.js';
import { API, api, whenSignedOut } from './api.js';
import { errorText } from './notices.js';
import { loadTimeZone, loadMembers } from './compound-data.js';
import { closeEvents, connectEvents } from './live.js';
import { renderShell } from './shell.js';

function signedOut(message) {
  state.me = null;
  closeEvents();
  renderLogin(message);
}

// A request answered 401 (the session expired or was ended elsewhere) signs the page out.
whenSignedOut(signedOut);

export function langButton() {
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
          status.textContent = visible(key ? t(key) : errorText(e));
          if (e.status === 403 && e.body.reason) status.textContent += visible(` (${e.body.reason})`);
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

export async function start() {
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

export async function logout() {
  try {
    await api.post('/dashboard/logout', {}, { quiet: true });
  } catch (_) {
    // Signing out locally is what matters; the cookie expires anyway.
  }
  signedOut(t('login.signed_out'));
}
