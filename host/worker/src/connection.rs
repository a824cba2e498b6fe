//! One connection of the worker's server: plain reads answered here,
//! anything else by hyper.
//!
//! A cached 4 KiB read cost the worker some 12,700 instructions, of which
//! hyper's server side (its dispatcher, its buffers, its encoder, the
//! service's boxed futures around them) took about half: more than the
//! read itself. The reads a cache serves are all alike — a `GET` of
//! HTTP/1.1 without a body, `Expect` or `Upgrade`, and with no
//! `Connection` option but `keep-alive` or `close` — so this
//! connection parses each head with httparse (hyper's own parser), asks
//! [`WorkerService::answer_head`] for the answer, and writes its head and
//! body in one write.
//!
//! Anything else — another method or version, a head those headers shape,
//! one too large or that httparse refuses, a request neither the front nor
//! the direct read takes — hands the connection to hyper, with the bytes
//! read so far replayed, for the rest of its life. hyper then answers it
//! as it answered every request before: 431 past the header cap, its
//! errors, the router's routes.
//!
//! The limits hold as under hyper: the header deadline counts from the
//! connection's start or its last answer (`azimuth.worker.http.header.timeout`),
//! a head past `azimuth.worker.http.max.header.bytes` gets hyper's 431, and
//! a stopping server lets the read in flight finish and closes an idle
//! connection.

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::uri::PathAndQuery;
use axum::http::{StatusCode, header};
use axum::response::Response;
use bytes::{Buf, Bytes, BytesMut};
use futures::StreamExt;
use hyper::server::conn::http1::Builder;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::deadline::{self, ConnectionTimer};
use crate::http::{Answer, WorkerService};
use crate::reply::{Prepared, Reply, has_body};
use crate::request::RequestHead;
use crate::serve::{Limits, Watch};

/// Headers a head taken here may have; one with more goes to hyper (whose
/// own cap is 100).
const MAX_HEADERS: usize = 32;

/// Space read into at once.
const READ_SIZE: usize = 8 << 10;

/// Serves `io` until the client closes it, a head misses its deadline, the
/// server stops, or a write fails; from the first request it does not take
/// on, by hyper (`http`, with `limits` set).
pub(crate) async fn serve<I>(
    mut io: I,
    service: &WorkerService,
    http: &Builder,
    limits: &Limits,
    watch: &mut Watch<'_>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut read = BytesMut::with_capacity(READ_SIZE);
    let mut out = Vec::with_capacity(512);
    let mut batch = Batch::new();
    let mut deadline = HeadDeadline::new(limits.header_timeout);
    let mut head = Head::new();
    loop {
        match parse(&read, limits.max_header_bytes, &mut head) {
            Parse::Partial => {
                // Nothing more to answer until bytes come: what is answered
                // goes now.
                if batch.write(&mut io).await.is_err() {
                    return;
                }
                match wait_for_bytes(&mut io, &mut read, &mut deadline, watch).await {
                    Waited::Bytes => continue,
                    Waited::Over => return,
                }
            }
            Parse::Elsewhere => {
                if batch.write(&mut io).await.is_err() {
                    return;
                }
                return hand_off(io, read.freeze(), service, http, watch).await;
            }
            Parse::Head => {}
        }
        // The head's bytes, which its target shares.
        let bytes = read.split_to(head.length).freeze();
        let Some(answer) = head.answer(&bytes, service) else {
            if batch.write(&mut io).await.is_err() {
                return;
            }
            return hand_off(io, replay(bytes, read), service, http, watch).await;
        };
        drop(bytes);
        // An answer that is not ready at once (a read from the UFS, a page
        // from disk) does not hold back those already made: they go first.
        let mut answer = std::pin::pin!(answer);
        let reply = match poll_fn(|cx| Poll::Ready(answer.as_mut().poll(cx))).await {
            Poll::Ready(reply) => reply,
            Poll::Pending => {
                if batch.write(&mut io).await.is_err() {
                    return;
                }
                answer.await
            }
        };
        let written = match reply {
            Reply::Prepared(prepared) => {
                batch.push(prepared, head.close);
                // Requests a client pipelined, read together, are answered
                // in one write: the next one's bytes are here already.
                if read.is_empty() || head.close || batch.is_full() {
                    batch.write(&mut io).await
                } else {
                    Ok(())
                }
            }
            Reply::Response(response) => {
                // Those made before it go first.
                async {
                    batch.write(&mut io).await?;
                    write_response(&mut io, &mut out, response, head.close).await
                }
                .await
            }
        };
        if written.is_err() {
            return;
        }
        if head.close {
            let _ = io.shutdown().await;
            return;
        }
        deadline.restart();
        // The read in flight is done: a stopping server closes here.
        if watch.stopped() {
            let _ = batch.write(&mut io).await;
            return;
        }
    }
}

/// Answers made and not yet written: those to requests that came in one
/// read (pipelined), written together in as few writes as the kernel
/// takes. Each write wakes the client and costs a trip through the TCP
/// stack; for small answers that is most of their cost.
struct Batch {
    /// The answers' heads, one after another.
    heads: Vec<u8>,
    /// Each answer's head's end in `heads`, and its body.
    answers: Vec<(usize, Bytes)>,
    /// Bytes of the answers' bodies.
    body_bytes: usize,
}

/// A batch holds at most this many answers, or bodies of this many bytes,
/// before it is written: what a pipelining client waits for stays small.
const BATCH_ANSWERS: usize = 16;
const BATCH_BODY_BYTES: usize = 256 << 10;

impl Batch {
    fn new() -> Self {
        Self {
            heads: Vec::with_capacity(512),
            answers: Vec::with_capacity(BATCH_ANSWERS),
            body_bytes: 0,
        }
    }

    /// Adds `prepared`: its head (with a `Content-Length`, a `Date`, and
    /// `Connection: close` when `closing`), and its body if its status has
    /// one.
    fn push(&mut self, prepared: Prepared, closing: bool) {
        let body = push_prepared_head(&mut self.heads, &prepared, closing);
        self.body_bytes += body.len();
        let body = if body.is_empty() {
            Bytes::new()
        } else {
            prepared.body
        };
        self.answers.push((self.heads.len(), body));
    }

    fn is_full(&self) -> bool {
        self.answers.len() >= BATCH_ANSWERS || self.body_bytes >= BATCH_BODY_BYTES
    }

    /// Writes the answers held, and empties the batch.
    async fn write<I: AsyncWrite + Unpin>(&mut self, io: &mut I) -> io::Result<()> {
        if self.answers.is_empty() {
            return Ok(());
        }
        let written = if let [(end, body)] = &self.answers[..] {
            // The usual batch, of one answer: no list of slices to allocate.
            let mut slices = [IoSlice::new(&self.heads[..*end]), IoSlice::new(body)];
            write_all_vectored(io, &mut slices).await
        } else {
            let mut slices = Vec::with_capacity(self.answers.len() * 2);
            let mut start = 0;
            for (end, body) in &self.answers {
                slices.push(IoSlice::new(&self.heads[start..*end]));
                slices.push(IoSlice::new(body));
                start = *end;
            }
            write_all_vectored(io, &mut slices).await
        };
        self.heads.clear();
        self.answers.clear();
        self.body_bytes = 0;
        written?;
        io.flush().await
    }
}

/// The bytes of a head and those read behind it, in one buffer to replay.
fn replay(head: Bytes, rest: BytesMut) -> Bytes {
    if rest.is_empty() {
        return head;
    }
    let mut all = BytesMut::with_capacity(head.len() + rest.len());
    all.extend_from_slice(&head);
    all.extend_from_slice(&rest);
    all.freeze()
}

/// What the bytes read so far begin.
enum Parse {
    /// A head to answer here (its parts' places in the [`Head`] given).
    Head,
    /// Part of a head, within the cap: read on.
    Partial,
    /// Something hyper must answer.
    Elsewhere,
}

/// Where a span lies in the bytes read: (start, end). Offsets of 32 bits
/// keep a [`Head`] small (it is filled on every request).
type Span = (u32, u32);

/// A complete head taken here: where its parts lie in the bytes read.
struct Head {
    /// The head's length, up to its blank line.
    length: usize,
    /// The request target.
    target: Span,
    /// Each header's name and value.
    headers: [(Span, Span); MAX_HEADERS],
    count: usize,
    /// The client asked to close the connection after the answer
    /// (`Connection: close`).
    close: bool,
}

impl Head {
    fn new() -> Self {
        Self {
            length: 0,
            target: (0, 0),
            headers: [((0, 0), (0, 0)); MAX_HEADERS],
            count: 0,
            close: false,
        }
    }
}

/// Where `part` lies within `whole` (which it is a slice of, and which is
/// within the header cap: a `u32`).
fn span(whole: &[u8], part: &[u8]) -> Span {
    let start = part.as_ptr() as usize - whole.as_ptr() as usize;
    (start as u32, (start + part.len()) as u32)
}

/// Whether a request header shapes the exchange beyond a plain read: a
/// body, a change of protocol, a `100 Continue` (hyper's to answer). The
/// length is looked at first: most names are none of these.
/// (`Connection` is looked at by itself: see [`parse`].)
fn shapes_the_exchange(name: &[u8]) -> bool {
    let shaping: &[u8] = match name.len() {
        6 => b"expect",
        7 => b"upgrade",
        14 => b"content-length",
        17 => b"transfer-encoding",
        _ => return false,
    };
    name.eq_ignore_ascii_case(shaping)
}

/// What `read` begins (see [`Parse`]); a head's places go into `head`.
fn parse(read: &[u8], max_header_bytes: usize, head: &mut Head) -> Parse {
    let mut headers =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut []);
    let max = max_header_bytes.min(u32::MAX as usize);
    let length = match request.parse_with_uninit_headers(read, &mut headers) {
        Ok(httparse::Status::Complete(length)) if length <= max => length,
        Ok(httparse::Status::Partial) if read.len() <= max => return Parse::Partial,
        // Past the cap (hyper answers 431), too many headers, or not HTTP/1.
        _ => return Parse::Elsewhere,
    };
    if request.method != Some("GET") || request.version != Some(1) {
        return Parse::Elsewhere;
    }
    let Some(target) = request.path else {
        return Parse::Elsewhere;
    };
    head.length = length;
    head.target = span(read, target.as_bytes());
    head.count = request.headers.len();
    head.close = false;
    for (slot, found) in head.headers.iter_mut().zip(request.headers.iter()) {
        let name = found.name.as_bytes();
        if shapes_the_exchange(name) {
            return Parse::Elsewhere;
        }
        // `Connection: keep-alive` (HTTP/1.1's default, which many clients
        // say anyway) and `close` are answered here; any other option,
        // such as an upgrade's, is hyper's.
        if name.eq_ignore_ascii_case(b"connection") {
            let value = found.value.trim_ascii();
            if value.eq_ignore_ascii_case(b"close") {
                head.close = true;
            } else if !value.eq_ignore_ascii_case(b"keep-alive") {
                return Parse::Elsewhere;
            }
        }
        *slot = (span(read, name), span(read, found.value));
    }
    Parse::Head
}

impl Head {
    /// The answer of `service` to the request whose head is `bytes`;
    /// `None` when the target is not one `http` takes (hyper answers 400)
    /// or when neither the front nor the direct read takes the request.
    fn answer(&self, bytes: &Bytes, service: &WorkerService) -> Option<Answer> {
        let (start, end) = self.target;
        let target =
            PathAndQuery::from_maybe_shared(bytes.slice(start as usize..end as usize)).ok()?;
        let at = |(start, end): Span| &bytes[start as usize..end as usize];
        let mut headers: [(&[u8], &[u8]); MAX_HEADERS] = [(&[], &[]); MAX_HEADERS];
        for (slot, &(name, value)) in headers.iter_mut().zip(&self.headers[..self.count]) {
            *slot = (at(name), at(value));
        }
        service.answer_head(&RequestHead::get(target, &headers[..self.count]))
    }
}

/// The deadline of the next head, from the connection's start or its last
/// answer. One tokio sleep per connection, which lags behind
/// ([`deadline::poll_lagging`]): on a busy connection it is moved about
/// once per header timeout, not once per request.
struct HeadDeadline {
    timeout: std::time::Duration,
    at: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl HeadDeadline {
    fn new(timeout: std::time::Duration) -> Self {
        Self {
            timeout,
            at: Instant::now() + timeout,
            sleep: None,
        }
    }

    fn restart(&mut self) {
        self.at = Instant::now() + self.timeout;
    }

    /// Ready once the deadline has passed.
    fn poll_passed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let at = self.at;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        deadline::poll_lagging(sleep, at, cx)
    }
}

/// How a wait for more of a head ended.
enum Waited {
    /// Bytes came.
    Bytes,
    /// The connection is over: closed, failed, past its header deadline, or
    /// idle while the server stops.
    Over,
}

/// Reads more of a head into `read`, until `deadline`; a connection with
/// nothing of a head yet is given up once the server stops.
async fn wait_for_bytes<I: AsyncRead + Unpin>(
    io: &mut I,
    read: &mut BytesMut,
    deadline: &mut HeadDeadline,
    watch: &mut Watch<'_>,
) -> Waited {
    if read.capacity() - read.len() < READ_SIZE / 2 {
        read.reserve(READ_SIZE);
    }
    poll_fn(|cx| {
        if read.is_empty() && watch.stopping(cx.waker()) {
            return Poll::Ready(Waited::Over);
        }
        // (`read_buf`'s future holds no state between polls.)
        if let Poll::Ready(got) = std::pin::pin!(io.read_buf(read)).poll(cx) {
            return Poll::Ready(match got {
                Ok(0) | Err(_) => Waited::Over,
                Ok(_) => Waited::Bytes,
            });
        }
        deadline.poll_passed(cx).map(|()| Waited::Over)
    })
    .await
}

/// Serves the rest of the connection by hyper, `replayed` first.
async fn hand_off<I>(
    io: I,
    replayed: Bytes,
    service: &WorkerService,
    http: &Builder,
    watch: &mut Watch<'_>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut http = http.clone();
    // A timer of the connection's own for hyper's header deadline
    // (`deadline`): hyper arms it once per request.
    http.timer(ConnectionTimer::new());
    let io = TokioIo::new(Replay { replayed, io });
    let connection = http.serve_connection(io, service.clone());
    let _ = watch
        .until_served(connection, |c| c.graceful_shutdown())
        .await;
}

/// A connection whose first bytes, already read, are read again.
struct Replay<I> {
    replayed: Bytes,
    io: I,
}

impl<I: AsyncRead + Unpin> AsyncRead for Replay<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.replayed.is_empty() {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        let n = this.replayed.len().min(buf.remaining());
        buf.put_slice(&this.replayed[..n]);
        this.replayed.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Replay<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// How an answer's body is framed.
#[derive(Clone, Copy)]
enum Framing {
    /// No body (a 1xx, 204 or 304).
    None,
    /// This many bytes.
    Length(u64),
    /// Chunks, for a body of unknown length.
    Chunked,
}

/// Writes `response` whole to `io`, as hyper would: its status and
/// headers, a `Date`, its length (`Content-Length` when the response or
/// its body knows it, chunks otherwise), `Connection: close` when the
/// connection ends after it (`closing`), and its body. An error leaves the
/// connection unusable: a body that fails or runs short or long of its
/// length ends it, as it does under hyper.
async fn write_response<I: AsyncWrite + Unpin>(
    io: &mut I,
    out: &mut Vec<u8>,
    response: Response,
    closing: bool,
) -> io::Result<()> {
    let (parts, body) = response.into_parts();
    out.clear();
    push_status_line(out, parts.status);
    let (mut declared, mut dated) = (None, false);
    for (name, value) in &parts.headers {
        if *name == header::CONTENT_LENGTH {
            declared = std::str::from_utf8(value.as_bytes())
                .ok()
                .and_then(|v| v.parse::<u64>().ok());
        } else if *name == header::DATE {
            dated = true;
        }
        push_header(out, name.as_str().as_bytes(), value.as_bytes());
    }
    let framing = if !has_body(parts.status) {
        Framing::None
    } else if let Some(length) = declared {
        Framing::Length(length)
    } else if let Some(length) = http_body::Body::size_hint(&body).exact() {
        push_header(
            out,
            b"content-length",
            itoa::Buffer::new().format(length).as_bytes(),
        );
        Framing::Length(length)
    } else {
        push_header(out, b"transfer-encoding", b"chunked");
        Framing::Chunked
    };
    end_head(out, dated, closing);
    write_body(io, out, body, framing).await?;
    io.flush().await
}

/// Writes `prepared` whole to `io`, as [`write_response`] writes the
/// same answer made a [`Response`]: its head, a `Content-Length`, a `Date`,
/// `Connection: close` when `closing`, and its body in the same write.
#[cfg(test)]
async fn write_prepared<I: AsyncWrite + Unpin>(
    io: &mut I,
    prepared: Prepared,
    closing: bool,
) -> io::Result<()> {
    let mut batch = Batch::new();
    batch.push(prepared, closing);
    batch.write(io).await
}

/// Appends `prepared`'s head to `out` (its head, a `Content-Length`, a
/// `Date`, `Connection: close` when `closing`), and answers the body that
/// goes after it: none for a status without one.
fn push_prepared_head<'a>(out: &mut Vec<u8>, prepared: &'a Prepared, closing: bool) -> &'a [u8] {
    push_status_line(out, prepared.status);
    out.extend_from_slice(prepared.lines.as_bytes());
    let body = has_body(prepared.status).then_some(&prepared.body[..]);
    if let Some(body) = body {
        let mut digits = itoa::Buffer::new();
        push_header(out, b"content-length", digits.format(body.len()).as_bytes());
    }
    end_head(out, false, closing);
    body.unwrap_or_default()
}

/// Ends the head in `out`: a `Date` unless the answer has its own
/// (`dated`), `Connection: close` when the connection ends after it
/// (`closing`), and the blank line.
fn end_head(out: &mut Vec<u8>, dated: bool, closing: bool) {
    if !dated {
        date::now(|date| push_header(out, b"date", date));
    }
    if closing {
        push_header(out, b"connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends `HTTP/1.1 <status> <reason>\r\n` to `out`.
fn push_status_line(out: &mut Vec<u8>, status: StatusCode) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("<none>").as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends the header line `name: value` to `out`.
fn push_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    for piece in [name, b": ", value, b"\r\n"] {
        out.extend_from_slice(piece);
    }
}

/// Writes the head in `out`, then `body` framed as `framing` says.
async fn write_body<I: AsyncWrite + Unpin>(
    io: &mut I,
    out: &mut Vec<u8>,
    body: Body,
    framing: Framing,
) -> io::Result<()> {
    let mut left = match framing {
        Framing::None | Framing::Length(0) => return io.write_all(out).await,
        Framing::Length(length) => length,
        Framing::Chunked => 0,
    };
    let chunked = matches!(framing, Framing::Chunked);
    let mut frames = body.into_data_stream();
    // `out` holds what is still to go before the next frame's bytes: the
    // head, at first, and a chunk's size line.
    while let Some(frame) = frames.next().await {
        let data = frame.map_err(io::Error::other)?;
        if data.is_empty() {
            continue;
        }
        let end: &[u8] = if chunked {
            out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
            b"\r\n"
        } else {
            left = left
                .checked_sub(data.len() as u64)
                .ok_or_else(|| io::Error::other("the body is longer than its length"))?;
            b""
        };
        // The head (or a chunk's size line) and the bytes in one write,
        // without copying the bytes behind the head.
        let mut slices = [IoSlice::new(out), IoSlice::new(&data), IoSlice::new(end)];
        write_all_vectored(io, &mut slices).await?;
        out.clear();
        if !chunked && left == 0 {
            break;
        }
    }
    if chunked {
        out.extend_from_slice(b"0\r\n\r\n");
    } else if left > 0 {
        return Err(io::Error::other("the body is shorter than its length"));
    }
    if !out.is_empty() {
        io.write_all(out).await?;
    }
    Ok(())
}

/// Writes every byte of `slices`, in as few writes as the kernel takes.
async fn write_all_vectored<I: AsyncWrite + Unpin>(
    io: &mut I,
    mut slices: &mut [IoSlice<'_>],
) -> io::Result<()> {
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        let n = io.write_vectored(slices).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut slices, n);
    }
    Ok(())
}

/// The `Date` header's value, formatted once a second per thread (as hyper
/// caches it).
mod date {
    use std::cell::RefCell;
    use std::time::{SystemTime, UNIX_EPOCH};

    thread_local! {
        static CACHED: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }

    /// Calls `with` with the date now, as an IMF-fixdate.
    pub(super) fn now(with: impl FnOnce(&[u8])) {
        let now = SystemTime::now();
        let second = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        CACHED.with_borrow_mut(|(cached, date)| {
            if *cached != second {
                *cached = second;
                *date = httpdate::fmt_http_date(now);
            }
            with(date.as_bytes());
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn parsed(read: &[u8], cap: usize) -> (Parse, Head) {
        let mut head = Head::new();
        (parse(read, cap, &mut head), head)
    }

    #[test]
    fn a_plain_get_is_taken_here_with_its_target_and_headers() {
        let read = b"GET /files/a%20b?x=1 HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1\r\n\r\nGET /next";
        let (parse, head) = parsed(read, 8192);
        assert!(matches!(parse, Parse::Head));
        assert_eq!(head.length, read.len() - b"GET /next".len());
        let at = |(start, end): Span| &read[start as usize..end as usize];
        assert_eq!(at(head.target), b"/files/a%20b?x=1");
        let headers: Vec<_> = head.headers[..head.count]
            .iter()
            .map(|&(name, value)| (at(name), at(value)))
            .collect();
        assert_eq!(
            headers,
            [(&b"Host"[..], &b"h"[..]), (b"Range", b"bytes=0-1")]
        );
    }

    #[test]
    fn requests_that_are_not_plain_reads_go_to_hyper() {
        for read in [
            &b"HEAD /files/a HTTP/1.1\r\nHost: h\r\n\r\n"[..],
            b"POST /load/a HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET /files/a HTTP/1.0\r\n\r\n",
            b"GET /files/a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
            b"GET /files/a HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n",
            b"GET /files/a HTTP/1.1\r\nConnection: upgrade\r\n\r\n",
            b"GET /files/a HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            b"GET /files/a HTTP/1.1\r\nUPGRADE: h2c\r\n\r\n",
            b"GET /files/a HTTP/1.1\r\nBad Header: x\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        ] {
            let (parse, _) = parsed(read, 8192);
            assert!(
                matches!(parse, Parse::Elsewhere),
                "{:?}",
                String::from_utf8_lossy(read)
            );
        }
        // More headers than a head here holds.
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        let read = format!("GET /files/a HTTP/1.1\r\n{many}\r\n");
        assert!(matches!(parsed(read.as_bytes(), 8192).0, Parse::Elsewhere));
    }

    #[test]
    fn part_of_a_head_is_read_on_until_it_passes_the_cap() {
        let read = b"GET /files/a HTTP/1.1\r\nHost: h\r\nX-Pad: ";
        assert!(matches!(parsed(read, 8192).0, Parse::Partial));
        assert!(matches!(parsed(b"", 8192).0, Parse::Partial));
        // Past the cap, partial or whole: hyper answers 431.
        assert!(matches!(parsed(read, 20).0, Parse::Elsewhere));
        let whole = b"GET /files/a HTTP/1.1\r\nHost: h\r\n\r\n";
        assert!(matches!(parsed(whole, whole.len() - 1).0, Parse::Elsewhere));
        assert!(matches!(parsed(whole, whole.len()).0, Parse::Head));
    }

    #[test]
    fn connection_keep_alive_and_close_are_answered_here() {
        let (parse, head) = parsed(b"GET /f HTTP/1.1\r\nConnection: Keep-Alive\r\n\r\n", 8192);
        assert!(matches!(parse, Parse::Head) && !head.close);
        let (parse, head) = parsed(b"GET /f HTTP/1.1\r\nconnection:  close \r\n\r\n", 8192);
        assert!(matches!(parse, Parse::Head) && head.close);
        // A head after a closing one is read afresh.
        let mut head = Head::new();
        let _ = super::parse(
            b"GET /f HTTP/1.1\r\nConnection: close\r\n\r\n",
            8192,
            &mut head,
        );
        let parse = super::parse(b"GET /f HTTP/1.1\r\n\r\n", 8192, &mut head);
        assert!(matches!(parse, Parse::Head) && !head.close);
    }

    #[tokio::test]
    async fn answers_are_framed_as_hyper_frames_them() {
        let write = |response: Response| async move {
            let mut io = Vec::new();
            let mut out = Vec::new();
            let result = write_response(&mut io, &mut out, response, false).await;
            (result.is_ok(), String::from_utf8(io).unwrap())
        };
        // A body of known length: Content-Length and a Date.
        let (ok, text) = write(Response::new(Body::from("hello"))).await;
        assert!(ok);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("\r\ncontent-length: 5\r\n"), "{text}");
        assert!(text.contains("\r\ndate: "), "{text}");
        assert!(text.ends_with("\r\n\r\nhello"), "{text}");
        // Of unknown length: chunks.
        let stream =
            futures::stream::iter([Ok::<_, io::Error>(Bytes::from("ab")), Ok("cde".into())]);
        let (ok, text) = write(Response::new(Body::from_stream(stream))).await;
        assert!(ok);
        assert!(
            text.contains("\r\ntransfer-encoding: chunked\r\n"),
            "{text}"
        );
        assert!(
            text.ends_with("\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n"),
            "{text}"
        );
        // A 304 has no body, whatever its length says.
        let mut not_modified = Response::new(Body::from("<xml/>"));
        *not_modified.status_mut() = StatusCode::NOT_MODIFIED;
        not_modified
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(6));
        let (ok, text) = write(not_modified).await;
        assert!(ok);
        assert!(text.starts_with("HTTP/1.1 304 Not Modified\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\n"), "{text}");
        // A body shorter than its declared length fails the connection.
        let stream = futures::stream::iter([Ok::<_, io::Error>(Bytes::from("abc"))]);
        let mut short = Response::new(Body::from_stream(stream));
        short
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(10));
        assert!(!write(short).await.0);
    }

    #[tokio::test]
    async fn a_prepared_answer_is_written_as_the_same_response_would_be() {
        let prepared = |status| {
            let mut prepared = Prepared::new(status, Bytes::from_static(b"hello"));
            prepared.header(&header::ETAG, b"\"0a\"").unwrap();
            prepared
                .header(&header::CONTENT_RANGE, b"bytes 0-4/9")
                .unwrap();
            prepared
        };
        // Without the Date line, which may tick between the two writes.
        let undated = |io: Vec<u8>| -> String {
            String::from_utf8(io)
                .unwrap()
                .split_inclusive("\r\n")
                .filter(|line| !line.starts_with("date: "))
                .collect()
        };
        for status in [StatusCode::PARTIAL_CONTENT, StatusCode::NOT_MODIFIED] {
            for closing in [false, true] {
                let mut text = Vec::new();
                write_prepared(&mut text, prepared(status), closing)
                    .await
                    .unwrap();
                let (mut expected, mut out) = (Vec::new(), Vec::new());
                let response = prepared(status).into_response();
                write_response(&mut expected, &mut out, response, closing)
                    .await
                    .unwrap();
                let (text, expected) = (undated(text), undated(expected));
                assert_eq!(text, expected, "{status} closing {closing}");
                assert!(text.contains("\r\netag: \"0a\"\r\n"), "{text}");
                assert_eq!(
                    text.ends_with("\r\n\r\nhello"),
                    status == StatusCode::PARTIAL_CONTENT
                );
            }
        }
    }
}
