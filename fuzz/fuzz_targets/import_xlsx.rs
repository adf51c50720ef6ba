//! Any bytes through the dashboard's workbook reader (the zip bounds, calamine, merged cells)
//! and then the roster importer as the dashboard reads a sheet (`read_roster_sheet`, with the
//! sheet's date cells): an answer or an error, never a panic.
#![no_main]

use std::time::{Duration, Instant};

use doorstep_core::import::{CalendarDay, read_roster_sheet};
use doorstep_server::workbook::sheet_to_csv;
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: {
    // The reader turns a panic inside calamine into a refusal (catch_unwind); libFuzzer's hook
    // would abort first, so the default hook is restored. A panic that escapes the reader still
    // unwinds into libFuzzer and is reported as a crash.
    let _ = std::panic::take_hook();
}, |data: &[u8]| {
    let deadline = Instant::now() + Duration::from_secs(10);
    if let Ok(sheet) = sheet_to_csv(data, deadline) {
        let _ = read_roster_sheet(sheet.csv.as_bytes(), &sheet.dates, CalendarDay::new(2026, 12, 7).expect("a day"));
    }
});
