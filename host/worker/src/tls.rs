//! HTTPS for the worker (`azimuth.security.tls.*`): its certificate and key,
//! and client certificates verified against the site's CA. A client
//! certificate is optional at the handshake — `/healthz` and `/metrics` may
//! be open, and a client may prove itself with the token instead — but one
//! that is presented must verify, or the handshake fails. Requests on a
//! connection whose certificate verified carry [`PeerCertified`].

use std::path::PathBuf;
use std::sync::Arc;

use azimuth_cluster::config;
use azimuth_cluster::security::TlsSettings;
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// Marks a request whose connection presented a client certificate the
/// site's CA signed.
#[derive(Clone, Copy, Debug)]
pub struct PeerCertified;

/// Why the worker's TLS cannot be set up; names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// TLS is on, but the worker has no certificate of its own.
    #[error(
        "{} is set, so this worker serves HTTPS, but it has no {} and {}",
        config::SECURITY_TLS_CA,
        config::SECURITY_TLS_CERT,
        config::SECURITY_TLS_KEY
    )]
    NoIdentity,
    /// A file's contents cannot be used as they are.
    #[error("{} ({key}): {why}", file.display())]
    Unusable {
        /// The setting.
        key: &'static str,
        /// The file.
        file: PathBuf,
        /// What rustls said.
        why: String,
    },
}

/// The acceptor for `tls`.
pub fn acceptor(tls: &TlsSettings) -> Result<TlsAcceptor, TlsSetupError> {
    let (cert, key) = tls.identity.as_ref().ok_or(TlsSetupError::NoIdentity)?;
    let unusable = |key: &'static str, file: &PathBuf, why: String| TlsSetupError::Unusable {
        key,
        file: file.clone(),
        why,
    };
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(tls.ca.pem()) {
        let ca = ca.map_err(|e| unusable(config::SECURITY_TLS_CA, &tls.ca.file, e.to_string()))?;
        roots
            .add(ca)
            .map_err(|e| unusable(config::SECURITY_TLS_CA, &tls.ca.file, e.to_string()))?;
    }
    let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
        .allow_unauthenticated()
        .build()
        .map_err(|e| unusable(config::SECURITY_TLS_CA, &tls.ca.file, e.to_string()))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.pem())
        .collect::<Result<_, _>>()
        .map_err(|e| unusable(config::SECURITY_TLS_CERT, &cert.file, e.to_string()))?;
    let private = PrivateKeyDer::from_pem_slice(key.pem())
        .map_err(|e| unusable(config::SECURITY_TLS_KEY, &key.file, e.to_string()))?;
    let mut server = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, private)
        // A key that is not the certificate's, say: blame the key's file.
        .map_err(|e| unusable(config::SECURITY_TLS_KEY, &key.file, e.to_string()))?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(server)))
}
