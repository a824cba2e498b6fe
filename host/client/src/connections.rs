//! The connections `GET /files` goes over: HTTP/1.1 to each worker, kept
//! open between reads, and driven by the task that reads.
//!
//! Why not hyper_util's pooled client, as before: it runs each connection
//! in a task of its own, so every read handed its request to that task and
//! was handed the answer back, waking a task on another thread each way.
//! Callgrind of the gateway under `wrk` (a cached 4 KiB GetObject) put
//! 14,000 of a read's 66,000 instructions in that connection task and
//! 10,600 in the pool's checkout, URI and `Host` handling, with the kernel's
//! futex and epoll work on top. Here a read takes an idle connection from
//! its worker's list, polls it itself while it waits for the answer and
//! reads the body, and puts it back once the body has ended.
//!
//! An idle connection is polled by no one: one the worker closed meanwhile
//! is found closed when it is next taken, or fails its request, which is
//! then sent once more on a new connection (a GET is safe to repeat). A
//! read that stops before its body ends closes its connection: what is left
//! of the answer would be read as the next one's.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::Empty;
use hyper::body::{Body, Incoming};
use hyper::client::conn::http1;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower::Service;

use crate::worker_api::FetchError;

/// Idle connections kept per worker; a read finishing past this closes its
/// own. More than any read concurrency a client has on one worker.
const IDLE_PER_WORKER: usize = 512;

/// A connection idle this long is closed (hyper_util's pool's default), so
/// that the connections to a worker that is gone, or that closed them on its
/// side, do not stay open.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

type Io = MaybeHttpsStream<TokioIo<TcpStream>>;
type RequestBody = Empty<Bytes>;

/// Connections to workers, by address. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Connections {
    connector: HttpsConnector<HttpConnector>,
    /// `http` or `https`: how a new connection is opened.
    scheme: &'static str,
    idle: Arc<Mutex<HashMap<String, Arc<IdleList>>>>,
}

/// One worker's idle connections, each with when it became idle, most
/// recently used last.
type IdleList = Mutex<VecDeque<(Connection, Instant)>>;

impl fmt::Debug for Connections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connections")
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

/// One connection: the handle requests are sent with, and the state
/// machine that moves them, polled by whichever read holds it.
struct Connection {
    send: http1::SendRequest<RequestBody>,
    /// `None` once the connection has ended. Boxed: with its buffers and
    /// TLS state it is kilobytes, which every move of a connection (and of
    /// every future holding one: axum copies a handler's future into its
    /// box) would copy.
    driver: Option<Box<http1::Connection<Io, RequestBody>>>,
}

impl Connection {
    /// Moves the connection on; false once it has ended (hyper has given
    /// its error, if any, to the request or body it was serving).
    fn drive(&mut self, cx: &mut Context<'_>) -> bool {
        if let Some(driver) = &mut self.driver
            && Pin::new(&mut **driver).poll(cx).is_ready()
        {
            self.driver = None;
        }
        self.driver.is_some()
    }

    /// Whether a request can be sent now: the connection is open and done
    /// with its last answer.
    fn is_ready(&mut self, cx: &mut Context<'_>) -> bool {
        self.drive(cx) && matches!(self.send.poll_ready(cx), Poll::Ready(Ok(())))
    }

    /// Sends `request` and waits for the answer's head, driving the
    /// connection meanwhile.
    async fn exchange(
        &mut self,
        request: Request<RequestBody>,
    ) -> hyper::Result<Response<Incoming>> {
        let mut answer = std::pin::pin!(self.send.send_request(request));
        poll_fn(|cx| {
            // Once the connection has ended, the answer's future holds why.
            self.drive(cx);
            answer.as_mut().poll(cx)
        })
        .await
    }
}

impl Connections {
    pub(crate) fn new(connector: HttpsConnector<HttpConnector>, scheme: &'static str) -> Self {
        Self {
            connector,
            scheme,
            idle: Arc::default(),
        }
    }

    /// Sends the request `make` builds (the same each call) to the worker
    /// at `address`, on an idle connection if it has one, and resolves
    /// with the answer's head.
    pub(crate) async fn send(
        &self,
        address: &str,
        make: impl Fn() -> Request<RequestBody>,
    ) -> Result<FileResponse, FetchError> {
        let list = self.idle_list(address);
        if let Some(mut connection) = take_ready(&list).await
            && let Ok(answer) = connection.exchange(make()).await
        {
            // (An error here is taken as the worker having closed the
            // connection while it was idle: the request goes again below.)
            return Ok(FileResponse::new(answer, connection, list));
        }
        // Boxed: opening a connection is the rare case, and its future,
        // TLS handshake and all, would otherwise make every read's larger.
        Box::pin(async move {
            let mut connection = self.connect(address).await?;
            let answer = connection
                .exchange(make())
                .await
                .map_err(|e| FetchError::Exchange(crate::error_chain(&e)))?;
            Ok(FileResponse::new(answer, connection, list))
        })
        .await
    }

    /// The list of `address`'s idle connections, made on first use. A new
    /// worker is when the lists of workers no longer read from are swept.
    fn idle_list(&self, address: &str) -> Arc<IdleList> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(list) = idle.get(address) {
            return list.clone();
        }
        let now = Instant::now();
        idle.retain(|_, shared| {
            let mut list = shared.lock().unwrap_or_else(PoisonError::into_inner);
            close_expired(&mut list, now);
            // A list that reads in flight hold stays: their connections
            // come back to it.
            !list.is_empty() || Arc::strong_count(shared) > 1
        });
        idle.entry(address.to_owned()).or_default().clone()
    }

    /// A new connection to `address`.
    async fn connect(&self, address: &str) -> Result<Connection, FetchError> {
        let uri: http::Uri = format!("{}://{address}", self.scheme)
            .parse()
            .map_err(|e| FetchError::Connect(format!("{address} is not a worker address: {e}")))?;
        let io = self
            .connector
            .clone()
            .call(uri)
            .await
            .map_err(|e| FetchError::Connect(crate::error_chain(&*e)))?;
        let (send, driver) = http1::handshake(io)
            .await
            .map_err(|e| FetchError::Exchange(crate::error_chain(&e)))?;
        Ok(Connection {
            send,
            driver: Some(Box::new(driver)),
        })
    }
}

/// The most recently used idle connection of `list` that is ready for a
/// request; those found closed are dropped.
async fn take_ready(list: &IdleList) -> Option<Connection> {
    loop {
        let (mut connection, _) = list
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_back()?;
        // Polled with this task's context, so that the connection's I/O
        // wakes this task from now on.
        if poll_fn(|cx| Poll::Ready(connection.is_ready(cx))).await {
            return Some(connection);
        }
    }
}

/// Closes the connections of `list` idle past [`IDLE_TIMEOUT`] at `now`
/// (the longest idle are first).
fn close_expired(list: &mut VecDeque<(Connection, Instant)>, now: Instant) {
    while list
        .front()
        .is_some_and(|(_, since)| now.duration_since(*since) > IDLE_TIMEOUT)
    {
        list.pop_front();
    }
}

/// A worker's answer to `GET /files`: its status and headers, and its body
/// to read with [`FileResponse::data`]. The connection it came on goes back
/// to the idle list when the answer is dropped, if the body was read to
/// its end.
pub struct FileResponse {
    head: http::response::Parts,
    body: Incoming,
    connection: Option<Connection>,
    home: Arc<IdleList>,
}

impl fmt::Debug for FileResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileResponse")
            .field("status", &self.head.status)
            .field("headers", &self.head.headers)
            .finish_non_exhaustive()
    }
}

impl FileResponse {
    fn new(answer: Response<Incoming>, connection: Connection, home: Arc<IdleList>) -> Self {
        let (head, body) = answer.into_parts();
        Self {
            head,
            body,
            connection: Some(connection),
            home,
        }
    }

    /// The answer's status.
    pub fn status(&self) -> StatusCode {
        self.head.status
    }

    /// The answer's headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.head.headers
    }

    /// The body's next bytes, `None` at its end, or why it broke off.
    /// (Trailers, which a worker does not send, are skipped.)
    pub async fn data(&mut self) -> Option<Result<Bytes, hyper::Error>> {
        poll_fn(|cx| self.poll_data(cx)).await
    }

    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, hyper::Error>>> {
        loop {
            // The body first: asking it for bytes is what lets the
            // connection read more of them.
            let frame = match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Ready(frame) => frame,
                Poll::Pending => {
                    let Some(connection) = &mut self.connection else {
                        return Poll::Pending;
                    };
                    if !connection.drive(cx) {
                        // Ended; the body has its last bytes or its error.
                        self.connection = None;
                    }
                    std::task::ready!(Pin::new(&mut self.body).poll_frame(cx))
                }
            };
            let frame = match frame {
                None => return Poll::Ready(None),
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                Some(Ok(frame)) => frame,
            };
            if let Ok(data) = frame.into_data() {
                return Poll::Ready(Some(Ok(data)));
            }
        }
    }

    /// The whole body as text (empty if it cannot be read): an error
    /// answer's one-line reason.
    pub async fn text(mut self) -> String {
        let mut text = Vec::new();
        while let Some(Ok(data)) = self.data().await {
            text.extend_from_slice(&data);
        }
        String::from_utf8_lossy(&text).into_owned()
    }
}

impl Drop for FileResponse {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take()
            && self.body.is_end_stream()
        {
            let now = Instant::now();
            let mut list = self.home.lock().unwrap_or_else(PoisonError::into_inner);
            close_expired(&mut list, now);
            if list.len() < IDLE_PER_WORKER {
                list.push_back((connection, now));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http::Request;
    use http_body_util::Empty;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::Connections;

    /// How the test server treats a connection after each answer.
    #[derive(Clone, Copy)]
    enum After {
        KeepOpen,
        /// Closes it without saying so, as a worker does with a connection
        /// idle past its timeout.
        Close,
    }

    /// An HTTP/1.1 server on loopback answering every request with `body`;
    /// its address, and the count of connections it accepted.
    async fn server(body: &'static [u8], after: After) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    loop {
                        let Ok(n) = socket.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        head.extend_from_slice(&buf[..n]);
                        while let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                            head.drain(..end + 4);
                            let answer = format!(
                                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
                                body.len()
                            );
                            socket.write_all(answer.as_bytes()).await.unwrap();
                            socket.write_all(body).await.unwrap();
                            if let After::Close = after {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (address, accepted)
    }

    fn connections() -> Connections {
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.enforce_http(false);
        let tls = rustls::ClientConfig::builder()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Connections::new(connector, "http")
    }

    fn get() -> Request<Empty<bytes::Bytes>> {
        Request::get("/files/a").body(Empty::new()).unwrap()
    }

    /// Reads one answer through `connections`, its body to the end.
    async fn read(connections: &Connections, address: &str) -> Vec<u8> {
        let mut answer = connections.send(address, get).await.unwrap();
        assert_eq!(answer.status(), 200);
        let mut bytes = Vec::new();
        while let Some(data) = answer.data().await {
            bytes.extend_from_slice(&data.unwrap());
        }
        bytes
    }

    #[tokio::test]
    async fn reads_read_to_their_end_leave_their_connection_to_the_next() {
        let (address, accepted) = server(b"hello", After::KeepOpen).await;
        let connections = connections();
        for _ in 0..20 {
            assert_eq!(read(&connections, &address).await, b"hello");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_connection_the_worker_closed_while_idle_is_replaced_unseen() {
        let (address, accepted) = server(b"hello", After::Close).await;
        let connections = connections();
        for round in 1..=5 {
            assert_eq!(read(&connections, &address).await, b"hello");
            // Whether the close is seen when the connection is taken or only
            // when its request fails, the read goes on a new one.
            tokio::time::sleep(std::time::Duration::from_millis(if round % 2 == 0 {
                50
            } else {
                0
            }))
            .await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn a_read_stopped_before_its_end_closes_its_connection() {
        let (address, accepted) = server(&[7u8; 1 << 20], After::KeepOpen).await;
        let connections = connections();
        for _ in 0..3 {
            let mut answer = connections.send(&address, get).await.unwrap();
            assert!(!answer.data().await.unwrap().unwrap().is_empty());
            // Dropped with most of the body unread: its rest must not be
            // taken for the next answer.
        }
        assert_eq!(read(&connections, &address).await.len(), 1 << 20);
        assert_eq!(accepted.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn reads_at_once_each_get_their_own_connection_and_leave_them_idle() {
        let (address, accepted) = server(&[1u8; 64 << 10], After::KeepOpen).await;
        let connections = connections();
        for _ in 0..3 {
            let reads = (0..8).map(|_| read(&connections, &address));
            for bytes in futures::future::join_all(reads).await {
                assert_eq!(bytes.len(), 64 << 10);
            }
        }
        // Eight at once the first time; the rounds after find them idle.
        assert_eq!(accepted.load(Ordering::SeqCst), 8);
    }

    #[tokio::test]
    async fn a_new_worker_leaves_the_connections_of_reads_in_flight_to_their_own() {
        let (first, accepted) = server(b"hello", After::KeepOpen).await;
        let (second, _) = server(b"world", After::KeepOpen).await;
        let connections = connections();
        assert_eq!(read(&connections, &first).await, b"hello");
        // The first worker's one connection is in flight (its list is
        // empty) when the second worker's address is first seen.
        let mut in_flight = connections.send(&first, get).await.unwrap();
        assert_eq!(read(&connections, &second).await, b"world");
        while in_flight.data().await.is_some() {}
        drop(in_flight);
        assert_eq!(read(&connections, &first).await, b"hello");
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_worker_that_is_not_listening_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        drop(listener);
        let error = connections().send(&address, get).await.unwrap_err();
        assert!(
            matches!(error, crate::worker_api::FetchError::Connect(_)),
            "{error:?}"
        );
    }
}
