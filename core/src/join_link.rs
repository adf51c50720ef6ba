//! The link a phone scans to join a compound or sign in again, shown as a QR code on the
//! dashboard's members page:
//!
//! - `doorstep://join?relay=<relay URL>&code=<invite code>`: redeem a single-use invite
//!   (`POST /v1/join`) on that relay, as `doorstep phone join <link> --name …` does;
//! - `doorstep://login?relay=<relay URL>&token=<device token>`: sign in with a token minted for
//!   an existing person (`doorstep phone login <link>`).
//!
//! The relay URL is percent-encoded (RFC 3986: everything but the unreserved characters), so
//! it survives inside the query string; invite codes (Crockford base32 with dashes) and tokens
//! (`dst_` and hex) need no encoding but are encoded the same way for safety.

use std::fmt::Write;

/// The scheme and host every Doorstep link starts with.
const PREFIX: &str = "doorstep://";

/// What a link asks the phone to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinLink {
    /// Redeem an invite code on a relay.
    Join {
        /// The relay's base URL (`https://relay.example:7700`).
        relay: String,
        /// The single-use invite code.
        code: String,
    },
    /// Sign in with a device token on a relay.
    Login {
        /// The relay's base URL.
        relay: String,
        /// The device token, shown once.
        token: String,
    },
}

/// Why a text is not a Doorstep link.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadLink {
    /// It does not start with `doorstep://join?` or `doorstep://login?`.
    #[error("{0:?} is not a Doorstep link: it must start with doorstep://join? or doorstep://login?")]
    NotDoorstep(String),
    /// A parameter the link needs is missing or empty.
    #[error("the Doorstep link has no {0}= parameter; scan the QR code again or type the code by hand")]
    Missing(&'static str),
    /// A `%` escape is not two hex digits, or the decoded bytes are not UTF-8.
    #[error("the Doorstep link's {0} parameter is garbled; scan the QR code again")]
    Garbled(&'static str),
}

impl JoinLink {
    /// The link as text, to encode in a QR code.
    pub fn to_uri(&self) -> String {
        match self {
            JoinLink::Join { relay, code } => {
                format!("{PREFIX}join?relay={}&code={}", encode(relay), encode(code))
            }
            JoinLink::Login { relay, token } => {
                format!("{PREFIX}login?relay={}&token={}", encode(relay), encode(token))
            }
        }
    }

    /// Reads a link back; the inverse of [`JoinLink::to_uri`].
    pub fn parse(text: &str) -> Result<Self, BadLink> {
        let text = text.trim();
        let rest = text.strip_prefix(PREFIX).ok_or_else(|| BadLink::NotDoorstep(text.to_owned()))?;
        let (action, query) = rest.split_once('?').ok_or_else(|| BadLink::NotDoorstep(text.to_owned()))?;
        let param = |name: &'static str| -> Result<String, BadLink> {
            let raw = query
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value)
                .ok_or(BadLink::Missing(name))?;
            let value = percent_decode(raw).ok_or(BadLink::Garbled(name))?;
            if value.is_empty() { Err(BadLink::Missing(name)) } else { Ok(value) }
        };
        match action {
            "join" => Ok(JoinLink::Join { relay: param("relay")?, code: param("code")? }),
            "login" => Ok(JoinLink::Login { relay: param("relay")?, token: param("token")? }),
            _ => Err(BadLink::NotDoorstep(text.to_owned())),
        }
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// Undoes [`encode`] (and any other valid percent-encoding); `None` if an escape is broken or
/// the result is not UTF-8. Also read by the relay for a path in its database address.
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_read_back_as_written() {
        let join = JoinLink::Join {
            relay: "https://relay.example:7700/sub path".into(),
            code: "AB12-CD34-EF".into(),
        };
        let uri = join.to_uri();
        assert_eq!(
            uri,
            "doorstep://join?relay=https%3A%2F%2Frelay.example%3A7700%2Fsub%20path&code=AB12-CD34-EF"
        );
        assert_eq!(JoinLink::parse(&uri), Ok(join));
        let login = JoinLink::Login { relay: "http://127.0.0.1:7700".into(), token: "dst_00ff".into() };
        assert_eq!(JoinLink::parse(&login.to_uri()), Ok(login));
    }

    #[test]
    fn bad_links_say_what_is_wrong() {
        assert!(matches!(JoinLink::parse("http://x/join?code=1"), Err(BadLink::NotDoorstep(_))));
        assert!(matches!(JoinLink::parse("doorstep://wipe?relay=x"), Err(BadLink::NotDoorstep(_))));
        assert_eq!(JoinLink::parse("doorstep://join?relay=http%3A%2F%2Fx"), Err(BadLink::Missing("code")));
        assert_eq!(JoinLink::parse("doorstep://join?relay=%zz&code=1"), Err(BadLink::Garbled("relay")));
        assert_eq!(JoinLink::parse("doorstep://login?relay=x&token="), Err(BadLink::Missing("token")));
    }
}
