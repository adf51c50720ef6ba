//! Spreadsheet bombs, generated here (never committed as files): workbooks whose parts inflate
//! to gigabytes, parts whose headers lie about their size, a million empty cells. Each is
//! refused with a specific Chinese and English message, and the relay stays up.
//!
//! `bombs_measured_on_a_real_relay` (run only when `DOORSTEP_BOMB_RELAY` names a `doorstep`
//! binary) starts that binary per bomb, uploads the bomb to the dashboard's import preview, and
//! prints the relay's peak RSS and CPU seconds: the figures in SECURITY.md.

use std::io::{Cursor, Read, Write};
use std::time::{Duration, Instant};

use doorstep_core::Role;
use flate2::{Compress, Compression, FlushCompress};
use reqwest::StatusCode;
use rust_xlsxwriter::Workbook;

use crate::harness::Dash;

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

/// One ZIP entry as it goes into the archive: already compressed bytes and what its headers
/// claim.
struct Entry {
    name: String,
    /// 0 stored, 8 deflated.
    method: u16,
    data: Vec<u8>,
    crc: u32,
    declared_size: u32,
}

/// Writes entries as a ZIP archive byte by byte, so that a header can say what the test wants.
fn zip(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for e in entries {
        let offset = u32::try_from(out.len()).unwrap();
        let name = e.name.as_bytes();
        let compressed = u32::try_from(e.data.len()).unwrap();
        let header = |sig: &[u8], central: bool| {
            let mut h = Vec::new();
            h.extend_from_slice(sig);
            if central {
                h.extend_from_slice(&20u16.to_le_bytes()); // version made by
            }
            h.extend_from_slice(&20u16.to_le_bytes()); // version needed
            h.extend_from_slice(&0u16.to_le_bytes()); // flags
            h.extend_from_slice(&e.method.to_le_bytes());
            h.extend_from_slice(&0u32.to_le_bytes()); // time and date
            h.extend_from_slice(&e.crc.to_le_bytes());
            h.extend_from_slice(&compressed.to_le_bytes());
            h.extend_from_slice(&e.declared_size.to_le_bytes());
            h.extend_from_slice(&u16::try_from(name.len()).unwrap().to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes()); // extra length
            if central {
                h.extend_from_slice(&0u16.to_le_bytes()); // comment length
                h.extend_from_slice(&0u16.to_le_bytes()); // disk
                h.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
                h.extend_from_slice(&0u32.to_le_bytes()); // external attributes
                h.extend_from_slice(&offset.to_le_bytes());
            }
            h.extend_from_slice(name);
            h
        };
        out.extend(header(b"PK\x03\x04", false));
        out.extend_from_slice(&e.data);
        central.extend(header(b"PK\x01\x02", true));
    }
    let central_at = u32::try_from(out.len()).unwrap();
    let count = u16::try_from(entries.len()).unwrap();
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06");
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&u32::try_from(central.len()).unwrap().to_le_bytes());
    out.extend_from_slice(&central_at.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// A raw deflate stream of `head`, then `unit` repeated until the output reaches `size` bytes,
/// then `tail`, built without compressing gigabytes: once the window holds only repetitions of
/// `unit`, one sync-flushed megabyte of them compresses to a block that decodes correctly
/// wherever it is repeated, so the block is compressed once and copied.
fn repeated_deflate(head: &[u8], unit: &[u8], size: u64, tail: &[u8]) -> Vec<u8> {
    let chunk: Vec<u8> = unit.iter().copied().cycle().take(unit.len() * (1_048_576 / unit.len())).collect();
    let mut deflate = Compress::new(Compression::best(), false);
    let mut out = Vec::with_capacity(4 * 1024 * 1024);
    let feed = |deflate: &mut Compress, input: &[u8], flush: FlushCompress, out: &mut Vec<u8>| {
        let start = out.len();
        let mut consumed = 0;
        loop {
            out.reserve(256 * 1024);
            let before = deflate.total_in();
            deflate.compress_vec(&input[consumed..], out, flush).unwrap();
            consumed += usize::try_from(deflate.total_in() - before).unwrap();
            if consumed == input.len() && out.capacity() > out.len() {
                break;
            }
        }
        out.len() - start
    };
    feed(&mut deflate, head, FlushCompress::Sync, &mut out);
    // Two chunks fill the 32 KiB window with the unit; the block of the third is the one copied.
    feed(&mut deflate, &chunk, FlushCompress::Sync, &mut out);
    feed(&mut deflate, &chunk, FlushCompress::Sync, &mut out);
    let block_at = out.len();
    feed(&mut deflate, &chunk, FlushCompress::Sync, &mut out);
    let block = out[block_at..].to_vec();
    let mut produced = head.len() as u64 + 3 * chunk.len() as u64;
    while produced + (chunk.len() as u64) <= size {
        out.extend_from_slice(&block);
        produced += chunk.len() as u64;
    }
    feed(&mut deflate, tail, FlushCompress::Finish, &mut out);
    out
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// The parts of a real one-sheet workbook (rust_xlsxwriter), inflated, by name.
fn workbook_parts() -> Vec<(String, Vec<u8>)> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.write_string(0, 0, "楼号").unwrap();
    sheet.write_string(0, 1, "房号").unwrap();
    sheet.write_string(0, 2, "户主").unwrap();
    let bytes = book.save_to_buffer().unwrap();
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            (entry.name().unwrap().into_owned(), data)
        })
        .collect()
}

/// A workbook whose part `name` is replaced by `data` (already deflated) with headers that
/// declare `declared_size`; every other part is honest.
fn workbook_with(name: &str, data: Vec<u8>, declared_size: u32, crc: u32) -> Vec<u8> {
    let mut entries: Vec<Entry> = workbook_parts()
        .into_iter()
        .filter(|(n, _)| n != name)
        .map(|(n, d)| Entry {
            name: n,
            method: 8,
            crc: crc32fast::hash(&d),
            declared_size: u32::try_from(d.len()).unwrap(),
            data: deflate(&d),
        })
        .collect();
    entries.push(Entry { name: name.to_owned(), method: 8, data, crc, declared_size });
    zip(&entries)
}

/// A bomb's checksum is left 0: computing it would mean inflating it, and a reader that checks
/// it has already inflated everything.
const NO_CRC: u32 = 0;

const SST_HEAD: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<sst xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" count=\"1\" uniqueCount=\"1\"><si><t>";
const SST_TAIL: &[u8] = b"</t></si></sst>";
const SHEET_HEAD: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData>";
const SHEET_TAIL: &[u8] = b"</sheetData></worksheet>";

/// A bomb, what it is, and what the refusal must say.
pub struct Bomb {
    pub name: &'static str,
    pub bytes: Vec<u8>,
    /// A phrase of the English half of the refusal.
    pub says: &'static str,
}

/// A shared-strings table of one string of `size` bytes, with its true size declared (up to
/// what a ZIP header can hold).
fn shared_strings_bomb(size: u64) -> Vec<u8> {
    let data = repeated_deflate(SST_HEAD, b"a", size, SST_TAIL);
    workbook_with("xl/sharedStrings.xml", data, u32::try_from(size).unwrap_or(u32::MAX), NO_CRC)
}

/// Every bomb of issue 11, and a million empty cells.
pub fn bombs() -> Vec<Bomb> {
    // A million empty formatted cells, one per row, then a value: empty cells used to skip
    // every size and row check. They count against the cells read; the value is past the rows.
    let mut empty = SHEET_HEAD.to_vec();
    for row in 1..1_000_000u32 {
        write!(empty, "<row r=\"{row}\"><c r=\"A{row}\" s=\"0\"/></row>").unwrap();
    }
    write!(empty, "<row r=\"1000000\"><c r=\"A1000000\"><v>1</v></c></row>").unwrap();
    empty.extend_from_slice(SHEET_TAIL);
    let empty_size = u32::try_from(empty.len()).unwrap();
    vec![
        Bomb {
            name: "shared strings → 1 GiB", bytes: shared_strings_bomb(GIB), says: "inflates too large"
        },
        Bomb {
            name: "shared strings → 2 GiB",
            bytes: shared_strings_bomb(2 * GIB),
            says: "inflates too large",
        },
        Bomb {
            name: "shared strings → 2.6 GiB",
            bytes: shared_strings_bomb(2_662 * MIB),
            says: "inflates too large",
        },
        Bomb {
            // More than a ZIP header without ZIP64 can even say.
            name: "shared strings → 4.2 GiB, declared as 100 KB",
            bytes: workbook_with(
                "xl/sharedStrings.xml",
                repeated_deflate(SST_HEAD, b"a", 4_300 * MIB, SST_TAIL),
                100_000,
                NO_CRC,
            ),
            says: "inflates to more than the 100000 bytes it declares",
        },
        Bomb {
            name: "shared strings → 2 GiB, size declared as 1 KB",
            bytes: workbook_with(
                "xl/sharedStrings.xml",
                repeated_deflate(SST_HEAD, b"a", 2 * GIB, SST_TAIL),
                1_000,
                NO_CRC,
            ),
            says: "inflates to more than the 1000 bytes it declares",
        },
        Bomb {
            name: "a million empty cells",
            bytes: workbook_with(
                "xl/worksheets/sheet1.xml",
                deflate(&empty),
                empty_size,
                crc32fast::hash(&empty),
            ),
            says: "sheet \"Sheet1\" uses row 1000000 (cell A1000000)",
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bomb_is_refused_with_a_chinese_and_english_reason_and_the_relay_stays_up() {
    let dash = Dash::start().await;
    let compound = dash.relay.create_compound("北林").await;
    let coordinator = dash.relay.phone(compound, Role::Coordinator, "王芳").await;
    let session = dash.login(&coordinator.token).await;
    for bomb in bombs() {
        assert!(
            bomb.bytes.len() < 8 * 1024 * 1024,
            "{}: {} bytes fit the upload limit",
            bomb.name,
            bomb.bytes.len()
        );
        println!("{}: {} bytes", bomb.name, bomb.bytes.len());
        let started = Instant::now();
        let answer = session
            .post_bytes(&format!("/dashboard/api/compounds/{compound}/import?mode=preview"), XLSX, bomb.bytes)
            .await;
        println!("  refused in {:?}", started.elapsed());
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}: {}", bomb.name, answer.text());
        let body = answer.json();
        assert_eq!(body["error"], "unreadable_file", "{}", bomb.name);
        let reason = body["reason"].as_str().unwrap();
        assert!(reason.contains(bomb.says), "{}: {reason}", bomb.name);
        assert!(
            reason.contains("请") || reason.contains("没有读取"),
            "{}: a Chinese half: {reason}",
            bomb.name
        );
        // The relay is up and the compound untouched.
        let households = session.get_json(&format!("/dashboard/api/compounds/{compound}/households")).await;
        assert_eq!(households.as_array().unwrap().len(), 0);
    }
}

/// Peak RSS (VmHWM) and CPU seconds of a process, from /proc.
fn usage(pid: u32) -> Option<(u64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hwm_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some((hwm_kib * 1024, ticks as f64 / 100.0))
}

/// Starts `binary serve --demo` and returns it, its URL and a coordinator's token.
fn start_relay(binary: &str, db: &std::path::Path) -> (std::process::Child, String, String) {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(binary)
        .args(["serve", "--demo", "--listen", "127.0.0.1:0", "--rate", "1000", "--db"])
        .arg(db)
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut url, mut token) = (None, None);
    while url.is_none() || token.is_none() {
        let line = lines.next().expect("the relay printed its address").unwrap();
        if let Some(rest) = line.strip_prefix("doorstep listening on ") {
            url = Some(rest.split_whitespace().next().unwrap().to_owned());
        }
        if line.contains("coordinator") && line.contains("token dst_") {
            token = line.split_whitespace().skip_while(|w| *w != "token").nth(1).map(str::to_owned);
        }
    }
    // Keep reading stdout so the relay never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, url.unwrap(), token.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bombs_measured_on_a_real_relay() {
    let Ok(binary) = std::env::var("DOORSTEP_BOMB_RELAY") else {
        println!("set DOORSTEP_BOMB_RELAY=path/to/doorstep (a release build) to measure");
        return;
    };
    println!("| bomb | upload | answer | after | peak RSS | CPU s |");
    println!("|---|---|---|---|---|---|");
    for bomb in bombs() {
        let dir = tempfile::tempdir().unwrap();
        let (mut child, url, token) = start_relay(&binary, &dir.path().join("relay.db"));
        let pid = child.id();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(150)).build().unwrap();
        let login = http
            .post(format!("{url}/dashboard/login"))
            .header("content-type", "application/json")
            .body(serde_json::json!({ "token": token }).to_string())
            .send()
            .await
            .unwrap();
        let cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let me = http.get(format!("{url}/dashboard/api/me")).header("cookie", &cookie).send().await.unwrap();
        let me: serde_json::Value = serde_json::from_slice(&me.bytes().await.unwrap()).unwrap();
        let compound = me["compounds"][0]["id"].as_str().unwrap().to_owned();
        let (_, cpu_before) = usage(pid).unwrap();
        let size = bomb.bytes.len();
        let started = Instant::now();
        let answer = http
            .post(format!("{url}/dashboard/api/compounds/{compound}/import?mode=preview"))
            .header("cookie", &cookie)
            .header("content-type", XLSX)
            .body(bomb.bytes)
            .send()
            .await;
        let answered = started.elapsed();
        let answer = match answer {
            Ok(a) => format!("{} in {:.1} s", a.status().as_u16(), answered.as_secs_f64()),
            Err(e) => format!(
                "no answer after {:.1} s ({})",
                answered.as_secs_f64(),
                if e.is_timeout() { "timeout" } else { "connection closed" }
            ),
        };
        // Work left running after the answer shows as CPU still rising: wait until it stops.
        let mut last = usage(pid);
        let mut peak = last.map_or(0, |u| u.0);
        loop {
            tokio::time::sleep(Duration::from_millis(1000)).await;
            let now = usage(pid);
            let (Some(a), Some(b)) = (last, now) else { break };
            peak = peak.max(b.0);
            if b.1 - a.1 < 0.05 || started.elapsed() > Duration::from_secs(300) {
                break;
            }
            last = now;
        }
        let busy = started.elapsed();
        let (alive, cpu) = match (child.try_wait().unwrap(), usage(pid)) {
            (None, Some((hwm, cpu))) => {
                peak = peak.max(hwm);
                ("up", cpu - cpu_before)
            }
            _ => ("**process died**", f64::NAN),
        };
        println!(
            "| {} | {:.1} MB | {answer} | {alive}, busy {:.0} s | {} MiB | {:.1} |",
            bomb.name,
            size as f64 / 1e6,
            busy.as_secs_f64(),
            peak / MIB,
            cpu
        );
        let _ = child.kill();
        let _ = child.wait();
    }
}
