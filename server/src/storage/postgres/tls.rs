//! TLS to PostgreSQL, with rustls (the relay's own TLS library, ring provider; no OpenSSL).
//!
//! Managed PostgreSQL services (Azure's Flexible Server, RDS from version 15) refuse plaintext
//! connections, and between two machines residents' data and token hashes should not cross the
//! network in the clear. The database address says what to do, as libpq's do:
//!
//! - no `sslmode`, or `sslmode=disable`: plaintext, as before (a database on the same machine);
//! - `sslmode=prefer`: TLS when the server offers it, checked as below, else plaintext;
//! - `sslmode=require`, `verify-ca` or `verify-full`: TLS or no connection. The server's
//!   certificate is always checked, against `sslrootcert=FILE` (PEM: the CA of a self-signed
//!   setup, or a provider's bundle) when given, else the machine's trusted roots, and for the
//!   host named in the address. libpq's `require` checks nothing unless a root file exists; a
//!   relay trusted with a district's households does not connect to whoever answers.
//!
//! tokio-postgres knows `disable`, `prefer` and `require` only, and no `sslrootcert`, so those
//! are taken out of the address here before it reads the rest.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use crate::storage::StorageError;

/// What the address asked of TLS, with the options tokio-postgres does not read taken out.
#[derive(Debug)]
pub(super) struct TlsChoice {
    /// The address without `sslmode` and `sslrootcert`.
    pub url: String,
    /// The mode to set on the parsed configuration.
    pub mode: SslMode,
    /// The roots to check the server's certificate against, if the address named a file.
    pub root_file: Option<PathBuf>,
}

/// Reads `sslmode` and `sslrootcert` out of `url`'s query.
pub(super) fn choice(url: &str) -> Result<TlsChoice, StorageError> {
    let bad = |what: String| StorageError::BadAddress(what);
    let Some((base, query)) = url.split_once('?') else {
        return Ok(TlsChoice { url: url.to_owned(), mode: SslMode::Disable, root_file: None });
    };
    let (mut mode, mut root_file, mut kept) = (SslMode::Disable, None, Vec::new());
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => {
                mode = match value {
                    "disable" => SslMode::Disable,
                    "prefer" | "allow" => SslMode::Prefer,
                    "require" | "verify-ca" | "verify-full" => SslMode::Require,
                    other => {
                        return Err(bad(format!(
                            "sslmode={other} is not a mode the relay knows; use disable, prefer, require, verify-ca or verify-full"
                        )));
                    }
                };
            }
            "sslrootcert" => {
                let path =
                    doorstep_core::join_link::percent_decode(value).unwrap_or_else(|| value.to_owned());
                root_file = Some(PathBuf::from(path));
            }
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
    Ok(TlsChoice { url, mode, root_file })
}

/// The connector every connection is made with: rustls with the roots of the address's
/// `sslrootcert`, or the machine's. With `sslmode` off, tokio-postgres never asks it for TLS,
/// and no roots are read.
pub(super) fn connector(choice: &TlsChoice) -> Result<RustlsConnect, StorageError> {
    let mut roots = RootCertStore::empty();
    match (choice.mode, choice.root_file.as_deref()) {
        (SslMode::Disable, _) => {}
        (_, Some(path)) => {
            let unreadable = |reason: String| {
                StorageError::BadAddress(format!(
                    "sslrootcert {}: {reason}; name a PEM file of the CA certificates to trust",
                    path.display()
                ))
            };
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<_, _>>())
                .map_err(|e| unreadable(e.to_string()))?;
            if certs.is_empty() {
                return Err(unreadable("no CERTIFICATE block in the file".into()));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| unreadable(e.to_string()))?;
            }
        }
        (_, None) => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StorageError::BadAddress(format!("TLS to PostgreSQL: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(RustlsConnect(Arc::new(config)))
}

/// Makes a TLS connector per connection, for the host it connects to.
#[derive(Clone)]
pub(super) struct RustlsConnect(Arc<ClientConfig>);

impl std::fmt::Debug for RustlsConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RustlsConnect")
    }
}

impl<S> MakeTlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnector;
    type Error = io::Error;

    /// Asked for every connection, TLS or not: the host is only named as a server once TLS is
    /// wanted (a Unix socket's directory is no server name).
    fn make_tls_connect(&mut self, host: &str) -> Result<RustlsConnector, io::Error> {
        Ok(RustlsConnector { config: Arc::clone(&self.0), host: host.to_owned() })
    }
}

/// One connection's TLS handshake.
pub(super) struct RustlsConnector {
    config: Arc<ClientConfig>,
    host: String,
}

impl<S> TlsConnect<S> for RustlsConnector
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let host = self.host;
            let name = ServerName::try_from(host.clone())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("host {host:?}: {e}")))?;
            let tls = tokio_rustls::TlsConnector::from(self.config).connect(name, stream).await?;
            Ok(RustlsStream(tls))
        })
    }
}

/// A TLS stream to PostgreSQL.
pub(super) struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_tls_options_are_read_out_of_the_address_and_the_rest_kept() {
        let plain = choice("postgres://u:p@db:5432/doorstep").unwrap();
        assert_eq!(
            (plain.url.as_str(), plain.mode, plain.root_file),
            ("postgres://u:p@db:5432/doorstep", SslMode::Disable, None)
        );
        let tls = choice(
            "postgres://u@db/d?sslmode=verify-full&keepalives_idle=60&sslrootcert=/etc/ca%20bundle.pem",
        )
        .unwrap();
        assert_eq!(tls.url, "postgres://u@db/d?keepalives_idle=60");
        assert_eq!(tls.mode, SslMode::Require);
        assert_eq!(tls.root_file, Some(PathBuf::from("/etc/ca bundle.pem")));
        assert_eq!(choice("postgres://u@db/d?sslmode=prefer").unwrap().mode, SslMode::Prefer);
        let bad = choice("postgres://u@db/d?sslmode=always").unwrap_err().to_string();
        assert!(bad.contains("sslmode=always") && bad.contains("verify-full"), "{bad}");
    }
}
