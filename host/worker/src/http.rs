//! The worker's HTTP API. Paths after the route prefix are UFS-relative.
//!
//! - `GET /files/{path}`: the file, whole or one `Range` (200, 206, 404, 416;
//!   412 when `If-Match` names another version).
//! - `GET /status/{path}`: length, cached bytes, fully cached.
//! - `POST /load/{path}`: cache the whole file (idempotent).
//! - `DELETE /cache/{path}`: free the file from the cache.
//! - `GET /metrics` (Prometheus text), `GET /healthz`.
//!
//! Bad paths and ranges get a 4xx with the reason in the body. With a
//! cluster token configured, every route but the open ones needs it
//! (`access`).

use std::borrow::Cow;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use azimuth_cluster::api::{self, FileStatus, Freed};
use azimuth_cluster::membership::RegistrationState;
use azimuth_cluster::prometheus;
use azimuth_policy::PolicyEngine;
use azimuth_ufs::UfsError;
use futures::FutureExt;
use hyper::body::Incoming;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::access::{self, Door};
use crate::files::{Files, Opened, ReadError};
use crate::range::{self, RangeRequest};
use crate::reply::{Prepared, Reply};
use crate::request::RequestHead;
use crate::serve::ServerStats;
use crate::tls::PeerCertified;
use crate::{is_registered, paths};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The files, through the page cache.
    pub files: Arc<Files>,
    /// The policy engine, if this worker runs a policy.
    pub engine: Option<PolicyEngine>,
    /// Registration state, if this worker registers in etcd.
    pub registered: Option<watch::Receiver<RegistrationState>>,
    /// Who may ask what of it.
    pub door: Arc<Door>,
    /// The server's connection counters.
    pub server: Arc<ServerStats>,
}

/// The worker's routes (`azimuth_cluster::api` names them).
pub fn router(state: AppState) -> Router {
    let under = |prefix: &str| format!("{prefix}{{*path}}");
    Router::new()
        .route(&under(api::FILES), get(get_file))
        .route(&under(api::STATUS), get(status))
        .route(&under(api::LOAD), post(load))
        .route(&under(api::CACHE), delete(free))
        .route(api::HEALTHZ, get(healthz))
        .route(api::METRICS, get(metrics))
        .layer(axum::middleware::from_fn_with_state(
            state.door.clone(),
            access::check,
        ))
        .with_state(state)
}

/// An error answer: status and a one-line reason.
struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, format!("{}\n", self.1)).into_response()
    }
}

impl From<ReadError> for Failure {
    fn from(e: ReadError) -> Self {
        let status = match &e {
            ReadError::NotFound(_) => StatusCode::NOT_FOUND,
            // The request's own fault (a name the UFS cannot hold): a 4xx,
            // so that no client takes this worker for a failing one.
            ReadError::Ufs(e) if e.is_request_fault() => StatusCode::BAD_REQUEST,
            ReadError::Ufs(UfsError::Changed { .. }) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_GATEWAY,
        };
        if status.is_server_error() {
            tracing::warn!(error = %e, "read failed");
        }
        Failure(status, e.to_string())
    }
}

/// The checked UFS path of a request to `/<prefix>/...`, from the raw
/// target's `path` so that encoded separators are seen before decoding.
fn file_path<'a>(path: &'a str, prefix: &str) -> Result<Cow<'a, str>, Failure> {
    let raw = path.strip_prefix(prefix).unwrap_or("");
    paths::check(raw)
        .map_err(|why| Failure(StatusCode::BAD_REQUEST, format!("bad path {raw:?}: {why}")))
}

/// The service the accept loop (`serve`) serves. The worker's `GET
/// /files/...`, the read every cache hit is, goes to its handler directly:
/// the router's matching, extractors and middleware cost more than the rest
/// of a cached 4 KiB read. Every other request goes through the router.
#[derive(Clone)]
pub struct WorkerService {
    /// The files and the door, for the direct path (none: router only).
    direct: Option<(Arc<Files>, Arc<Door>)>,
    /// Asked first, before the router (another server's hot path).
    front: Option<Arc<dyn Front>>,
    router: Router,
    /// The connection came with a client certificate the site's CA signed.
    certified: bool,
}

impl WorkerService {
    /// The service of `state`'s routes.
    pub fn new(state: AppState) -> Self {
        Self {
            direct: Some((state.files.clone(), state.door.clone())),
            front: None,
            router: router(state),
            certified: false,
        }
    }

    /// A service of `router` alone (another server on the same accept
    /// loop: the S3 gateway).
    pub fn from_router(router: Router) -> Self {
        Self {
            direct: None,
            front: None,
            router,
            certified: false,
        }
    }

    /// The same service, asking `front` about every request before the
    /// router: the requests it answers skip the router's matching and
    /// handler plumbing.
    pub fn with_front(mut self, front: Arc<dyn Front>) -> Self {
        self.front = Some(front);
        self
    }

    /// The same service, for a connection whose client certificate the
    /// site's CA signed.
    pub fn certified(mut self) -> Self {
        self.certified = true;
        self
    }
}

/// The future of an answer of [`WorkerService`] or a [`Front`]. (Boxed once,
/// where it is made: a gateway's answer is a large future, and each move
/// of it copies it.)
pub type Answer = Pin<Box<dyn Future<Output = Reply> + Send>>;

/// Requests a [`WorkerService`] answers before its router: the S3
/// gateway's hot path, served on the worker's accept loop. It is asked
/// only of requests without a body, by their head.
pub trait Front: Send + Sync + 'static {
    /// The answer to the request `head` begins if this front takes it;
    /// `None` leaves it to the router.
    fn answer(&self, head: &RequestHead<'_>) -> Option<Answer>;
}

impl WorkerService {
    /// The answer to a request without a body, by its `head`, when the
    /// front or the direct read takes it; `None` when the router must
    /// (`connection` then hands the connection to hyper).
    pub(crate) fn answer_head(&self, head: &RequestHead<'_>) -> Option<Answer> {
        if let Some(front) = &self.front
            && let Some(answer) = front.answer(head)
        {
            return Some(answer);
        }
        let (files, door) = self.direct.as_ref()?;
        if head.method() != Method::GET || !head.path().starts_with(api::FILES) {
            return None;
        }
        // The door is asked here, while the head is at hand; the read
        // takes the two headers it looks at (the first of each, as
        // `HeaderMap::get` gives it).
        let authorization = head.header(&header::AUTHORIZATION);
        if let Some(refused) = door.refusal(head.path(), authorization, self.certified) {
            return Some(Box::pin(std::future::ready(refused.into())));
        }
        let files = files.clone();
        let target = head.target().clone();
        let wanted = Wanted {
            range: head.header(&header::RANGE).map(<[u8]>::to_vec),
            if_match: head.header(&header::IF_MATCH).map(<[u8]>::to_vec),
        };
        Some(Box::pin(async move {
            serve_file(&files, target.path(), wanted.as_ref())
                .await
                .unwrap_or_else(|failure| failure.into_response().into())
        }))
    }
}

impl hyper::service::Service<Request<Incoming>> for WorkerService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let (head, body) = request.into_parts();
        let answer = RequestHead::from_parts(&head).and_then(|view| self.answer_head(&view));
        if let Some(answer) = answer {
            return Box::pin(answer.map(|reply| Ok(reply.into_response())));
        }
        let mut request = Request::from_parts(head, body);
        if self.certified {
            request.extensions_mut().insert(PeerCertified);
        }
        let router = self.router.clone();
        Box::pin(router.oneshot(request))
    }
}

/// What a read asks beyond its file: a `Range`, an `If-Match`.
struct Wanted<T> {
    range: Option<T>,
    if_match: Option<T>,
}

impl Wanted<Vec<u8>> {
    fn as_ref(&self) -> Wanted<&[u8]> {
        Wanted {
            range: self.range.as_deref(),
            if_match: self.if_match.as_deref(),
        }
    }
}

/// `GET /files/...` through the router: a `HEAD`, as every hot `GET` takes
/// the service's direct path.
async fn get_file(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    let wanted = Wanted {
        range: headers.get(header::RANGE).map(HeaderValue::as_bytes),
        if_match: headers.get(header::IF_MATCH).map(HeaderValue::as_bytes),
    };
    serve_file(&state.files, uri.path(), wanted)
        .await
        .map(Reply::into_response)
}

/// The answer to a read of the file the target `path` (`/files/...`, not
/// decoded) names, with what it asks beyond the file.
async fn serve_file(
    files: &Arc<Files>,
    path: &str,
    wanted: Wanted<&[u8]>,
) -> Result<Reply, Failure> {
    let path = file_path(path, api::FILES)?;
    let opened = files.open(&path).await?;
    // A reader that must not mix versions (the S3 gateway) names the one it
    // reads; this worker may know another.
    if let Some(expected) = wanted.if_match
        && !etag_matches(expected, &opened.key.version)
    {
        return Err(Failure(
            StatusCode::PRECONDITION_FAILED,
            format!(
                "{path} is version \"{}\" here, not {}",
                opened.key.version,
                String::from_utf8_lossy(expected)
            ),
        ));
    }
    let length = opened.file.length;
    // A value that is not visible ASCII is no range (as `to_str` judges).
    let range_header = wanted.range.map(|v| {
        std::str::from_utf8(v)
            .ok()
            .filter(|v| v.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b)))
            .unwrap_or("\u{fffd}")
    });
    let wanted = range::parse(range_header, length)
        .map_err(|why| Failure(StatusCode::RANGE_NOT_SATISFIABLE, why))?;
    let (status, start, end) = match wanted {
        RangeRequest::Whole => (StatusCode::OK, 0, length),
        RangeRequest::Part { start, end } => (StatusCode::PARTIAL_CONTENT, start, end),
        RangeRequest::Unsatisfiable => {
            let mut response = Failure(
                StatusCode::RANGE_NOT_SATISFIABLE,
                format!(
                    "Range {:?} is outside the file ({length} bytes)",
                    range_header.unwrap_or("")
                ),
            )
            .into_response();
            response.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{length}")).unwrap(),
            );
            return Ok(response.into());
        }
    };
    let content_range = (status == StatusCode::PARTIAL_CONTENT)
        .then(|| format!("bytes {start}-{}/{length}", end - 1));
    // A range within one page is read before answering: one write for
    // headers and body, and a failure still gets a proper status. Longer
    // reads stream, fetching pages ahead.
    if files.within_one_page(&(start..end)) {
        let bytes = files.read_small(&opened, start..end).await?;
        let mut prepared = Prepared::new(status, bytes);
        prepared.extend(&opened.lines);
        if let Some(range) = content_range {
            prepared
                .header(&header::CONTENT_RANGE, range.as_bytes())
                .expect("a range's digits are a valid header");
        }
        return Ok(prepared.into());
    }
    // A stream is read too seldom for a version's map to be worth keeping.
    let headers = opened.lines.to_map();
    let mut response = Response::new(Body::from_stream(files.stream(opened, start..end)));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    let response_headers = response.headers_mut();
    // A stream's length is not the body's to say: it is written here.
    response_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    if let Some(range) = content_range {
        response_headers.insert(
            header::CONTENT_RANGE,
            HeaderValue::try_from(range).expect("digits are a valid header"),
        );
    }
    Ok(response.into())
}

/// Whether an `If-Match` value (`*`, or comma-separated quoted tags, weak
/// or strong) names `etag`.
fn etag_matches(header: &[u8], etag: &str) -> bool {
    let Ok(header) = std::str::from_utf8(header) else {
        return false;
    };
    header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/").trim_matches('"') == etag)
}

fn file_status(
    files: &Files,
    opened: &Opened,
    loaded_bytes: Option<u64>,
) -> axum::Json<FileStatus> {
    let cached_bytes = files.cached_bytes(opened);
    axum::Json(FileStatus {
        path: opened.file.path.clone(),
        length: opened.file.length,
        cached_bytes,
        fully_cached: cached_bytes >= opened.file.length,
        loaded_bytes,
    })
}

async fn status(
    State(state): State<AppState>,
    uri: Uri,
) -> Result<axum::Json<FileStatus>, Failure> {
    let path = file_path(uri.path(), api::STATUS)?;
    let opened = state.files.open(&path).await?;
    Ok(file_status(&state.files, &opened, None))
}

async fn load(State(state): State<AppState>, uri: Uri) -> Result<axum::Json<FileStatus>, Failure> {
    let path = file_path(uri.path(), api::LOAD)?;
    let opened = state.files.open(&path).await?;
    let loaded = state.files.load(&opened).await?;
    Ok(file_status(&state.files, &opened, Some(loaded)))
}

async fn free(State(state): State<AppState>, uri: Uri) -> Result<axum::Json<Freed>, Failure> {
    let path = file_path(uri.path(), api::CACHE)?;
    let freed_bytes = state.files.free(&path).await?;
    Ok(axum::Json(Freed {
        path: path.into_owned(),
        freed_bytes,
    }))
}

/// 200 while the worker can serve. Registration trouble is reported in the
/// body, not the status: a worker whose etcd is down still serves reads.
async fn healthz(State(state): State<AppState>) -> (StatusCode, String) {
    let registration = match &state.registered {
        None => "none (static membership)".to_owned(),
        Some(rx) => format!("{:?}", *rx.borrow()),
    };
    (
        StatusCode::OK,
        format!("ok\nregistration: {registration}\n"),
    )
}

async fn metrics(State(state): State<AppState>) -> String {
    let mut out = crate::metrics::render(&state.files);
    if let Some(rx) = &state.registered {
        prometheus::family(
            &mut out,
            "azimuth_worker_registered",
            "gauge",
            "1 while this worker's membership key is registered in etcd.",
        )
        .sample(&[], u8::from(is_registered(&rx.borrow())));
    }
    state.door.render(&mut out);
    for (name, kind, help, value) in [
        (
            "azimuth_worker_connections_open",
            "gauge",
            "HTTP connections open now.",
            &state.server.open,
        ),
        (
            "azimuth_worker_connections_refused_total",
            "counter",
            "Connections closed at once: azimuth.worker.http.max.connections were open.",
            &state.server.refused,
        ),
    ] {
        prometheus::family(&mut out, name, kind, help)
            .sample(&[], value.load(std::sync::atomic::Ordering::Relaxed));
    }
    prometheus::family(
        &mut out,
        "azimuth_worker_runtime_threads",
        "gauge",
        "Threads serving requests (azimuth.worker.threads; 0 there: one per core).",
    )
    .sample(
        &[],
        tokio::runtime::Handle::current().metrics().num_workers(),
    );
    if let Some(engine) = &state.engine {
        prometheus::policy_engine(&mut out, engine);
    }
    out
}
