// The Swift API against the real library, with no relay (iOS tests cannot start one): the same
// checks as android/jvm's ReplicaOfflineTest. Run with `swift test` on a Mac (macOS slice) or
// with Xcode on a simulator, after ./build-xcframework.sh.

import Doorstep
import Foundation
import XCTest

final class DoorstepReplicaTests: XCTestCase {
    private var dir: URL!
    /// Nothing listens on the discard port: connections are refused at once.
    private let noRelay = "http://127.0.0.1:9"
    /// Every replica is opened with a key; this one gives the same fixed key every time.
    private let keys = FixedKeys()

    final class FixedKeys: ReplicaKeyProvider {
        func replicaKey() throws -> Data { Data(repeating: 7, count: 32) }
    }

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    private func openReplica() async throws -> DoorstepReplica {
        try await DoorstepReplica.open(databasePath: dir.appendingPathComponent("phone.sqlite").path, relayURL: noRelay, keyProvider: keys)
    }

    func testANewReplicaIsEmptyAndNotSignedIn() async throws {
        let replica = try await openReplica()
        let person = await replica.person()
        XCTAssertNil(person)
        let compounds = await replica.compounds()
        XCTAssertTrue(compounds.isEmpty)
        let state = await replica.syncState()
        XCTAssertEqual(state.unsyncedChanges, 0)
        XCTAssertNil(state.lastSync)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("phone.sqlite").path))
    }

    func testBadArgumentsThrowInvalidInput() async throws {
        do {
            _ = try await DoorstepReplica.open(databasePath: dir.appendingPathComponent("x.sqlite").path, relayURL: "ftp://relay", keyProvider: keys)
            XCTFail("an ftp:// relay URL was accepted")
        } catch DoorstepError.InvalidInput(let reason) {
            XCTAssertTrue(reason.contains("http://"), reason)
        }

        let replica = try await openReplica()
        do {
            _ = try await replica.households(in: "not-a-uuid")
            XCTFail("a malformed compound ID was accepted")
        } catch DoorstepError.InvalidInput(let reason) {
            XCTAssertTrue(reason.contains("not-a-uuid"), reason)
        }
    }

    func testADeviceThatHasNotJoinedIsUnauthorized() async throws {
        let replica = try await openReplica()
        do {
            _ = try await replica.myDoors(in: UUID().uuidString.lowercased())
            XCTFail("an unjoined device listed its doors")
        } catch DoorstepError.Unauthorized(let reason) {
            XCTAssertTrue(reason.contains("join"), reason)
        }
    }

    func testSyncWithoutARelayThrowsNetworkAndReportsStartedThenFailed() async throws {
        let replica = try await openReplica()
        var statuses = replica.syncStatus.makeAsyncIterator()
        do {
            _ = try await replica.sync()
            XCTFail("sync succeeded with no relay")
        } catch DoorstepError.Network(let reason, let retryAfterSecs) {
            XCTAssertFalse(reason.isEmpty)
            XCTAssertNil(retryAfterSecs)
        }
        let first = await statuses.next()
        XCTAssertEqual(first, .started)
        guard case .failed(let message)? = await statuses.next() else {
            return XCTFail("expected a failed status")
        }
        XCTAssertTrue(message.contains("reach the relay"), message)
    }

    func testTheLibrarysLogLinesReachTheHost() async throws {
        let lines = LockedLines()
        try DoorstepLog.install(level: .debug) { lines.append($0) }
        defer { try? DoorstepLog.uninstall() }
        let replica = try await openReplica()
        _ = try? await replica.sync()
        XCTAssertTrue(lines.all.contains { $0.target.hasPrefix("doorstep") && $0.message.contains("reach the relay") })
    }
}

/// Log lines collected from the library's threads.
private final class LockedLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [LogRecord] = []

    func append(_ line: LogRecord) {
        lock.lock()
        defer { lock.unlock() }
        lines.append(line)
    }

    var all: [LogRecord] {
        lock.lock()
        defer { lock.unlock() }
        return lines
    }
}
