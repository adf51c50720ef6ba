package app.doorstep

import java.io.File
import java.nio.file.Files
import java.nio.file.Path
import java.util.concurrent.TimeUnit

/**
 * The real relay binary (`doorstep`, from server/), run as a child process on loopback with its
 * own SQLite file. [start] picks a free port the first time and keeps it across restarts, so a
 * phone opened with [url] sees the same relay go away and come back.
 */
class RelayProcess(private val dir: Path) : AutoCloseable {
    private val bin: String = System.getProperty("doorstep.relay.bin")
        ?: error("system property doorstep.relay.bin is not set; run scripts/test-kotlin")
    /** The relay's SQLite file (its data in the clear, as a relay keeps it). */
    val db: Path = dir.resolve("relay.sqlite")
    private val log: File = dir.resolve("relay.log").toFile()
    private var process: Process? = null
    private var port: Int = 0
    private var starts = 0

    init {
        check(File(bin).canExecute()) { "relay binary $bin is missing; build it with cargo build -p doorstep" }
    }

    val url: String get() = "http://127.0.0.1:$port".also { check(port != 0) { "relay not started yet" } }

    /** Runs `doorstep admin --db <db> <args>` and returns the last line it printed. */
    fun admin(vararg args: String): String {
        val out = dir.resolve("admin-${System.nanoTime()}.out").toFile()
        val p = ProcessBuilder(listOf(bin, "admin", "--db", db.toString()) + args)
            .redirectOutput(out)
            .redirectError(ProcessBuilder.Redirect.appendTo(log))
            .start()
        check(p.waitFor(60, TimeUnit.SECONDS)) { "doorstep admin ${args.joinToString(" ")} hung" }
        val lines = out.readLines().filter { it.isNotBlank() }
        check(p.exitValue() == 0) { "doorstep admin ${args.joinToString(" ")} failed: $lines\n${log.readText().takeLast(2000)}" }
        return lines.last().trim()
    }

    /** Starts `doorstep serve` and waits until it listens. */
    fun start() {
        check(process == null) { "relay already running" }
        starts += 1
        val out = dir.resolve("serve-$starts.out").toFile()
        process = ProcessBuilder(bin, "serve", "--db", db.toString(), "--listen", "127.0.0.1:$port")
            .redirectOutput(out)
            .redirectError(ProcessBuilder.Redirect.appendTo(log))
            .start()
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30)
        val listening = Regex("listening on http://127\\.0\\.0\\.1:(\\d+)")
        while (System.nanoTime() < deadline) {
            val found = out.takeIf { it.exists() }?.readText()?.let { listening.find(it) }
            if (found != null) {
                port = found.groupValues[1].toInt()
                return
            }
            check(process?.isAlive == true) { "relay exited: ${log.readText().takeLast(2000)}" }
            Thread.sleep(20)
        }
        error("relay did not start listening within 30 s: ${log.readText().takeLast(2000)}")
    }

    /** Stops the relay (SIGTERM, graceful) and waits for it to exit. */
    fun stop() {
        val p = process ?: return
        p.destroy()
        if (!p.waitFor(20, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor()
        }
        process = null
    }

    override fun close() = stop()

    /**
     * Takes the relay database's write lock from another process (the `sqlite3` shell, as a
     * long `doorstep admin` write would hold it) and returns a handle that releases it.
     */
    fun holdWriteLock(): AutoCloseable {
        val shell = ProcessBuilder("sqlite3", db.toString())
            .redirectOutput(ProcessBuilder.Redirect.DISCARD)
            .redirectError(ProcessBuilder.Redirect.appendTo(log))
            .start()
        val input = shell.outputStream.bufferedWriter()
        input.write("BEGIN IMMEDIATE;\nSELECT 1;\n")
        input.flush()
        // The lock is taken once the shell has run BEGIN IMMEDIATE; give it a moment.
        Thread.sleep(300)
        check(shell.isAlive) { "sqlite3 could not take the lock: ${log.readText().takeLast(2000)}" }
        return AutoCloseable {
            input.write("COMMIT;\n.quit\n")
            input.flush()
            input.close()
            check(shell.waitFor(20, TimeUnit.SECONDS)) { "sqlite3 did not exit" }
        }
    }

    companion object {
        /** A small roster: three flats up building 1's stairwell (no lift), one in building 2. */
        fun writeRoster(dir: Path): Path {
            val csv = """
                小区,楼号,单元,楼层,房号,户主,联系电话,户内人数,60岁以上人数,6岁以下儿童,重点人群,管控状态,有无电梯,备注
                ,1号楼,1单元,3,301,王建国,13800000003,1,1,0,独居老人,居家隔离,无,
                ,1号楼,1单元,1,101,李秀英,13800000001,3,1,1,,正常,无,
                ,1号楼,1单元,2,201,张伟,13800000002,2,0,0,慢性病,正常,无,
                ,2号楼,1单元,1,101,赵敏,13800000004,4,0,2,,正常,有,
            """.trimIndent()
            val file = dir.resolve("roster.csv")
            Files.writeString(file, "\uFEFF" + csv + "\n")
            return file
        }
    }
}
