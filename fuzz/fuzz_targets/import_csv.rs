//! Any bytes through the roster CSV importer: it must answer a preview or an error, never panic,
//! and every household it reads must satisfy the rules the importer promises.
#![no_main]

use doorstep_core::import::{MAX_ERRORS, read_roster_csv};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(preview) = read_roster_csv(data) {
        assert!(preview.errors.len() <= MAX_ERRORS);
        for row in &preview.households {
            assert!(row.line >= 1);
            assert!(!row.draft.head.is_empty());
        }
    }
});
