package app.doorstep

import app.doorstep.ffi.ReplicaKeyProvider
import java.security.SecureRandom

/**
 * A platform key store in memory, for the tests: a random 32-byte key the first time it is asked,
 * the same bytes every time after, as `KeystoreKeyProvider` gives on one device. It counts the
 * asks. Every replica is opened with a key provider; there is no unencrypted replica to open.
 */
class InMemoryKeyStore : ReplicaKeyProvider {
    private var key: ByteArray? = null
    var asked = 0
        private set

    @Synchronized
    override fun replicaKey(): ByteArray {
        asked += 1
        val kept = key ?: ByteArray(32).also { SecureRandom().nextBytes(it) }.also { key = it }
        return kept.copyOf()
    }
}
