// What a browser test starts from, built by the test itself so that no test depends on another
// having run first: a compound of its own on a relay, with (as asked) the sample ledger imported,
// volunteers' and coordinators' command-line phones joined, and an open round for one building
// assigned to the first volunteer. Everything goes through the relay's real HTTP API (the
// dashboard's own routes, under a coordinator's session), as the page itself would.

import { mkdtempSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Phone, browser, sampleData } from './harness.js';

export const ROSTER = 'beilin-roster.csv';

export const tid = (id) => `[data-testid="${id}"]`;

/** A coordinator's cookie session over plain HTTP (`POST /dashboard/login`). */
export class Session {
  static async signIn(relay, token) {
    const res = await fetch(`${relay.url}/dashboard/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token }),
    });
    if (!res.ok) throw new Error(`sign-in failed (${res.status}): ${await res.text()}`);
    const cookie = res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    return new Session(relay, cookie);
  }

  constructor(relay, cookie) {
    this.relay = relay;
    this.cookie = cookie;
  }

  /** Sends a request; returns the JSON answer, or throws with the relay's refusal. */
  async send(method, url, body, type) {
    const res = await fetch(`${this.relay.url}${url}`, {
      method,
      headers: { Cookie: this.cookie, Origin: this.relay.url, ...(type ? { 'Content-Type': type } : {}) },
      body,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${url} failed (${res.status}): ${text}`);
    return text ? JSON.parse(text) : null;
  }

  /** Applies a core operation through the dashboard, as the page's forms do. */
  operate(compound, op) {
    return this.send('POST', `/dashboard/api/compounds/${compound}/operations`, JSON.stringify(op), 'application/json');
  }
}

/**
 * A compound of the test's own on `relay`, with a coordinator (王协调) and what `needs` asks:
 * `roster` imports the sample ledger (857 households); `volunteers: n` joins n phones
 * (volunteer-1, …); `coordinators: n` joins n coordinators' phones (coordinator-a, …); `round`
 * (with roster and a volunteer) creates 蔬菜包 第1轮 for 北林小区 1号楼 (111 doors) and assigns the
 * building to volunteer-1. Every phone then syncs. Phones keep their files in a folder of the
 * compound's own under `dir`.
 */
export async function compound(relay, dir, name, needs = {}) {
  const own = mkdtempSync(path.join(dir, 'compound-'));
  const id = await relay.createCompound(name);
  const coordinatorToken = await relay.joinToken(await relay.invite(id, 'coordinator'), '王协调');
  const world = { relay, dir: own, compound: id, name, coordinatorToken, cbase: `/dashboard/api/compounds/${id}`, phones: [], coordinatorPhones: [] };
  world.session = await Session.signIn(relay, coordinatorToken);
  for (let i = 1; i <= (needs.volunteers || 0); i += 1) {
    const p = new Phone(own, `volunteer-${i}`);
    p.person = (await p.join(relay, await relay.invite(id, 'volunteer'))).person;
    world.phones.push(p);
  }
  for (const letter of 'ab'.slice(0, needs.coordinators || 0)) {
    const p = new Phone(own, `coordinator-${letter}`);
    p.person = (await p.join(relay, await relay.invite(id, 'coordinator'))).person;
    world.coordinatorPhones.push(p);
  }
  if (needs.roster) {
    const csv = readFileSync(path.join(sampleData, ROSTER));
    const out = await world.session.send('POST', `${world.cbase}/import?mode=commit`, csv, 'text/csv');
    if (out.added !== 857) throw new Error(`the ledger imported ${JSON.stringify(out)}`);
  }
  if (needs.round) {
    const out = await world.session.operate(id, {
      op: 'create_round',
      title: '蔬菜包 第1轮',
      kind: 'groceries',
      date: '2026-12-01',
      selection: { by: 'building', estate: '北林小区', building: '1' },
      items: '蔬菜包1份',
      priority: 'normal',
    });
    world.round = out.created[0];
    await world.session.operate(id, { op: 'assign_building', round: world.round, estate: '北林小区', building: '1', volunteer: world.phones[0].person });
  }
  // Every phone holds what the compound now has, as after a morning's sync.
  for (const p of [...world.phones, ...world.coordinatorPhones]) await p.sync();
  if (needs.round) {
    world.doors = await world.phones[0].doors(false);
    if (world.doors.length !== 111) throw new Error(`volunteer-1 holds ${world.doors.length} doors, not 111`);
  }
  return world;
}

/**
 * The dashboard in a browser of its own (a fresh profile), signed in with `token` on the
 * overview. `close()` closes it and fails if the page raised a script error.
 */
export async function dashboard(world, options, token) {
  const b = await browser(options);
  const page = b.context.pages()[0] || (await b.context.newPage());
  page.setDefaultTimeout(15_000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${world.relay.url}/dashboard`);
  await page.fill(tid('login-token'), token || world.coordinatorToken);
  await page.click(tid('login-submit'));
  await page.waitForSelector('main[data-ready="overview"]');
  return {
    browser: b,
    page,
    errors,
    async close() {
      await b.close();
      if (errors.length) throw new Error(`the page raised script errors: ${errors.join('; ')}`);
    },
  };
}
