// @ts-check
// Members: the compound's people and devices; invite (a code and the relay's QR code), remove
// (after a confirm step; their phones wipe the compound at their next sync), and for a district
// admin a new device token for an existing person. Every rule is the relay's: the page only
// hides what the relay would refuse. Also the compound's time zone.

import { t, label } from './i18n.js';
import { h, fill, field, select, button } from './dom.js';
import { zoneMinutes, fmtTime, fmtSpan, zoneLabel } from './format.js';
import { state } from './state.js';
import { API, ApiError, api, cpath } from './api.js';
import { toast, showError } from './notices.js';
import { loadTimeZone, loadMembers } from './compound-data.js';
import { scheduleRefresh } from './live.js';
import { operate } from './operate.js';
import { pageHeader } from './widgets.js';

/** The roles the signed-in person may invite, as the relay rules: an admin invites anyone. */
function invitableRoles() {
  const admin = (state.me && state.me.district_admin) || (state.compound && state.compound.role === 'admin');
  return admin ? ['volunteer', 'medic', 'coordinator', 'admin'] : ['volunteer', 'medic'];
}

/** Whether the relay would let the signed-in person remove `m`: not themselves, a coordinator
 *  or admin only if they are an admin, and a district admin only if they are one too. */
function mayRevoke(m) {
  if (state.me && state.me.person === m.person) return false;
  const district = Boolean(state.me && state.me.district_admin);
  if (m.district_admin) return district;
  const admin = district || (state.compound && state.compound.role === 'admin');
  return admin || !(m.role === 'coordinator' || m.role === 'admin');
}

/** Whether the relay would let the signed-in person revoke one of `m`'s phones: a district admin
 *  anyone's but their own; anyone else a volunteer's or a medic's only (a phone's token works in
 *  every compound its person is in). */
function mayRevokeDevice(m) {
  if (!state.me || state.me.person === m.person) return false;
  if (state.me.district_admin) return true;
  return !m.district_admin && !(m.role === 'coordinator' || m.role === 'admin');
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

/** The longest device name the relay accepts, in characters (core's `limits::SHORT_TEXT`). */
const DEVICE_NAME_MAX = 200;

/**
 * The message for each refusal of the members API the page can meet, by what was asked and the
 * HTTP status. The relay's admin rules answer in English (the `doorstep admin` command line
 * shares them), so the page says it in the reader's language: the same rule, in the
 * i18n style of every other page.
 * @type {Record<'device' | 'invite' | 'revoke' | 'token', Record<number, string>>}
 */
const REFUSALS = {
  device: { 403: 'members.refused.device', 404: 'members.refused.device_gone' },
  invite: { 400: 'members.refused.bad_role', 403: 'members.refused.invite' },
  revoke: { 403: 'members.refused.revoke', 404: 'members.refused.gone' },
  token: { 400: 'members.refused.device_name', 403: 'members.refused.token', 404: 'members.refused.gone' },
};

/**
 * Whether the signed-in person still runs the compound shown, as the relay now says
 * (`GET /dashboard/api/me`). A 403 means either that their role may not do what they asked or
 * that they no longer run the compound at all (an admin removed them while the page was open);
 * only the relay knows which. If it cannot be asked, the page assumes they still do.
 * @returns {Promise<boolean>}
 */
async function stillRuns() {
  const compound = state.compound;
  if (!compound) return false;
  try {
    /** @type {import('./state.js').Me} */
    const me = await api.get(`${API}/me`);
    return Boolean(me.district_admin) || (me.compounds || []).some((c) => c.id === compound.id && (c.role === 'coordinator' || c.role === 'admin'));
  } catch (_) {
    return true;
  }
}

/** The refusal for someone who no longer runs the compound shown, in the page's language. */
function notRunning() {
  return new ApiError(403, { error: t('members.refused.not_running', { compound: state.compound ? state.compound.name : '' }) });
}

/**
 * Shows a refusal of the members API in the page's language; anything else (the network, the
 * relay's storage) as the relay said it. Returns whether the relay said the person is gone.
 * @param {unknown} e
 * @param {'device' | 'invite' | 'revoke' | 'token'} action
 * @param {{ role: string, name?: string }} about the role asked for, or the person acted on
 * @returns {Promise<boolean>}
 */
async function showRefusal(e, action, about) {
  if (e instanceof ApiError && e.status === 403 && !(await stillRuns())) {
    showError(notRunning());
    return false;
  }
  const key = e instanceof ApiError ? REFUSALS[action][e.status] : undefined;
  if (!key) {
    showError(e);
    return false;
  }
  const text = t(key, { role: label('role', about.role), name: about.name || '', max: DEVICE_NAME_MAX });
  showError({ body: { error: text } });
  return key === 'members.refused.gone';
}

/** @returns {import('./state.js').View} */
export function Members() {
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
          await showRefusal(e, 'invite', { role: roleSel.value });
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
      (m.devices || []).map((d) => {
        const li = h('li', { testid: 'member-device', dataset: { revoked: String(d.revoked) } });
        return fill(li, ...deviceLine(m, d, li));
      }),
    );
  }

  /** A device's line: its name, when it last synced, a wrong clock, and a button that revokes
   * this phone alone (a lost one; the person's other phones keep working), for whoever may: a
   * district admin anyone's, a coordinator or compound admin a volunteer's or a medic's, as the
   * relay rules. */
  function deviceLine(m, d, li) {
    // Not on the signed-in person's own devices: that would end the session it is asked from.
    const lost = !d.revoked && mayRevokeDevice(m)
      ? button(t('members.device_revoke'), 'device-revoke', () => confirmDevice(m, d, li), { class: 'danger small' })
      : null;
    return [
      d.name, ' · ',
      d.revoked ? t('members.device_revoked') : d.last_seen ? fmtTime(d.last_seen) : t('members.never_synced'),
      d.revoked ? wipedNote(d) : clockOff(d),
      lost ? ' ' : null, lost,
    ];
  }

  /** What a revoked phone said as it wiped itself: how much of its work the relay never got
   * (then gone with the wipe), so a coordinator who revoked a phone still in a volunteer's hands
   * knows what to ask them to record again. */
  function wipedNote(d) {
    if (!d.wiped) return null;
    const time = fmtTime(d.wiped.at);
    return d.wiped.unsent > 0
      ? h('p', { class: 'warn', role: 'note', testid: 'member-wiped' }, t('members.wiped_with_unsent', { time, n: d.wiped.unsent }))
      : h('p', { class: 'hint', testid: 'member-wiped' }, t('members.wiped_clean', { time }));
  }

  function confirmDevice(m, d, li) {
    fill(li, ...deviceLine(m, d, li).slice(0, 4),
      h('div', { class: 'confirm', role: 'alertdialog', testid: 'device-revoke-confirm' },
        h('p', null, t('members.device_revoke_confirm', { device: d.name, name: m.name })),
        button(t('members.device_revoke_yes'), 'device-revoke-yes', async () => {
          try {
            await api.post(cpath(`/members/${encodeURIComponent(m.person)}/devices/${encodeURIComponent(String(d.id))}/revoke`), {});
            toast(t('members.device_revoked_toast', { device: d.name }));
          } catch (e) {
            await showRefusal(e, 'device', m);
          }
          await loadMembers();
          await refresh();
        }, { class: 'danger' }),
        ' ',
        button(t('common.cancel'), 'device-revoke-no', () => fill(li, ...deviceLine(m, d, li))),
      ),
    );
  }

  /** A warning beside a device whose clock was wrong at its last sync (the relay says so only
   * past five minutes, core's `CLOCK_OFF_BY_MS`): whatever it records is stamped with that clock. */
  function clockOff(d) {
    const off = d.clock_off_by_ms;
    if (off === undefined || off === null) return null;
    // Off by what most phones are: the relay's clock is the wrong one, not this phone's.
    const key = d.relay_clock_in_doubt ? 'members.relay_clock_in_doubt'
      : off > 0 ? 'members.clock_ahead' : 'members.clock_behind';
    return h('p', { class: 'warn', role: 'note', testid: 'member-clock-off' }, t(key, { span: fmtSpan(off) }));
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
            if (await showRefusal(e, 'revoke', m)) {
              await loadMembers();
              await refresh();
            } else actions(m, cell);
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
            if (await showRefusal(e, 'token', m)) {
              await loadMembers();
              await refresh();
            }
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

  /** A warning under a person whose phone the relay refused for adding more than a day's share
   * of a document (core's limit on what one member may add, `growth_share.rs`): a phone filling
   * a document for everyone, or one to ask about. */
  function shareRefused(m) {
    const r = m.share_refused;
    if (!r) return null;
    return h('p', { class: 'warn', role: 'note', testid: 'member-share-refused' },
      t('members.share_refused', { doc: t(`members.doc.${r.kind}`), times: r.times, time: fmtTime(r.last_at) }));
  }

  function row(m, live) {
    const you = state.me && state.me.person === m.person ? t('members.you') : '';
    const cells = [
      h('td', { class: 'lead' }, m.name, you, shareRefused(m)),
      h('td', { dataset: { label: t('members.role') } }, label('role', m.role)),
      h('td', { dataset: { label: t('members.joined') } }, fmtTime(m.joined_at)),
      h('td', { class: 'wide', dataset: { label: t('members.devices') } }, devicesCell(m)),
    ];
    if (live) cells.push(actions(m, h('td', { class: 'wide no-print' })));
    return h('tr', { testid: live ? 'member-row' : 'member-revoked-row', dataset: { person: m.person, role: m.role } }, cells);
  }

  async function refresh() {
    let list;
    try {
      list = await api.get(cpath('/members'));
    } catch (e) {
      throw e instanceof ApiError && e.status === 403 && !(await stillRuns()) ? notRunning() : e;
    }
    const live = list.filter((m) => !m.revoked);
    const gone = list.filter((m) => m.revoked);
    fill(tbody, live.map((m) => row(m, true)));
    if (!live.length) tbody.append(h('tr', null, h('td', { colspan: 5, class: 'empty' }, t('members.none'))));
    fill(revokedBody, gone.map((m) => row(m, false)));
    revokedSection.hidden = !gone.length;
  }
  return { root, refresh };
}
