//! Bounding an uploaded workbook before anything decompresses it.
//!
//! An .xlsx file is a ZIP archive of XML parts, and ZIP lets 2 MB of upload inflate to gigabytes
//! (a shared-strings table of one repeated string compresses about a thousand to one). calamine
//! inflates what it reads without a limit, so the relay opens the archive itself first:
//!
//! 1. the number of entries is checked against [`MAX_ENTRIES`];
//! 2. every entry's *declared* uncompressed size is checked against [`MAX_PART_BYTES`] (and the
//!    shared strings against [`MAX_SHARED_STRINGS_BYTES`]) and their sum against
//!    [`MAX_INFLATED_BYTES`];
//! 3. every entry is then inflated into a counting sink (nothing is kept), a chunk at a time,
//!    with a byte budget of the smaller of its declared size and those limits: a header that
//!    lies about the size is caught after at most one chunk past the budget, and the upload is
//!    refused.
//!
//! Only then does calamine see the bytes, and since inflating the same bytes gives the same
//! output, what calamine inflates is what was counted. Step 3 also watches a deadline, so a
//! request the relay has already answered with 408 does not keep a blocking thread busy.

use std::io::{Cursor, Read};
use std::time::Instant;

use zip::ZipArchive;

use super::WorkbookError;

/// The most entries (files) an uploaded workbook may hold. Excel writes about a dozen for a
/// one-sheet workbook; a thousand leaves room for many sheets, images and comments.
pub const MAX_ENTRIES: usize = 1_000;
/// The largest any one part may inflate to: 64 MiB of sheet XML is about 100,000 households,
/// the most one import accepts.
pub const MAX_PART_BYTES: u64 = 64 * 1024 * 1024;
/// The largest the shared-strings table may inflate to. calamine keeps every shared string in
/// memory as its own `String`, which costs up to about three times the XML, so this part has a
/// lower limit than the sheets, which are streamed.
pub const MAX_SHARED_STRINGS_BYTES: u64 = 16 * 1024 * 1024;
/// The most all parts together may inflate to.
pub const MAX_INFLATED_BYTES: u64 = 96 * 1024 * 1024;
/// The shared-strings part's name in every workbook Excel and WPS write.
const SHARED_STRINGS: &str = "xl/sharedStrings.xml";
/// How much is inflated between budget and deadline checks.
const CHUNK: usize = 64 * 1024;

/// Checks an .xlsx archive's entries before any reader inflates them: their number, their
/// declared sizes, and their real inflated sizes (by inflating into a counting sink).
pub fn check_archive(bytes: &[u8], deadline: Instant) -> Result<(), WorkbookError> {
    let mut archive =
        ZipArchive::new(Cursor::new(bytes)).map_err(|e| WorkbookError::Unreadable(e.to_string()))?;
    if archive.len() > MAX_ENTRIES {
        return Err(WorkbookError::TooManyEntries { entries: archive.len() });
    }
    let mut declared_total: u64 = 0;
    for index in 0..archive.len() {
        let entry = archive.by_index_raw(index).map_err(|e| WorkbookError::Unreadable(e.to_string()))?;
        let part = entry_name(entry.name_raw());
        let limit = part_limit(&part);
        if entry.size() > limit {
            return Err(WorkbookError::PartTooLarge { part, bytes: entry.size(), limit });
        }
        declared_total = declared_total.saturating_add(entry.size());
    }
    if declared_total > MAX_INFLATED_BYTES {
        return Err(WorkbookError::InflatesTooLarge { bytes: declared_total, limit: MAX_INFLATED_BYTES });
    }

    // The declared sizes are only claims: inflate every entry and count.
    let mut inflated_total: u64 = 0;
    let mut chunk = vec![0u8; CHUNK];
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(|e| WorkbookError::Unreadable(e.to_string()))?;
        let part = entry_name(entry.name_raw());
        let budget = part_limit(&part).min(entry.size());
        let mut inflated: u64 = 0;
        loop {
            if Instant::now() > deadline {
                return Err(WorkbookError::TimedOut);
            }
            let n = match entry.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                // The zip reader also stops a part that outgrows its declared size, with an
                // error that says so (zip 9: "File is larger than its declared uncompressed
                // size"); the tests hold that wording to this meaning.
                Err(e) if e.to_string().contains("larger than its declared") => {
                    return Err(WorkbookError::SizeLies { part, declared: entry.size() });
                }
                Err(e) => return Err(WorkbookError::Unreadable(format!("{part}: {e}"))),
            };
            inflated += n as u64;
            inflated_total += n as u64;
            if inflated > budget {
                return Err(WorkbookError::SizeLies { part, declared: entry.size() });
            }
            if inflated_total > MAX_INFLATED_BYTES {
                return Err(WorkbookError::InflatesTooLarge {
                    bytes: inflated_total,
                    limit: MAX_INFLATED_BYTES,
                });
            }
        }
    }
    Ok(())
}

fn entry_name(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).chars().take(200).collect()
}

fn part_limit(part: &str) -> u64 {
    if part.eq_ignore_ascii_case(SHARED_STRINGS) { MAX_SHARED_STRINGS_BYTES } else { MAX_PART_BYTES }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Write;
    use std::time::Duration;

    use zip::write::SimpleFileOptions;
    use zip::{CompressionMethod, ZipWriter};

    use super::*;

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    fn archive(parts: &[(&str, &[u8])]) -> Vec<u8> {
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
        for (name, data) in parts {
            zip.start_file(*name, options).unwrap();
            zip.write_all(data).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn a_small_archive_passes() {
        let bytes = archive(&[("xl/workbook.xml", b"<workbook/>"), (SHARED_STRINGS, b"<sst/>")]);
        check_archive(&bytes, later()).unwrap();
    }

    #[test]
    fn a_shared_strings_bomb_is_refused_by_its_declared_size() {
        let big = vec![b'a'; usize::try_from(MAX_SHARED_STRINGS_BYTES).unwrap() + 1];
        let bytes = archive(&[(SHARED_STRINGS, &big)]);
        assert!(bytes.len() < 100_000, "the bomb compresses: {}", bytes.len());
        let error = check_archive(&bytes, later()).unwrap_err();
        assert!(
            matches!(error, WorkbookError::PartTooLarge { ref part, .. } if part == SHARED_STRINGS),
            "{error}"
        );
    }

    #[test]
    fn a_size_that_lies_is_caught_while_inflating() {
        let big = vec![b'a'; 4 * 1024 * 1024];
        let mut bytes = archive(&[("xl/worksheets/sheet1.xml", &big)]);
        // Rewrite the uncompressed size in the local header (offset 22) and the central
        // directory entry (offset 24 after its signature) to claim 100 bytes.
        let local = 22;
        bytes[local..local + 4].copy_from_slice(&100u32.to_le_bytes());
        let central = bytes.windows(4).rposition(|w| w == b"PK\x01\x02").unwrap();
        bytes[central + 24..central + 28].copy_from_slice(&100u32.to_le_bytes());
        let error = check_archive(&bytes, later()).unwrap_err();
        assert!(matches!(error, WorkbookError::SizeLies { declared: 100, .. }), "{error}");
    }

    #[test]
    fn too_many_entries_are_refused() {
        let names: Vec<String> = (0..=MAX_ENTRIES).map(|i| format!("xl/media/{i}.bin")).collect();
        let parts: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        let error = check_archive(&archive(&parts), later()).unwrap_err();
        assert!(
            matches!(error, WorkbookError::TooManyEntries { entries } if entries == MAX_ENTRIES + 1),
            "{error}"
        );
    }

    #[test]
    fn a_passed_deadline_stops_the_check() {
        let bytes = archive(&[("xl/workbook.xml", b"<workbook/>")]);
        let error = check_archive(&bytes, Instant::now() - Duration::from_millis(1)).unwrap_err();
        assert!(matches!(error, WorkbookError::TimedOut), "{error}");
    }
}
