package app.doorstep

import app.doorstep.ffi.LogLevel
import app.doorstep.ffi.LogRecord
import app.doorstep.ffi.LogSink
import app.doorstep.ffi.setLogger

/**
 * Forwards the library's log lines to the app's log. On Android:
 *
 * ```
 * DoorstepLog.install(LogLevel.INFO) { r -> Log.println(priorityOf(r.level), "doorstep", "${r.target}: ${r.message}") }
 * ```
 *
 * [sink] is called on the thread that logged, including the library's network thread; it must
 * be quick and must not throw (a throwing sink loses that line, nothing more).
 */
object DoorstepLog {
    fun install(level: LogLevel = LogLevel.INFO, sink: (LogRecord) -> Unit) {
        setLogger(object : LogSink {
            override fun log(record: LogRecord) = sink(record)
        }, level)
    }

    /** Stops forwarding. */
    fun uninstall() = setLogger(null, LogLevel.ERROR)
}
