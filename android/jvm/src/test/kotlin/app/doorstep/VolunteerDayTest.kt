package app.doorstep

import app.doorstep.ffi.Category
import app.doorstep.ffi.ChangeOrigin
import app.doorstep.ffi.DocumentChange
import app.doorstep.ffi.DoorstepException
import app.doorstep.ffi.Outcome
import app.doorstep.ffi.Priority
import app.doorstep.ffi.Role
import app.doorstep.ffi.RoundPlan
import app.doorstep.ffi.Selection
import app.doorstep.ffi.TaskKind
import app.doorstep.ffi.TaskStatus
import app.doorstep.ffi.Urgency
import app.doorstep.ffi.ControlStatus
import java.nio.file.Path
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.Timeout
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir

/**
 * A volunteer's day, from Kotlin, against the real relay: join with an invite, see the tasks by
 * door, lose signal (the relay process is stopped), record attempts and a request offline, come
 * back, sync, and the coordinator's phone shows it all.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(180)
class VolunteerDayTest {
    private lateinit var dir: Path
    private lateinit var relay: RelayProcess
    private val keys = InMemoryKeyStore()
    private lateinit var compound: String

    @BeforeAll
    fun startRelay(@TempDir dir: Path) {
        this.dir = dir
        relay = RelayProcess(dir)
        compound = relay.admin("create-compound", "--name", "幸福里")
        relay.admin("import-roster", "--compound", compound, RelayProcess.writeRoster(dir).toString())
        relay.start()
    }

    @AfterAll
    fun stopRelay() {
        if (::relay.isInitialized) relay.close()
    }

    private fun invite(role: String) = relay.admin("invite", "--compound", compound, "--role", role)

    private suspend fun phone(name: String, token: String? = null) =
        DoorstepReplica.open(dir.resolve("$name.sqlite").toString(), relay.url, keys, token)

    /** Collects a replica's change events from now on (the listener is registered on return). */
    private fun CoroutineScope.recordChanges(replica: DoorstepReplica): Channel<DocumentChange> {
        val seen = Channel<DocumentChange>(Channel.UNLIMITED)
        launch(Dispatchers.Unconfined) { replica.changes.collect { seen.send(it) } }
        return seen
    }

    private suspend fun Channel<DocumentChange>.nextFromSync(): DocumentChange = withTimeout(10_000) {
        var event = receive()
        while (event.origin != ChangeOrigin.SYNC) event = receive()
        event
    }

    @Test
    fun `a volunteer's day offline and back`() = runBlocking {
        val coordinator = phone("coordinator")
        val volunteer = phone("volunteer")
        try {
            // Morning: both join with their invites and sync the compound down.
            val boss = coordinator.join(invite("coordinator"), "社区工作者的手机")
            assertEquals(Role.COORDINATOR, boss.role)
            coordinator.sync()
            assertEquals(Role.COORDINATOR, coordinator.role(compound))
            assertEquals(4, coordinator.households(compound).size)

            val me = volunteer.join(invite("volunteer"), "志愿者的手机")
            assertEquals(Role.VOLUNTEER, me.role)
            assertEquals(compound, me.compound)
            volunteer.sync()
            assertEquals(listOf(compound), volunteer.compounds().map { it.id })
            assertEquals(Role.VOLUNTEER, volunteer.role(compound))

            // The coordinator plans a round for building 1 and gives the building to the volunteer.
            val round = coordinator.createRound(
                compound,
                RoundPlan("蔬菜包 第1轮", TaskKind.GROCERIES, "2026-11-23", Selection.Building("", "1"), "蔬菜包1份", Priority.NORMAL),
            )
            coordinator.assignBuilding(compound, round, building = "1", volunteer = me.person)
            coordinator.sync()

            // The volunteer's sync brings the round; the change listener hears it.
            val volunteerChanges = recordChanges(volunteer)
            val fetched = volunteer.sync()
            assertTrue(round in fetched.fetched, "the round arrived: $fetched")
            assertTrue(round in volunteerChanges.nextFromSync().documents)

            // Tasks by door, in the order the stairs are climbed.
            val doors = volunteer.myDoors(compound)
            assertEquals(listOf("101", "201", "301"), doors.map { it.household.address.flat })
            assertEquals(listOf(1, 2, 3), doors.map { it.household.address.floor })
            assertTrue(doors.all { it.tasks.size == 1 && it.tasks[0].assignee == me.person && it.tasks[0].round == round })
            val (first, second, third) = doors

            // Into the stairwell: no signal.
            relay.stop()
            volunteer.recordAttempt(compound, round, first.tasks[0].id, Outcome.DELIVERED, "交给本人")
            volunteer.recordAttempt(compound, round, second.tasks[0].id, Outcome.NOBODY_HOME, "敲门无人应答")
            val request = volunteer.addRequest(
                compound, second.household.id, Category.MEDICINE, "降压药快吃完了", Urgency.URGENT,
            )
            volunteer.editNotes(compound, third.household.id, "行动不便，物资放门口")
            val offline = volunteer.syncState()
            assertTrue(offline.unsyncedChanges >= 4u, "four changes wait: $offline")
            val noSignal = assertThrows<DoorstepException.Network> { runBlocking { volunteer.sync() } }
            assertTrue(noSignal.reason.isNotBlank())
            assertEquals(offline, volunteer.syncState(), "a failed sync loses and sends nothing")
            assertFalse(offline.syncUnfinished, "a failed sync returned: nothing left unfinished")
            // Offline, the list already reflects the work: the delivered door is done.
            assertEquals(listOf("201", "301"), volunteer.myDoors(compound).map { it.household.address.flat })

            // Back in signal.
            relay.start()
            val back = volunteer.sync()
            assertTrue(back.requests in 1u..3u, "a normal backlog syncs in one to three requests: $back")
            assertTrue(back.rejected.isEmpty(), "nothing refused: ${back.rejected}")
            val synced = volunteer.syncState()
            assertEquals(0u, synced.unsyncedChanges)
            assertNotNull(synced.lastSync)
            // The relay's clock (its Date header) agrees with this machine's: nothing to set, and
            // nothing carried out again at a moved time.
            assertNull(back.clockOffByMs, "a right clock is not called wrong: $back")
            assertEquals(0u, back.retimed)
            assertNull(synced.clockOffByMs)

            // The coordinator's view.
            val coordinatorChanges = recordChanges(coordinator)
            val caughtUp = coordinator.sync()
            assertTrue(round in caughtUp.changed, "the coordinator's sync brought the round's attempts: $caughtUp")
            val heard = coordinatorChanges.nextFromSync()
            assertTrue(round in heard.documents, "the coordinator's listener heard the round change: $heard")

            val tasks = coordinator.tasks(compound, round).associateBy { it.household }
            val delivered = tasks.getValue(first.household.id)
            assertEquals(TaskStatus.DELIVERED, delivered.status)
            assertEquals(me.person, delivered.attempts.single().by)
            assertEquals("交给本人", delivered.attempts.single().note)
            val missed = tasks.getValue(second.household.id)
            assertEquals(TaskStatus.ATTEMPTED, missed.status)
            assertEquals(Outcome.NOBODY_HOME, missed.attempts.single().outcome)
            assertEquals(TaskStatus.ASSIGNED, tasks.getValue(third.household.id).status)

            val asked = coordinator.requests(compound).single()
            assertEquals(request, asked.id)
            assertEquals(second.household.id, asked.household)
            assertEquals("降压药快吃完了", asked.text)
            assertEquals(Urgency.URGENT, asked.urgency)
            assertEquals(me.person, asked.by)

            val counts = coordinator.counts(compound)
            assertEquals(1u, counts.byTaskStatus[TaskStatus.DELIVERED])
            assertEquals(1u, counts.byTaskStatus[TaskStatus.ATTEMPTED])
            assertEquals(1u, counts.byTaskStatus[TaskStatus.ASSIGNED])
            val notes = coordinator.findHousehold(compound, "1-1-301").notes
            assertEquals("行动不便，物资放门口", notes)
        } finally {
            volunteer.close()
            coordinator.close()
            coroutineContextCancelChildren()
        }
    }

    @Test
    fun `errors arrive as typed exceptions`() = runBlocking {
        // A token the relay never issued.
        phone("stranger", token = "dst_0000000000000000000000000000000000000000000000000000000000000000").use { stranger ->
            val e = assertThrows<DoorstepException.Unauthorized> { runBlocking { stranger.sync() } }
            assertTrue(e.reason.isNotBlank())
        }

        phone("newcomer").use { newcomer ->
            // An invite code nobody made.
            assertThrows<DoorstepException.InvalidInput> { runBlocking { newcomer.join("not-a-real-code", "phone") } }

            // A used invite code.
            val code = invite("volunteer")
            newcomer.join(code, "phone")
            phone("second-phone").use { other ->
                assertThrows<DoorstepException.InvalidInput> { runBlocking { other.join(code, "another phone") } }
            }
            newcomer.sync()

            // A volunteer may not plan rounds or edit the ledger: refused on the phone, naming the rule.
            val plan = RoundPlan("药品", TaskKind.MEDICINE, "2026-11-24", Selection.All, "降压药", Priority.HIGH)
            val round = assertThrows<DoorstepException.Forbidden> { runBlocking { newcomer.createRound(compound, plan) } }
            assertEquals("rounds_are_planned_by_coordinators", round.rule)
            assertTrue(round.reason.contains("volunteer"), round.reason)

            val household = newcomer.households(compound).first().id
            val status = assertThrows<DoorstepException.Forbidden> {
                runBlocking { newcomer.setControlStatus(compound, household, ControlStatus.CONFIRMED) }
            }
            assertEquals("roster_is_edited_by_coordinators", status.rule)

            // Nothing was written: there is nothing to sync.
            assertEquals(0u, newcomer.syncState().unsyncedChanges)
        }
    }
}

/** Stops the test's background collectors so runBlocking can return. */
private fun CoroutineScope.coroutineContextCancelChildren() {
    coroutineContext[kotlinx.coroutines.Job]?.children?.forEach { it.cancel() }
}
