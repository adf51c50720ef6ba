//! Embeds the coordinators' dashboard: every file in `assets/dashboard/` becomes an entry of
//! `ASSETS` (name, content hash, bytes) in `$OUT_DIR/dashboard_assets.rs`, so the relay binary
//! serves the dashboard with nothing beside it, and a file the frontend adds is served without
//! a change to Rust code.

// Cargo reads a build script's instructions from its standard output.
#![allow(clippy::print_stdout)]

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest).join("assets").join("dashboard");
    println!("cargo::rerun-if-changed=assets/dashboard");
    let mut files: Vec<(String, std::path::PathBuf)> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
            // Hidden files are editor and system droppings, not part of the dashboard.
            .filter(|(name, _)| !name.starts_with('.'))
            .collect(),
        // A relay without its dashboard would serve coordinators a blank page: refuse to build.
        Err(error) => panic!(
            "the dashboard's assets are missing: cannot read {} ({error}); \
             restore server/assets/dashboard from the repository",
            dir.display()
        ),
    };
    files.sort();
    assert!(
        files.iter().any(|(name, _)| name == "index.html"),
        "the dashboard's assets are incomplete: {} has no index.html; \
         restore server/assets/dashboard from the repository",
        dir.display()
    );
    let mut out = String::from("/// Every file of `assets/dashboard/`: name, content hash (hex), bytes.\n");
    out.push_str("pub const ASSETS: &[(&str, &str, &[u8])] = &[\n");
    for (name, path) in &files {
        let bytes = std::fs::read(path).expect("a dashboard asset is readable");
        // Named from the crate's own directory when compiled, not this checkout's absolute path:
        // a build directory shared by two checkouts (worktrees, CI clones) must not embed the
        // other one's files, or fail when it is gone.
        let _ = writeln!(
            out,
            "    ({name:?}, \"{:016x}\", include_bytes!(concat!(env!(\"CARGO_MANIFEST_DIR\"), {:?}))),",
            fnv1a(&bytes),
            format!("/assets/dashboard/{name}")
        );
    }
    out.push_str("];\n");
    let target =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("dashboard_assets.rs");
    std::fs::write(target, out).expect("the build directory is writable");
}

/// A 64-bit FNV-1a hash: enough to tell two versions of a file apart for an `ETag`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}
