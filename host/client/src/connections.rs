//! The connections `GET /files` goes over: HTTP/1.1 to each worker, kept
//! open between reads, driven by the task that reads, and spoken here
//! rather than by hyper's client.
//!
//! Why a client of its own: callgrind of the gateway under `wrk` (a cached
//! 4 KiB GetObject, `--threads 1`) put 13,700 of a read's 53,600
//! instructions in driving hyper's client connection, and some 3,000 more
//! in handing the request to its dispatcher and the answer back (a channel
//! and a oneshot each way) and in the header maps of both. The exchange
//! the read path needs is narrow: one GET with four headers, written in one
//! piece, and an answer whose status, framing and ETag are all it looks
//! at. Here the request is bytes written once, the answer's head is parsed
//! by httparse into a fixed array (hyper's parser too), and the body is
//! read into one buffer handed out in slices, without a copy.
//!
//! Before that, hyper_util's pooled client ran each connection in a task
//! of its own, so every read handed its request to that task and was handed
//! the answer back, waking a task on another thread each way. Here a read
//! takes an idle connection from its worker's list, reads the answer and
//! its body itself, and puts the connection back once the body has ended.
//!
//! Small reads in flight at once to one worker share a connection instead,
//! their requests pipelined (see `lane`).
//!
//! An idle connection is polled by no one: one the worker closed meanwhile
//! is found closed when it is next taken, or fails its request, which is
//! then sent once more on a new connection (a GET is safe to repeat). A
//! read that stops before its body ends closes its connection: what is left
//! of the answer would be read as the next one's.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::mem::MaybeUninit;
use std::ops::Range;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use http::StatusCode;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::WorkerMap;
use crate::worker_api::FetchError;

mod lane;

pub(crate) use lane::LANE_MAX_BODY;
use lane::{Lane, Turn};

/// Lanes kept per worker: each runtime thread uses one of them (by
/// [`thread_slot`]), so that handing a lane's turn on seldom wakes a task on
/// another thread.
const LANES_PER_WORKER: usize = 4;

/// Idle connections kept per worker; a read finishing past this closes its
/// own. More than any read concurrency a client has on one worker.
const IDLE_PER_WORKER: usize = 512;

/// A connection idle this long is closed (hyper_util's pool's default), so
/// that the connections to a worker that is gone, or that closed them on its
/// side, do not stay open.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The most an answer's head may take (hyper's client allows 400 KiB; a
/// worker's heads are a few hundred bytes).
const MAX_HEAD: usize = 64 << 10;

/// Headers an answer's head may have (a worker sends about eight).
const MAX_HEADERS: usize = 64;

/// What one read from the socket asks for at least, and at most: a small
/// answer comes in one read with its head; a long body in reads of up to
/// this much, each handed out as one chunk.
const READ_MIN: usize = 16 << 10;
const READ_MAX: usize = 256 << 10;

/// A read buffer larger than this is not kept with an idle connection.
const IDLE_BUFFER: usize = 64 << 10;

/// The longest line of a chunked body's framing (a chunk size with its
/// extensions, or a trailer).
const MAX_CHUNK_LINE: usize = 4 << 10;

/// Connections to workers, by address. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Connections {
    connect_timeout: Duration,
    /// `Some` when the site speaks TLS (`https`).
    tls: Option<TlsConnector>,
    idle: Arc<Mutex<WorkerMap<Arc<IdleList>>>>,
    /// Each worker's lanes, made on first use (plain TCP only).
    lanes: Arc<Mutex<WorkerMap<Lanes>>>,
    /// Whether small reads go on lanes.
    pipelining: bool,
}

type Lanes = [LaneSlot; LANES_PER_WORKER];

/// One of a worker's lanes.
#[derive(Default)]
struct LaneSlot {
    lane: Option<Arc<Lane>>,
    /// A read is opening the lane: the reads meanwhile go on connections of
    /// their own, rather than each opening one.
    opening: bool,
}

/// Which lane a small read takes.
enum LaneChoice {
    Take(Arc<Lane>),
    /// None: this read opens one.
    Open,
    /// None while another read opens one.
    Opening,
}

/// This thread's lane, of a worker's [`LANES_PER_WORKER`].
fn thread_slot() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed) % LANES_PER_WORKER;
    }
    SLOT.with(|slot| *slot)
}

/// One worker's idle connections, each with when it became idle, most
/// recently used last.
type IdleList = Mutex<VecDeque<(Connection, Instant)>>;

impl fmt::Debug for Connections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connections")
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// A connection's socket: TCP, or TLS over it.
enum Stream {
    Plain(TcpStream),
    /// Boxed: rustls's state is kilobytes, which every move of a
    /// connection would copy.
    Tls(Box<TlsStream<TcpStream>>),
    /// A lane's read half: its requests are written by the lane.
    ReadHalf(tokio::net::tcp::OwnedReadHalf),
}

/// What writing to a lane's read half answers: nothing writes there.
fn read_half_write() -> io::Error {
    io::Error::other("a lane's read half is not written to")
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
            Stream::ReadHalf(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
            Stream::ReadHalf(_) => Poll::Ready(Err(read_half_write())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
            Stream::ReadHalf(_) => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
            Stream::ReadHalf(_) => Poll::Ready(Ok(())),
        }
    }
}

/// One connection: its socket, and what has been read from it and not
/// handed out yet.
struct Connection {
    stream: Stream,
    buffer: BytesMut,
}

impl Connection {
    fn new(stream: Stream) -> Self {
        Self {
            stream,
            buffer: BytesMut::new(),
        }
    }

    /// Whether an idle connection can take a request: open, with nothing
    /// unasked-for to read. Polled with the taking task's context, so that
    /// the socket wakes that task from now on.
    fn is_open(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.buffer.is_empty() {
            return false;
        }
        let mut probe = [0u8; 1];
        let mut probe = ReadBuf::new(&mut probe);
        // Ready means closed, broken, or bytes no request asked for.
        Pin::new(&mut self.stream)
            .poll_read(cx, &mut probe)
            .is_pending()
    }

    /// Reads more of the answer into the buffer, `want` bytes or so;
    /// an error once the worker has closed the connection.
    async fn fill(&mut self, want: usize) -> io::Result<()> {
        self.buffer.reserve(want.clamp(READ_MIN, READ_MAX));
        if self.stream.read_buf(&mut self.buffer).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the worker closed the connection before the answer ended",
            ));
        }
        Ok(())
    }

    /// The next of `left` bytes of a body (at least one): those read
    /// already, or the next read's, handed out without a copy.
    async fn take_up_to(&mut self, left: u64) -> io::Result<Bytes> {
        let left = usize::try_from(left).unwrap_or(usize::MAX);
        if self.buffer.is_empty() {
            self.fill(left).await?;
        }
        let n = self.buffer.len().min(left);
        Ok(self.buffer.split_to(n).freeze())
    }

    /// Sends `request` and reads the answer's head.
    async fn exchange(&mut self, request: &[u8]) -> io::Result<Head> {
        self.stream.write_all(request).await?;
        // A no-op on TCP; TLS sends its records on flush.
        self.stream.flush().await?;
        self.read_head().await
    }

    /// Reads the next answer's head.
    async fn read_head(&mut self) -> io::Result<Head> {
        loop {
            if !self.buffer.is_empty()
                && let Some(head) = Head::parse(&mut self.buffer)?
            {
                return Ok(head);
            }
            if self.buffer.len() >= MAX_HEAD {
                return Err(unreadable(format!(
                    "the answer's head is over {MAX_HEAD} bytes"
                )));
            }
            self.fill(READ_MIN).await?;
        }
    }
}

fn unreadable(why: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

/// An answer's status line and headers.
struct Head {
    status: StatusCode,
    /// The head's bytes: its headers are looked up in them.
    bytes: Bytes,
    /// The first ETag's value, as a range of `bytes`: the one header the
    /// read path asks for, found while the head is parsed.
    etag: Option<Range<usize>>,
    body: BodyState,
    /// Whether the connection may carry another request once the body ends.
    keep_alive: bool,
}

impl Head {
    /// The head at the start of `buffer`, taken out of it; `None` while it
    /// is incomplete. Informational answers (1xx) are skipped.
    fn parse(buffer: &mut BytesMut) -> io::Result<Option<Head>> {
        loop {
            // Left uninitialised: filling 64 empty headers on every answer
            // cost more than parsing the five a worker sends.
            let mut headers =
                [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
            let mut response = httparse::Response::new(&mut []);
            let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
                &mut response,
                buffer,
                &mut headers,
            );
            let length = match parsed {
                Ok(httparse::Status::Complete(length)) => length,
                Ok(httparse::Status::Partial) => return Ok(None),
                Err(e) => return Err(unreadable(format!("not an HTTP answer: {e}"))),
            };
            let code = response.code.unwrap_or(0);
            let status = StatusCode::from_u16(code)
                .map_err(|_| unreadable(format!("status {code} is not an HTTP status")))?;
            if status.is_informational() {
                buffer.advance(length);
                continue;
            }
            let base = buffer.as_ptr() as usize;
            let at = |s: &[u8]| {
                let from = s.as_ptr() as usize - base;
                from..from + s.len()
            };
            let mut content_length = None;
            let mut chunked = false;
            // HTTP/1.0 closes unless asked not to; 1.1 keeps alive unless
            // told to close.
            let mut keep_alive = response.version == Some(1);
            let mut etag = None;
            for header in response.headers.iter() {
                let (name, value) = (header.name, header.value);
                if name.eq_ignore_ascii_case("etag") {
                    etag.get_or_insert_with(|| at(value));
                } else if name.eq_ignore_ascii_case("content-length") {
                    let n = std::str::from_utf8(value)
                        .ok()
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .ok_or_else(|| {
                            unreadable("a Content-Length that is not a number".into())
                        })?;
                    if content_length.replace(n).is_some_and(|m| m != n) {
                        return Err(unreadable("two different Content-Lengths".into()));
                    }
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = value
                        .rsplit(|&b| b == b',')
                        .next()
                        .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
                } else if name.eq_ignore_ascii_case("connection") {
                    for token in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                        if token.eq_ignore_ascii_case(b"close") {
                            keep_alive = false;
                        } else if token.eq_ignore_ascii_case(b"keep-alive") {
                            keep_alive = true;
                        }
                    }
                }
            }
            // As RFC 9112 (6.3) frames a body.
            let body = if status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
                BodyState::Length(0)
            } else if chunked {
                BodyState::Chunked(Chunk::Size)
            } else if let Some(n) = content_length {
                BodyState::Length(n)
            } else {
                keep_alive = false;
                BodyState::UntilClose
            };
            return Ok(Some(Head {
                status,
                bytes: buffer.split_to(length).freeze(),
                etag,
                body,
                keep_alive,
            }));
        }
    }
}

/// Where the reading of a body is.
#[derive(Clone, Copy, Debug)]
enum BodyState {
    /// This many bytes left.
    Length(u64),
    /// Chunked, at this point of a chunk.
    Chunked(Chunk),
    /// To the end of the connection.
    UntilClose,
    /// Read to its end.
    Done,
}

#[derive(Clone, Copy, Debug)]
enum Chunk {
    /// At a chunk's size line.
    Size,
    /// In a chunk's data, this many bytes left.
    Data(u64),
    /// At the line end after a chunk's data.
    DataEnd,
    /// After the last chunk, at the trailers.
    Trailers,
}

impl Connections {
    /// Connections that give up connecting after `connect_timeout`, and
    /// speak TLS by `tls` when the site does.
    pub(crate) fn new(connect_timeout: Duration, tls: Option<Arc<rustls::ClientConfig>>) -> Self {
        Self {
            connect_timeout,
            tls: tls.map(TlsConnector::from),
            idle: Arc::default(),
            lanes: Arc::default(),
            pipelining: true,
        }
    }

    /// The same connections, with small reads on lanes or not.
    pub(crate) fn with_pipelining(mut self, pipelining: bool) -> Self {
        self.pipelining = pipelining;
        self
    }

    /// Sends `request` (a whole HTTP/1.1 GET, written by the caller) to the
    /// worker at `address` — on a lane when its answer is `small` (at most
    /// [`LANE_MAX_BODY`] bytes of body) and a lane takes it, else on an idle
    /// connection if it has one — and resolves with the answer's head.
    pub(crate) async fn send(
        &self,
        address: &str,
        request: &[u8],
        small: bool,
    ) -> Result<FileResponse, FetchError> {
        if small && self.pipelining && self.tls.is_none() {
            let lane = match self.lane(address) {
                LaneChoice::Take(lane) => Some(lane),
                LaneChoice::Open => Some(Box::pin(self.open_lane(address)).await?),
                LaneChoice::Opening => None,
            };
            if let Some(lane) = lane
                && let Ok((head, connection, turn)) = lane.exchange(request).await
            {
                return Ok(FileResponse::new(head, connection, Home::Lane(turn)));
            }
        }
        let list = self.idle_list(address);
        if let Some(mut connection) = take_ready(&list).await
            && let Ok(head) = connection.exchange(request).await
        {
            // (An error here is taken as the worker having closed the
            // connection while it was idle: the request goes again below.)
            return Ok(FileResponse::new(head, connection, Home::Idle(list)));
        }
        // Boxed: opening a connection is the rare case, and its future,
        // TLS handshake and all, would otherwise make every read's larger.
        Box::pin(async move {
            let mut connection = self.connect(address).await?;
            let head = connection
                .exchange(request)
                .await
                .map_err(|e| FetchError::Exchange(format!("{address}: {e}")))?;
            Ok(FileResponse::new(head, connection, Home::Idle(list)))
        })
        .await
    }

    /// This thread's lane to `address`, if it has one that is usable; else
    /// whether this read is to open it. The lanes of workers no longer read
    /// from go when a new worker's first lane is opened.
    fn lane(&self, address: &str) -> LaneChoice {
        let mut lanes = self.lanes.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = lanes
            .get_mut(address)
            .map(|slots| &mut slots[thread_slot()])
        {
            if let Some(lane) = &slot.lane
                && lane.is_usable(IDLE_TIMEOUT)
            {
                return LaneChoice::Take(lane.clone());
            }
            if slot.opening {
                return LaneChoice::Opening;
            }
            slot.opening = true;
            return LaneChoice::Open;
        }
        lanes.retain(|_, slots| {
            slots.iter().any(|slot| {
                slot.opening
                    || slot
                        .lane
                        .as_ref()
                        .is_some_and(|l| l.is_usable(IDLE_TIMEOUT))
            })
        });
        lanes.entry(address.to_owned()).or_default()[thread_slot()].opening = true;
        LaneChoice::Open
    }

    /// A new lane to `address`, in this thread's slot (which this read took
    /// on opening: [`LaneChoice::Open`]).
    async fn open_lane(&self, address: &str) -> Result<Arc<Lane>, FetchError> {
        let mut opening = Opening {
            connections: self,
            address,
            slot: thread_slot(),
            lane: None,
        };
        let Stream::Plain(tcp) = self.connect(address).await?.stream else {
            unreachable!("lanes are made on sites without TLS");
        };
        let lane = Lane::new(tcp);
        opening.lane = Some(lane.clone());
        Ok(lane)
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

    /// A new connection to `address` (`host:port`).
    async fn connect(&self, address: &str) -> Result<Connection, FetchError> {
        let refused = |e: &dyn fmt::Display| FetchError::Connect(format!("{address}: {e}"));
        let tcp = tokio::time::timeout(self.connect_timeout, TcpStream::connect(address))
            .await
            .map_err(|_| {
                refused(&format!(
                    "no connection within {:?} (the connect timeout)",
                    self.connect_timeout
                ))
            })?
            .map_err(|e| refused(&e))?;
        tcp.set_nodelay(true).map_err(|e| refused(&e))?;
        let Some(tls) = &self.tls else {
            return Ok(Connection::new(Stream::Plain(tcp)));
        };
        let host = address
            .rsplit_once(':')
            .map_or(address, |(host, _)| host)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| refused(&format!("{host} is not a name TLS can check: {e}")))?;
        let handshake = tokio::time::timeout(self.connect_timeout, tls.connect(name, tcp))
            .await
            .map_err(|_| {
                refused(&format!(
                    "no TLS handshake within {:?} (the connect timeout)",
                    self.connect_timeout
                ))
            })?
            .map_err(|e| refused(&format!("TLS: {e}")))?;
        Ok(Connection::new(Stream::Tls(Box::new(handshake))))
    }
}

/// A lane being opened in one of a worker's slots. When dropped — opened
/// or not, or the read dropped meanwhile — the slot is no longer being
/// opened, and takes the lane if there is one.
struct Opening<'a> {
    connections: &'a Connections,
    address: &'a str,
    slot: usize,
    lane: Option<Arc<Lane>>,
}

impl Drop for Opening<'_> {
    fn drop(&mut self) {
        let mut lanes = self
            .connections
            .lanes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(slots) = lanes.get_mut(self.address) {
            let slot = &mut slots[self.slot];
            slot.opening = false;
            if let Some(lane) = self.lane.take() {
                slot.lane = Some(lane);
            }
        }
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
        if poll_fn(|cx| Poll::Ready(connection.is_open(cx))).await {
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
/// to the idle list (or its lane to the next read) when the answer is
/// dropped, if the body was read to its end.
pub struct FileResponse {
    head: Head,
    body: BodyState,
    /// `None` once the connection broke (or the worker closed it).
    connection: Option<Connection>,
    home: Home,
}

/// Where an answer's connection goes once the answer is read.
enum Home {
    /// To its worker's idle connections.
    Idle(Arc<IdleList>),
    /// It is a lane's: to the next read's turn.
    Lane(Turn),
}

impl fmt::Debug for FileResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileResponse")
            .field("status", &self.head.status)
            .field("body", &self.body)
            .finish_non_exhaustive()
    }
}

impl FileResponse {
    fn new(head: Head, connection: Connection, home: Home) -> Self {
        Self {
            body: head.body,
            head,
            connection: Some(connection),
            home,
        }
    }

    /// The answer's status.
    pub fn status(&self) -> StatusCode {
        self.head.status
    }

    /// The value of the answer's first header called `name` (any case),
    /// if it has one that is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        let bytes = &self.head.bytes;
        let value = if name.eq_ignore_ascii_case("etag") {
            &bytes[self.head.etag.clone()?]
        } else {
            // Parsed again: the head was complete and valid the first time.
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut response = httparse::Response::new(&mut headers);
            response.parse(bytes).ok()?;
            response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))?
                .value
        };
        std::str::from_utf8(value).ok()
    }

    /// The body's next bytes, `None` at its end, or why it broke off.
    /// (Trailers, which a worker does not send, are skipped.)
    pub async fn data(&mut self) -> Option<io::Result<Bytes>> {
        let connection = self.connection.as_mut()?;
        match next_data(connection, &mut self.body).await {
            Ok(Some(data)) => Some(Ok(data)),
            Ok(None) => {
                if matches!(self.body, BodyState::UntilClose) {
                    self.connection = None;
                    self.body = BodyState::Done;
                }
                None
            }
            Err(e) => {
                // What is left of the answer cannot be told from the next.
                self.connection = None;
                Some(Err(e))
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

/// The next bytes of the body `state` frames on `connection`; `None` at
/// its end (`UntilClose`: the connection's end).
async fn next_data(
    connection: &mut Connection,
    state: &mut BodyState,
) -> io::Result<Option<Bytes>> {
    loop {
        match *state {
            BodyState::Done | BodyState::Length(0) => {
                *state = BodyState::Done;
                return Ok(None);
            }
            BodyState::Length(left) => {
                let data = connection.take_up_to(left).await?;
                *state = BodyState::Length(left - data.len() as u64);
                return Ok(Some(data));
            }
            BodyState::UntilClose => {
                if connection.buffer.is_empty() {
                    connection.buffer.reserve(READ_MAX);
                    if connection.stream.read_buf(&mut connection.buffer).await? == 0 {
                        return Ok(None);
                    }
                }
                return Ok(Some(connection.buffer.split().freeze()));
            }
            BodyState::Chunked(Chunk::Data(left)) => {
                let data = connection.take_up_to(left).await?;
                *state = BodyState::Chunked(match left - data.len() as u64 {
                    0 => Chunk::DataEnd,
                    rest => Chunk::Data(rest),
                });
                return Ok(Some(data));
            }
            BodyState::Chunked(chunk) => {
                let line = line(connection).await?;
                *state = match chunk {
                    Chunk::Size => {
                        let digits = line.split(|&b| b == b';').next().unwrap_or_default();
                        let size = std::str::from_utf8(digits)
                            .ok()
                            .and_then(|d| u64::from_str_radix(d.trim(), 16).ok())
                            .ok_or_else(|| {
                                unreadable("a chunk size that is not hexadecimal".into())
                            })?;
                        BodyState::Chunked(if size == 0 {
                            Chunk::Trailers
                        } else {
                            Chunk::Data(size)
                        })
                    }
                    Chunk::DataEnd if line.is_empty() => BodyState::Chunked(Chunk::Size),
                    Chunk::DataEnd => {
                        return Err(unreadable("a chunk longer than its size".into()));
                    }
                    Chunk::Trailers if line.is_empty() => BodyState::Done,
                    Chunk::Trailers => BodyState::Chunked(Chunk::Trailers),
                    Chunk::Data(_) => unreachable!("data is read above"),
                };
            }
        }
    }
}

/// The next line of a chunked body's framing, without its CRLF.
async fn line(connection: &mut Connection) -> io::Result<Bytes> {
    loop {
        if let Some(end) = connection.buffer.windows(2).position(|w| w == b"\r\n") {
            let line = connection.buffer.split_to(end + 2).freeze();
            return Ok(line.slice(..end));
        }
        if connection.buffer.len() > MAX_CHUNK_LINE {
            return Err(unreadable(format!(
                "a line of a chunked body over {MAX_CHUNK_LINE} bytes"
            )));
        }
        connection.fill(READ_MIN).await?;
    }
}

impl Drop for FileResponse {
    fn drop(&mut self) {
        let ended =
            self.head.keep_alive && matches!(self.body, BodyState::Done | BodyState::Length(0));
        let list = match &mut self.home {
            Home::Idle(list) => list,
            Home::Lane(turn) => {
                // The bytes read past this answer are the next answers'.
                turn.end(self.connection.take().filter(|_| ended));
                return;
            }
        };
        if let Some(mut connection) = self.connection.take()
            && ended
            && connection.buffer.is_empty()
        {
            if connection.buffer.capacity() > IDLE_BUFFER {
                connection.buffer = BytesMut::new();
            }
            let now = Instant::now();
            let mut list = list.lock().unwrap_or_else(PoisonError::into_inner);
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
        let mut answer =
            format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len()).into_bytes();
        answer.extend_from_slice(body);
        let answer: &'static [u8] = Vec::leak(answer);
        scripted(answer, answer.len(), matches!(after, After::Close)).await
    }

    fn connections() -> Connections {
        Connections::new(std::time::Duration::from_secs(1), None)
    }

    const GET: &[u8] = b"GET /files/a HTTP/1.1\r\nhost: test\r\n\r\n";

    /// Reads one answer through `connections`, its body to the end.
    async fn read(connections: &Connections, address: &str) -> Vec<u8> {
        body_of(connections, address, GET, false).await
    }

    /// The body of the 200 answer to `request`, sent as `small` says.
    async fn body_of(
        connections: &Connections,
        address: &str,
        request: &[u8],
        small: bool,
    ) -> Vec<u8> {
        let mut answer = connections.send(address, request, small).await.unwrap();
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
            let mut answer = connections.send(&address, GET, false).await.unwrap();
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
        let mut in_flight = connections.send(&first, GET, false).await.unwrap();
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
        let error = connections().send(&address, GET, false).await.unwrap_err();
        assert!(
            matches!(error, crate::worker_api::FetchError::Connect(_)),
            "{error:?}"
        );
    }

    /// A server on loopback that answers each request on a connection with
    /// `answer` as it is, written `piece` bytes at a time (each write its
    /// own segment), and closes the connection after it when `close`.
    async fn scripted(
        answer: &'static [u8],
        piece: usize,
        close: bool,
    ) -> (String, Arc<AtomicUsize>) {
        serving(move |mut socket| async move {
            socket.set_nodelay(true).unwrap();
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
                    for (i, part) in answer.chunks(piece).enumerate() {
                        if i > 0 {
                            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                        }
                        socket.write_all(part).await.unwrap();
                    }
                    if close {
                        return;
                    }
                }
            }
        })
        .await
    }

    /// A server on loopback that answers each request with its target as
    /// the body, the answers to the requests it read together in one write
    /// (as a worker answers pipelined reads), and closes each connection
    /// after `answers_per_connection` answers; its address, and the count
    /// of connections it accepted.
    async fn echoing(answers_per_connection: usize) -> (String, Arc<AtomicUsize>) {
        serving(move |mut socket| async move {
            let (mut read, mut answered) = (Vec::new(), 0);
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = socket.read(&mut buf).await {
                read.extend_from_slice(&buf[..n]);
                let mut out = Vec::new();
                while let Some(end) = read.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head: Vec<u8> = read.drain(..end + 4).collect();
                    let target = head.split(|&b| b == b' ').nth(1).unwrap();
                    out.extend_from_slice(
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
                            target.len()
                        )
                        .as_bytes(),
                    );
                    out.extend_from_slice(target);
                    answered += 1;
                    if answered == answers_per_connection {
                        break;
                    }
                }
                socket.write_all(&out).await.unwrap();
                if answered == answers_per_connection {
                    return;
                }
            }
        })
        .await
    }

    /// A server on loopback that serves each connection it accepts with
    /// `serve`; its address, and the count of connections it accepted.
    async fn serving<F, S>(serve: F) -> (String, Arc<AtomicUsize>)
    where
        F: Fn(tokio::net::TcpStream) -> S + Send + 'static,
        S: std::future::Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(socket));
            }
        });
        (address, accepted)
    }

    /// Reads `/files/{n}` through `connections` as a small read (one a lane
    /// may take): its body.
    async fn small_read(connections: &Connections, address: &str, n: usize) -> Vec<u8> {
        let request = format!("GET /files/{n} HTTP/1.1\r\nhost: test\r\n\r\n");
        body_of(connections, address, request.as_bytes(), true).await
    }

    /// Three rounds of `at_once` small reads at once, each answer checked.
    async fn rounds_of_small_reads(connections: &Connections, address: &str, at_once: usize) {
        for _ in 0..3 {
            let reads = (0..at_once).map(|n| small_read(connections, address, n));
            for (n, body) in futures::future::join_all(reads)
                .await
                .into_iter()
                .enumerate()
            {
                assert_eq!(body, format!("/files/{n}").into_bytes());
            }
        }
    }

    #[tokio::test]
    async fn small_reads_at_once_share_one_lane_and_each_gets_its_own_answer() {
        let (address, accepted) = echoing(usize::MAX).await;
        let connections = connections();
        // The first read opens the lane (reads while it opens go on
        // connections of their own).
        assert_eq!(small_read(&connections, &address, 0).await, b"/files/0");
        rounds_of_small_reads(&connections, &address, 12).await;
        // One thread, one lane: every read went on it.
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn without_pipelining_small_reads_at_once_each_get_their_own_connection() {
        let (address, accepted) = echoing(usize::MAX).await;
        let connections = connections().with_pipelining(false);
        rounds_of_small_reads(&connections, &address, 6).await;
        // Six at once the first time; the rounds after find them idle.
        assert_eq!(accepted.load(Ordering::SeqCst), 6);
    }

    #[tokio::test]
    async fn a_read_dropped_on_a_lane_breaks_it_and_the_reads_behind_go_on_their_own() {
        let (address, accepted) = echoing(usize::MAX).await;
        let connections = connections();
        assert_eq!(small_read(&connections, &address, 0).await, b"/files/0");
        let dropped = async {
            let request = b"GET /files/dropped HTTP/1.1\r\nhost: test\r\n\r\n";
            // Its head read, its body not: what is left of it on the lane
            // cannot be told from the next answers.
            drop(connections.send(&address, request, true).await.unwrap());
            Vec::new()
        };
        let reads =
            (1..8).map(|n| futures::future::Either::Right(small_read(&connections, &address, n)));
        let all = std::iter::once(futures::future::Either::Left(dropped)).chain(reads);
        for (n, body) in futures::future::join_all(all)
            .await
            .into_iter()
            .enumerate()
            .skip(1)
        {
            assert_eq!(body, format!("/files/{n}").into_bytes());
        }
        // The lane, then a connection of its own for each read behind it.
        assert_eq!(accepted.load(Ordering::SeqCst), 8);
        // And a new lane serves the reads after.
        assert_eq!(small_read(&connections, &address, 9).await, b"/files/9");
    }

    #[tokio::test]
    async fn a_lane_the_worker_closed_while_idle_is_replaced_unseen() {
        // Each connection is closed after its first answer, as a worker
        // closes a connection idle past its header timeout.
        let (address, accepted) = echoing(1).await;
        let connections = connections();
        for n in 0..4 {
            assert_eq!(
                small_read(&connections, &address, n).await,
                format!("/files/{n}").into_bytes()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(accepted.load(Ordering::SeqCst) >= 4);
    }

    /// The status, ETag and body of one answer from `address`.
    async fn answer(
        connections: &Connections,
        address: &str,
    ) -> std::io::Result<(u16, Option<String>, Vec<u8>)> {
        let mut answer = connections.send(address, GET, false).await.unwrap();
        let mut bytes = Vec::new();
        while let Some(data) = answer.data().await {
            bytes.extend_from_slice(&data?);
        }
        let etag = answer.header("ETag").map(str::to_owned);
        // Any other header is found too, in any case.
        if let Some(length) = answer.header("CONTENT-length") {
            assert_eq!(length.parse::<usize>().unwrap(), bytes.len());
        }
        Ok((answer.status().as_u16(), etag, bytes))
    }

    #[tokio::test]
    async fn an_answer_split_anywhere_reads_the_same_and_keeps_its_connection() {
        const ANSWER: &[u8] = b"HTTP/1.1 206 Partial Content\r\nContent-Length: 11\r\netag: \"v1\"\r\n\r\nhello world";
        for piece in [1, 3, 7, ANSWER.len()] {
            let (address, accepted) = scripted(ANSWER, piece, false).await;
            let connections = connections();
            for _ in 0..3 {
                let (status, etag, body) = answer(&connections, &address).await.unwrap();
                assert_eq!(
                    (status, etag.as_deref(), &body[..]),
                    (206, Some("\"v1\""), &b"hello world"[..])
                );
            }
            assert_eq!(accepted.load(Ordering::SeqCst), 1, "pieces of {piece}");
        }
    }

    #[tokio::test]
    async fn chunked_bodies_are_decoded_with_extensions_and_trailers() {
        const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: t\r\n\r\n";
        for piece in [1, 4, ANSWER.len()] {
            let (address, accepted) = scripted(ANSWER, piece, false).await;
            let connections = connections();
            for _ in 0..2 {
                let (status, _, body) = answer(&connections, &address).await.unwrap();
                assert_eq!((status, &body[..]), (200, &b"hello world"[..]));
            }
            assert_eq!(accepted.load(Ordering::SeqCst), 1, "pieces of {piece}");
        }
    }

    #[tokio::test]
    async fn informational_answers_are_skipped_and_a_close_is_obeyed() {
        const ANSWER: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 4\r\n\r\ngone";
        let (address, accepted) = scripted(ANSWER, ANSWER.len(), false).await;
        let connections = connections();
        for _ in 0..2 {
            let (status, _, body) = answer(&connections, &address).await.unwrap();
            assert_eq!((status, &body[..]), (404, &b"gone"[..]));
        }
        // The worker said it would close: the second answer came on a new one.
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_body_without_a_length_runs_to_the_close_and_a_short_one_is_an_error() {
        const UNTIL_CLOSE: &[u8] = b"HTTP/1.1 200 OK\r\n\r\nall of it";
        let (address, _) = scripted(UNTIL_CLOSE, 4, true).await;
        let (status, _, body) = answer(&connections(), &address).await.unwrap();
        assert_eq!((status, &body[..]), (200, &b"all of it"[..]));

        const SHORT: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this";
        let (address, _) = scripted(SHORT, SHORT.len(), true).await;
        let error = answer(&connections(), &address).await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof, "{error}");
    }

    #[tokio::test]
    async fn an_answer_that_is_not_http_is_an_exchange_error() {
        let (address, _) = scripted(b"SSH-2.0-OpenSSH\r\n\r\n", 64, true).await;
        let error = connections().send(&address, GET, false).await.unwrap_err();
        assert!(
            matches!(&error, crate::worker_api::FetchError::Exchange(why) if why.contains("not an HTTP answer")),
            "{error:?}"
        );
    }
}
