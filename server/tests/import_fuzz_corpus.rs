//! Replays every committed input of the importer fuzz targets (`fuzz/corpus/import_*` and any
//! crash kept in `fuzz/artifacts/import_*`) through the same code the targets run, on stable,
//! so CI checks them without nightly or libFuzzer. A crash the fuzzer found stays fixed here.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use doorstep_core::import::{MAX_ERRORS, read_roster_csv};
use doorstep_server::workbook::sheet_to_csv;

fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut files = Vec::new();
    for dir in [fuzz.join("corpus").join(target), fuzz.join("artifacts").join(target)] {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            files.extend(entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()));
        }
    }
    files.sort();
    files
}

/// What `fuzz_targets/import_csv.rs` checks.
fn import_csv(data: &[u8]) {
    if let Ok(preview) = read_roster_csv(data) {
        assert!(preview.errors.len() <= MAX_ERRORS);
        for row in &preview.households {
            assert!(row.line >= 1);
            assert!(!row.draft.head.is_empty());
        }
    }
}

/// What `fuzz_targets/import_xlsx.rs` checks.
fn import_xlsx(data: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    if let Ok(sheet) = sheet_to_csv(data, deadline) {
        let _ = read_roster_csv(sheet.csv.as_bytes());
    }
}

#[test]
fn the_csv_importer_survives_its_fuzz_corpus() {
    let files = inputs("import_csv");
    assert!(files.len() >= 5, "the corpus is committed: {files:?}");
    for file in &files {
        import_csv(&std::fs::read(file).unwrap());
    }
    println!("replayed {} CSV inputs", files.len());
}

#[test]
fn the_xlsx_importer_survives_its_fuzz_corpus() {
    let files = inputs("import_xlsx");
    assert!(files.len() >= 3, "the corpus is committed: {files:?}");
    for file in &files {
        import_xlsx(&std::fs::read(file).unwrap());
    }
    println!("replayed {} XLSX inputs", files.len());
}
