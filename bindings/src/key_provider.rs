//! The key that encrypts the replica's file at rest, supplied by the host: the app implements
//! [`ReplicaKeyProvider`] (a uniffi foreign trait) over the platform's key store and passes it to
//! `Replica.open`, the only way to open a replica. On Android the 32-byte key is kept wrapped by an AES key in the
//! Android Keystore (`android/src/keystore/kotlin/.../KeystoreKeyProvider.kt`); on iOS it is a
//! Keychain item available after first unlock, this device only (`ios/Sources/Doorstep/
//! KeychainKeyProvider.swift`). The library asks for the key once, when the replica opens, and
//! keeps it only in memory.

/// Implemented by the host: gives the replica's key.
#[uniffi::export(foreign)]
pub trait ReplicaKeyProvider: Send + Sync {
    /// The 32-byte key of this device's replica: the same bytes every time (a new random key the
    /// first time, kept by the platform's key store).
    fn replica_key(&self) -> Result<Vec<u8>, KeyProviderError>;
}

/// Why the host could not give the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum KeyProviderError {
    /// The platform's key store refused or failed (locked device, key invalidated).
    #[error("the platform's key store cannot give the replica key: {reason}")]
    Unavailable {
        /// What the platform said.
        reason: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for KeyProviderError {
    fn from(error: uniffi::UnexpectedUniFFICallbackError) -> Self {
        KeyProviderError::Unavailable { reason: error.reason }
    }
}
