package app.doorstep

import app.doorstep.ffi.DoorstepException
import app.doorstep.ffi.LogLevel
import app.doorstep.ffi.LogRecord
import app.doorstep.ffi.SyncStatus
import java.net.ServerSocket
import java.nio.file.Files
import java.nio.file.Path
import java.util.UUID
import java.util.concurrent.CopyOnWriteArrayList
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir

/** The Kotlin API against the real native library, with no relay: what a phone does in a stairwell. */
class ReplicaOfflineTest {
    @TempDir
    lateinit var dir: Path
    private val keys = InMemoryKeyStore()

    /** A loopback port with nothing listening: connections are refused at once. */
    private fun closedPort(): Int = ServerSocket(0).use { it.localPort }

    private suspend fun openReplica(relay: String = "http://127.0.0.1:${closedPort()}") =
        DoorstepReplica.open(dir.resolve("phone.sqlite").toString(), relay, keys)

    @Test
    fun `a new replica is empty, not signed in, with nothing to sync`() = runBlocking {
        openReplica().use { replica ->
            assertNull(replica.person())
            assertEquals(emptyList<Any>(), replica.compounds())
            val state = replica.syncState()
            assertEquals(0u, state.unsyncedChanges)
            assertNull(state.lastSync)
            assertEquals(emptyList<Any>(), replica.quarantine())
        }
        assertTrue(Files.size(dir.resolve("phone.sqlite")) > 0, "the database file was created")
    }

    @Test
    fun `bad arguments throw InvalidInput naming what is wrong`() = runBlocking {
        val badUrl = assertThrows<DoorstepException.InvalidInput> {
            runBlocking { DoorstepReplica.open(dir.resolve("x.sqlite").toString(), "ftp://relay", keys) }
        }
        assertTrue(badUrl.reason.contains("http://"), badUrl.reason)

        openReplica().use { replica ->
            val badId = assertThrows<DoorstepException.InvalidInput> { runBlocking { replica.households("not-a-uuid") } }
            assertTrue(badId.reason.contains("not-a-uuid"), badId.reason)

            val unknown = UUID.randomUUID().toString()
            val notHeld = assertThrows<DoorstepException.InvalidInput> { runBlocking { replica.households(unknown) } }
            assertTrue(notHeld.reason.contains(unknown), notHeld.reason)
        }
    }

    @Test
    fun `a device that has not joined is Unauthorized for its own doors`() = runBlocking {
        openReplica().use { replica ->
            val e = assertThrows<DoorstepException.Unauthorized> {
                runBlocking { replica.myDoors(UUID.randomUUID().toString()) }
            }
            assertTrue(e.reason.contains("join"), e.reason)
        }
    }

    @Test
    fun `sync with no relay throws Network and reports Started then Failed`() = runBlocking {
        openReplica().use { replica ->
            // Unconfined: the listener is registered before `async` returns.
            val statuses = async(Dispatchers.Unconfined) { replica.syncStatus.take(2).toList() }
            val e = assertThrows<DoorstepException.Network> { runBlocking { replica.sync() } }
            assertNull(e.retryAfterSecs)
            val seen = withTimeout(10_000) { statuses.await() }
            assertEquals(SyncStatus.Started, seen[0])
            val failed = seen[1] as SyncStatus.Failed
            assertTrue(failed.message.contains("reach the relay"), failed.message)
        }
    }

    @Test
    fun `the library's log lines reach the host logger`() = runBlocking {
        val lines = CopyOnWriteArrayList<LogRecord>()
        DoorstepLog.install(LogLevel.DEBUG) { lines.add(it) }
        try {
            openReplica().use { replica ->
                assertThrows<DoorstepException.Network> { runBlocking { replica.sync() } }
            }
        } finally {
            DoorstepLog.uninstall()
        }
        val ours = lines.filter { it.target.startsWith("doorstep") }
        assertTrue(ours.any { it.level == LogLevel.DEBUG && it.message.contains("reach the relay") }, "$ours")
    }
}
