// @ts-check
// Set aside: what volunteers' phones could not sync (the relay refused it for good), for a
// coordinator to apply as their own operation or dismiss with a reason.

import { t, label, lang } from './i18n.js';
import { h, fill, field, button } from './dom.js';
import { fmtTime, shortId } from './format.js';
import { api, cpath } from './api.js';
import { toast, showError } from './notices.js';
import { invalidate } from './compound-data.js';
import { scheduleRefresh } from './live.js';
import { pageHeader, printButton, removedMark } from './widgets.js';

/** @returns {import('./state.js').View} */
export function SetAside() {
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

  /**
   * The apply button; for an item asking for a change its sender may not make (a forged item's
   * words can say "delivered" while its operation removes a household), behind a second step
   * that shows the operation itself.
   */
  function applyControl(item) {
    const apply = (label, testid) => button(label, testid, () => act(item, 'apply', {}, t('set_aside.applied_toast')));
    if (item.sender_may !== false) return apply(t('set_aside.apply'), 'set-aside-apply');
    return h(
      'details',
      { class: 'review', testid: 'set-aside-apply-checked' },
      h('summary', { testid: 'set-aside-apply-open' }, t('set_aside.apply_after_check')),
      h('pre', null, JSON.stringify(item.operation, null, 2)),
      apply(t('set_aside.apply_checked'), 'set-aside-apply'),
    );
  }

  function controls(item) {
    const reason = h('input', { testid: 'set-aside-dismiss-reason', placeholder: t('set_aside.dismiss_hint') });
    return h(
      'div',
      { class: 'actions no-print' },
      item.operation ? applyControl(item) : h('p', { class: 'hint' }, t('set_aside.nothing_to_apply')),
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

  /** A warning when the item asks for a change its sender's role does not allow them. */
  function beyondRole(item) {
    if (item.sender_may !== false) return null;
    const who = item.person_name || shortId(item.person);
    const role = item.sender_role ? label('role', item.sender_role) : '';
    return h('p', { class: 'warn', testid: 'set-aside-beyond-role' }, t('set_aside.beyond_role', { who, role }));
  }

  /** A warning when the sender has been removed from the compound: made after that, it came from a phone no longer theirs to use here. */
  function formerMember(item) {
    if (item.sender_removed_at == null) return null;
    const who = item.person_name || shortId(item.person);
    const after = item.made_at != null && item.made_at > item.sender_removed_at;
    return h(
      'p',
      { class: 'warn', testid: 'set-aside-former-member', dataset: { after: String(after) } },
      t(after ? 'set_aside.made_after_removal' : 'set_aside.made_before_removal', { who, at: fmtTime(item.sender_removed_at) }),
    );
  }

  /** What the item did, in words: a knock says its outcome and note; another operation its tag. */
  function whatItDid(item) {
    const o = item.operation || {};
    if ((o.op === 'record_attempt' || o.op === 'record_attempt_for') && o.outcome) {
      return t('set_aside.knock', { outcome: label('outcome', o.outcome), note: o.note ? ` · ${o.note}` : '' });
    }
    return item.op ? t('set_aside.what', { op: item.op }) : t('set_aside.what_unknown');
  }

  /** Why the relay refused it: the rule in the page's language, the relay's own sentence folded away. */
  function why(item) {
    const words = item.rule_words ? item.rule_words[lang() === 'en' ? 1 : 0] : item.rule;
    return [
      h('p', { testid: 'set-aside-why' }, t('set_aside.why', { rule: words })),
      item.reason ? h('details', null, h('summary', null, t('set_aside.relay_said')), h('p', { testid: 'set-aside-reason' }, `${item.reason} (${item.rule})`)) : null,
    ];
  }

  function card(item) {
    const what = whatItDid(item);
    return h(
      'li',
      { class: item.state === 'pending' ? 'card conflict' : 'card conflict reviewed', testid: 'set-aside-card', dataset: { id: item.id, state: item.state } },
      h('h2', null, item.address || what, ' ', removedMark(item.household_removed)),
      h(
        'p',
        { class: 'meta' },
        t('set_aside.who_when', { who: item.person_name || shortId(item.person), at: fmtTime(item.made_at || item.set_aside_at) }),
      ),
      h('p', { testid: 'set-aside-what' }, what, item.summary && item.summary !== item.op ? [' · ', h('span', { class: 'hint' }, t('set_aside.phone_says', { summary: item.summary }))] : null),
      beyondRole(item),
      formerMember(item),
      why(item),
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
