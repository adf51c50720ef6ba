//! The relay's resident memory, and giving memory that evicted documents held back to the system.
//!
//! Idle documents leave the cache (`cache.rs`), but freeing them does not make the process
//! smaller: glibc's allocator keeps freed pages in its arenas (one per thread that allocated,
//! up to 8 per core) for later use. Measured with `doorstep-bench compounds` (500 compounds
//! touched once, BENCHMARKS.md §6), the relay stayed at 125 MiB after every document had left
//! memory, against 10 MiB fresh. After an eviction sweep that freed documents, the relay
//! therefore asks glibc to hand the free pages of every arena back with `malloc_trim(0)`.
//! A city's relay serves bursts (a district's shift change) and then idles for hours; the memory
//! of a burst should not stay taken for the idle hours.
//!
//! One trim right after the eviction is not enough. Each thread keeps a small cache of blocks it
//! freed (glibc's tcache: up to 7 blocks of each size up to 1 KiB), which the arenas count as in
//! use, so no trim can return the pages they sit in while the thread lives. The blocking threads
//! that loaded, checked and compacted a burst's documents leave after tokio's keep-alive (10 s
//! idle) and hand those blocks back only then, so the sweep returns memory once more
//! [`AFTER_THREADS_LEAVE`] later. Measured on the relay after 500 compounds and the idle time:
//! anonymous memory 25.0 MiB after the threads left, 10.8 MiB after the second trim.
//!
//! Only glibc has `malloc_trim`; on other targets (musl, macOS) [`return_freed_memory`] does
//! nothing and says so.

/// How long after the trim that follows an eviction to trim again: tokio's blocking threads
/// leave after 10 s idle, and hand back the blocks they kept when they do.
pub const AFTER_THREADS_LEAVE: std::time::Duration = std::time::Duration::from_secs(15);

/// Asks the allocator to return free memory to the operating system; `true` if it returned
/// some. This walks every arena under its lock, so call it off the async workers and only
/// after something sizeable was freed (an eviction sweep), not per request.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(unsafe_code, reason = "glibc's malloc_trim has no safe binding")]
pub fn return_freed_memory() -> bool {
    // SAFETY: `malloc_trim` takes a plain integer (the padding to leave at the top of the main
    // heap), reads and writes no memory of ours, and is thread-safe: it takes each arena's lock
    // while trimming it, as malloc and free do. It only releases pages that hold no live
    // allocation, so nothing the relay uses is touched.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Asks the allocator to return free memory to the operating system; `false`: this target's
/// allocator has no `malloc_trim`.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn return_freed_memory() -> bool {
    false
}

/// The process's resident memory in bytes (`VmRSS` of /proc/self/status), or `None` where
/// there is no /proc (not Linux).
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn resident_memory_is_read_from_proc() {
        let rss = resident_bytes().expect("Linux has /proc/self/status");
        // Any running test binary holds more than a megabyte and less than a terabyte.
        assert!((1 << 20..1 << 40).contains(&rss), "{rss}");
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn free_pages_between_live_blocks_go_back_to_the_system() {
        // 16 MiB of 1 KiB blocks, as an evicted document's op tree leaves them, with one block
        // in every 64 KiB still live: `free` can give back only the top of a heap, so the free
        // pages between the live blocks stay with the allocator until trimmed.
        let mut blocks: Vec<Vec<u8>> =
            (0..16_384).map(|i| vec![u8::try_from(i % 251).unwrap_or(0); 1024]).collect();
        let live: Vec<Vec<u8>> = blocks.iter_mut().step_by(64).map(std::mem::take).collect();
        drop(blocks);
        assert!(return_freed_memory(), "malloc_trim found no free page to return");
        assert_eq!(live.len(), 256);
    }
}
