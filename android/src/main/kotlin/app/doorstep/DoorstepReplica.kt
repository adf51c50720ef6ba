package app.doorstep

import app.doorstep.ffi.Applied
import app.doorstep.ffi.Category
import app.doorstep.ffi.Channel
import app.doorstep.ffi.CompoundId
import app.doorstep.ffi.CompoundInfo
import app.doorstep.ffi.Conflict
import app.doorstep.ffi.ControlStatus
import app.doorstep.ffi.Counts
import app.doorstep.ffi.DocumentChange
import app.doorstep.ffi.DocumentId
import app.doorstep.ffi.Door
import app.doorstep.ffi.DoorstepException
import app.doorstep.ffi.Household
import app.doorstep.ffi.HouseholdId
import app.doorstep.ffi.Joined
import app.doorstep.ffi.NeedTag
import app.doorstep.ffi.NewTask
import app.doorstep.ffi.Outcome
import app.doorstep.ffi.PersonId
import app.doorstep.ffi.QuarantinedChange
import app.doorstep.ffi.Replica
import app.doorstep.ffi.ReplicaKeyProvider
import app.doorstep.ffi.ReplicaListener
import app.doorstep.ffi.Request
import app.doorstep.ffi.RequestId
import app.doorstep.ffi.RequestStatus
import app.doorstep.ffi.Role
import app.doorstep.ffi.RoundInfo
import app.doorstep.ffi.RoundPlan
import app.doorstep.ffi.SyncReport
import app.doorstep.ffi.SyncState
import app.doorstep.ffi.SyncStatus
import app.doorstep.ffi.DeliveryTask
import app.doorstep.ffi.TaskId
import app.doorstep.ffi.Urgency
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.Channel as EventChannel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.withContext

/**
 * A phone's offline replica of its compounds, and the relay it syncs with.
 *
 * Every function is `suspend` and main-safe: reads and writes of the local database run on
 * [io] (by default [Dispatchers.IO]); [join] and [sync] run on the library's own network
 * runtime. Every operation is durable when it returns: killing the app afterwards loses nothing.
 *
 * Failures are thrown as [DoorstepException], a sealed class to `when` over:
 * - [DoorstepException.Network]: no signal or relay busy; keep working offline, sync later.
 * - [DoorstepException.Unauthorized]: token missing or unknown; join again.
 * - [DoorstepException.Removed]: a coordinator removed this phone (membership or device token)
 *   and the compound's data was wiped; show `reason` ("你已被移出 香樟苑 / removed from 香樟苑").
 * - [DoorstepException.Locked]: the encrypted database does not open with the key given.
 * - [DoorstepException.Forbidden]: the role may not do this; `rule` says which rule.
 * - [DoorstepException.Rejected]: the relay refused the request as a whole.
 * - [DoorstepException.Untrusted]: the relay's HTTPS certificate is not trusted (give its CA as `relayCaPem`).
 * - [DoorstepException.Storage]: the local database failed.
 * - [DoorstepException.InvalidInput]: a bad ID, address, or invite code.
 * - [DoorstepException.Internal]: a bug; report it.
 *
 * Open one per database file and keep it for the life of the process; [close] frees it.
 */
class DoorstepReplica private constructor(
    private val inner: Replica,
    private val io: CoroutineDispatcher,
) : AutoCloseable {

    companion object {
        /**
         * Opens (or creates) the replica in [databasePath] (e.g. `context.filesDir/doorstep.sqlite`),
         * encrypted at rest with the key [keyProvider] gives (on Android `KeystoreKeyProvider(context)`),
         * syncing with [relayUrl] using [deviceToken] if this device has joined before. There is no
         * unencrypted replica: a plain file from an older app version is encrypted in place the
         * first time, and a key that does not open the file throws [DoorstepException.Locked].
         *
         * [relayCaPem]: for a relay whose certificate its own CA signed, that CA's certificate (PEM),
         * trusted besides the system's roots (needs the library built with the `tls` feature). A
         * relay whose certificate is not trusted throws [DoorstepException.Untrusted] at sync.
         */
        suspend fun open(
            databasePath: String,
            relayUrl: String,
            keyProvider: ReplicaKeyProvider,
            deviceToken: String? = null,
            relayCaPem: String? = null,
            io: CoroutineDispatcher = Dispatchers.IO,
        ): DoorstepReplica = withContext(io) {
            DoorstepReplica(Replica.open(databasePath, relayUrl, deviceToken, keyProvider, relayCaPem), io)
        }
    }

    private suspend inline fun <T> onIo(crossinline block: () -> T): T = withContext(io) { block() }

    // --- Joining and syncing ---------------------------------------------------------------

    /** Redeems an invite code; store the returned token in secure storage. Sync next. */
    suspend fun join(inviteCode: String, deviceName: String): Joined = inner.join(inviteCode, deviceName)

    /** Uses a token restored from secure storage. */
    suspend fun setDeviceToken(token: String) = onIo { inner.setDeviceToken(token) }

    /**
     * Syncs with the relay. Cancelling the calling coroutine stops the sync; what arrived is kept.
     * Changes the relay refuses are in [SyncReport.rejected] and [quarantine], not thrown.
     */
    suspend fun sync(): SyncReport = inner.sync()

    /** "N changes not yet synced" and the last sync time. */
    suspend fun syncState(): SyncState = onIo { inner.syncState() }

    /** Local changes the relay refused, for review and export. */
    suspend fun quarantine(): List<QuarantinedChange> = onIo { inner.quarantine() }

    /** The compounds a coordinator removed this phone from, by name (cleared by joining again). */
    suspend fun removedFrom(): List<String> = onIo { inner.removedFrom() }

    /** The person signed in, once joined. */
    suspend fun person(): PersonId? = onIo { inner.person() }

    /** The compounds on this device, with this device's role in each. */
    suspend fun compounds(): List<CompoundInfo> = onIo { inner.compounds() }

    /** This device's role in [compound], once a sync granted one. */
    suspend fun role(compound: CompoundId): Role? = onIo { inner.role(compound) }

    // --- Change notifications --------------------------------------------------------------

    /**
     * Documents that changed, by an operation here or by a sync. Cold: each collector registers
     * its own listener and unregisters when it stops collecting. Nothing is dropped.
     */
    val changes: Flow<DocumentChange> = events { emit -> listener(onChange = emit) }

    /** Sync progress: [SyncStatus.Started], then [SyncStatus.Finished] or [SyncStatus.Failed]. */
    val syncStatus: Flow<SyncStatus> = events { emit -> listener(onSyncStatus = emit) }

    private fun <T> events(listenerFor: ((T) -> Unit) -> ReplicaListener): Flow<T> = callbackFlow {
        val subscription = inner.subscribe(listenerFor { trySend(it) })
        awaitClose { subscription.close() }
    }.buffer(EventChannel.UNLIMITED)

    private fun listener(
        onChange: (DocumentChange) -> Unit = {},
        onSyncStatus: (SyncStatus) -> Unit = {},
    ) = object : ReplicaListener {
        override fun onChange(change: DocumentChange) = onChange(change)
        override fun onSyncStatus(status: SyncStatus) = onSyncStatus(status)
    }

    // --- A volunteer's queries and operations ----------------------------------------------

    /** My doors with tasks to do, in climbing order (building → unit → floor → flat). */
    suspend fun myDoors(compound: CompoundId): List<Door> = onIo { inner.myDoors(compound) }

    /** Doors with tasks for [assignee], or for anyone with `null`. */
    suspend fun doors(compound: CompoundId, assignee: PersonId? = null): List<Door> =
        onIo { inner.doors(compound, assignee) }

    /** The household at an address as typed: "17号楼3单元702", "17-3-702". */
    suspend fun findHousehold(compound: CompoundId, address: String): Household =
        onIo { inner.findHousehold(compound, address) }

    suspend fun claimTask(compound: CompoundId, round: DocumentId, task: TaskId) =
        onIo { inner.claimTask(compound, round, task) }

    suspend fun releaseTask(compound: CompoundId, round: DocumentId, task: TaskId) =
        onIo { inner.releaseTask(compound, round, task) }

    /** Appends an attempt; never overwrites another volunteer's. */
    suspend fun recordAttempt(
        compound: CompoundId,
        round: DocumentId,
        task: TaskId,
        outcome: Outcome,
        note: String = "",
    ) = onIo { inner.recordAttempt(compound, round, task, outcome, note) }

    /** Takes down a resident's request at the door; returns its ID. */
    suspend fun addRequest(
        compound: CompoundId,
        household: HouseholdId,
        category: Category,
        text: String,
        urgency: Urgency = Urgency.NORMAL,
        channel: Channel = Channel.DOOR,
    ): RequestId = onIo { inner.addRequest(compound, household, channel, category, text, urgency) }

    suspend fun editNotes(compound: CompoundId, household: HouseholdId, notes: String) =
        onIo { inner.editNotes(compound, household, notes) }

    // --- A coordinator's queries and operations --------------------------------------------

    suspend fun households(compound: CompoundId): List<Household> = onIo { inner.households(compound) }
    suspend fun specialNeeds(compound: CompoundId): List<Household> = onIo { inner.specialNeeds(compound) }
    suspend fun counts(compound: CompoundId): Counts = onIo { inner.counts(compound) }
    suspend fun conflicts(compound: CompoundId): List<Conflict> = onIo { inner.conflicts(compound) }
    suspend fun rounds(compound: CompoundId): List<RoundInfo> = onIo { inner.rounds(compound) }
    suspend fun requests(compound: CompoundId): List<Request> = onIo { inner.requests(compound) }

    /** Tasks with their attempts, of [round] or of every round held. */
    suspend fun tasks(compound: CompoundId, round: DocumentId? = null): List<DeliveryTask> =
        onIo { inner.tasks(compound, round) }

    /** Plans a round; returns its document ID. */
    suspend fun createRound(compound: CompoundId, plan: RoundPlan): DocumentId =
        onIo { inner.createRound(compound, plan) }

    suspend fun addTask(compound: CompoundId, round: DocumentId, task: NewTask): TaskId =
        onIo { inner.addTask(compound, round, task) }

    suspend fun assignTask(compound: CompoundId, round: DocumentId, task: TaskId, volunteer: PersonId) =
        onIo { inner.assignTask(compound, round, task, volunteer) }

    suspend fun assignBuilding(
        compound: CompoundId,
        round: DocumentId,
        building: String,
        volunteer: PersonId,
        estate: String = "",
    ) = onIo { inner.assignBuilding(compound, round, estate, building, volunteer) }

    suspend fun cancelTask(compound: CompoundId, round: DocumentId, task: TaskId, reason: String) =
        onIo { inner.cancelTask(compound, round, task, reason) }

    suspend fun closeRound(compound: CompoundId, round: DocumentId) = onIo { inner.closeRound(compound, round) }

    suspend fun triageRequest(
        compound: CompoundId,
        request: RequestId,
        status: RequestStatus,
        urgency: Urgency? = null,
    ) = onIo { inner.triageRequest(compound, request, status, urgency) }

    suspend fun linkRequest(compound: CompoundId, request: RequestId, round: DocumentId, task: TaskId) =
        onIo { inner.linkRequest(compound, request, round, task) }

    suspend fun setControlStatus(compound: CompoundId, household: HouseholdId, status: ControlStatus) =
        onIo { inner.setControlStatus(compound, household, status) }

    suspend fun setNeedTags(compound: CompoundId, household: HouseholdId, needs: Set<NeedTag>) =
        onIo { inner.setNeedTags(compound, household, needs.toList()) }

    /** Any `doorstep_core::Operation` as JSON, for operations without a typed call. */
    suspend fun applyOperationJson(compound: CompoundId, operationJson: String): Applied =
        onIo { inner.applyOperationJson(compound, operationJson) }

    /** Frees the native replica. Further calls throw. */
    override fun close() = inner.close()
}
