//! Names a person types (their own, a device's, a compound's), as the relay stores them outside
//! the documents: trimmed, not empty, at most [`MAX_NAME`] characters, and free of the
//! characters no text of a compound holds (core's `rulebook::characters`, one-line: control
//! characters, tabs and line breaks, bidirectional overrides). A NUL is stored by SQLite but
//! refused by PostgreSQL, which answered "storage failed; try again shortly" to a request that no
//! retry could help; a line break or an escape sequence in a name garbles the lists and exports
//! it appears in; an override shows a name in another order than it is written (a member
//! passing for another on the dashboard's lists).

use doorstep_core::rulebook::{Kind, characters};

use super::AdminError;

/// Longest name or device name accepted, in characters.
pub const MAX_NAME: usize = doorstep_core::limits::SHORT_TEXT;

/// `value` as stored for the field `field`, or why it cannot be.
pub fn checked_name(field: &str, value: &str) -> Result<String, AdminError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(AdminError::Invalid(format!("{field} must not be empty")));
    }
    if value.chars().count() > MAX_NAME {
        return Err(AdminError::Invalid(format!("{field} is longer than {MAX_NAME} characters")));
    }
    if let Some((place, c)) = characters::first_unwelcome(value, Kind::Short) {
        return Err(AdminError::Invalid(format!(
            "{field} {}; type it again without it (名称含有控制字符或文字方向符)",
            characters::describe(place, c, Kind::Short)
        )));
    }
    Ok(value.to_owned())
}

/// Whether free text (a reason, which may run over several lines) holds a character no text
/// holds.
pub fn holds_stray_control(text: &str) -> bool {
    characters::first_unwelcome(text, Kind::Long).is_some()
}

/// `text` with every character no text holds, tabs and line breaks aside, replaced by U+FFFD:
/// for text a phone wrote for people to read (a set-aside item's summary), which is kept, not
/// refused.
pub fn without_controls(text: &str) -> String {
    text.chars().map(|c| if characters::is_unwelcome(c, Kind::Long) { '\u{fffd}' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_with_a_control_character_is_refused_and_says_which() {
        assert_eq!(checked_name("name", "  李强 ").ok().as_deref(), Some("李强"));
        let Err(AdminError::Invalid(why)) = checked_name("device_name", "a\0b") else { panic!("taken") };
        assert!(why.contains("U+0000"), "{why}");
        assert!(checked_name("name", "line\nbreak").is_err());
        assert!(checked_name("name", "\u{1b}[31m").is_err());
        assert!(checked_name("name", " ").is_err());
        let Err(AdminError::Invalid(why)) = checked_name("name", "王芳\u{202E}") else { panic!("taken") };
        assert!(why.contains("U+202E (a bidirectional override)"), "{why}");
    }

    #[test]
    fn text_without_controls_keeps_tabs_and_line_breaks() {
        assert_eq!(without_controls("a\0b\tc\nd\u{1b}"), "a\u{fffd}b\tc\nd\u{fffd}");
        assert_eq!(without_controls("已送达\u{202E}"), "已送达\u{fffd}");
    }
}
