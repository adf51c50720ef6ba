//! TLS for `doorstep serve --tls-cert PEM --tls-key PEM`: rustls with the `ring` provider, so a
//! small deployment needs no proxy in front.
//!
//! A client that speaks plain HTTP to the TLS port gets a plain-text 400 that says to use
//! `https://`, instead of a handshake failure it would report as a dropped connection.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::certificate_expiry::{CertificateWatch, Expiry};

/// Why the certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file could not be read or holds no PEM certificate.
    #[error("cannot read a PEM certificate from {path} (证书文件无法读取): {reason}")]
    Certificate {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The key file could not be read or holds no PEM private key.
    #[error("cannot read a PEM private key from {path} (私钥文件无法读取): {reason}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The relay's certificate is past its notAfter: every phone would refuse the handshake.
    #[error(
        "the certificate in {path} expired on {not_after} (证书已过期): renew it (certbot renew, or your CA) and start the relay again"
    )]
    Expired {
        /// The file.
        path: PathBuf,
        /// Its notAfter.
        not_after: String,
    },
    /// rustls refused the pair (the key does not match the certificate, an unsupported key type).
    #[error("the certificate and key cannot be used together (证书与私钥不匹配): {0}")]
    Config(String),
}

/// The relay's TLS: the acceptor, and its certificate's validity watched while it serves
/// ([`crate::serve`] hands it to `/healthz` and the log).
pub struct Tls {
    /// The acceptor.
    pub acceptor: TlsAcceptor,
    /// The certificate's validity.
    pub certificate: Arc<CertificateWatch>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("certificate", &self.certificate).finish_non_exhaustive()
    }
}

/// The acceptor for the certificate chain in `cert` and the private key in `key`, both PEM.
pub fn acceptor(cert: &Path, key: &Path) -> Result<Tls, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| TlsError::Certificate { path: cert.to_owned(), reason: e.to_string() })?;
    if certs.is_empty() {
        return Err(TlsError::Certificate {
            path: cert.to_owned(),
            reason: "no CERTIFICATE block in the file".into(),
        });
    }
    let certificate = Arc::new(CertificateWatch::new(cert, &certs[0]));
    let now = crate::clock::now();
    if let Expiry::Expired { not_after } = certificate.expiry(now) {
        return Err(TlsError::Expired { path: cert.to_owned(), not_after });
    }
    certificate.warn_if_due(now);
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| TlsError::Key { path: key.to_owned(), reason: e.to_string() })?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls { acceptor: TlsAcceptor::from(Arc::new(config)), certificate })
}

/// The first byte of every TLS connection: a handshake record.
const HANDSHAKE_RECORD: u8 = 0x16;

/// What a plain-HTTP client is told on the TLS port.
const PLAIN_HTTP_ANSWER: &str = "This port speaks HTTPS only: use https:// in the relay's address.\n\
本端口只接受 HTTPS 连接：请把地址改为 https:// 开头。\n";

/// Whether `stream` starts like TLS. If it starts like anything else (plain HTTP), answers it
/// with a plain-text 400 saying to use `https://`, and returns false.
pub async fn starts_like_tls(stream: &mut TcpStream) -> bool {
    let mut first = [0u8; 1];
    match stream.peek(&mut first).await {
        Ok(1) if first[0] == HANDSHAKE_RECORD => true,
        Ok(1) => {
            let answer = format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{PLAIN_HTTP_ANSWER}",
                PLAIN_HTTP_ANSWER.len()
            );
            // The client may already be gone; there is nothing more to tell it then.
            let _ = stream.write_all(answer.as_bytes()).await;
            let _ = stream.shutdown().await;
            false
        }
        _ => false,
    }
}
