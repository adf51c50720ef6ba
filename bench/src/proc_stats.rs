//! CPU time and memory of another process (the relay, the JS sync server), read from Linux's
//! /proc. The servers under test run as separate processes so that what they cost is theirs
//! alone, not mixed with the simulated phones'.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// Clock ticks per second of /proc/PID/stat's times: 100 on every Linux build we run on
/// (`getconf CLK_TCK`); reading it properly would need libc.
const TICKS_PER_SECOND: u64 = 100;

/// User plus system CPU time the process has used so far.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: fields count from after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the whole line (utime, stime) are 12 and 13 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 1000 / TICKS_PER_SECOND))
}

/// A `Vm…:` line of /proc/PID/status, in bytes.
fn status_bytes(pid: u32, key: &str) -> Option<usize> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Resident set size now.
pub fn resident(pid: u32) -> Option<usize> {
    status_bytes(pid, "VmRSS:")
}

/// The anonymous part of the resident set (heap, stacks): what the process holds, without the
/// pages of its binary and libraries, which the kernel can drop and read again at will.
pub fn resident_anonymous(pid: u32) -> Option<usize> {
    status_bytes(pid, "RssAnon:")
}

/// Peak resident set size since start or since [`reset_peak`].
pub fn peak(pid: u32) -> Option<usize> {
    status_bytes(pid, "VmHWM:")
}

/// Resets the peak resident set size (Linux ≥ 4.0), so the next [`peak`] covers one phase.
pub fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// CPU time and peak memory of a process over one phase of a benchmark.
#[derive(Debug)]
pub struct Phase {
    pid: u32,
    cpu_before: Option<Duration>,
    reset: bool,
    sampled_peak: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    sampler: Option<std::thread::JoinHandle<()>>,
}

/// What a phase cost the process.
#[derive(Debug, Clone, Copy, Default)]
pub struct PhaseCost {
    /// CPU time used during the phase.
    pub cpu: Duration,
    /// Peak resident memory during the phase.
    pub peak: usize,
}

impl Phase {
    /// Starts watching `pid`: its CPU time now, and its memory every 20 ms (in case the kernel
    /// does not let us reset its high-water mark).
    pub fn start(pid: u32) -> Self {
        let reset = reset_peak(pid);
        let sampled_peak = Arc::new(AtomicUsize::new(resident(pid).unwrap_or(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peak, stop) = (Arc::clone(&sampled_peak), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(rss) = resident(pid) {
                        peak.fetch_max(rss, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        Self { pid, cpu_before: cpu_time(pid), reset, sampled_peak, stop, sampler: Some(sampler) }
    }

    /// Stops watching and returns the phase's cost.
    pub fn finish(mut self) -> PhaseCost {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(sampler) = self.sampler.take() {
            let _ = sampler.join();
        }
        let cpu = match (self.cpu_before, cpu_time(self.pid)) {
            (Some(before), Some(after)) => after.saturating_sub(before),
            _ => Duration::ZERO,
        };
        let sampled = self.sampled_peak.load(Ordering::Relaxed);
        let hwm = if self.reset { peak(self.pid).unwrap_or(0) } else { 0 };
        PhaseCost { cpu, peak: sampled.max(hwm) }
    }
}
