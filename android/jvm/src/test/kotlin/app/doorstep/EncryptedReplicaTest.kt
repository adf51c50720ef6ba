package app.doorstep

import app.doorstep.ffi.DoorstepException
import app.doorstep.ffi.KeyProviderException
import app.doorstep.ffi.ReplicaKeyProvider
import java.nio.file.Files
import java.nio.file.Path
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir

/**
 * A replica encrypted at rest with the key the host's [ReplicaKeyProvider] gives (on Android,
 * `KeystoreKeyProvider`): it opens with that key only, and a key store that fails says why.
 */
class EncryptedReplicaTest {
    @TempDir
    lateinit var dir: Path

    /** A key store holding one fixed key, as the Keystore provider would on one device. */
    private class FixedKey(private val key: ByteArray) : ReplicaKeyProvider {
        override fun replicaKey(): ByteArray = key
    }

    private val relay = "http://127.0.0.1:9"

    @Test
    fun `the host's key opens the replica and no other does`() = runBlocking {
        val path = dir.resolve("phone.sqlite").toString()
        DoorstepReplica.open(path, relay, keyProvider = FixedKey(ByteArray(32) { 7 })).use { assertNull(it.person()) }
        DoorstepReplica.open(path, relay, keyProvider = FixedKey(ByteArray(32) { 7 })).use {
            assertEquals(emptyList<String>(), it.removedFrom())
        }
        val bytes = Files.readAllBytes(dir.resolve("phone.sqlite"))
        assertFalse(String(bytes, Charsets.ISO_8859_1).contains("doorstep replica key"), "the key check is sealed")

        val wrong = assertThrows<DoorstepException.Locked> {
            runBlocking { DoorstepReplica.open(path, relay, keyProvider = FixedKey(ByteArray(32) { 8 })) }
        }
        assertTrue(wrong.reason.contains("another key"), wrong.reason)
        assertThrows<DoorstepException.Locked> { runBlocking { DoorstepReplica.open(path, relay) } }

        val failing = object : ReplicaKeyProvider {
            override fun replicaKey(): ByteArray = throw KeyProviderException.Unavailable("user not authenticated")
        }
        val refused = assertThrows<DoorstepException.Locked> {
            runBlocking { DoorstepReplica.open(path, relay, keyProvider = failing) }
        }
        assertTrue(refused.reason.contains("user not authenticated"), refused.reason)
    }
}
