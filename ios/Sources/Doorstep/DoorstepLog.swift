// Forwards the library's log lines to the app's log.

import Foundation

/// Sends the library's log lines to `sink`, for example to os.Logger:
///
/// ```swift
/// let log = Logger(subsystem: "app.doorstep", category: "core")
/// try DoorstepLog.install(level: .info) { r in log.log("\(r.target): \(r.message)") }
/// ```
///
/// `sink` is called on the thread that logged, including the library's network thread; keep it quick.
public enum DoorstepLog {
    public static func install(level: LogLevel = .info, sink: @escaping @Sendable (LogRecord) -> Void) throws {
        try setLogger(logger: ClosureLogger(sink: sink), level: level)
    }

    /// Stops forwarding.
    public static func uninstall() throws {
        try setLogger(logger: nil, level: .error)
    }
}

private final class ClosureLogger: LogSink, @unchecked Sendable {
    private let sink: @Sendable (LogRecord) -> Void

    init(sink: @escaping @Sendable (LogRecord) -> Void) {
        self.sink = sink
    }

    func log(record: LogRecord) {
        sink(record)
    }
}
