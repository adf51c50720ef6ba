//! When the relay's own certificate stops being valid. A relay started on an expired
//! certificate serves, and every phone refuses its handshake; one whose certificate lapses
//! mid-operation fails every phone at once. So at start an expired certificate is refused with
//! its notAfter date, and one that expires within [`SOON_DAYS`] days is named in a warning.

use doorstep_core::Timestamp;
use tokio_rustls::rustls::pki_types::CertificateDer;

/// How many days before its end a certificate is warned of.
pub const SOON_DAYS: i64 = 14;

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

/// The validity of `certificate` (the relay's own, first in the chain) at `now`.
pub fn expiry(certificate: &CertificateDer<'_>, now: Timestamp) -> Expiry {
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(certificate.as_ref()) else {
        return Expiry::Fine;
    };
    let not_after = parsed.validity().not_after;
    let left_secs = not_after.timestamp().saturating_sub(now.as_millis() / 1000);
    if left_secs < 0 {
        Expiry::Expired { not_after: not_after.to_string() }
    } else if left_secs < SOON_DAYS * 24 * 3600 {
        Expiry::Soon { not_after: not_after.to_string(), days: left_secs / (24 * 3600) }
    } else {
        Expiry::Fine
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

    fn expiry_text(year: i32, month: u8, day: u8) -> String {
        let der = certificate(year, month, day);
        let (_, parsed) = x509_parser::parse_x509_certificate(der.as_ref()).unwrap();
        parsed.validity().not_after.to_string()
    }
}
