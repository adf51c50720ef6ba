//! The characters no text of a compound may hold, whoever writes it: control characters (NUL,
//! the terminal's escape, a bell, the C1 block) and the bidirectional overrides, embeddings and
//! isolates (U+202A–U+202E, U+2066–U+2069).
//!
//! Both are invisible, and neither has a use in a household's name, a door or a volunteer's note.
//! Control characters reach every place a text is shown as they are: a terminal obeys an escape
//! sequence, a CSV or an export holds a NUL. A bidirectional override makes a text show in
//! another order than it is written: a note "已送达" can read as something else on the
//! coordinators' screen, a flat "1011" can show as "1101" (the "Trojan Source" class of
//! spoofing). Zero-width spaces, joiners and byte-order marks are allowed: emoji and some scripts
//! need the joiners, and people paste the others without knowing, to no harm.
//!
//! Texts that may run over several lines ([`Kind::Long`], [`Kind::Text`]) may hold tabs and line
//! breaks (`\t`, `\n`, `\r`, U+2028, U+2029); a one-line text ([`Kind::Short`]) may not.
//!
//! The phone checks every text it writes ([`Field::check_text`](super::Field::check_text)); the
//! relay checks every string value a batch writes and every character a batch adds to an
//! Automerge text (`validate::schema`). A text that already held such a character (written
//! before this rule) never blocks an edit that adds none: a merging text is judged by whether a
//! change added one, as its author saw it ([`adds_unwelcome`]).

use super::Kind;

/// Whether `c` may not appear in a text of `kind`.
pub fn is_unwelcome(c: char, kind: Kind) -> bool {
    if breaks_the_line(c) {
        return !multi_line(kind);
    }
    c.is_control() || is_bidi_control(c)
}

/// A tab or a line break: what only a multi-line text may hold.
fn breaks_the_line(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{2028}' | '\u{2029}')
}

/// Whether texts of `kind` may run over several lines.
fn multi_line(kind: Kind) -> bool {
    matches!(kind, Kind::Long | Kind::Text)
}

/// The explicit bidirectional formatting characters that reorder what follows them.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The first character of `text` that may not appear in a text of `kind`, with its place
/// (counted in characters from 1, as a person counts).
pub fn first_unwelcome(text: &str, kind: Kind) -> Option<(usize, char)> {
    text.chars().enumerate().find(|&(_, c)| is_unwelcome(c, kind)).map(|(i, c)| (i + 1, c))
}

/// How many characters of `text` may not appear in a text of `kind`.
pub fn count_unwelcome(text: &str, kind: Kind) -> usize {
    text.chars().filter(|&c| is_unwelcome(c, kind)).count()
}

/// Whether a change that turned a text holding `before` such characters into one holding
/// `after` added one.
pub fn adds_unwelcome(before: usize, after: usize) -> bool {
    after > before
}

/// A sentence naming the character at `place`, for a reason: "holds U+202E (a bidirectional
/// override) at character 3; remove it".
pub fn describe(place: usize, c: char, kind: Kind) -> String {
    let hint =
        if multi_line(kind) || !breaks_the_line(c) { "remove it" } else { "this field holds one line" };
    format!("holds U+{:04X} ({}) at character {place}; {hint}", c as u32, what_it_is(c))
}

/// What a person is told `c` is, in a reason: the kind of invisible character, named as
/// Unicode names it, so the one who reads it can look it up.
pub fn what_it_is(c: char) -> &'static str {
    match c {
        '\t' => "a tab",
        '\n' | '\r' | '\u{2028}' | '\u{2029}' => "a line break",
        '\u{202A}' | '\u{202B}' => "a bidirectional embedding",
        '\u{202C}' => "the end of a bidirectional embedding or override",
        '\u{202D}' | '\u{202E}' => "a bidirectional override",
        '\u{2066}'..='\u{2068}' => "a bidirectional isolate",
        '\u{2069}' => "the end of a bidirectional isolate",
        _ => "a control character",
    }
}

/// `text` with every character a text of `kind` may not hold taken out, a one-line text's tabs
/// and line breaks each turned into a space (so "3\n单元" stays two words), and how many
/// characters were taken out: what a roster import makes of a spreadsheet's cell.
pub fn clean(text: &str, kind: Kind) -> (String, usize) {
    let mut removed = 0;
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if !is_unwelcome(c, kind) {
            out.push(c);
        } else if breaks_the_line(c) {
            if !out.ends_with(' ') {
                out.push(' ');
            }
        } else {
            removed += 1;
        }
    }
    (out, removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_texts_take_no_line_breaks_and_no_text_takes_controls_or_overrides() {
        for kind in [Kind::Short, Kind::Long, Kind::Text] {
            for c in
                ['\0', '\u{7}', '\u{1B}', '\u{7F}', '\u{85}', '\u{9F}', '\u{202E}', '\u{2066}', '\u{2069}']
            {
                assert!(is_unwelcome(c, kind), "{c:?} in {kind:?}");
            }
            for c in ['a', '楼', ' ', '\u{3000}', '\u{200B}', '\u{200D}', '\u{FEFF}', '😀', '\u{301}'] {
                assert!(!is_unwelcome(c, kind), "{c:?} in {kind:?}");
            }
        }
        for c in ['\t', '\n', '\r', '\u{2028}', '\u{2029}'] {
            assert!(is_unwelcome(c, Kind::Short));
            assert!(!is_unwelcome(c, Kind::Long));
            assert!(!is_unwelcome(c, Kind::Text));
        }
    }

    #[test]
    fn the_first_one_is_named_by_its_place_and_code_point() {
        assert_eq!(first_unwelcome("10\u{202E}11", Kind::Short), Some((3, '\u{202E}')));
        assert_eq!(first_unwelcome("第一行\n第二行", Kind::Long), None);
        assert_eq!(
            describe(3, '\u{202E}', Kind::Short),
            "holds U+202E (a bidirectional override) at character 3; remove it"
        );
        assert_eq!(
            describe(2, '\n', Kind::Short),
            "holds U+000A (a line break) at character 2; this field holds one line"
        );
        assert_eq!(count_unwelcome("\u{7}a\u{7}\n", Kind::Long), 2);
        assert!(describe(1, '\u{2067}', Kind::Text).contains("U+2067 (a bidirectional isolate)"));
        assert!(describe(1, '\u{202B}', Kind::Text).contains("(a bidirectional embedding)"));
        assert!(describe(1, '\u{1B}', Kind::Text).contains("U+001B (a control character)"));
    }

    #[test]
    fn cleaning_folds_a_one_line_texts_breaks_into_spaces_and_counts_what_it_took_out() {
        assert_eq!(clean("王\u{202E}芳", Kind::Short), ("王芳".to_owned(), 1));
        assert_eq!(clean("3\r\n单元", Kind::Short), ("3 单元".to_owned(), 0));
        assert_eq!(clean("买药\r\n\u{0}送到门口", Kind::Text), ("买药\r\n送到门口".to_owned(), 1));
    }
}
