// automerge-repo's sync server, as its own README sets one up: a Repo with NodeFS storage behind a
// WebSocket server, sharing nothing unasked (sharePolicy false). doorstep-bench starts it on
// 127.0.0.1 port 0 and preloads the documents Doorstep's relay holds (the same Automerge bytes,
// under document IDs derived from Doorstep's), so both servers start the burst warm.
//
//   node server.mjs --workload DIR/workload.json --store DIR/server-store
// prints "ready PORT" once the documents are stored.
import { readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { parseArgs } from "node:util"
import { WebSocketServer } from "ws"
import { Repo } from "@automerge/automerge-repo"
import { NodeWSServerAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"
import { documentId } from "./ids.mjs"

const { values: args } = parseArgs({
  options: { workload: { type: "string" }, store: { type: "string" } },
})
const workload = JSON.parse(readFileSync(args.workload, "utf8"))
const folder = dirname(args.workload)

const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 })
await new Promise(resolve => wss.once("listening", resolve))
const repo = new Repo({
  network: [new NodeWSServerAdapter(wss)],
  storage: new NodeFSStorageAdapter(args.store),
  peerId: "automerge-repo-sync-server",
  sharePolicy: async () => false,
})
for (const doc of workload.documents) {
  const handle = repo.import(readFileSync(join(folder, doc.file)), { docId: documentId(doc.id) })
  await handle.whenReady()
}
await repo.flush()
console.log(`ready ${wss.address().port}`)

process.on("SIGTERM", () => process.exit(0))
