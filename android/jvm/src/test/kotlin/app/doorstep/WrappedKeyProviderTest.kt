package app.doorstep

import app.doorstep.ffi.DoorstepException
import app.doorstep.ffi.KeyProviderException
import java.nio.file.Files
import java.nio.file.Path
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir

/**
 * [WrappedKeyProvider], all of `KeystoreKeyProvider` but the Android Keystore itself, with a
 * software AES key standing in for the Keystore's: the replica key is made once, kept only
 * wrapped, given back the same after a restart, and every way it can fail says what to do and
 * reaches the app as `DoorstepException.Locked`.
 */
class WrappedKeyProviderTest {
    @TempDir
    lateinit var dir: Path

    /** A key store holding at most one AES-256 key, as the Android Keystore does per alias. */
    private class SoftwareKeys : WrappingKeys {
        var key: SecretKey? = null
        var created = 0

        override fun existing(): SecretKey? = key

        override fun create(): SecretKey {
            created += 1
            return KeyGenerator.getInstance("AES").apply { init(256) }.generateKey().also { key = it }
        }
    }

    private fun wrappedFile() = dir.resolve("no-backup/doorstep-replica.key.wrapped").toFile()

    @Test
    fun `the replica key is made once, kept wrapped and given back after a restart`() {
        val keys = SoftwareKeys()
        val first = WrappedKeyProvider(wrappedFile(), keys).replicaKey()
        assertEquals(32, first.size)
        assertEquals(1, keys.created)
        val stored = wrappedFile().readBytes()
        assertEquals(1 + 12 + 32 + 16, stored.size, "format, IV, the wrapped key, its tag")
        assertFalse(stored.toList().windowed(8).contains(first.copyOfRange(0, 8).toList()), "the key is not in the file")
        assertFalse(Files.exists(Path.of(wrappedFile().path + ".partial")))

        // A new provider over the same file and key store: the app after a restart.
        val again = WrappedKeyProvider(wrappedFile(), keys).replicaKey()
        assertArrayEquals(first, again)
        assertEquals(1, keys.created, "no second wrapping key")
    }

    @Test
    fun `a lost, replaced or damaged key says what to do`() {
        val keys = SoftwareKeys()
        WrappedKeyProvider(wrappedFile(), keys).replicaKey()
        val saved = wrappedFile().readBytes()

        val gone = assertThrows<KeyProviderException.Unavailable> {
            WrappedKeyProvider(wrappedFile(), SoftwareKeys()).replicaKey()
        }
        assertTrue(gone.reason.contains("gone from the key store") && gone.reason.contains("join again"), gone.reason)

        val other = SoftwareKeys().also { it.create() }
        val replaced = assertThrows<KeyProviderException.Unavailable> { WrappedKeyProvider(wrappedFile(), other).replicaKey() }
        assertTrue(replaced.reason.contains("does not unwrap"), replaced.reason)

        wrappedFile().writeBytes(saved.copyOf(20))
        val short = assertThrows<KeyProviderException.Unavailable> { WrappedKeyProvider(wrappedFile(), keys).replicaKey() }
        assertTrue(short.reason.contains("damaged"), short.reason)

        saved[20] = (saved[20].toInt() xor 1).toByte()
        wrappedFile().writeBytes(saved)
        val flipped = assertThrows<KeyProviderException.Unavailable> { WrappedKeyProvider(wrappedFile(), keys).replicaKey() }
        assertTrue(flipped.reason.contains("does not unwrap"), flipped.reason)
    }

    @Test
    fun `it opens an encrypted replica through the bindings, and its failures are Locked`() = runBlocking {
        val keys = SoftwareKeys()
        val db = dir.resolve("phone.sqlite").toString()
        val relay = "http://127.0.0.1:9"
        DoorstepReplica.open(db, relay, keyProvider = WrappedKeyProvider(wrappedFile(), keys)).use { assertNull(it.person()) }
        DoorstepReplica.open(db, relay, keyProvider = WrappedKeyProvider(wrappedFile(), keys)).use {
            assertEquals(emptyList<String>(), it.removedFrom())
        }

        val locked = assertThrows<DoorstepException.Locked> {
            runBlocking { DoorstepReplica.open(db, relay, keyProvider = WrappedKeyProvider(wrappedFile(), SoftwareKeys())) }
        }
        assertTrue(locked.reason.contains("gone from the key store"), locked.reason)
    }
}
