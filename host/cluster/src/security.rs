//! Access between the project's own processes: a token every member of a
//! site shares (`azimuth.security.token.file`), sent by clients as
//! `Authorization: Bearer TOKEN` and checked by workers on every route that
//! reads data or changes state. The routes named by
//! `azimuth.security.open.routes` (by default `/healthz` and `/metrics`,
//! which neither read files nor change anything) answer without it, so that
//! load balancers and Prometheus need no secret.
//!
//! With `azimuth.security.tls.ca` set, they speak HTTPS instead, and a client
//! certificate the CA signed admits a request as the token does
//! ([`TlsSettings`]).
//!
//! The token and keys never appear in `Debug` output or an error message:
//! only the files they came from are named.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The fewest bytes a token may have: shorter ones can be guessed.
pub const MIN_TOKEN_LEN: usize = 16;

/// The routes that answer without the token unless the site says otherwise.
pub const DEFAULT_OPEN_ROUTES: [&str; 2] = ["/healthz", "/metrics"];

/// Why a token file is unusable. The message names the file, never its
/// contents.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The file cannot be read.
    #[error("cannot read {}: {source}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file holds fewer than [`MIN_TOKEN_LEN`] bytes (trailing newline
    /// aside).
    #[error("{} holds a token of {len} bytes; a token has at least {MIN_TOKEN_LEN}", file.display())]
    Short {
        /// The file.
        file: PathBuf,
        /// The token's length.
        len: usize,
    },
    /// The token has a byte an HTTP header cannot carry as is (space,
    /// control, non-ASCII).
    #[error("{} holds a token with a byte other than printable ASCII (spaces and line breaks inside it included)", file.display())]
    Unprintable {
        /// The file.
        file: PathBuf,
    },
}

/// What a request's `Authorization` header is worth to a worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// It carries the cluster's token.
    Granted,
    /// It carries none (no header, or not a `Bearer` one): 401.
    Missing,
    /// It carries another token: 403.
    Wrong,
}

/// The token the processes of a site share. Cheap to clone.
#[derive(Clone)]
pub struct ClusterToken {
    file: PathBuf,
    secret: Arc<str>,
}

impl ClusterToken {
    /// The token in `file`: its whole content, one trailing line break
    /// aside.
    pub fn read(file: &Path) -> Result<Self, TokenError> {
        let text = std::fs::read_to_string(file).map_err(|source| TokenError::Read {
            file: file.to_owned(),
            source,
        })?;
        Self::new(file, text.trim_end_matches(['\n', '\r']))
    }

    /// A token as if read from `file`.
    pub fn new(file: &Path, secret: &str) -> Result<Self, TokenError> {
        if !secret.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TokenError::Unprintable {
                file: file.to_owned(),
            });
        }
        if secret.len() < MIN_TOKEN_LEN {
            return Err(TokenError::Short {
                file: file.to_owned(),
                len: secret.len(),
            });
        }
        Ok(Self {
            file: file.to_owned(),
            secret: secret.into(),
        })
    }

    /// The file the token came from.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The `Authorization` header's value that carries it.
    pub fn authorization(&self) -> String {
        format!("Bearer {}", self.secret)
    }

    /// What a request with `authorization` (the header's bytes, if any) is
    /// admitted as. The comparison takes the same time wherever the bytes
    /// first differ, so timing does not reveal the token a byte at a time.
    pub fn admits(&self, authorization: Option<&[u8]>) -> Admission {
        let Some(presented) = authorization.and_then(bearer) else {
            return Admission::Missing;
        };
        if constant_time_eq(presented, self.secret.as_bytes()) {
            Admission::Granted
        } else {
            Admission::Wrong
        }
    }
}

impl fmt::Debug for ClusterToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterToken")
            .field("file", &self.file)
            .field("secret", &"<hidden>")
            .finish()
    }
}

/// The credentials of `Bearer CREDENTIALS` (the scheme in any case, RFC 9110).
fn bearer(header: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = header.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let credentials = rest.trim_ascii();
    (rest.first() == Some(&b' ') && !credentials.is_empty()).then_some(credentials)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // Every byte of the longer is visited; only the length can show.
    let n = a.len().max(b.len());
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..n {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

/// Why a TLS file is unusable. The message names the file and the key,
/// never a key's bytes.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file cannot be read.
    #[error("{key}: cannot read {}: {source}", file.display())]
    Read {
        /// The setting that names it.
        key: &'static str,
        /// The file.
        file: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file holds no PEM item of the kind the key wants, or a broken one.
    #[error("{key}: {} holds no usable {what} ({why})", file.display())]
    Pem {
        /// The setting that names it.
        key: &'static str,
        /// The file.
        file: PathBuf,
        /// A certificate, or a private key.
        what: &'static str,
        /// What the PEM reader said.
        why: String,
    },
    /// Only one of the certificate and the key is set.
    #[error("{set} is set without {missing}: a certificate goes with its key")]
    Unpaired {
        /// The one set.
        set: &'static str,
        /// The one missing.
        missing: &'static str,
    },
}

/// A PEM file, read and checked when the site is read.
#[derive(Clone)]
pub struct PemFile {
    /// Where it came from.
    pub file: PathBuf,
    /// Its bytes.
    pem: Arc<[u8]>,
}

impl PemFile {
    /// Its bytes (for a key: secret).
    pub fn pem(&self) -> &[u8] {
        &self.pem
    }

    /// Reads `file` (named by `key`) and checks it holds certificates.
    pub fn certificates(key: &'static str, file: &Path) -> Result<Self, TlsError> {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        let read = Self::read(key, file)?;
        let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&read.pem).collect();
        match certs {
            Ok(certs) if !certs.is_empty() => Ok(read),
            Ok(_) => Err(read.unusable(key, "certificate", "no CERTIFICATE block")),
            Err(e) => Err(read.unusable(key, "certificate", &e.to_string())),
        }
    }

    /// Reads `file` (named by `key`) and checks it holds a private key.
    pub fn private_key(key: &'static str, file: &Path) -> Result<Self, TlsError> {
        use rustls_pki_types::PrivateKeyDer;
        use rustls_pki_types::pem::PemObject;
        let read = Self::read(key, file)?;
        match PrivateKeyDer::from_pem_slice(&read.pem) {
            Ok(_) => Ok(read),
            // The reader's message never quotes the key's bytes.
            Err(e) => Err(read.unusable(key, "private key", &e.to_string())),
        }
    }

    fn read(key: &'static str, file: &Path) -> Result<Self, TlsError> {
        let pem = std::fs::read(file).map_err(|source| TlsError::Read {
            key,
            file: file.to_owned(),
            source,
        })?;
        Ok(Self {
            file: file.to_owned(),
            pem: pem.into(),
        })
    }

    fn unusable(&self, key: &'static str, what: &'static str, why: &str) -> TlsError {
        TlsError::Pem {
            key,
            file: self.file.clone(),
            what,
            why: why.to_owned(),
        }
    }
}

/// TLS between the site's processes: on when `azimuth.security.tls.ca` is
/// set. Workers then serve HTTPS with their certificate and key, and admit a
/// client that presents a certificate the CA signed as they admit the
/// token; clients reach workers over HTTPS, trusting that CA only, and
/// present their own certificate when they have one.
#[derive(Clone)]
pub struct TlsSettings {
    /// `azimuth.security.tls.ca`: the CA certificates the site trusts.
    pub ca: PemFile,
    /// `azimuth.security.tls.cert` and `.key`: this process's certificate
    /// chain and private key (a worker must have them; a client may).
    pub identity: Option<(PemFile, PemFile)>,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("ca", &self.ca.file)
            .field(
                "identity",
                &self.identity.as_ref().map(|(c, k)| (&c.file, &k.file)),
            )
            .finish()
    }
}

/// How a site's processes prove themselves to each other.
#[derive(Clone, Debug)]
pub struct SecuritySettings {
    /// `azimuth.security.token.file`, read (default none: workers admit
    /// every request, clients send no token).
    pub token: Option<ClusterToken>,
    /// `azimuth.security.open.routes`: routes a worker serves without the
    /// token (default `/healthz,/metrics`).
    pub open_routes: Vec<String>,
    /// `azimuth.security.tls.*`, read (default none: plain HTTP).
    pub tls: Option<TlsSettings>,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        Self {
            token: None,
            open_routes: DEFAULT_OPEN_ROUTES
                .iter()
                .map(|r| (*r).to_owned())
                .collect(),
            tls: None,
        }
    }
}

impl SecuritySettings {
    /// Whether a worker serves `path` without the token.
    pub fn is_open(&self, path: &str) -> bool {
        self.open_routes.iter().any(|r| r == path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> ClusterToken {
        ClusterToken::new(Path::new("t"), "0123456789abcdef-token").unwrap()
    }

    #[test]
    fn only_the_bearer_of_the_token_is_granted() {
        let t = token();
        assert_eq!(
            t.admits(Some(b"Bearer 0123456789abcdef-token")),
            Admission::Granted
        );
        assert_eq!(
            t.admits(Some(b"bearer 0123456789abcdef-token")),
            Admission::Granted
        );
        assert_eq!(
            t.admits(Some(b"Bearer 0123456789abcdef-tokeN")),
            Admission::Wrong
        );
        assert_eq!(
            t.admits(Some(b"Bearer 0123456789abcdef-token-")),
            Admission::Wrong
        );
        assert_eq!(t.admits(Some(b"Bearer 0123")), Admission::Wrong);
        assert_eq!(t.admits(None), Admission::Missing);
        assert_eq!(t.admits(Some(b"Basic dXNlcjpwYXNz")), Admission::Missing);
        assert_eq!(t.admits(Some(b"Bearer ")), Admission::Missing);
        assert_eq!(
            t.admits(Some(b"Bearer0123456789abcdef-token")),
            Admission::Missing
        );
    }

    #[test]
    fn a_weak_or_unprintable_token_is_refused_naming_the_file_not_the_token() {
        let short = ClusterToken::new(Path::new("/etc/az/token"), "tiny-secret")
            .unwrap_err()
            .to_string();
        assert!(
            short.contains("/etc/az/token") && short.contains("11 bytes"),
            "{short}"
        );
        assert!(!short.contains("tiny-secret"), "{short}");
        let spaced = ClusterToken::new(Path::new("f"), "a token with spaces in it")
            .unwrap_err()
            .to_string();
        assert!(!spaced.contains("spaces in it"), "{spaced}");
    }

    #[test]
    fn the_token_stays_out_of_debug_output() {
        let shown = format!("{:?}", token());
        assert!(!shown.contains("abcdef"), "{shown}");
        assert!(shown.contains("<hidden>"), "{shown}");
    }
}
