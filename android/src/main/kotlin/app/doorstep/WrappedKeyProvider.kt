package app.doorstep

import app.doorstep.ffi.KeyProviderException
import app.doorstep.ffi.ReplicaKeyProvider
import java.io.File
import java.io.FileOutputStream
import java.security.GeneralSecurityException
import java.security.SecureRandom
import javax.crypto.AEADBadTagException
import javax.crypto.Cipher
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * Where the key that wraps the replica's key lives. On Android it is a key inside the Android
 * Keystore that never leaves it ([KeystoreKeyProvider]); in the JVM tests a software AES key.
 */
interface WrappingKeys {
    /** The wrapping key, or `null` if the key store has none (first start, or it was reset). */
    fun existing(): SecretKey?

    /** Makes the wrapping key (AES-256, GCM, no padding, random IVs chosen by the key store). */
    fun create(): SecretKey
}

/**
 * The replica's 32-byte key, kept in [file] encrypted (AES-256-GCM) by a wrapping key the
 * platform's key store holds, so that the file alone opens nothing: copying the app's files off
 * a phone gives neither the replica key nor the compound's data.
 *
 * The first call makes a random replica key, wraps it and writes
 * `1 (format) ‖ 12-byte IV ‖ ciphertext ‖ 16-byte tag` to [file] (written beside it, synced,
 * then renamed, so a crash never leaves half a key); every later call unwraps the same bytes.
 * Every failure is a [KeyProviderException.Unavailable] that says what to do, which the bindings
 * turn into `DoorstepException.Locked`.
 */
open class WrappedKeyProvider(
    private val file: File,
    private val keys: WrappingKeys,
    private val random: SecureRandom = SecureRandom(),
) : ReplicaKeyProvider {

    override fun replicaKey(): ByteArray = synchronized(LOCK) {
        try {
            if (file.exists()) unwrap(file.readBytes()) else createAndStore()
        } catch (e: KeyProviderException) {
            throw e
        } catch (e: AEADBadTagException) {
            throw KeyProviderException.Unavailable(
                "${file.path} does not unwrap with the key store's key (damaged, or copied from another " +
                    "install); the local data cannot be opened: clear the app's data and join again",
            )
        } catch (e: GeneralSecurityException) {
            throw KeyProviderException.Unavailable("key store: ${e.javaClass.simpleName}: ${e.message}")
        } catch (e: java.io.IOException) {
            throw KeyProviderException.Unavailable("cannot read or write ${file.path}: ${e.message}")
        }
    }

    private fun unwrap(wrapped: ByteArray): ByteArray {
        if (wrapped.size != WRAPPED_BYTES || wrapped[0] != FORMAT) {
            throw KeyProviderException.Unavailable(
                "${file.path} is damaged (${wrapped.size} bytes, expected $WRAPPED_BYTES); the local data " +
                    "cannot be opened: clear the app's data and join again",
            )
        }
        val key = keys.existing() ?: throw KeyProviderException.Unavailable(
            "the key that unwraps ${file.path} is gone from the key store (the app's data was moved to " +
                "another phone, or the key store was reset); the local data cannot be opened: clear the " +
                "app's data and join again",
        )
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.DECRYPT_MODE, key, GCMParameterSpec(TAG_BITS, wrapped, 1, IV_BYTES))
        cipher.updateAAD(AAD)
        return cipher.doFinal(wrapped, 1 + IV_BYTES, wrapped.size - 1 - IV_BYTES)
    }

    private fun createAndStore(): ByteArray {
        val replicaKey = ByteArray(KEY_BYTES).also { random.nextBytes(it) }
        val cipher = Cipher.getInstance(TRANSFORMATION)
        // The key store picks the IV (the Android Keystore insists on it).
        cipher.init(Cipher.ENCRYPT_MODE, keys.existing() ?: keys.create())
        cipher.updateAAD(AAD)
        val iv = cipher.iv
        check(iv.size == IV_BYTES) { "the key store chose a ${iv.size}-byte IV" }
        val wrapped = byteArrayOf(FORMAT) + iv + cipher.doFinal(replicaKey)
        file.parentFile?.mkdirs()
        val partial = File(file.path + ".partial")
        FileOutputStream(partial).use { out ->
            out.write(wrapped)
            out.fd.sync()
        }
        if (!partial.renameTo(file)) {
            throw KeyProviderException.Unavailable("cannot move ${partial.path} to ${file.path}")
        }
        return replicaKey
    }

    private companion object {
        /** One replica key is made at a time in this process, even by two providers. */
        val LOCK = Any()
        const val FORMAT: Byte = 1
        const val TRANSFORMATION = "AES/GCM/NoPadding"
        const val KEY_BYTES = 32
        const val IV_BYTES = 12
        const val TAG_BITS = 128
        const val WRAPPED_BYTES = 1 + IV_BYTES + KEY_BYTES + TAG_BITS / 8
        val AAD = "doorstep replica key".toByteArray()
    }
}
