//! The actor a phone writes under, said in each sync request (`x-doorstep-writer`, 32 hex
//! digits). The relay binds an actor it has never seen to the person who first sends changes
//! under it. On a relay that saw everything, that is always the actor's own phone; on a relay
//! restored from an older backup, a phone may hold another phone's new work from before the
//! restore and offer it first. Said, the relay binds this actor alone and holds changes under
//! any other unseen actor for their own phone (`held_for_its_author`), as it does for another
//! person's. Unsaid (a phone older than the header), it binds them all, as before.
//!
//! Phones write under 16-byte actors; a phone under any other actor says nothing.

use automerge::ActorId;

/// The request header.
pub const WRITER_HEADER: &str = "x-doorstep-writer";

/// Bytes of an actor that can be said.
const WRITER_BYTES: usize = 16;

/// The header's value for `actor`, if it can be said.
pub fn written(actor: &ActorId) -> Option<String> {
    (actor.to_bytes().len() == WRITER_BYTES).then(|| actor.to_hex_string())
}

/// The actor a header names, as the relay's bindings name actors (lowercase hex), or why it
/// names none.
pub fn read(value: &[u8]) -> Result<[u8; WRITER_BYTES], String> {
    let text = std::str::from_utf8(value)
        .ok()
        .filter(|t| t.len() == 2 * WRITER_BYTES && t.bytes().all(|b| b.is_ascii_hexdigit()));
    let bytes = text.and_then(|t| {
        let mut out = [0u8; WRITER_BYTES];
        for (i, pair) in t.as_bytes().chunks(2).enumerate() {
            let pair = std::str::from_utf8(pair).ok()?;
            *out.get_mut(i)? = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(out)
    });
    bytes.ok_or_else(|| {
        format!(
            "the {WRITER_HEADER} header must be the {} hex digits of the actor this phone writes under; leave it out to say nothing",
            2 * WRITER_BYTES
        )
    })
}

/// `bytes` as the relay's bindings name an actor.
pub fn hex(bytes: &[u8; WRITER_BYTES]) -> String {
    ActorId::from(bytes.as_slice()).to_hex_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_phones_actor_reads_back_and_anything_else_is_refused_by_name() {
        let actor = ActorId::from([0xab_u8; 16].as_slice());
        let said = written(&actor).unwrap();
        assert_eq!(said, "ab".repeat(16));
        assert_eq!(hex(&read(said.as_bytes()).unwrap()), said);
        assert_eq!(hex(&read("AB".repeat(16).as_bytes()).unwrap()), said, "either case");
        for junk in ["", "ab", &"ab".repeat(17), &"zz".repeat(16), "+a".repeat(16).as_str()] {
            let refused = read(junk.as_bytes()).unwrap_err();
            assert!(refused.contains("32 hex digits"), "{junk:?}: {refused}");
        }
        assert_eq!(written(&ActorId::from([1_u8; 8].as_slice())), None, "not a phone's actor");
    }
}
