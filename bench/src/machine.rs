//! What the figures were measured on, printed at the top of every run so that a table pasted
//! into BENCHMARKS.md carries its machine and load with it.

/// One line: CPU model and count, memory, load average, build profile.
pub fn describe() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU", str::trim)
        .to_owned();
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().find(|l| l.starts_with("MemTotal:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|k| k.parse::<f64>().ok()))
        .map_or_else(|| "?".to_owned(), |kib| format!("{:.0} GiB", kib / 1024.0 / 1024.0));
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into());
    let profile =
        if cfg!(debug_assertions) { "debug build (figures measure the compiler)" } else { "release build" };
    format!("{cpus} × {model}, {memory}; load average {load} at start; {profile}")
}
