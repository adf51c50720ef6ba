// Document IDs shared by the server and the clients.
import { interpretAsDocumentId } from "@automerge/automerge-repo"

/** The automerge-repo document ID for a Doorstep document ID (a UUID): the same 16 bytes. */
export function documentId(uuid) {
  return interpretAsDocumentId(Uint8Array.from(Buffer.from(uuid.replaceAll("-", ""), "hex")))
}
