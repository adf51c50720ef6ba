package app.doorstep

import android.content.Context
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import app.doorstep.ffi.KeyProviderException
import app.doorstep.ffi.ReplicaKeyProvider
import java.io.File
import java.security.KeyStore
import java.security.SecureRandom
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * The replica's 32-byte key, kept wrapped by an AES-256-GCM key that never leaves the Android
 * Keystore (hardware-backed where the phone has it).
 *
 * The first call makes a random replica key, encrypts it with the Keystore key and writes
 * `iv ‖ ciphertext` to [wrappedKeyFile] (in the app's private files); later calls unwrap it.
 * Uninstalling the app deletes the Keystore key, and with it every way to read the replica.
 *
 * This file is in `src/keystore/kotlin`, which only the Gradle module compiles (the JVM tests
 * cannot load Android's Keystore).
 */
class KeystoreKeyProvider(
    context: Context,
    private val alias: String = "doorstep-replica-key-wrap",
    private val wrappedKeyFile: File = File(context.noBackupFilesDir, "doorstep-replica.key.wrapped"),
) : ReplicaKeyProvider {

    override fun replicaKey(): ByteArray = try {
        if (wrappedKeyFile.exists()) unwrap(wrappedKeyFile.readBytes()) else createAndStore()
    } catch (e: KeyProviderException) {
        throw e
    } catch (e: Exception) {
        throw KeyProviderException.Unavailable("Android Keystore: ${e.javaClass.simpleName}: ${e.message}")
    }

    private fun wrappingKey(): SecretKey {
        val store = KeyStore.getInstance(ANDROID_KEYSTORE).apply { load(null) }
        (store.getKey(alias, null) as? SecretKey)?.let { return it }
        val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, ANDROID_KEYSTORE)
        generator.init(
            KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
                .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                .setKeySize(256)
                .build(),
        )
        return generator.generateKey()
    }

    private fun createAndStore(): ByteArray {
        val key = ByteArray(KEY_BYTES).also { SecureRandom().nextBytes(it) }
        val cipher = Cipher.getInstance(TRANSFORMATION).apply { init(Cipher.ENCRYPT_MODE, wrappingKey()) }
        val wrapped = cipher.iv + cipher.doFinal(key)
        // Write beside, then rename: a crash never leaves half a key file.
        val partial = File(wrappedKeyFile.path + ".partial")
        partial.writeBytes(wrapped)
        if (!partial.renameTo(wrappedKeyFile)) {
            throw KeyProviderException.Unavailable("cannot write ${wrappedKeyFile.path}")
        }
        return key
    }

    private fun unwrap(wrapped: ByteArray): ByteArray {
        if (wrapped.size <= IV_BYTES) throw KeyProviderException.Unavailable("${wrappedKeyFile.path} is damaged")
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.DECRYPT_MODE, wrappingKey(), GCMParameterSpec(128, wrapped, 0, IV_BYTES))
        return cipher.doFinal(wrapped, IV_BYTES, wrapped.size - IV_BYTES)
    }

    private companion object {
        const val ANDROID_KEYSTORE = "AndroidKeyStore"
        const val TRANSFORMATION = "AES/GCM/NoPadding"
        const val KEY_BYTES = 32
        const val IV_BYTES = 12
    }
}
