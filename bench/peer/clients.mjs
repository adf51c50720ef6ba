// Simulated phones for automerge-repo: one Repo per phone holding the same documents as a Doorstep
// volunteer's phone (roster, requests, the open round: the same Automerge bytes under the same
// document IDs as the server). doorstep-bench gives them no storage (with --store DIR each gets a
// NodeFS folder): storage would only add to the clients' share of this machine's two cores, which
// the server under test needs. Each makes its offline edits (an attempt appended to a task's
// attempts list, or a household's notes rewritten as a text edit: the same edits, in the same
// shape, as Doorstep's core writes), then waits for "go" on stdin and connects to the server.
//
// In sync means: the server has every change this phone made, and the phone knows it. The phone
// learns the server's heads from the server's sync messages (the "remote-heads" event); it is in
// sync when it holds those heads and none of its own changes lies outside their history. This is
// the same test as Doorstep's `unsynced_changes() == 0` (own changes not covered by the heads
// both sides share). Latency is measured from "go". A phone that is in sync disconnects, as a
// Doorstep phone stops syncing once its run ends.
//
//   node clients.mjs --url ws://127.0.0.1:PORT --workload W [--store DIR] --first I --count N
// prints "ready" after setup, then "result {json}" per phone and "finished {json}" with the CPU time
// this process used from "go" on (doorstep-bench's client_process.rs has the protocol).
import { readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { createInterface } from "node:readline"
import { parseArgs } from "node:util"
import * as A from "@automerge/automerge"
import { Repo, decodeHeads } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"
import { documentId } from "./ids.mjs"

const { values: args } = parseArgs({
  options: {
    url: { type: "string" },
    workload: { type: "string" },
    store: { type: "string" },
    first: { type: "string" },
    count: { type: "string" },
    "timeout-ms": { type: "string", default: "300000" },
  },
})
const workload = JSON.parse(readFileSync(args.workload, "utf8"))
const folder = dirname(args.workload)
const first = Number(args.first)
const count = Number(args.count)
const timeoutMs = Number(args["timeout-ms"])

const documents = workload.documents.map(doc => ({
  kind: doc.kind,
  docId: documentId(doc.id),
  bytes: readFileSync(join(folder, doc.file)),
}))

/** A person ID in Doorstep's format (a UUIDv7 string) for phone `i`. */
function person(i) {
  return `01935f3e-0000-7000-8000-${String(i).padStart(12, "0")}`
}

/** One phone: its repo, its documents, its offline edits made. */
async function setUp(i) {
  const repo = new Repo({
    storage: args.store ? new NodeFSStorageAdapter(join(args.store, `phone-${i}`)) : undefined,
    network: [],
    peerId: `phone-${i}`,
    sharePolicy: async () => true,
  })
  const handles = {}
  for (const doc of documents) {
    handles[doc.kind] = repo.import(doc.bytes, { docId: doc.docId })
    await handles[doc.kind].whenReady()
  }
  const edited = new Set()
  for (const edit of workload.clients[i]) {
    if (edit.kind === "attempt") {
      handles.round.change(d => {
        d.tasks[edit.task].attempts.push({
          by: new A.ImmutableString(person(i)),
          at: Date.now(),
          outcome: new A.ImmutableString(edit.outcome),
          note: new A.ImmutableString(edit.note),
        })
      })
      edited.add(handles.round)
    } else {
      handles.roster.change(d => {
        A.updateText(d, ["households", edit.household, "notes"], edit.text)
      })
      edited.add(handles.roster)
    }
  }
  if (args.store) await repo.flush()
  return { i, repo, edited: [...edited] }
}

/** Whether the server, at `heads`, has every change this phone made to `handle`'s document. */
function covered(handle, heads) {
  const doc = handle.doc()
  if (!A.hasHeads(doc, heads)) return false
  const me = A.getActorId(doc)
  return A.getChangesMetaSince(doc, heads).every(change => change.actor !== me)
}

/** Connects one phone and resolves when it is in sync. */
function syncPhone(phone, released) {
  return new Promise(resolve => {
    const pending = new Set(phone.edited)
    const adapter = new WebSocketClientAdapter(args.url)
    let settled = false
    const finish = (ok, error) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      const ms = performance.now() - released
      say(`result ${JSON.stringify({ client: phone.i, ms, ok, error })}`)
      // A socket still connecting (the adapter retries refused connections) emits an error when
      // closed; the phone is done with it either way.
      adapter.socket?.on("error", () => {})
      adapter.disconnect()
      resolve()
    }
    const serverHeads = new Map()
    const timer = setTimeout(() => {
      const why = [...pending].map(h => {
        const heads = serverHeads.get(h)
        if (!heads) return `${h.documentId}: no heads heard from the server`
        const doc = h.doc()
        if (!A.hasHeads(doc, heads)) return `${h.documentId}: server heads not received yet`
        const me = A.getActorId(doc)
        const mine = A.getChangesMetaSince(doc, heads).filter(c => c.actor === me).length
        return `${h.documentId}: ${mine} own changes outside the server's heads`
      })
      finish(false, `not in sync after ${timeoutMs} ms (${why.join("; ")})`)
    }, timeoutMs)
    // The server's heads arrive with its sync messages; the changes behind them may arrive in the
    // same message or a later one, so check again whenever either changes.
    const check = handle => {
      const heads = serverHeads.get(handle)
      if (heads && pending.has(handle) && covered(handle, heads)) {
        pending.delete(handle)
        if (pending.size === 0) finish(true)
      }
    }
    for (const handle of phone.edited) {
      handle.on("remote-heads", ({ heads }) => {
        serverHeads.set(handle, decodeHeads(heads))
        check(handle)
      })
      handle.on("heads-changed", () => check(handle))
    }
    if (pending.size === 0) finish(true)
    phone.repo.networkSubsystem.addNetworkAdapter(adapter)
  })
}

// The protocol with doorstep-bench goes to stdout; automerge-repo's own console.log output (it
// logs, for instance, messages that arrive for a phone that has just disconnected) goes to stderr,
// counted, so it cannot be mistaken for a result.
const stdout = process.stdout.write.bind(process.stdout)
const say = line => stdout(`${line}\n`)
let libraryLogs = 0
let firstLibraryLog
console.log = (...parts) => {
  libraryLogs += 1
  firstLibraryLog ??= parts.map(p => (p instanceof Error ? p.message : String(p?.err?.message ?? p))).join(" ")
}

// A socket error the library does not handle must not take the other phones of this process down
// with it: count it, and let the phone's own deadline decide.
process.on("uncaughtException", error => {
  libraryLogs += 1
  firstLibraryLog ??= `uncaught: ${error.message}`
})

const phones = []
for (let i = first; i < first + count; i++) {
  phones.push(await setUp(i))
}
say("ready")

const lines = createInterface({ input: process.stdin })
for await (const line of lines) {
  if (line.trim() === "go") break
}
const released = performance.now()
const cpuAtGo = process.cpuUsage()
await Promise.all(phones.map(phone => syncPhone(phone, released)))
if (libraryLogs > 0) {
  console.error(`clients ${first}..${first + count - 1}: automerge-repo logged ${libraryLogs} messages; the first: ${firstLibraryLog}`)
}
const cpu = process.cpuUsage(cpuAtGo)
say(`finished ${JSON.stringify({ cpu_ms: (cpu.user + cpu.system) / 1000 })}`)
process.exit(0)
