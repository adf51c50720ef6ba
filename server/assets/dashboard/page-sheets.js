// @ts-check
// Spreadsheets: import with a preview, exports, and the printable delivery sheets.

import * as I from './i18n.js';
import { t } from './i18n.js';
import { h, fill, field, select, button } from './dom.js';
import { buildingName } from './format.js';
import { api, cpath } from './api.js';
import { toast, showError } from './notices.js';
import { invalidate, households, rounds, roundOf, buildingsOf, buildingKey, parseBuildingKey } from './compound-data.js';
import { pageHeader } from './widgets.js';
import { state } from './state.js';
import { printHref } from './page-round.js';

/** A file's size as a coordinator reads one: "8 MiB", "9.5 MiB". */
function mib(bytes) {
  return `${(bytes / (1024 * 1024)).toFixed(1).replace(/\.0$/, '')} MiB`;
}

function fileType(name) {
  return /\.xlsx$/i.test(name) ? 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' : 'text/csv';
}

/** @returns {import('./state.js').View} */
export function Sheets() {
  const file = h('input', { type: 'file', accept: '.csv,.xlsx,text/csv', testid: 'import-file' });
  const result = h('div', { testid: 'import-result', 'aria-live': 'polite' });
  let bytes = null;
  let name = '';
  const previewBtn = h('button', { type: 'submit', class: 'primary', testid: 'import-preview' }, t('import.preview'));
  const form = h(
    'form',
    {
      class: 'card form no-print',
      testid: 'import-form',
      onsubmit: async (ev) => {
        ev.preventDefault();
        const f = file.files && file.files[0];
        if (!f) {
          showError({ body: { error: t('import.choose') } });
          return;
        }
        // Past the relay's limit: said here, before the file is sent, in the relay's words.
        const max = state.me && state.me.max_upload_bytes;
        if (max && f.size > max) {
          showError({ body: { error: t('import.too_large', { size: mib(f.size), limit: mib(max) }) } });
          return;
        }
        previewBtn.disabled = true;
        try {
          name = f.name;
          bytes = await f.arrayBuffer();
          const p = await api.post(cpath('/import?mode=preview'), bytes, { type: fileType(name) });
          showPreview(p);
        } catch (e) {
          if (e.status === 422 && e.body && e.body.errors) showPreview(Object.assign({ households: 0 }, e.body));
          else showError(e);
        } finally {
          previewBtn.disabled = false;
        }
      },
    },
    h('h2', null, t('import.title')),
    h('p', { class: 'hint' }, t('import.hint')),
    field(t('import.file'), file),
    previewBtn,
  );

  // A row message in the reader's language: the relay sends Chinese and English.
  const reasonText = (e) => (I.lang() === 'en' ? e.reason : e.reason_zh || e.reason) || '';

  function errorTable(errors, kind = 'errors') {
    const rowId = kind === 'errors' ? 'import-error-row' : 'import-warning-row';
    return h(
      'div',
      { class: 'scroll' },
      h(
        'table',
        { class: `data ${kind} stack`, testid: `import-${kind}` },
        h('caption', null, t(`import.${kind}`, { n: errors.length })),
        h('thead', null, h('tr', null, ['line', 'column', 'value', 'reason'].map((k) => h('th', { scope: 'col' }, t(`import.${k}`))))),
        h(
          'tbody',
          null,
          errors.map((e) =>
            h(
              'tr',
              { testid: rowId, dataset: { line: e.line, code: e.code || '' } },
              h('td', { class: 'n', dataset: { label: t('import.line') } }, e.sheet ? t('import.sheet_row', { sheet: e.sheet, line: e.line }) : String(e.line ?? '')),
              h('td', { dataset: { label: t('import.column') } }, e.column || ''),
              h('td', { dataset: { label: t('import.value') } }, e.value || ''),
              h('td', { class: 'wide reason', testid: 'import-reason', dataset: { label: t('import.reason') } }, reasonText(e)),
            ),
          ),
        ),
      ),
    );
  }

  // What the commit would do to the roster as it is now: added, updated (and which fields, on
  // how many households), unchanged, and how rows without a 小区 were placed.
  function planSummary(plan) {
    const en = I.lang() === 'en';
    const changes = (plan.changes || []).map((c) => t('import.plan_change', { column: en ? c.column_en : c.column, n: c.households }));
    return h(
      'div',
      { testid: 'import-plan', dataset: { add: plan.add, update: plan.update, unchanged: plan.unchanged } },
      h('p', null, t('import.plan', { add: plan.add, update: plan.update, unchanged: plan.unchanged })),
      changes.length ? h('p', { testid: 'import-plan-changes' }, t('import.plan_changes', { n: plan.update, list: changes.join(en ? ', ' : '、') })) : null,
      plan.update || plan.unchanged ? h('p', { class: 'meta' }, t('import.plan_kept')) : null,
      plan.matched_without_estate ? h('p', { testid: 'import-plan-no-estate' }, t('import.plan_no_estate', { n: plan.matched_without_estate })) : null,
      plan.estate_for_new ? h('p', { testid: 'import-plan-estate' }, t('import.plan_estate_for_new', { estate: plan.estate_for_new })) : null,
    );
  }

  // Which sheets of a workbook were read (households from each) and which were not, and why:
  // every visible sheet with a roster header row is read.
  function sheetsRead(p) {
    const read = p.sheets_read || [];
    const skipped = p.sheets_skipped || [];
    if (!(p.sheets > 1) && !skipped.length) return null;
    const en = I.lang() === 'en';
    return h(
      'div',
      { testid: 'import-sheets' },
      h('p', { class: 'meta', testid: 'import-sheet' }, t('import.sheets_read', { n: read.length, list: read.map((s) => t('import.sheet_households', { sheet: s.sheet, n: s.households })).join(en ? ', ' : '、') })),
      skipped.length
        ? h('ul', { class: 'warn', testid: 'import-sheets-skipped' }, skipped.map((s) => h('li', { dataset: { sheet: s.sheet, code: s.code } }, t('import.sheet_skipped', { sheet: s.sheet, reason: en ? s.reason : s.reason_zh }))))
        : null,
    );
  }

  function showPreview(p) {
    const errors = p.errors || [];
    const warnings = p.warnings || [];
    const good = p.households || 0;
    // The estates the households go into; none to name when neither the file nor the compound has one.
    const estates = (p.estates || []).filter(Boolean);
    const commit = async (acceptGood) => {
      try {
        const q = acceptGood ? '&accept_good_rows=true' : '';
        const out = await api.post(cpath(`/import?mode=commit${q}`), bytes, { type: fileType(name) });
        invalidate('import');
        fill(result,
          h('p', { class: 'banner ok', testid: 'import-done', dataset: out }, t('import.done', { added: out.added ?? 0, updated: out.updated ?? 0, unchanged: out.unchanged ?? 0, left: out.rows_left_out ?? 0 })),
        );
        toast(t('import.done_short'));
      } catch (e) {
        if (e.status === 422 && e.body && e.body.errors) {
          fill(result, h('p', { class: 'banner error', testid: 'import-refused' }, t('import.refused')), errorTable(e.body.errors));
        } else showError(e);
      }
    };
    fill(result,
      h(
        'section',
        { class: 'card', testid: 'import-preview-box' },
        h('h2', null, t('import.preview_title', { name })),
        h('p', { testid: 'import-households', dataset: { count: good } }, t('import.households', { n: good })),
        sheetsRead(p),
        estates.length ? h('p', { testid: 'import-estates' }, t('import.estates', { list: estates.join('、') })) : null,
        p.plan ? planSummary(p.plan) : null,
        (p.ignored_columns || []).length ? h('p', { class: 'meta', testid: 'import-ignored' }, t('import.ignored', { list: p.ignored_columns.join('、') })) : null,
        errors.length ? errorTable(errors) : h('p', { class: 'ok', testid: 'import-no-errors' }, t('import.no_errors')),
        p.omitted_errors ? h('p', { class: 'warn' }, t('import.omitted', { n: p.omitted_errors })) : null,
        warnings.length ? errorTable(warnings, 'warnings') : null,
        p.omitted_warnings ? h('p', { class: 'meta' }, t('import.omitted_warnings', { n: p.omitted_warnings })) : null,
        h(
          'div',
          { class: 'actions' },
          errors.length
            ? [
                h('p', { class: 'warn' }, t('import.blocked', { n: errors.length })),
                good ? button(t('import.commit_good', { n: good, bad: errors.length }), 'import-commit-good', () => commit(true)) : null,
              ]
            : button(t('import.commit', { n: good }), 'import-commit', () => commit(false), { class: 'primary' }),
        ),
      ),
    );
  }

  const exports = h('section', { class: 'card', testid: 'exports' });
  const prints = h('section', { class: 'card no-print', testid: 'prints' });
  const root = h('section', { testid: 'page-sheets' }, pageHeader(t('sheets.title')), form, result, h('div', { class: 'columns' }, exports, prints));

  const link = (href, testid, text) => h('a', { class: 'button', href: cpath(href), download: '', testid }, text);

  async function refresh() {
    const [rs, all] = await Promise.all([rounds(), households()]);
    const infos = rs.map(roundOf);
    const rsel = select('export-round', infos.map((r) => [r.document, `${r.title} (${r.date})`]));
    const roundLinks = h('span', { class: 'actions' });
    const drawRoundLinks = () => {
      const r = encodeURIComponent(rsel.value);
      fill(roundLinks, link(`/export/rounds/${r}.csv`, 'export-round-csv', t('export.csv')), link(`/export/rounds/${r}.xlsx`, 'export-round-xlsx', t('export.xlsx')));
    };
    rsel.addEventListener('change', drawRoundLinks);
    if (infos.length) drawRoundLinks();
    fill(exports,
      h('h2', null, t('export.title')),
      h('h3', null, t('export.roster')),
      h('p', { class: 'actions' }, link('/export/roster.csv', 'export-roster-csv', t('export.csv')), link('/export/roster.xlsx', 'export-roster-xlsx', t('export.xlsx'))),
      h('h3', null, t('export.special')),
      h('p', { class: 'actions' }, link('/export/special-needs.csv', 'export-special-csv', t('export.csv')), link('/export/special-needs.xlsx', 'export-special-xlsx', t('export.xlsx'))),
      h('h3', null, t('export.round')),
      infos.length ? [field(t('round.round'), rsel), roundLinks] : h('p', { class: 'empty' }, t('rounds.none')),
    );
    const open = infos.filter((r) => r.status !== 'closed');
    if (!open.length) {
      fill(prints, h('h2', null, t('print.title')), h('p', { class: 'empty' }, t('household.no_open_rounds')));
      return;
    }
    const psel = select('print-round', open.map((r) => [r.document, `${r.title} (${r.date})`]));
    const bsel = select('print-building', buildingsOf(all.list).map((b) => [buildingKey(b), buildingName(b.estate, b.building)]));
    const go2 = h('a', { class: 'button', target: '_blank', rel: 'noopener', testid: 'print-open' }, t('print.open'));
    const upd = () => {
      go2.href = printHref(psel.value, parseBuildingKey(bsel.value || '\u0000'));
    };
    psel.addEventListener('change', upd);
    bsel.addEventListener('change', upd);
    upd();
    fill(prints, h('h2', null, t('print.title')), h('p', { class: 'hint' }, t('print.hint')), field(t('round.round'), psel), field(t('selection.building'), bsel), go2);
  }
  return { root, refresh };
}
