package app.doorstep

import app.doorstep.ffi.Outcome
import app.doorstep.ffi.Priority
import app.doorstep.ffi.RoundPlan
import app.doorstep.ffi.Selection
import app.doorstep.ffi.TaskKind
import java.nio.file.Path
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.Timeout
import org.junit.jupiter.api.io.TempDir

/**
 * Field work is never stranded, seen from Kotlin: a relay whose storage is busy is waited for
 * and tried again (nothing set aside), and work the relay can no longer take is shown as
 * "set aside, under review" with the operation behind it, never as "all synced".
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(180)
class StrandedWorkTest {
    private lateinit var dir: Path
    private lateinit var relay: RelayProcess
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

    private suspend fun phone(name: String) = DoorstepReplica.open(dir.resolve("$name.sqlite").toString(), relay.url, InMemoryKeyStore())

    @Test
    fun `a busy relay is retried and nothing is set aside`() = runBlocking {
        phone("busy-volunteer").use { volunteer ->
            volunteer.join(invite("volunteer"), "志愿者的手机")
            volunteer.sync()
            val household = volunteer.households(compound).first().id
            volunteer.editNotes(compound, household, "锁住期间写的备注")

            // The relay's database is write-locked for longer than the relay itself waits for
            // it (SQLite's 5 s busy timeout, possibly twice in one commit): a shorter lock is
            // ridden out inside one request and the phone never sees the relay busy.
            val lock = relay.holdWriteLock()
            val release = Thread {
                Thread.sleep(15_000)
                lock.close()
            }
            release.start()
            val report = volunteer.sync()
            release.join()

            assertTrue(report.retries > 0u, "the phone waited and tried again: $report")
            assertEquals(0u, report.setAside, "nothing transient is set aside: $report")
            assertTrue(report.rejected.isEmpty(), "${report.rejected}")
            val state = volunteer.syncState()
            assertEquals(0u, state.unsyncedChanges, "the note arrived: $state")
            assertEquals(0u, state.setAside)
            assertTrue(volunteer.quarantine().isEmpty())
        }
    }

    @Test
    fun `a removal that would hide a volunteer's edit is set aside under review, readable`() = runBlocking {
        phone("removing-coordinator").use { coordinator ->
            phone("editing-volunteer").use { volunteer ->
                coordinator.join(invite("coordinator"), "社区工作者的手机")
                coordinator.sync()
                volunteer.join(invite("volunteer"), "志愿者的手机")
                volunteer.sync()
                val household = volunteer.households(compound).last().id
                volunteer.editNotes(compound, household, "老人独居，每天要有人敲门")
                volunteer.sync()

                // The coordinator, who has not synced since, removes the household: the relay
                // refuses a removal that would hide the volunteer's note, for good.
                coordinator.applyOperationJson(compound, """{"op":"remove_household","household":"$household"}""")
                val report = coordinator.sync()
                assertEquals(1u, report.setAside, "$report")
                assertEquals(listOf("removals_do_not_hide_edits"), report.rejected.map { it.rule }, "$report")

                val state = coordinator.syncState()
                assertEquals(0u, state.unsyncedChanges, "the refused change is not counted as unsynced: $state")
                assertEquals(1u, state.setAside, "never 'all synced' while something is set aside: $state")
                val item = coordinator.quarantine().single()
                assertTrue(item.operation!!.contains("remove_household"), "readable: $item")
                assertEquals("under_review", item.reviewState, "sent to the coordinators' inbox: $item")
            }
        }
    }

    @Test
    fun `a late attempt on a round closed meanwhile arrives and nothing is set aside`() = runBlocking {
        phone("closing-coordinator").use { coordinator ->
            phone("late-volunteer").use { volunteer ->
                coordinator.join(invite("coordinator"), "社区工作者的手机")
                coordinator.sync()
                volunteer.join(invite("volunteer"), "志愿者的手机")
                val round = coordinator.createRound(
                    compound,
                    RoundPlan("药品 第1轮", TaskKind.MEDICINE, "2026-11-24", Selection.All, "降压药", Priority.HIGH),
                )
                coordinator.sync()
                volunteer.sync()
                val task = volunteer.tasks(compound, round).first()

                // Offline, the volunteer delivers; meanwhile the coordinator closes the round.
                volunteer.recordAttempt(compound, round, task.id, Outcome.DELIVERED, "已送到")
                coordinator.closeRound(compound, round)
                coordinator.sync()

                // The relay keeps the attempt as late; the phone, which sent it in the answer that
                // withdrew the round, sets nothing aside (it did before, though the relay had it).
                val report = volunteer.sync()
                assertEquals(0u, report.setAside, "$report")
                assertTrue(report.rejected.isEmpty(), "${report.rejected}")
                val state = volunteer.syncState()
                assertEquals(0u, state.unsyncedChanges)
                assertEquals(0u, state.setAside)
                assertTrue(volunteer.quarantine().isEmpty())
            }
        }
    }
}
