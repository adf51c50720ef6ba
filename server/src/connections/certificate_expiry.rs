//! When the relay's own certificate stops being valid. A relay started on an expired
//! certificate serves, and every phone refuses its handshake; one whose certificate lapses
//! mid-operation fails every phone at once. So at start an expired certificate is refused with
//! its notAfter date, and one that expires within [`SOON_DAYS`] days is named in a warning.
//! While the relay serves, [`CertificateWatch`] keeps asking (its notAfter is read once, so
//! each look is a comparison): within [`SOON_DAYS`] days a WARN once a day and a warning line on
//! `/healthz` (still 200), and once it has passed an ERROR once a day and a 503 on `/healthz`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use doorstep_core::Timestamp;
use tokio_rustls::rustls::pki_types::CertificateDer;

/// How many days before its end a certificate is warned of.
pub const SOON_DAYS: i64 = 14;

/// How often the log says it again, at most, while the certificate ends soon or has ended.
const WARN_EVERY_MS: i64 = 24 * 60 * 60 * 1000;

/// What the relay's certificate's validity says now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expiry {
    /// Valid for more than [`SOON_DAYS`] days (or its dates could not be read: rustls and the
    /// phones judge it then).
    Fine,
    /// Valid, but ends within [`SOON_DAYS`] days.
    Soon {
        /// Its notAfter, as written.
        not_after: String,
        /// Whole days left.
        days: i64,
    },
    /// Its notAfter has passed.
    Expired {
        /// Its notAfter, as written.
        not_after: String,
    },
}

impl Expiry {
    /// What the log and `/healthz` say after "the relay's certificate": when it ends or ended,
    /// and what to do; `None` while it is fine.
    pub fn said(&self) -> Option<String> {
        match self {
            Expiry::Fine => None,
            Expiry::Soon { not_after, days } => Some(format!(
                "expires in {days} days ({not_after}): renew it and restart the relay, or every phone's handshake fails then"
            )),
            Expiry::Expired { not_after } => Some(format!(
                "expired on {not_after}: every phone refuses the handshake; renew it (certbot renew, or your CA) and restart the relay"
            )),
        }
    }
}

/// The validity of `certificate` (the relay's own, first in the chain) at `now`.
pub fn expiry(certificate: &CertificateDer<'_>, now: Timestamp) -> Expiry {
    judged(not_after(certificate).as_ref(), now)
}

/// A certificate's notAfter: seconds since the epoch, and as written; `None` if it does not parse.
fn not_after(certificate: &CertificateDer<'_>) -> Option<(i64, String)> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate.as_ref()).ok()?;
    let not_after = parsed.validity().not_after;
    Some((not_after.timestamp(), not_after.to_string()))
}

fn judged(not_after: Option<&(i64, String)>, now: Timestamp) -> Expiry {
    let Some((at, written)) = not_after else {
        return Expiry::Fine;
    };
    let left_secs = at.saturating_sub(now.as_millis() / 1000);
    if left_secs < 0 {
        Expiry::Expired { not_after: written.clone() }
    } else if left_secs < SOON_DAYS * 24 * 3600 {
        Expiry::Soon { not_after: written.clone(), days: left_secs / (24 * 3600) }
    } else {
        Expiry::Fine
    }
}

/// The relay's own certificate while it serves: its notAfter, read once, judged at every look,
/// and said in the log at most once a day once it ends within [`SOON_DAYS`] days.
#[derive(Debug)]
pub struct CertificateWatch {
    path: PathBuf,
    not_after: Option<(i64, String)>,
    // A std mutex: held for one comparison, never across an `.await`.
    warned_at: Mutex<Option<Timestamp>>,
}

impl CertificateWatch {
    /// Watches `certificate`, the first of the chain in the file at `path`.
    pub fn new(path: &Path, certificate: &CertificateDer<'_>) -> Self {
        Self { path: path.to_owned(), not_after: not_after(certificate), warned_at: Mutex::new(None) }
    }

    /// The certificate's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its validity at `now`.
    pub fn expiry(&self, now: Timestamp) -> Expiry {
        judged(self.not_after.as_ref(), now)
    }

    /// Logs its validity at `now` if it ends soon or has ended and the log has not said so in
    /// the last day: a WARN, or an ERROR once every phone refuses the handshake.
    pub fn warn_if_due(&self, now: Timestamp) {
        let expiry = self.expiry(now);
        if expiry == Expiry::Fine {
            return;
        }
        {
            let mut warned_at = self.warned_at.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if warned_at.is_some_and(|at| now.as_millis() - at.as_millis() < WARN_EVERY_MS) {
                return;
            }
            *warned_at = Some(now);
        }
        let path = self.path.display();
        let said = expiry.said().unwrap_or_default();
        match &expiry {
            Expiry::Soon { not_after, days } => {
                tracing::warn!(%path, %not_after, days, "the relay's certificate {said}");
            }
            Expiry::Expired { not_after } => {
                tracing::error!(%path, %not_after, "the relay's certificate {said}")
            }
            Expiry::Fine => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn certificate(year: i32, month: u8, day: u8) -> CertificateDer<'static> {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(year, month, day);
        params.self_signed(&rcgen::KeyPair::generate().unwrap()).unwrap().der().clone()
    }

    /// Midnight UTC of 2030-01-01.
    const NOW: i64 = 1_893_456_000_000;

    #[test]
    fn expired_soon_and_fine_by_the_certificates_not_after() {
        let now = Timestamp::from_millis(NOW);
        let Expiry::Expired { not_after } = expiry(&certificate(2029, 12, 31), now) else { panic!() };
        assert!(not_after.contains("Dec 31") && not_after.contains("2029"), "{not_after}");
        assert_eq!(
            expiry(&certificate(2030, 1, 10), now),
            Expiry::Soon { not_after: expiry_text(2030, 1, 10), days: 9 }
        );
        assert_eq!(expiry(&certificate(2030, 2, 1), now), Expiry::Fine);
        assert_eq!(expiry(&CertificateDer::from(vec![1, 2, 3]), now), Expiry::Fine, "rustls judges it");
    }

    #[test]
    fn a_watched_certificate_is_judged_at_each_look_and_logged_once_a_day() {
        let watch = CertificateWatch::new(Path::new("relay.pem"), &certificate(2030, 1, 20));
        let day = 24 * 3600 * 1000;
        assert_eq!(watch.expiry(Timestamp::from_millis(NOW)), Expiry::Fine, "19 days left");
        let soon = Timestamp::from_millis(NOW + 10 * day);
        assert!(matches!(watch.expiry(soon), Expiry::Soon { days: 9, .. }));
        watch.warn_if_due(soon);
        let warned = |w: &CertificateWatch| *w.warned_at.lock().unwrap();
        assert_eq!(warned(&watch), Some(soon));
        watch.warn_if_due(Timestamp::from_millis(NOW + 10 * day + 3_600_000));
        assert_eq!(warned(&watch), Some(soon), "not again within the day");
        let passed = Timestamp::from_millis(NOW + 20 * day);
        assert!(matches!(watch.expiry(passed), Expiry::Expired { .. }));
        watch.warn_if_due(passed);
        assert_eq!(warned(&watch), Some(passed));
    }

    fn expiry_text(year: i32, month: u8, day: u8) -> String {
        let der = certificate(year, month, day);
        let (_, parsed) = x509_parser::parse_x509_certificate(der.as_ref()).unwrap();
        parsed.validity().not_after.to_string()
    }
}
