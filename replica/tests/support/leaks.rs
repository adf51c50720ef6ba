//! Looking for the sample ledger's people in the raw bytes of a replica's files: the roster's
//! names and phone numbers (and any extra texts), as they are and inside any raw DEFLATE stream
//! starting at any offset (Automerge compresses columns of more than 256 bytes). Shared by the
//! replica's encryption tests and the end-to-end wipe tests.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use aho_corasick::AhoCorasick;

/// The 香樟苑 sample ledger (1,040 households), in the repository's `data/`.
pub fn ledger_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/xiangzhangyuan-roster.csv")
}

/// A replica file and its `-wal` and `-shm`, as bytes, whichever exist.
pub fn replica_bytes(db: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        if let Ok(b) = std::fs::read(format!("{}{suffix}", db.display())) {
            bytes.extend_from_slice(&b);
        }
    }
    assert!(!bytes.is_empty(), "no replica file at {}", db.display());
    bytes
}

/// What must not be found.
pub struct Secrets {
    needles: Vec<String>,
    matcher: AhoCorasick,
}

impl Secrets {
    /// Every head of household (户主) and phone number (联系电话) of the ledger, and `extra`.
    pub fn from_ledger(extra: &[&str]) -> Secrets {
        let csv = std::fs::read_to_string(ledger_path()).unwrap();
        let mut needles: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        for line in csv.lines().skip(1) {
            let fields: Vec<&str> = line.split(',').collect();
            needles.extend(
                fields.get(5..7).into_iter().flatten().filter(|f| !f.is_empty()).map(|f| (*f).to_owned()),
            );
        }
        assert!(needles.len() > 2000, "names and numbers of 1,040 households");
        let matcher = AhoCorasick::new(&needles).unwrap();
        Secrets { needles, matcher }
    }

    /// Every needle found in `bytes`, as they are or inflated.
    pub fn found_in(&self, bytes: &[u8]) -> Vec<String> {
        let mut found: Vec<String> =
            self.matcher.find_iter(bytes).map(|m| self.needles[m.pattern().as_usize()].clone()).collect();
        let mut out = Vec::new();
        let mut piece = [0_u8; 4096];
        for start in 0..bytes.len() {
            out.clear();
            let mut inflater = flate2::read::DeflateDecoder::new(&bytes[start..]);
            // Decode until the stream breaks (most offsets are not a stream at all) or 1 MiB.
            while out.len() < 1 << 20 {
                match inflater.read(&mut piece) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => out.extend_from_slice(&piece[..n]),
                }
            }
            if out.len() >= 16 {
                found.extend(
                    self.matcher.find_iter(&out).map(|m| self.needles[m.pattern().as_usize()].clone()),
                );
            }
        }
        found.sort();
        found.dedup();
        found
    }
}
