//! A typed client for the worker's HTTP API (`azimuth_cluster::api`): the
//! one place that builds a worker's URLs, so the read path, probes,
//! preloading, passive caching and the demo all ask a worker the same way,
//! with the cluster token when the site has one.

use std::sync::Arc;
use std::time::Duration;

use crate::connections::{Connections, LANE_MAX_BODY};
use azimuth_cluster::api::{self, FileStatus, Freed};
use azimuth_cluster::security::{SecuritySettings, TlsSettings};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::de::DeserializeOwned;

/// Bytes escaped in a path segment: what a URL parser would take as a
/// delimiter (`?`, `#`) or an escape (`%`), and what it would mangle. `/`
/// stays: it separates the segments, as in the UFS.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b']')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Why a call to a worker's API failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The worker could not be reached, or the exchange broke.
    #[error("{0}")]
    Transport(String),
    /// The worker answered 404: it has no such file (nor does its UFS).
    #[error("HTTP 404: no such file")]
    NotFound,
    /// The worker answered with an error status; `body` says why.
    #[error("HTTP {status}: {body}")]
    Status {
        /// The status code.
        status: u16,
        /// The worker's one-line reason.
        body: String,
    },
    /// The worker's answer was not what the API promises.
    #[error("unreadable answer: {0}")]
    Unreadable(String),
}

impl From<reqwest::Error> for ApiError {
    fn from(e: reqwest::Error) -> Self {
        ApiError::Transport(crate::error_chain(&e))
    }
}

/// Why `GET /files` got no answer.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No connection could be made (refused, unreachable, or not within
    /// the connect timeout).
    #[error("{0}")]
    Connect(String),
    /// The connection broke, or the answer was not HTTP.
    #[error("{0}")]
    Exchange(String),
}

pub use crate::connections::FileResponse;

/// The worker API, over pools of connections. Cheap to clone.
#[derive(Clone, Debug)]
pub struct WorkerApi {
    /// Everything but `GET /files`.
    http: reqwest::Client,
    /// `GET /files`, the read path's hot call, spoken by the client itself
    /// over connections the reading task reads (`connections`).
    files: Connections,
    /// The token's `Authorization`, for `files` (`http` has it by default).
    authorization: Option<Authorization>,
    /// `http`, or `https` when the site speaks TLS.
    scheme: &'static str,
}

impl WorkerApi {
    /// The same client, sending small reads pipelined on a shared
    /// connection to each worker (`true`, the default) or each read in
    /// flight on a connection of its own (`azimuth.client.pipelining.enabled`).
    #[must_use]
    pub fn with_pipelining(mut self, pipelining: bool) -> Self {
        self.files = self.files.with_pipelining(pipelining);
        self
    }

    /// A client that gives up connecting to a worker after `connect_timeout`,
    /// sends the site's token, if it has one, with every request, and speaks
    /// TLS (trusting the site's CA only, presenting this process's
    /// certificate if it has one) when the site does.
    pub fn new(connect_timeout: Duration, security: &SecuritySettings) -> Result<Self, ApiError> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = &security.token {
            let mut value = reqwest::header::HeaderValue::from_str(&token.authorization())
                .map_err(|_| {
                    ApiError::Transport(format!(
                        "the token in {} is not a valid header value",
                        token.file().display()
                    ))
                })?;
            // Kept out of the header map's Debug output, and so of any log.
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        // Checked as a header value above.
        let authorization = security
            .token
            .as_ref()
            .map(|token| Authorization(token.authorization()));
        let mut builder = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .tcp_nodelay(true)
            .default_headers(headers);
        let scheme = match &security.tls {
            None => "http",
            Some(tls) => {
                let unusable = |file: &std::path::Path, e: reqwest::Error| {
                    ApiError::Transport(format!("{}: {}", file.display(), crate::error_chain(&e)))
                };
                builder = builder.use_rustls_tls().tls_built_in_root_certs(false);
                let roots = reqwest::Certificate::from_pem_bundle(tls.ca.pem())
                    .map_err(|e| unusable(&tls.ca.file, e))?;
                for root in roots {
                    builder = builder.add_root_certificate(root);
                }
                if let Some((cert, key)) = &tls.identity {
                    let mut pem = key.pem().to_vec();
                    pem.push(b'\n');
                    pem.extend_from_slice(cert.pem());
                    let identity =
                        reqwest::Identity::from_pem(&pem).map_err(|e| unusable(&cert.file, e))?;
                    builder = builder.identity(identity);
                }
                "https"
            }
        };
        let files_tls = match &security.tls {
            None => None,
            Some(tls) => Some(Arc::new(files_tls(tls)?)),
        };
        Ok(Self {
            http: builder.build()?,
            files: Connections::new(connect_timeout, files_tls),
            authorization,
            scheme,
        })
    }

    /// `{scheme}://{address}{route}{path}`, each segment of `path` escaped.
    fn url(&self, address: &str, route: &str, path: &str) -> String {
        let mut url =
            String::with_capacity(self.scheme.len() + 3 + address.len() + route.len() + path.len());
        for piece in [self.scheme, "://", address] {
            url.push_str(piece);
        }
        push_target(&mut url, route, path);
        url
    }

    /// Starts `GET /files/{path}` for bytes `from..` (`length` of them, or
    /// to the end), of version `etag` only if one is named (the worker
    /// answers 412 when it has another); resolves once the worker's headers
    /// arrive. The caller reads the status and streams the body.
    pub async fn get_file(
        &self,
        address: &str,
        path: &str,
        from: u64,
        length: Option<u64>,
        etag: Option<&str>,
    ) -> Result<FileResponse, FetchError> {
        let unaskable =
            |why: &str| FetchError::Exchange(format!("cannot ask {address} for {path}: {why}"));
        // Written out whole, once: the request is these bytes, sent again
        // as they are if the first connection tried had been closed. What
        // goes in a header is checked as `http::HeaderValue` would.
        if !is_header_text(address.as_bytes()) {
            return Err(FetchError::Connect(format!(
                "{address:?} is not a worker address"
            )));
        }
        // Text throughout (every piece is checked or escaped ASCII): built
        // as a String, sent as its bytes.
        let mut request = String::with_capacity(160 + path.len() + etag.map_or(0, str::len));
        request.push_str("GET ");
        push_target(&mut request, api::FILES, path);
        request.push_str(" HTTP/1.1\r\nhost: ");
        request.push_str(address);
        request.push_str("\r\nrange: ");
        push_range(&mut request, from, length);
        if let Some(Authorization(authorization)) = &self.authorization {
            request.push_str("\r\nauthorization: ");
            request.push_str(authorization);
        }
        if let Some(etag) = etag {
            if !is_header_text(etag.as_bytes()) {
                return Err(unaskable("its version is not header text"));
            }
            request.push_str("\r\nif-match: \"");
            request.push_str(etag);
            request.push('"');
        }
        request.push_str("\r\n\r\n");
        // A small answer, read from memory in microseconds, may share a
        // pipelined connection with others (`connections::lane`).
        let small = length.is_some_and(|n| n <= LANE_MAX_BODY);
        self.files.send(address, request.as_bytes(), small).await
    }

    /// `GET /status/{path}`, answered within `timeout`.
    pub async fn status(
        &self,
        address: &str,
        path: &str,
        timeout: Duration,
    ) -> Result<FileStatus, ApiError> {
        let request = self
            .http
            .get(self.url(address, api::STATUS, path))
            .timeout(timeout);
        json(request.send().await?).await
    }

    /// `POST /load/{path}`: resolves once the worker has cached the whole file.
    pub async fn load(&self, address: &str, path: &str) -> Result<FileStatus, ApiError> {
        let request = self.http.post(self.url(address, api::LOAD, path));
        json(request.send().await?).await
    }

    /// `DELETE /cache/{path}`.
    pub async fn free(&self, address: &str, path: &str) -> Result<Freed, ApiError> {
        let request = self.http.delete(self.url(address, api::CACHE, path));
        json(request.send().await?).await
    }

    /// `GET /healthz`, answered within `timeout`.
    pub async fn healthz(&self, address: &str, timeout: Duration) -> Result<(), ApiError> {
        let url = format!("{}://{address}{}", self.scheme, api::HEALTHZ);
        checked(self.http.get(url).timeout(timeout).send().await?)
            .await
            .map(drop)
    }

    /// `GET /metrics`: the worker's Prometheus text.
    pub async fn metrics(&self, address: &str) -> Result<String, ApiError> {
        let url = format!("{}://{address}{}", self.scheme, api::METRICS);
        let body = checked(self.http.get(url).send().await?).await?;
        String::from_utf8(body.to_vec()).map_err(|e| ApiError::Unreadable(e.to_string()))
    }
}

/// An `Authorization` value, kept out of `Debug` output and so of any log.
#[derive(Clone)]
struct Authorization(String);

impl std::fmt::Debug for Authorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Authorization(redacted)")
    }
}

/// Pushes `{route}{path}` onto `out`, each segment of `path` escaped: piece
/// by piece, as `format!` costs the gateway's hot path a thousand
/// instructions a read here.
fn push_target(out: &mut String, route: &str, path: &str) {
    out.push_str(route);
    utf8_percent_encode(path, SEGMENT).for_each(|piece| out.push_str(piece));
}

/// Pushes the `Range` value `bytes={from}-{last}` of `length` bytes
/// (`None`: to the end) onto `out`, written with itoa rather than
/// `format!` (see [`push_target`]).
fn push_range(out: &mut String, from: u64, length: Option<u64>) {
    let mut digits = itoa::Buffer::new();
    out.push_str("bytes=");
    out.push_str(digits.format(from));
    out.push('-');
    if let Some(n) = length {
        out.push_str(digits.format(from + n - 1));
    }
}

/// Whether `value` may go in a header as it is: visible ASCII, spaces and
/// tabs (what `http::HeaderValue::from_bytes` accepts, less obs-text), so
/// no line break can end the header early.
fn is_header_text(value: &[u8]) -> bool {
    // Every byte looked at, with no early exit: the loop vectorizes (two
    // calls on every read, where the short-circuiting one cost 200
    // instructions each).
    value.iter().fold(true, |ok, &b| {
        ok & (b == b'\t' || (b' '..=b'~').contains(&b))
    })
}

/// The TLS of `GET /files`: the site's CA only, this process's certificate
/// if it has one, HTTP/1.1 by ALPN.
fn files_tls(tls: &TlsSettings) -> Result<rustls::ClientConfig, ApiError> {
    let mut roots = rustls::RootCertStore::empty();
    let unusable = |file: &std::path::Path, e: &dyn std::fmt::Display| {
        ApiError::Transport(format!("{}: {e}", file.display()))
    };
    for ca in CertificateDer::pem_slice_iter(tls.ca.pem()) {
        let ca = ca.map_err(|e| unusable(&tls.ca.file, &e))?;
        roots.add(ca).map_err(|e| unusable(&tls.ca.file, &e))?;
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(Arc::new(roots));
    let mut config = match &tls.identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.pem())
                .collect::<Result<_, _>>()
                .map_err(|e| unusable(&cert.file, &e))?;
            let private =
                PrivateKeyDer::from_pem_slice(key.pem()).map_err(|e| unusable(&key.file, &e))?;
            builder
                .with_client_auth_cert(chain, private)
                .map_err(|e| unusable(&key.file, &e))?
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The body of a successful answer; an error status becomes an [`ApiError`].
async fn checked(response: reqwest::Response) -> Result<bytes::Bytes, ApiError> {
    let status = response.status();
    let body = response.bytes().await?;
    if status == reqwest::StatusCode::NOT_FOUND {
        return Err(ApiError::NotFound);
    }
    if !status.is_success() {
        return Err(ApiError::Status {
            status: status.as_u16(),
            body: String::from_utf8_lossy(&body).trim().to_owned(),
        });
    }
    Ok(body)
}

async fn json<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, ApiError> {
    let body = checked(response).await?;
    serde_json::from_slice(&body).map_err(|e| ApiError::Unreadable(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::WorkerApi;

    fn range_header(from: u64, length: Option<u64>) -> String {
        let mut range = String::new();
        super::push_range(&mut range, from, length);
        range
    }

    #[test]
    fn ranges_name_their_first_and_last_byte_or_run_to_the_end() {
        assert_eq!(range_header(0, Some(4096)), "bytes=0-4095");
        assert_eq!(range_header(7, Some(1)), "bytes=7-7");
        assert_eq!(
            range_header(1 << 40, Some(1 << 30)),
            format!("bytes={}-{}", 1u64 << 40, (1u64 << 40) + (1 << 30) - 1)
        );
        assert_eq!(range_header(4096, None), "bytes=4096-");
    }

    #[test]
    fn the_token_sent_to_workers_stays_out_of_debug_output() {
        let authorization = super::Authorization("Bearer s3cret-token".into());
        assert!(!format!("{authorization:?}").contains("s3cret"));
    }

    #[tokio::test]
    async fn a_line_break_in_an_address_or_a_version_is_refused_before_sending() {
        let api = WorkerApi::new(
            std::time::Duration::from_secs(1),
            &azimuth_cluster::security::SecuritySettings::default(),
        )
        .unwrap();
        let error = api
            .get_file("127.0.0.1:1\r\nx-injected: 1", "a", 0, None, None)
            .await
            .unwrap_err();
        assert!(
            matches!(error, super::FetchError::Connect(ref why) if why.contains("not a worker address")),
            "{error:?}"
        );
        let error = api
            .get_file("127.0.0.1:1", "a", 0, None, Some("v1\r\nx-injected: 1"))
            .await
            .unwrap_err();
        assert!(
            matches!(error, super::FetchError::Exchange(ref why) if why.contains("not header text")),
            "{error:?}"
        );
    }

    #[test]
    fn paths_are_escaped_segment_by_segment() {
        let api = WorkerApi::new(
            std::time::Duration::from_secs(1),
            &azimuth_cluster::security::SecuritySettings::default(),
        )
        .unwrap();
        assert_eq!(
            api.url("127.0.0.1:1", "/files/", "data/a b?#%.bin"),
            "http://127.0.0.1:1/files/data/a%20b%3F%23%25.bin"
        );
        assert_eq!(
            api.url("h:2", "/status/", "plain/part-0001"),
            "http://h:2/status/plain/part-0001"
        );
    }
}
