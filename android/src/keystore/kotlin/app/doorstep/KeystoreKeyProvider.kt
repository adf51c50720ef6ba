package app.doorstep

import android.content.Context
import android.os.Build
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import android.security.keystore.StrongBoxUnavailableException
import java.io.File
import java.security.KeyStore
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey

/**
 * The replica's key on Android: a random 32-byte key kept in the app's no-backup files, wrapped
 * (AES-256-GCM) by a key that never leaves the Android Keystore — in StrongBox where the phone
 * has one, else the TEE. Pass it to `DoorstepReplica.open(..., keyProvider = KeystoreKeyProvider(context))`.
 *
 * The wrapped key is in `noBackupFilesDir`, so it is in no cloud or adb backup, and the Keystore
 * key cannot be exported, so a copy of the app's files opens nothing. The Keystore key does not
 * need the user to authenticate: background sync must work while the phone is locked.
 * Uninstalling the app, or clearing its data, deletes both.
 *
 * Everything but the Keystore itself is [WrappedKeyProvider], which the JVM tests run with a
 * software key; this file is in `src/keystore/kotlin`, which only the Gradle module compiles.
 */
class KeystoreKeyProvider(
    context: Context,
    alias: String = "doorstep-replica-key-wrap",
    wrappedKeyFile: File = File(context.noBackupFilesDir, "doorstep-replica.key.wrapped"),
) : WrappedKeyProvider(wrappedKeyFile, AndroidKeystoreKeys(alias))

/** The wrapping key, an AES-256-GCM key inside the Android Keystore under [alias]. */
private class AndroidKeystoreKeys(private val alias: String) : WrappingKeys {
    override fun existing(): SecretKey? {
        val store = KeyStore.getInstance(ANDROID_KEYSTORE).apply { load(null) }
        return store.getKey(alias, null) as? SecretKey
    }

    override fun create(): SecretKey {
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.P) {
            try {
                return generate(strongBox = true)
            } catch (e: StrongBoxUnavailableException) {
                // No secure element on this phone: the TEE-backed Keystore below.
            }
        }
        return generate(strongBox = false)
    }

    private fun generate(strongBox: Boolean): SecretKey {
        val spec = KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
            .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
            .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
            .setKeySize(256)
        if (strongBox && Build.VERSION.SDK_INT >= Build.VERSION_CODES.P) spec.setIsStrongBoxBacked(true)
        val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, ANDROID_KEYSTORE)
        generator.init(spec.build())
        return generator.generateKey()
    }

    private companion object {
        const val ANDROID_KEYSTORE = "AndroidKeyStore"
    }
}
