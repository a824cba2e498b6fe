//! The worker's door: with a cluster token configured
//! (`azimuth.security.token.file`) or TLS (`azimuth.security.tls.*`),
//! every request but those to the open routes
//! (`azimuth.security.open.routes`) must carry the token as
//! `Authorization: Bearer TOKEN` or come over a connection whose client
//! certificate the site's CA signed; 401 without either, 403 with another
//! token.
//! Refusals are counted by reason, and logged without what was presented.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use azimuth_cluster::prometheus;
use azimuth_cluster::security::{Admission, SecuritySettings};

use crate::tls::PeerCertified;

/// Who the worker lets in, and how many it turned away.
#[derive(Debug, Default)]
pub struct Door {
    settings: SecuritySettings,
    missing: AtomicU64,
    wrong: AtomicU64,
}

impl Door {
    /// A door keeping to `settings`.
    pub fn new(settings: SecuritySettings) -> Self {
        Self {
            settings,
            ..Self::default()
        }
    }

    /// The refusals in Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let mut family = prometheus::family(
            out,
            "azimuth_worker_requests_refused_total",
            "counter",
            "Requests refused for want of the cluster token, by reason (missing: 401, wrong: 403).",
        );
        family.sample(
            &[("reason", "missing")],
            self.missing.load(Ordering::Relaxed),
        );
        family.sample(&[("reason", "wrong")], self.wrong.load(Ordering::Relaxed));
    }
}

/// The layer in front of every route. With a token or TLS configured, a
/// request needs the token or a client certificate the site's CA signed.
pub async fn check(State(door): State<Arc<Door>>, request: Request, next: Next) -> Response {
    let certified = request.extensions().get::<PeerCertified>().is_some();
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    match door.refusal(request.uri().path(), presented, certified) {
        Some(refused) => refused,
        None => next.run(request).await,
    }
}

impl Door {
    /// The answer to a request for `path` with the `Authorization` value
    /// `presented` (the first, if several), over a connection with a client
    /// certificate the site's CA signed if `certified`, that may not come
    /// in; `None` if it may.
    pub fn refusal(
        &self,
        path: &str,
        presented: Option<&[u8]>,
        certified: bool,
    ) -> Option<Response> {
        let settings = &self.settings;
        if settings.token.is_none() && settings.tls.is_none() || settings.is_open(path) || certified
        {
            return None;
        }
        let admission = match &settings.token {
            Some(token) => token.admits(presented),
            None => Admission::Missing,
        };
        let (status, counter, why) = match admission {
            Admission::Granted => return None,
            Admission::Missing => (
                StatusCode::UNAUTHORIZED,
                &self.missing,
                "this worker requires the cluster token (Authorization: Bearer, azimuth.security.token.file) or a client certificate the site's CA signed (azimuth.security.tls.*)",
            ),
            Admission::Wrong => (
                StatusCode::FORBIDDEN,
                &self.wrong,
                "the token presented is not this cluster's (azimuth.security.token.file)",
            ),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(path, %status, "request refused");
        let mut response = (status, format!("{why}\n")).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"azimuth\""),
            );
        }
        Some(response)
    }
}
