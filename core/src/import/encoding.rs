//! Turns a spreadsheet export's bytes into text.
//!
//! Chinese Excel writes CSV in one of three ways: "CSV UTF-8" (UTF-8 with a byte-order mark),
//! plain "CSV" (the system code page, GBK on a Chinese Windows, which GB18030 contains) and
//! "Unicode text" (UTF-16 little-endian with a byte-order mark, tab-separated). A coordinator
//! cannot be expected to know which one they saved, so we read all three and say plainly when
//! the bytes are none of them.

use encoding_rs::{Encoding, GB18030, UTF_16BE, UTF_16LE};

use super::error::ImportError;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
const UTF16LE_BOM: &[u8] = b"\xFF\xFE";
const UTF16BE_BOM: &[u8] = b"\xFE\xFF";
/// An .xlsx workbook is a ZIP archive.
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
/// An .xls workbook is an OLE compound file.
const OLE_MAGIC: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";

/// Decodes a spreadsheet export: UTF-8 (with or without a byte-order mark), UTF-16 LE or BE
/// with a byte-order mark, or else GB18030 (which includes GBK and GB2312).
/// UTF-16 without a byte-order mark, told by its NULs: in text of ASCII headers, digits and
/// commas, every other byte of the first few hundred is NUL (the high byte of little-endian
/// UTF-16 after each character, of big-endian before it), and the others are not.
fn utf16_without_bom(bytes: &[u8]) -> Option<&'static Encoding> {
    let head = &bytes[..bytes.len().min(512) & !1];
    if head.len() < 8 {
        return None;
    }
    let pairs = head.len() / 2;
    let nul_at = |at: usize| head.chunks_exact(2).filter(|pair| pair[at] == 0 && pair[1 - at] != 0).count();
    // Chinese characters have no NUL byte; the separators, digits and line ends between them do.
    match (nul_at(1), nul_at(0)) {
        (le, be) if le * 4 >= pairs && be == 0 => Some(UTF_16LE),
        (le, be) if be * 4 >= pairs && le == 0 => Some(UTF_16BE),
        _ => None,
    }
}

pub fn decode(bytes: &[u8]) -> Result<String, ImportError> {
    if bytes.starts_with(ZIP_MAGIC) {
        return Err(ImportError::Workbook { format: ".xlsx" });
    }
    if bytes.starts_with(OLE_MAGIC) {
        return Err(ImportError::Workbook { format: ".xls" });
    }
    let text = if let Some(rest) = bytes.strip_prefix(UTF8_BOM) {
        match std::str::from_utf8(rest) {
            Ok(text) => text.to_owned(),
            Err(e) => {
                return Err(ImportError::Encoding {
                    reason: format!(
                        "it starts with a UTF-8 byte-order mark but byte {} (counting from 1) is not UTF-8",
                        e.valid_up_to() + UTF8_BOM.len() + 1
                    ),
                });
            }
        }
    } else if let Some(rest) = bytes.strip_prefix(UTF16LE_BOM) {
        decode_strictly(UTF_16LE, rest)?
    } else if let Some(rest) = bytes.strip_prefix(UTF16BE_BOM) {
        decode_strictly(UTF_16BE, rest)?
    } else if let Some(encoding) = utf16_without_bom(bytes) {
        // Some programs write UTF-16 without its byte-order mark: read as UTF-8 it was "contains
        // NUL bytes, so it is not a text file".
        decode_strictly(encoding, bytes)?
    } else if let Ok(text) = std::str::from_utf8(bytes) {
        text.to_owned()
    } else {
        decode_strictly(GB18030, bytes)?
    };
    // GB18030 has a byte-order mark of its own, which decodes to U+FEFF.
    let text = match text.strip_prefix('\u{FEFF}') {
        Some(rest) => rest.to_owned(),
        None => text,
    };
    if text.contains('\0') {
        return Err(ImportError::Encoding {
            reason: "it contains NUL bytes, so it is not a text file".to_owned(),
        });
    }
    Ok(text)
}

fn decode_strictly(encoding: &'static Encoding, bytes: &[u8]) -> Result<String, ImportError> {
    match encoding.decode_without_bom_handling_and_without_replacement(bytes) {
        Some(text) => Ok(text.into_owned()),
        None if encoding == GB18030 => {
            Err(ImportError::Encoding { reason: "it is neither UTF-8 nor GB18030/GBK".to_owned() })
        }
        None => Err(ImportError::Encoding {
            reason: format!("it starts with a {} byte-order mark but is not {0}", encoding.name()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(bytes: &[u8], expect: Result<&str, &str>) {
        let got = decode(bytes).map_err(|e| e.to_string());
        match (&got, expect) {
            (Ok(text), Ok(expect)) => assert_eq!(text, expect, "decoding {bytes:?}"),
            (Err(error), Err(expect)) => {
                assert!(error.contains(expect), "decoding {bytes:?}: {error:?} should mention {expect:?}")
            }
            _ => panic!("decoding {bytes:?}: got {got:?}, expected {expect:?}"),
        }
    }

    fn encode(encoding: &'static Encoding, text: &str) -> Vec<u8> {
        let (bytes, _, had_errors) = encoding.encode(text);
        assert!(!had_errors);
        bytes.into_owned()
    }

    fn utf16(text: &str, little_endian: bool) -> Vec<u8> {
        let mut bytes = if little_endian { vec![0xFF, 0xFE] } else { vec![0xFE, 0xFF] };
        for unit in text.encode_utf16() {
            bytes.extend(if little_endian { unit.to_le_bytes() } else { unit.to_be_bytes() });
        }
        bytes
    }

    #[test]
    fn reads_what_excel_writes() {
        let text = "小区,楼号,房号,户主\r\n北林小区,1号楼,102,谢燕杰\r\n";
        check(text.as_bytes(), Ok(text));
        check(&[UTF8_BOM, text.as_bytes()].concat(), Ok(text));
        check(&encode(GB18030, text), Ok(text));
        check(&utf16(text, true), Ok(text));
        check(&utf16(text, false), Ok(text));
        check(b"", Ok(""));
        check(UTF8_BOM, Ok(""));
        // GB18030's own byte-order mark.
        check(&[b"\x84\x31\x95\x33".as_slice(), &encode(GB18030, text)].concat(), Ok(text));
    }

    #[test]
    fn rejects_what_is_not_text() {
        check(b"\xEF\xBB\xBF\xC3\x28", Err("byte 4 (counting from 1) is not UTF-8"));
        check(b"\x81\x30\xFF\xFF\x00\x01garbage", Err("neither UTF-8 nor GB18030"));
        check(&utf16("小区", true)[..5], Err("UTF-16LE byte-order mark but is not UTF-16LE"));
        check(b"a,b\0,c", Err("NUL bytes"));
        check(b"PK\x03\x04\x14\x00", Err("Excel workbook (.xlsx)"));
        check(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\x00", Err("Excel workbook (.xls)"));
    }

    /// UTF-16 without its byte-order mark was "contains NUL bytes, so it is not a text file".
    #[test]
    fn utf16_without_a_byte_order_mark_is_read() {
        let text = "楼号,房号,户主\n1,101,张三\n";
        let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(decode(&le).expect("UTF-16LE is read"), text);
        assert_eq!(decode(&be).expect("UTF-16BE is read"), text);
        // A UTF-8 file with a NUL in it is still no text file.
        assert!(decode(b"1,2,3\n1,103,\0").is_err());
    }
}
