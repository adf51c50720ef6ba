//! The actors a phone writes and has written under, said in each sync request
//! (`x-doorstep-writer`: its current actor first, then its earlier ones, each as 32 hex digits,
//! separated by commas). The relay binds an actor it has never seen to the person who first sends
//! changes under it. On a relay that saw everything, that is always the actor's own phone; on a
//! relay restored from an older backup, a phone may hold another phone's new work from before the
//! restore and offer it first. Said, the relay binds only the actors named to the sender and holds
//! changes under any other unseen actor for their own phone (`held_for_its_author`), as it does
//! for another person's. Unsaid (a phone older than the header), it binds them all, as before.
//!
//! A phone names its earlier actors too (a new person signed in on a shared phone, a new actor
//! after its file was restored from an older copy): its own earlier work is its own to send, and
//! no other phone's to claim. Phones write under 16-byte actors; any other actor is not named.

use automerge::ActorId;

/// The request header.
pub const WRITER_HEADER: &str = "x-doorstep-writer";

/// Bytes of an actor that can be named.
const WRITER_BYTES: usize = 16;

/// Most actors a request names: the current one and the earlier ones a phone keeps.
pub const MOST_WRITERS: usize = 16;

/// The actors a request named, in its order (the phone's current actor first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Writers {
    actors: [[u8; WRITER_BYTES]; MOST_WRITERS],
    len: usize,
}

impl Writers {
    /// The actors named, as the relay's bindings name actors (lowercase hex).
    pub fn hex(&self) -> Vec<String> {
        self.actors.iter().take(self.len).map(|a| ActorId::from(a.as_slice()).to_hex_string()).collect()
    }
}

/// The header's value naming `actors` (the current one first), those that can be named, at most
/// [`MOST_WRITERS`]; none when none can.
pub fn written<'a>(actors: impl IntoIterator<Item = &'a ActorId>) -> Option<String> {
    let named: Vec<String> = actors
        .into_iter()
        .filter(|a| a.to_bytes().len() == WRITER_BYTES)
        .take(MOST_WRITERS)
        .map(ActorId::to_hex_string)
        .collect();
    (!named.is_empty()).then(|| named.join(","))
}

/// The actors a header names, or why it names none.
pub fn read(value: &[u8]) -> Result<Writers, String> {
    let refused = || {
        format!(
            "the {WRITER_HEADER} header must name the actors this phone writes under, each as {} hex digits, separated by commas, at most {MOST_WRITERS}; leave it out to say nothing",
            2 * WRITER_BYTES
        )
    };
    let text = std::str::from_utf8(value).map_err(|_| refused())?;
    let mut writers = Writers { actors: [[0; WRITER_BYTES]; MOST_WRITERS], len: 0 };
    for named in text.split(',') {
        let named = named.trim();
        if named.len() != 2 * WRITER_BYTES || !named.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(refused());
        }
        let slot = writers.actors.get_mut(writers.len).ok_or_else(refused)?;
        for (byte, pair) in slot.iter_mut().zip(named.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| refused())?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| refused())?;
        }
        writers.len += 1;
    }
    Ok(writers)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_phones_actors_read_back_and_anything_else_is_refused_by_name() {
        let (now, before) =
            (ActorId::from([0xab_u8; 16].as_slice()), ActorId::from([0x01_u8; 16].as_slice()));
        let odd = ActorId::from([7_u8; 8].as_slice());
        let said = written([&now, &odd, &before]).unwrap();
        assert_eq!(said, format!("{},{}", "ab".repeat(16), "01".repeat(16)), "the odd one is not named");
        assert_eq!(read(said.as_bytes()).unwrap().hex(), ["ab".repeat(16), "01".repeat(16)]);
        assert_eq!(read("AB".repeat(16).as_bytes()).unwrap().hex(), ["ab".repeat(16)], "either case");
        let seventeen = vec!["ab".repeat(16); MOST_WRITERS + 1].join(",");
        for junk in ["", "ab", &"ab".repeat(17), &"zz".repeat(16), "+a".repeat(16).as_str(), ",", &seventeen]
        {
            let refused = read(junk.as_bytes()).unwrap_err();
            assert!(refused.contains("32 hex digits"), "{junk:?}: {refused}");
        }
        assert_eq!(written([&odd]), None, "no phone's actor");
        let many: Vec<ActorId> = (0..20_u8).map(|n| ActorId::from([n; 16].as_slice())).collect();
        assert_eq!(read(written(&many).unwrap().as_bytes()).unwrap().hex().len(), MOST_WRITERS);
    }
}
