//! Chunks Automerge would inflate or expand without bound: the bodies of a DEFLATE bomb and of a
//! run-length bomb. Shared by core's tests of the phone's check (`hostile_replies.rs`) and the
//! relay's catalogue of hostile messages (`server/tests/relay/catalogue.rs`, by `#[path]`).

/// DEFLATE of `megabytes` MiB of zeros, about a thousandth of that in size.
pub fn deflate_bomb(megabytes: usize) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..megabytes {
        encoder.write_all(&zeros).expect("writing to a Vec");
    }
    encoder.finish().expect("writing to a Vec")
}

/// A change body (no dependencies, a 16-byte actor, seq 1, start op 1, time 0, no message, no
/// other actors) whose one op column is a single run-length entry: 2^40 times the same actor.
pub fn run_length_bomb() -> Vec<u8> {
    let mut body = vec![0, 16];
    body.extend([7u8; 16]);
    body.extend([1, 1, 0, 0, 0]);
    // One column (id 0, type actor), 7 bytes: the run length 2^40 as signed LEB128, then actor 0.
    let mut column = Vec::new();
    let mut run: i64 = 1 << 40;
    loop {
        let byte = (run & 0x7f) as u8;
        run >>= 7;
        if run == 0 && byte & 0x40 == 0 {
            column.push(byte);
            break;
        }
        column.push(byte | 0x80);
    }
    column.push(0);
    body.extend([1, 0x01, column.len() as u8]);
    body.extend(column);
    body
}
