//! Crafted sync messages, byte by byte: the Automerge 0.12 sync message encoding (see
//! `core/src/sync/message_check.rs`) with every field under the test's control, so each case
//! can break exactly one thing. Used by the catalogue and by the poison cost measurement.

/// A 32-byte change hash.
pub type Hash = [u8; 32];

/// A sync message's fields, encoded as they are on the wire.
#[derive(Debug, Clone)]
pub struct Raw {
    /// 0x42 (V1) or 0x43 (V2).
    pub kind: u8,
    /// The sender's heads.
    pub heads: Vec<Hash>,
    /// Hashes asked for.
    pub need: Vec<Hash>,
    /// `have` entries: last-sync hashes and bloom filter bytes.
    pub have: Vec<(Vec<Hash>, Vec<u8>)>,
    /// Change entries.
    pub changes: Vec<Vec<u8>>,
    /// The flags section, if any.
    pub flags: Option<Vec<u8>>,
    /// Bytes after the end.
    pub trailing: Vec<u8>,
}

/// An unsigned LEB128 number.
pub fn leb(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A bloom filter's bytes: entries, bits per entry, probes, then `bits` bytes of set bits.
pub fn bloom(entries: u64, bits_per_entry: u64, probes: u64, bits: usize) -> Vec<u8> {
    let mut out = Vec::new();
    leb(&mut out, entries);
    leb(&mut out, bits_per_entry);
    leb(&mut out, probes);
    out.extend(std::iter::repeat_n(0xffu8, bits));
    out
}

/// A hash no document holds.
pub fn stranger(n: u8) -> Hash {
    [n; 32]
}

impl Default for Raw {
    /// An empty V1 message with Automerge 0.12's flags.
    fn default() -> Self {
        Self {
            kind: 0x42,
            heads: vec![],
            need: vec![],
            have: vec![],
            changes: vec![],
            flags: Some(vec![0x02, 0x84]),
            trailing: vec![],
        }
    }
}

impl Raw {
    /// The bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.kind];
        let hashes = |out: &mut Vec<u8>, hs: &[Hash]| {
            leb(out, hs.len() as u64);
            hs.iter().for_each(|h| out.extend(h));
        };
        hashes(&mut out, &self.heads);
        hashes(&mut out, &self.need);
        leb(&mut out, self.have.len() as u64);
        for (last_sync, bloom) in &self.have {
            hashes(&mut out, last_sync);
            leb(&mut out, bloom.len() as u64);
            out.extend(bloom);
        }
        leb(&mut out, self.changes.len() as u64);
        for change in &self.changes {
            leb(&mut out, change.len() as u64);
            out.extend(change);
        }
        if let Some(flags) = &self.flags {
            leb(&mut out, flags.len() as u64);
            out.extend(flags);
        }
        out.extend(&self.trailing);
        out
    }
}

/// The named poisoned messages of the issue, each as message bytes for one document whose
/// heads are `heads` (so the relay has changes to probe against). None carries flags: without
/// them a relay's Automerge answers by probing the filter rather than sending the whole document.
pub fn issue_poisons(heads: &[Hash]) -> Vec<(&'static str, Vec<u8>)> {
    let h = heads.to_vec();
    let probing =
        |bloom: Vec<u8>| Raw { heads: h.clone(), have: vec![(vec![], bloom)], flags: None, ..Raw::default() };
    vec![
        ("probe bomb: 1 entry, 2^32-1 probes", probing(bloom(1, 8, u64::from(u32::MAX), 1)).encode()),
        ("10^7 probes", probing(bloom(1, 10, 10_000_000, 2)).encode()),
        (
            "100 filters x 10^6 probes",
            Raw {
                heads: h.clone(),
                have: vec![(vec![], bloom(1, 10, 1_000_000, 2)); 100],
                flags: None,
                ..Raw::default()
            }
            .encode(),
        ),
        ("zero-length bit array", probing(bloom(1, 0, 7, 0)).encode()),
    ]
}
