// The idiomatic Swift API over the generated bindings (Doorstep.swift, do not edit that file):
// async functions that keep SQLite work off the caller's actor, AsyncStreams of changes and
// sync status, and `DoorstepError` thrown for every failure.

import Foundation

/// A phone's offline replica of its compounds, and the relay it syncs with.
///
/// Every method is `async` and safe to call from the main actor: reads and writes of the local
/// database run on a background task; `join` and `sync` run on the library's own network
/// runtime. Every operation is durable when it returns.
///
/// Failures are thrown as ``DoorstepError``:
/// - `.Network(reason:retryAfterSecs:)`: no signal or relay busy; keep working offline.
/// - `.Unauthorized(reason:)`: token missing or unknown; join again.
/// - `.Removed(compounds:reason:)`: a coordinator removed this phone and its compound data was
///   wiped; show `reason` ("你已被移出 香樟苑 / removed from 香樟苑").
/// - `.Locked(reason:)`: the encrypted database does not open with the key given.
/// - `.Forbidden(rule:reason:)`: the role may not do this; `rule` names the rule.
/// - `.Rejected(reason:)`: the relay refused the request as a whole.
/// - `.Storage(reason:)`: the local database failed.
/// - `.InvalidInput(reason:)`: a bad ID, address or invite code.
/// - `.Internal(reason:)`: a bug; report it.
public final class DoorstepReplica: Sendable {
    private let inner: Replica

    private init(inner: Replica) {
        self.inner = inner
    }

    /// Opens (or creates) the replica in `databasePath` (e.g. in Application Support), encrypted
    /// at rest with the key `keyProvider` gives (``KeychainKeyProvider``), syncing with `relayURL`
    /// using `deviceToken` (from the Keychain) if this device joined before. There is no
    /// unencrypted replica: a plain file from an older app version is encrypted in place the
    /// first time; a key that does not open the file throws `DoorstepError.Locked`.
    ///
    /// `relayCAPEM`: for a relay whose certificate its own CA signed, that CA's certificate
    /// (PEM), trusted besides the system's roots (needs the library built with the `tls`
    /// feature). A relay whose certificate is not trusted throws `DoorstepError.Untrusted`.
    public static func open(
        databasePath: String,
        relayURL: String,
        keyProvider: ReplicaKeyProvider,
        deviceToken: String? = nil,
        relayCAPEM: String? = nil
    ) async throws -> DoorstepReplica {
        try await background {
            DoorstepReplica(inner: try Replica.open(
                databasePath: databasePath, relayUrl: relayURL, deviceToken: deviceToken, keys: keyProvider,
                relayCaPem: relayCAPEM))
        }
    }

    // MARK: Joining and syncing

    /// Redeems an invite code; store the returned token in the Keychain. Sync next.
    public func join(inviteCode: String, deviceName: String) async throws -> Joined {
        try await inner.join(inviteCode: inviteCode, deviceName: deviceName)
    }

    /// Uses a token restored from the Keychain.
    public func setDeviceToken(_ token: String) {
        inner.setDeviceToken(token: token)
    }

    /// Syncs with the relay. Cancelling the calling task stops the sync; what arrived is kept.
    /// Changes the relay refuses are in `SyncReport.rejected` and `quarantine()`, not thrown.
    public func sync() async throws -> SyncReport {
        try await inner.sync()
    }

    /// "N changes not yet synced" and the last sync time.
    public func syncState() async -> SyncState {
        await backgroundNonThrowing { self.inner.syncState() }
    }

    /// Local changes the relay refused, for review and export.
    public func quarantine() async throws -> [QuarantinedChange] {
        try await background { try self.inner.quarantine() }
    }

    /// The compounds a coordinator removed this phone from, by name (cleared by joining again).
    public func removedFrom() async throws -> [String] {
        try await background { try self.inner.removedFrom() }
    }

    /// The person signed in, once joined.
    public func person() async -> PersonId? {
        await backgroundNonThrowing { self.inner.person() }
    }

    /// The compounds on this device, with this device's role in each.
    public func compounds() async -> [CompoundInfo] {
        await backgroundNonThrowing { self.inner.compounds() }
    }

    /// This device's role in `compound`, once a sync granted one.
    public func role(in compound: CompoundId) async -> Role? {
        await backgroundNonThrowing { self.inner.role(compound: compound) }
    }

    // MARK: Change notifications

    /// Documents that changed, by an operation here or by a sync. Each call makes a new stream
    /// with its own listener, unregistered when the stream ends or its task is cancelled.
    public var changes: AsyncStream<DocumentChange> {
        AsyncStream(bufferingPolicy: .unbounded) { continuation in
            let subscription = inner.subscribe(listener: StreamListener(change: { continuation.yield($0) }))
            continuation.onTermination = { _ in subscription.cancel() }
        }
    }

    /// Sync progress: `.started`, then `.finished` or `.failed`.
    public var syncStatus: AsyncStream<SyncStatus> {
        AsyncStream(bufferingPolicy: .unbounded) { continuation in
            let subscription = inner.subscribe(listener: StreamListener(status: { continuation.yield($0) }))
            continuation.onTermination = { _ in subscription.cancel() }
        }
    }

    // MARK: A volunteer's queries and operations

    /// My doors with tasks to do, in climbing order (building → unit → floor → flat).
    public func myDoors(in compound: CompoundId) async throws -> [Door] {
        try await background { try self.inner.myDoors(compound: compound) }
    }

    /// Doors with tasks for `assignee`, or for anyone with `nil`.
    public func doors(in compound: CompoundId, assignee: PersonId? = nil) async throws -> [Door] {
        try await background { try self.inner.doors(compound: compound, assignee: assignee) }
    }

    /// The household at an address as typed: "17号楼3单元702", "17-3-702".
    public func findHousehold(in compound: CompoundId, address: String) async throws -> Household {
        try await background { try self.inner.findHousehold(compound: compound, address: address) }
    }

    public func claimTask(in compound: CompoundId, round: DocumentId, task: TaskId) async throws {
        try await background { try self.inner.claimTask(compound: compound, round: round, task: task) }
    }

    public func releaseTask(in compound: CompoundId, round: DocumentId, task: TaskId) async throws {
        try await background { try self.inner.releaseTask(compound: compound, round: round, task: task) }
    }

    /// Appends an attempt; never overwrites another volunteer's.
    public func recordAttempt(in compound: CompoundId, round: DocumentId, task: TaskId, outcome: Outcome, note: String = "") async throws {
        try await background {
            try self.inner.recordAttempt(compound: compound, round: round, task: task, outcome: outcome, note: note)
        }
    }

    /// Takes down a resident's request at the door; returns its ID.
    public func addRequest(
        in compound: CompoundId,
        household: HouseholdId,
        category: Category,
        text: String,
        urgency: Urgency = .normal,
        channel: Channel = .door
    ) async throws -> RequestId {
        try await background {
            try self.inner.addRequest(
                compound: compound, household: household, channel: channel, category: category, text: text, urgency: urgency
            )
        }
    }

    public func editNotes(in compound: CompoundId, household: HouseholdId, notes: String) async throws {
        try await background { try self.inner.editNotes(compound: compound, household: household, notes: notes) }
    }

    // MARK: A coordinator's queries and operations

    public func households(in compound: CompoundId) async throws -> [Household] {
        try await background { try self.inner.households(compound: compound) }
    }

    public func specialNeeds(in compound: CompoundId) async throws -> [Household] {
        try await background { try self.inner.specialNeeds(compound: compound) }
    }

    public func counts(in compound: CompoundId) async throws -> Counts {
        try await background { try self.inner.counts(compound: compound) }
    }

    public func conflicts(in compound: CompoundId) async throws -> [Conflict] {
        try await background { try self.inner.conflicts(compound: compound) }
    }

    public func rounds(in compound: CompoundId) async throws -> [RoundInfo] {
        try await background { try self.inner.rounds(compound: compound) }
    }

    public func requests(in compound: CompoundId) async throws -> [Request] {
        try await background { try self.inner.requests(compound: compound) }
    }

    /// Tasks with their attempts, of `round` or of every round held.
    public func tasks(in compound: CompoundId, round: DocumentId? = nil) async throws -> [DeliveryTask] {
        try await background { try self.inner.tasks(compound: compound, round: round) }
    }

    /// Plans a round; returns its document ID.
    public func createRound(in compound: CompoundId, plan: RoundPlan) async throws -> DocumentId {
        try await background { try self.inner.createRound(compound: compound, plan: plan) }
    }

    public func addTask(in compound: CompoundId, round: DocumentId, task: NewTask) async throws -> TaskId {
        try await background { try self.inner.addTask(compound: compound, round: round, task: task) }
    }

    public func assignTask(in compound: CompoundId, round: DocumentId, task: TaskId, to volunteer: PersonId) async throws {
        try await background { try self.inner.assignTask(compound: compound, round: round, task: task, volunteer: volunteer) }
    }

    public func assignBuilding(
        in compound: CompoundId, round: DocumentId, building: String, to volunteer: PersonId, estate: String = ""
    ) async throws {
        try await background {
            try self.inner.assignBuilding(compound: compound, round: round, estate: estate, building: building, volunteer: volunteer)
        }
    }

    public func cancelTask(in compound: CompoundId, round: DocumentId, task: TaskId, reason: String) async throws {
        try await background { try self.inner.cancelTask(compound: compound, round: round, task: task, reason: reason) }
    }

    public func closeRound(in compound: CompoundId, round: DocumentId) async throws {
        try await background { try self.inner.closeRound(compound: compound, round: round) }
    }

    public func triageRequest(in compound: CompoundId, request: RequestId, status: RequestStatus, urgency: Urgency? = nil) async throws {
        try await background {
            try self.inner.triageRequest(compound: compound, request: request, status: status, urgency: urgency)
        }
    }

    public func linkRequest(in compound: CompoundId, request: RequestId, round: DocumentId, task: TaskId) async throws {
        try await background { try self.inner.linkRequest(compound: compound, request: request, round: round, task: task) }
    }

    public func setControlStatus(in compound: CompoundId, household: HouseholdId, status: ControlStatus) async throws {
        try await background { try self.inner.setControlStatus(compound: compound, household: household, status: status) }
    }

    public func setNeedTags(in compound: CompoundId, household: HouseholdId, needs: Set<NeedTag>) async throws {
        try await background { try self.inner.setNeedTags(compound: compound, household: household, needs: Array(needs)) }
    }

    /// Any `doorstep_core::Operation` as JSON, for operations without a typed call.
    public func applyOperationJSON(in compound: CompoundId, operation: String) async throws -> Applied {
        try await background { try self.inner.applyOperationJson(compound: compound, operation: operation) }
    }
}

/// Runs blocking library work off the caller's actor.
private func background<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await _Concurrency.Task.detached(priority: .userInitiated) { try work() }.value
}

private func backgroundNonThrowing<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await _Concurrency.Task.detached(priority: .userInitiated) { work() }.value
}

/// Feeds one AsyncStream from the library's listener calls.
private final class StreamListener: ReplicaListener, @unchecked Sendable {
    private let changeHandler: @Sendable (DocumentChange) -> Void
    private let statusHandler: @Sendable (SyncStatus) -> Void

    init(change: @escaping @Sendable (DocumentChange) -> Void = { _ in },
         status: @escaping @Sendable (SyncStatus) -> Void = { _ in }) {
        changeHandler = change
        statusHandler = status
    }

    func onChange(change: DocumentChange) {
        changeHandler(change)
    }

    func onSyncStatus(status: SyncStatus) {
        statusHandler(status)
    }
}
