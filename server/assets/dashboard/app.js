// @ts-check
// The coordinators' dashboard: a single page over the relay's /dashboard/api, loaded by
// index.html as this module, which imports the rest (one file per page or concept).
//
// Why plain DOM code, native modules and no framework: the relay embeds these files in its
// binary and serves them on a district's own machine with no network at run time, so there is no
// build step and nothing to fetch. Every element is built with `h()` (dom.js) and text is set as
// text (never as HTML), so names and notes typed by anyone can never run as script. Every visible
// string goes through `t()` (i18n.js), Chinese first. The page follows the relay's Server-Sent
// Events (live.js): when a phone syncs, the visible view fetches its data again, without a reload
// and without touching what a coordinator is typing.

import * as I from './i18n.js';
import { state } from './state.js';
import { start } from './login.js';
import { renderView } from './shell.js';

// A new address (a link, the back button, `go()`) shows its view.
window.addEventListener('hashchange', () => {
  if (state.me) renderView();
});
function boot() {
  document.documentElement.lang = I.htmlLang();
  start();
}
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
else boot();
