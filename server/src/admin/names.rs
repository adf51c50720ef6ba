//! Names a person types (their own, a device's, a compound's), as the relay stores them outside
//! the documents: trimmed, not empty, at most [`MAX_NAME`] characters, and free of control
//! characters. A NUL is stored by SQLite but refused by PostgreSQL, which answered "storage
//! failed; try again shortly" to a request that no retry could help; a line break or an escape
//! sequence in a name garbles the lists and exports it appears in.

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
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(AdminError::Invalid(format!(
            "{field} holds a control character (U+{:04X}); type it again without it (名称含有控制字符)",
            u32::from(c)
        )));
    }
    Ok(value.to_owned())
}

/// Whether `c` is a control character other than tab and line breaks, which free text (a
/// reason, a summary) may hold.
fn is_stray_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// Whether free text holds a control character other than tab and line breaks.
pub fn holds_stray_control(text: &str) -> bool {
    text.chars().any(is_stray_control)
}

/// `text` with every control character but tab and line breaks replaced by U+FFFD: for text a
/// phone wrote for people to read (a set-aside item's summary), which is kept, not refused.
pub fn without_controls(text: &str) -> String {
    text.chars().map(|c| if is_stray_control(c) { '\u{fffd}' } else { c }).collect()
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
    }

    #[test]
    fn text_without_controls_keeps_tabs_and_line_breaks() {
        assert_eq!(without_controls("a\0b\tc\nd\u{1b}"), "a\u{fffd}b\tc\nd\u{fffd}");
    }
}
