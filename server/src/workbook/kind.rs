//! What an upload sent as a workbook really is, when it is not an .xlsx: so that a coordinator
//! whose file was renamed, password-protected or saved by another program is told what to do,
//! not "invalid Zip archive: Could not find EOCD" or "File not found '_rels/.rels'".

use std::io::Cursor;

use zip::ZipArchive;

use super::{OLE_MAGIC, ZIP_MAGIC};

/// A file that is not an Excel workbook (.xlsx), by what its bytes say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotAWorkbook {
    /// An Office file protected by a password: an OLE container holding an encrypted package.
    #[error(
        "这个工作簿设了打开密码，无法读取；请在 Excel 中打开，文件 → 信息 → 保护工作簿 → 用密码进行加密，清空密码后保存，再导入 / \
         the workbook is protected by a password and cannot be read; open it in Excel, remove the password (File → Info → Protect Workbook → Encrypt with Password, empty it), save and import it again"
    )]
    PasswordProtected,
    /// The Excel 97–2003 binary format.
    #[error(
        "这是 Excel 97-2003 工作簿 (.xls)，请在 Excel 中 另存为 → \"Excel 工作簿 (*.xlsx)\" 或 \"CSV UTF-8 (逗号分隔)\" 后导入 / \
         the file is an Excel 97-2003 workbook (.xls); in Excel use 另存为 (Save As) → \"Excel 工作簿 (*.xlsx)\" or \"CSV UTF-8 (逗号分隔)\" and import that"
    )]
    OldExcel,
    /// Text, as a CSV is, under an .xlsx name.
    #[error(
        "这个文件是文本（CSV），不是 Excel 工作簿，只是文件名以 .xlsx 结尾；请把文件名改为以 .csv 结尾后导入 / \
         the file is text (a CSV), not an Excel workbook, though its name ends in .xlsx; rename it to end in .csv and import it again"
    )]
    Text,
    /// An OpenDocument spreadsheet (LibreOffice, WPS's .ods).
    #[error(
        "这是 OpenDocument 表格 (.ods)，请另存为 Excel 工作簿 (.xlsx) 或 CSV UTF-8 后导入 / \
         the file is an OpenDocument spreadsheet (.ods); save it as an Excel workbook (.xlsx) or as CSV UTF-8 and import that"
    )]
    OpenDocument,
    /// An Apple Numbers document.
    #[error(
        "这是 Numbers 表格，请在 Numbers 中 文件 → 导出为 → Excel 或 CSV 后导入 / \
         the file is an Apple Numbers spreadsheet; in Numbers use File → Export To → Excel or CSV and import that"
    )]
    Numbers,
    /// A Word or PowerPoint document.
    #[error(
        "这是 Word 或 PowerPoint 文件，不是表格；请导入名单的 Excel 工作簿 (.xlsx) 或 CSV / \
         the file is a Word or PowerPoint document, not a spreadsheet; import the roster's Excel workbook (.xlsx) or CSV"
    )]
    Document,
    /// Anything else.
    #[error(
        "这个文件既不是 Excel 工作簿 (.xlsx) 也不是 CSV；请在 Excel 或 WPS 中另存为其中之一后导入 / \
         the file is neither an Excel workbook (.xlsx) nor a CSV; save it as one of them in Excel or WPS and import that"
    )]
    Unknown,
}

/// What `bytes` are if not an .xlsx workbook; `None` when they may be one (a ZIP archive holding
/// `xl/workbook.xml`, or a ZIP archive too damaged to list, which the reader then names).
pub fn not_a_workbook(bytes: &[u8]) -> Option<NotAWorkbook> {
    if bytes.starts_with(OLE_MAGIC) {
        // Office writes a password-protected workbook as an OLE file whose stream directory names
        // "EncryptedPackage" (in UTF-16).
        let encrypted: Vec<u8> = "EncryptedPackage".encode_utf16().flat_map(u16::to_le_bytes).collect();
        let protected = bytes.windows(encrypted.len()).any(|w| w == encrypted.as_slice());
        return Some(if protected { NotAWorkbook::PasswordProtected } else { NotAWorkbook::OldExcel });
    }
    if !bytes.starts_with(ZIP_MAGIC) {
        return Some(if looks_like_text(bytes) { NotAWorkbook::Text } else { NotAWorkbook::Unknown });
    }
    let archive = ZipArchive::new(Cursor::new(bytes)).ok()?;
    // The names as they read; one that does not (not UTF-8) is no part a test below looks for.
    let names: Vec<String> = archive.file_names().filter_map(|n| n.ok().map(|n| n.into_owned())).collect();
    let has = |name: &str| names.iter().any(|n| n == name);
    let starts = |prefix: &str| names.iter().any(|n| n.starts_with(prefix));
    if has("xl/workbook.xml") {
        None
    } else if has("mimetype") && has("content.xml") {
        Some(NotAWorkbook::OpenDocument)
    } else if starts("Index/") && names.iter().any(|n| n.ends_with(".iwa")) {
        Some(NotAWorkbook::Numbers)
    } else if has("word/document.xml") || starts("ppt/") {
        Some(NotAWorkbook::Document)
    } else if has("[Content_Types].xml") {
        // An Office archive without a workbook part: let the reader say what is missing.
        None
    } else {
        Some(NotAWorkbook::Unknown)
    }
}

/// Whether the start of `bytes` reads as text: UTF-8 (or GB18030's bytes, which are never NUL
/// nor control characters other than tabs and line ends).
pub fn looks_like_text(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(4096)];
    !head.is_empty() && head.iter().all(|&b| b >= 0x20 || matches!(b, b'\t' | b'\n' | b'\r'))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Write;

    use super::*;

    fn zip_of(names: &[&str]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for name in names {
            writer.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
            writer.write_all(b"x").unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    #[test]
    fn a_file_that_is_not_a_workbook_is_named_for_what_it_is() {
        let mut protected = OLE_MAGIC.to_vec();
        protected.extend(std::iter::repeat_n(0, 64));
        protected.extend("EncryptedPackage".encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(not_a_workbook(&protected), Some(NotAWorkbook::PasswordProtected));
        assert_eq!(not_a_workbook(OLE_MAGIC), Some(NotAWorkbook::OldExcel));
        assert_eq!(not_a_workbook("小区,楼号,房号\r\n香樟苑,1,101\n".as_bytes()), Some(NotAWorkbook::Text));
        assert_eq!(not_a_workbook(b"\x00\x01\x02binary"), Some(NotAWorkbook::Unknown));
        assert_eq!(not_a_workbook(&zip_of(&["mimetype", "content.xml"])), Some(NotAWorkbook::OpenDocument));
        assert_eq!(
            not_a_workbook(&zip_of(&["Index/Document.iwa", "Metadata/x"])),
            Some(NotAWorkbook::Numbers)
        );
        assert_eq!(
            not_a_workbook(&zip_of(&["[Content_Types].xml", "word/document.xml"])),
            Some(NotAWorkbook::Document)
        );
        assert_eq!(not_a_workbook(&zip_of(&["[Content_Types].xml", "xl/workbook.xml"])), None);
        assert_eq!(not_a_workbook(&zip_of(&["notes.txt"])), Some(NotAWorkbook::Unknown));
        assert_eq!(not_a_workbook(b"PK\x03\x04 damaged"), None, "the reader names the damage");
    }
}
