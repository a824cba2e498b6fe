//! A lane: one connection to a worker that the small reads in flight at
//! once share, their requests written together and their answers read in
//! turn (HTTP/1.1 pipelining).
//!
//! Why: on loopback, most of a small read's cost is the kernel's. Each
//! write is a trip through TCP that wakes the reader at the other end, and
//! sixteen reads on sixteen connections make sixteen writes each way. On a
//! lane, the requests that come while earlier answers are awaited go
//! together in one write, and the worker answers the requests it read
//! together in one write (its connection's batch). Measured on the worker
//! alone (`wrk`, 16 connections, four requests pipelined on each): its CPU
//! per cached 4 KiB read was 7.2 us before the batch, 2.6 us with it; and
//! the gateway, reading through lanes, makes 2.7 system calls a GetObject
//! instead of 4.3, its worker 0.4 instead of 2.2.
//!
//! What it costs, and how that is bounded: answers come in the order asked,
//! so a read waits for those asked before it on its lane. Only answers
//! known to be small ([`LANE_MAX_BODY`]) go on a lane; a lane holds
//! [`LANE_DEPTH`] reads at most; and a lane whose answer now awaited was
//! asked for more than [`LANE_STALL`] ago (a read from the UFS, say) takes
//! no new read until it moves. A read a lane does not take goes on a
//! connection of its own, as every read did before lanes. A lane that
//! breaks — an error, a read dropped before its answer ended, a worker
//! closing the connection — fails every read waiting on it, and each is
//! sent again on a connection of its own (a GET is safe to repeat).

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;

use super::{Connection, Head, Stream};

/// Answers up to this many bytes may go on a lane: read from memory, they
/// hold the ones behind them for microseconds.
pub(crate) const LANE_MAX_BODY: u64 = 64 << 10;

/// Reads a lane holds in flight at most.
const LANE_DEPTH: u64 = 16;

/// A lane whose awaited answer was asked for longer ago than this takes no
/// new reads until that answer comes.
const LANE_STALL: Duration = Duration::from_millis(1);

/// One pipelined connection to a worker.
pub(super) struct Lane {
    state: Mutex<State>,
}

struct State {
    /// The socket's write half; `None` while a read writes, or once the
    /// lane is broken.
    writer: Option<OwnedWriteHalf>,
    /// Requests not written yet, one after another.
    outgoing: Vec<u8>,
    /// Whether a read is writing the requests of `outgoing`.
    writing: bool,
    /// Requests with tickets below this are written.
    written: u64,
    /// The read half, with what was read from it and not handed out;
    /// `None` while a read reads its answer, or once the lane is broken.
    reader: Option<Connection>,
    /// The ticket the next request gets, and the one whose answer is next.
    next: u64,
    turn: u64,
    /// Since when the answer of `turn` is awaited (or, with nothing in
    /// flight, when the lane was last used).
    since: Instant,
    /// The wakers of reads waiting for their turn, from `turn` on.
    waiting: VecDeque<Option<Waker>>,
    broken: bool,
}

/// What a read on a lane does next.
enum Turned {
    Read(Connection),
    Write,
    Broken,
}

/// A lane did not take a read, or broke before its answer's head came:
/// the read goes on a connection of its own.
pub(super) struct NotTaken;

impl Lane {
    /// A lane over `tcp`, a new connection to a worker.
    pub(super) fn new(tcp: TcpStream) -> Arc<Self> {
        let (read, write) = tcp.into_split();
        Arc::new(Self {
            state: Mutex::new(State {
                writer: Some(write),
                outgoing: Vec::new(),
                writing: false,
                written: 0,
                reader: Some(Connection::new(Stream::ReadHalf(read))),
                next: 0,
                turn: 0,
                since: Instant::now(),
                waiting: VecDeque::new(),
                broken: false,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the lane may still take reads: not broken, and not idle
    /// past `idle` (the worker may have closed it).
    pub(super) fn is_usable(&self, idle: Duration) -> bool {
        let state = self.lock();
        // (The clock is read only for an idle lane.)
        !state.broken && (state.next > state.turn || state.since.elapsed() <= idle)
    }

    /// Sends `request` on the lane and reads its answer's head when its
    /// turn comes: the head, the read half to read the body from, and the
    /// turn to end once the body is read ([`Turn::end`]).
    pub(super) async fn exchange(
        self: &Arc<Self>,
        request: &[u8],
    ) -> Result<(Head, Connection, Turn), NotTaken> {
        let ticket = poll_fn(|cx| Poll::Ready(self.enqueue(request, cx))).await?;
        // From here, a read that ends without its answer read (dropped, or
        // failed) breaks the lane: its answer would be taken for the next.
        let turn = Turn {
            lane: self.clone(),
            ticket,
            ended: false,
        };
        let mut reader = loop {
            match poll_fn(|cx| self.poll_turn(ticket, cx)).await {
                Turned::Read(reader) => break reader,
                Turned::Write => self.write_out().await.map_err(|_| NotTaken)?,
                Turned::Broken => return Err(NotTaken),
            }
        };
        let head = reader.read_head().await.map_err(|_| NotTaken)?;
        Ok((head, reader, turn))
    }

    /// Adds `request` to the lane, if it takes it: its ticket.
    fn enqueue(&self, request: &[u8], cx: &mut Context<'_>) -> Result<u64, NotTaken> {
        let mut state = self.lock();
        let in_flight = state.next - state.turn;
        if state.broken
            || in_flight >= LANE_DEPTH
            || (in_flight > 0 && state.since.elapsed() > LANE_STALL)
        {
            return Err(NotTaken);
        }
        if in_flight == 0 {
            // An idle lane is checked as an idle connection is: the worker
            // may have closed it meanwhile (past its header timeout).
            if !state.reader.as_mut().is_some_and(|r| r.is_open(cx)) {
                drop(state);
                self.break_off();
                return Err(NotTaken);
            }
            state.since = Instant::now();
        }
        state.outgoing.extend_from_slice(request);
        let ticket = state.next;
        state.next += 1;
        state.waiting.push_back(None);
        Ok(ticket)
    }

    /// Writes the requests not written yet (this read has taken that on).
    async fn write_out(&self) -> io::Result<()> {
        let (mut writer, requests) = {
            let mut state = self.lock();
            let Some(writer) = state.writer.take() else {
                return Err(io::ErrorKind::BrokenPipe.into());
            };
            state.written = state.next;
            (writer, std::mem::take(&mut state.outgoing))
        };
        let written = writer.write_all(&requests).await;
        let mut state = self.lock();
        state.writing = false;
        if state.outgoing.is_empty() {
            // Its room, for the next requests.
            state.outgoing = requests;
            state.outgoing.clear();
        }
        if written.is_ok() && !state.broken {
            state.writer = Some(writer);
        }
        written
    }

    /// What `ticket`'s read does next: reads its answer, once its turn has
    /// come; or first writes the requests waiting, its own among them.
    ///
    /// Requests are written when nothing asked before them is unanswered,
    /// by the read whose turn it then is: on one connection the worker
    /// answers in order, so a request written sooner would be answered no
    /// sooner than those before it, and waiting lets the requests that
    /// come meanwhile go with it, in one write (a lane's Nagle rule).
    fn poll_turn(&self, ticket: u64, cx: &mut Context<'_>) -> Poll<Turned> {
        let mut state = self.lock();
        if state.broken {
            return Poll::Ready(Turned::Broken);
        }
        if state.turn == ticket {
            if state.written <= ticket {
                if state.writing {
                    // Another read writes them; it wakes this one after.
                } else {
                    state.writing = true;
                    return Poll::Ready(Turned::Write);
                }
            } else if let Some(reader) = state.reader.take() {
                return Poll::Ready(Turned::Read(reader));
            }
        }
        let at = (ticket - state.turn) as usize;
        match &mut state.waiting[at] {
            Some(waker) => waker.clone_from(cx.waker()),
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Fails every read on the lane and closes it.
    fn break_off(&self) {
        let mut state = self.lock();
        state.broken = true;
        state.writer = None;
        state.reader = None;
        for waker in state.waiting.drain(..).flatten() {
            waker.wake();
        }
    }
}

/// A read's place on a lane, from its request to its answer's end.
pub(super) struct Turn {
    lane: Arc<Lane>,
    ticket: u64,
    ended: bool,
}

impl Turn {
    /// Ends the turn: with the read half (`Some`) when the answer was read
    /// to its end and the connection goes on, which hands it to the next
    /// read; without it, breaking the lane.
    pub(super) fn end(&mut self, reader: Option<Connection>) {
        if self.ended {
            return;
        }
        self.ended = true;
        let Some(reader) = reader else {
            self.lane.break_off();
            return;
        };
        let mut state = self.lane.lock();
        if state.broken || state.turn != self.ticket {
            return;
        }
        state.reader = Some(reader);
        state.turn += 1;
        state.waiting.pop_front();
        state.since = Instant::now();
        if let Some(Some(next)) = state.waiting.front_mut().map(Option::take) {
            next.wake();
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if !self.ended {
            self.lane.break_off();
        }
    }
}
