// The replica's 32-byte key in the iOS Keychain: a generic-password item readable after the
// phone's first unlock (so background sync works while the phone is locked), on this device only
// (never in backups, never synced to iCloud, not restored to another phone).

import Foundation
import Security

/// Gives the replica's key from the Keychain, making a random one the first time. Every failure
/// is `KeyProviderError.Unavailable` with the Keychain's status, which `DoorstepReplica.open`
/// throws as `DoorstepError.Locked`.
public final class KeychainKeyProvider: ReplicaKeyProvider, Sendable {
    private let service: String
    private let account: String

    /// `service`/`account` name the Keychain item; the defaults suit one replica per app.
    public init(service: String = "app.doorstep.replica", account: String = "replica-key") {
        self.service = service
        self.account = account
    }

    public func replicaKey() throws -> Data {
        if let existing = try read() {
            return existing
        }
        var key = Data(count: 32)
        let status = key.withUnsafeMutableBytes { SecRandomCopyBytes(kSecRandomDefault, 32, $0.baseAddress!) }
        guard status == errSecSuccess else {
            throw KeyProviderError.Unavailable(reason: "SecRandomCopyBytes failed: \(status)")
        }
        let add: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: account,
            kSecAttrAccessible as String: kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly,
            kSecValueData as String: key,
        ]
        let added = SecItemAdd(add as CFDictionary, nil)
        switch added {
        case errSecSuccess:
            return key
        case errSecDuplicateItem:
            // Another thread made the key first: use that one, never two keys for one file.
            if let existing = try read() {
                return existing
            }
            throw KeyProviderError.Unavailable(reason: "the Keychain reported a key it then did not give")
        default:
            throw KeyProviderError.Unavailable(reason: "Keychain SecItemAdd failed: \(added)")
        }
    }

    private func read() throws -> Data? {
        let query: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: account,
            kSecReturnData as String: true,
            kSecMatchLimit as String: kSecMatchLimitOne,
        ]
        var item: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &item)
        switch status {
        case errSecSuccess:
            guard let data = item as? Data, data.count == 32 else {
                throw KeyProviderError.Unavailable(reason: "the Keychain item is not a 32-byte key")
            }
            return data
        case errSecItemNotFound:
            return nil
        case errSecInteractionNotAllowed:
            throw KeyProviderError.Unavailable(
                reason: "the Keychain is locked until the phone is unlocked once after a restart (errSecInteractionNotAllowed)")
        default:
            throw KeyProviderError.Unavailable(reason: "Keychain SecItemCopyMatching failed: \(status)")
        }
    }
}
