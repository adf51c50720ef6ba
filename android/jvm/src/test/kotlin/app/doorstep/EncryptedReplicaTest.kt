package app.doorstep

import app.doorstep.ffi.Category
import app.doorstep.ffi.DoorstepException
import app.doorstep.ffi.KeyProviderException
import app.doorstep.ffi.ReplicaKeyProvider
import java.nio.file.Path
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.Timeout
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir

/**
 * A lost or revoked phone gives nothing away, seen from Kotlin against the real relay: a replica
 * opened with a host key provider (on Android `KeystoreKeyProvider`; here [InMemoryKeyStore], the
 * same contract without the Keystore; the API has no way to open a replica without one) keeps no resident's name, number or request in plain text
 * in its files, opens with that key only, and is wiped and told why when the relay revokes it.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(180)
class EncryptedReplicaTest {
    private lateinit var dir: Path
    private lateinit var relay: RelayProcess
    private lateinit var compound: String

    /** A key store that gives [key] whatever the file was sealed with. */
    private class FixedKey(private val key: ByteArray) : ReplicaKeyProvider {
        override fun replicaKey(): ByteArray = key
    }

    /** A key store that refuses, as the Keystore does for a key invalidated by a new lock screen. */
    private class RefusingKeyStore(private val why: String) : ReplicaKeyProvider {
        override fun replicaKey(): ByteArray = throw KeyProviderException.Unavailable(why)
    }

    @BeforeAll
    fun startRelay(@TempDir dir: Path) {
        this.dir = dir
        relay = RelayProcess(dir)
        compound = relay.admin("create-compound", "--name", COMPOUND)
        relay.admin("import-roster", "--compound", compound, RelayProcess.writeRoster(dir).toString())
        relay.start()
    }

    @AfterAll
    fun stopRelay() {
        if (::relay.isInitialized) relay.close()
    }

    private fun invite(role: String) = relay.admin("invite", "--compound", compound, "--role", role)

    private suspend fun open(db: Path, keys: ReplicaKeyProvider) =
        DoorstepReplica.open(db.toString(), relay.url, keys)

    /** Joins [phone] as a volunteer, syncs the roster down and takes down a request at 1-1-301. */
    private suspend fun fieldWork(phone: DoorstepReplica): String {
        val joined = phone.join(invite("volunteer"), "志愿者的手机")
        phone.sync()
        val household = phone.findHousehold(compound, "1-1-301")
        assertEquals("王建国", household.head, "the phone holds the roster")
        phone.addRequest(compound, household.id, Category.MEDICINE, REQUEST)
        phone.sync()
        return joined.person
    }

    @Test
    fun `an encrypted phone keeps the roster unreadable and opens with its key only`() = runBlocking {
        val keys = InMemoryKeyStore()
        val sealedDb = dir.resolve("sealed-volunteer.sqlite")
        open(sealedDb, keys).use { fieldWork(it) }
        assertEquals(1, keys.asked, "the key is asked for once, when the replica opens")

        // The relay's own database holds the same data in the clear: the search finds what is there.
        assertTrue(
            ReplicaFiles.textsIn(relay.db, SECRETS).containsAll(NAMES + REQUEST),
            "the relay's file holds the names and the request",
        )
        assertEquals(emptySet<String>(), ReplicaFiles.textsIn(sealedDb, SECRETS), "plain text in an encrypted replica")

        val other = assertThrows<DoorstepException.Locked> {
            runBlocking { open(sealedDb, FixedKey(ByteArray(32) { 7 })) }
        }
        assertTrue(other.reason.contains("密钥不对") && other.reason.contains("another key"), other.reason)
        val short = assertThrows<DoorstepException.Locked> { runBlocking { open(sealedDb, FixedKey(ByteArray(16))) } }
        assertTrue(short.reason.contains("32 bytes"), short.reason)
        val refused = assertThrows<DoorstepException.Locked> {
            runBlocking { open(sealedDb, RefusingKeyStore("Key user not authenticated")) }
        }
        assertTrue(refused.reason.contains("Key user not authenticated"), refused.reason)

        // None of the refused opens touched the file: its own key still opens it, data intact.
        open(sealedDb, keys).use { phone ->
            assertEquals("王建国", phone.findHousehold(compound, "1-1-301").head)
            assertEquals(0u, phone.syncState().unsyncedChanges)
        }
    }

    @Test
    fun `a revoked phone is wiped at its next sync and told so plainly`() = runBlocking {
        val keys = InMemoryKeyStore()
        val sealedDb = dir.resolve("lost-sealed.sqlite")
        open(sealedDb, keys).use { phone ->
            val person = fieldWork(phone)

            // The phone is reported lost: a coordinator revokes its device token. (The wipe of a
            // plain file, where the bytes would show, is `tests/e2e/wipe.rs`.)
            relay.admin("revoke", "--person", person)
            val removed = assertThrows<DoorstepException.Removed> { runBlocking { phone.sync() } }
            assertEquals(listOf(COMPOUND), removed.compounds)
            assertTrue(
                removed.reason.contains("你已被移出 $COMPOUND") && removed.reason.contains("removed from $COMPOUND"),
                removed.reason,
            )
            assertTrue(!removed.reason.contains("not joined"), removed.reason)
            assertEquals(listOf(COMPOUND), phone.removedFrom())
            assertTrue(phone.compounds().isEmpty(), "every compound is wiped")
            assertNull(phone.person(), "the person is forgotten")
            assertThrows<DoorstepException.InvalidInput> {
                runBlocking { phone.findHousehold(compound, "1-1-301") }
            }
        }
        assertEquals(emptySet<String>(), ReplicaFiles.textsIn(sealedDb, SECRETS))

        // Offline, after a restart, the phone still knows why it holds nothing.
        open(sealedDb, keys).use { phone ->
            assertEquals(listOf(COMPOUND), phone.removedFrom())
            assertTrue(phone.compounds().isEmpty())
        }
    }

    private companion object {
        const val COMPOUND = "幸福里"
        const val REQUEST = "硝苯地平 每日两次 请送到门口"
        val NAMES = listOf("王建国", "李秀英", "张伟", "赵敏")
        val NUMBERS = listOf("13800000001", "13800000002", "13800000003", "13800000004")
        val SECRETS = NAMES + NUMBERS + REQUEST
    }
}
