//! Step 2 of a read: one attempt of one source, from the first byte not yet
//! delivered. A worker is read through its `/files` route with a `Range`;
//! the UFS in chunks. Either way the bytes go to the reader as they come,
//! so an attempt that fails midway has delivered an exact prefix.

use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use azimuth_cluster::config;
use azimuth_policy::{FailureKind, Source};
use azimuth_ufs::UfsError;
use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::coop;

use super::plan::ReadPlan;
use crate::placement::Member;
use crate::worker_api::FetchError;
use crate::{Inner, ReadError};

/// Bytes asked of the UFS at a time when it serves a read.
const UFS_CHUNK: u64 = 4 << 20;

/// Whose fault a failed attempt was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Blame {
    /// The source's: it is taken as failing (unhealthy until it answers).
    Source,
    /// The request's own input (a 4xx such as a name the UFS cannot hold):
    /// every source would refuse it, so the read ends, and nobody's health
    /// changes.
    Request,
    /// This client's credentials (401, 403): the worker is well, but will
    /// not serve this client; the read goes on elsewhere.
    Credentials,
}

/// How a source failed, and what to say about it.
#[derive(Debug)]
pub(crate) struct SourceError {
    pub(crate) kind: FailureKind,
    pub(crate) message: String,
    pub(crate) blame: Blame,
}

impl SourceError {
    fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            blame: Blame::Source,
        }
    }

    fn blaming(mut self, blame: Blame) -> Self {
        self.blame = blame;
        self
    }

    /// `kind: message`, as the story and the final error say it.
    pub(crate) fn describe(&self) -> String {
        let kind = match self.kind {
            FailureKind::Refused => "refused",
            FailureKind::Timeout => "timeout",
            FailureKind::IoError => "I/O error",
            FailureKind::Corrupt => "corrupt",
            FailureKind::NotFound => "not found",
        };
        format!("{kind}: {}", self.message)
    }
}

/// Where a read's bytes go: a stream's channel, or one buffer.
pub(crate) enum Sink<'a> {
    Channel(&'a mpsc::Sender<Result<Bytes, ReadError>>),
    Buffer(&'a mut Vec<Bytes>),
}

impl Sink<'_> {
    /// True when nobody will take more bytes (the stream was dropped).
    pub(crate) fn is_closed(&self) -> bool {
        match self {
            Sink::Channel(tx) => tx.is_closed(),
            Sink::Buffer(_) => false,
        }
    }
}

/// Where one attempt's bytes go, and how many it delivered.
struct Delivery<'a, 'b> {
    sink: &'a mut Sink<'b>,
    sent: u64,
    /// The version (ETag) the source said it serves.
    version: Option<String>,
}

impl Delivery<'_, '_> {
    /// Hands a chunk to the reader.
    async fn send(&mut self, chunk: Bytes) -> Result<(), SourceError> {
        if chunk.is_empty() {
            return Ok(());
        }
        let n = chunk.len() as u64;
        match self.sink {
            Sink::Channel(tx) => {
                if tx.send(Ok(chunk)).await.is_err() {
                    return Err(SourceError::new(
                        FailureKind::IoError,
                        "the reader went away",
                    ));
                }
            }
            Sink::Buffer(chunks) => chunks.push(chunk),
        }
        self.sent += n;
        Ok(())
    }
}

/// `future`'s output, or `TimedOut` when it is still not done `wait` after
/// it first had to wait. Unlike `tokio::time::timeout`, which reads the
/// clock and makes a timer up front, the timer is made on the first
/// `Pending`: a future ready at once, as a body already in the buffer is,
/// costs neither (on a cached 4 KiB read, two of its three waits).
fn within<F: Future>(wait: Duration, future: F) -> Within<F> {
    Within {
        future,
        wait,
        sleep: None,
    }
}

/// The answer did not come within its wait.
struct TimedOut;

pin_project_lite::pin_project! {
    /// The future of [`within`].
    struct Within<F> {
        #[pin]
        future: F,
        wait: Duration,
        #[pin]
        sleep: Option<tokio::time::Sleep>,
    }
}

impl<F: Future> Future for Within<F> {
    type Output = Result<F::Output, TimedOut>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        // A sleep polled with the task's budget used up answers `Pending`
        // without looking at its deadline. When the budget is gone (used up
        // by the awaited future, as a worker streaming endless 1xx heads
        // could do on every poll), the sleep is polled outside it, as
        // tokio's own `Timeout` does, or the wait might never end. (Unlike
        // `Timeout`, also when the budget was gone before the poll: looking
        // at a deadline is no work worth yielding for, and not asking
        // before the poll saves a thread-local access a wait.)
        let exhausted = !coop::has_budget_remaining();
        if this.sleep.is_none() {
            this.sleep.set(Some(tokio::time::sleep(*this.wait)));
        }
        let sleep = this.sleep.as_pin_mut().expect("the timer is made above");
        let fired = if exhausted {
            std::pin::pin!(coop::unconstrained(sleep)).poll(cx)
        } else {
            sleep.poll(cx)
        };
        fired.map(|()| Err(TimedOut))
    }
}

/// How an attempt ended, and the bytes it delivered before that.
pub(crate) struct Attempted {
    pub(crate) result: Result<(), SourceError>,
    pub(crate) bytes: u64,
    /// The version (ETag) the source served, when it said.
    pub(crate) version: Option<String>,
}

impl Inner {
    /// Reads what is left of the plan's range, after `delivered` bytes,
    /// from `source` into `sink`.
    pub(crate) async fn attempt(
        &self,
        plan: &ReadPlan,
        source: Source,
        delivered: u64,
        sink: &mut Sink<'_>,
    ) -> Attempted {
        let from = plan.offset + delivered;
        let rest = plan.length.map(|l| l - delivered);
        let mut out = Delivery {
            sink,
            sent: 0,
            version: None,
        };
        let etag = plan.etag.as_deref();
        let result = match plan.worker(source) {
            Some(worker) => {
                self.read_worker(worker, &plan.path, from, rest, etag, &mut out)
                    .await
            }
            None => self.read_ufs(&plan.path, from, rest, etag, &mut out).await,
        };
        Attempted {
            result,
            bytes: out.sent,
            version: out.version,
        }
    }

    /// Streams `from..` (`rest` bytes, or to the end) of `path` from a
    /// worker, of version `etag` when one is named.
    async fn read_worker(
        &self,
        worker: &Member,
        path: &str,
        from: u64,
        rest: Option<u64>,
        etag: Option<&str>,
        out: &mut Delivery<'_, '_>,
    ) -> Result<(), SourceError> {
        if rest == Some(0) {
            return Ok(());
        }
        let wait = self.settings.first_byte_timeout;
        let started = Instant::now();
        let mut response = within(
            wait,
            self.api.get_file(&worker.address, path, from, rest, etag),
        )
        .await
        .map_err(|_| SourceError::new(FailureKind::Timeout, format!("no answer in {wait:?}")))?
        .map_err(|e| {
            let kind = match e {
                FetchError::Connect(_) => FailureKind::Refused,
                FetchError::Exchange(_) => FailureKind::IoError,
            };
            SourceError::new(kind, e.to_string())
        })?;
        let status = response.status();
        if !status.is_server_error() {
            self.health
                .records
                .succeeded(&worker.record.id, started.elapsed());
        }
        if status == http::StatusCode::RANGE_NOT_SATISFIABLE {
            return Ok(()); // The range starts at or past the end: nothing left.
        }
        if status == http::StatusCode::NOT_FOUND {
            return Err(SourceError::new(FailureKind::NotFound, "HTTP 404"));
        }
        if status == http::StatusCode::PRECONDITION_FAILED {
            // It has another version of the file: not a fault of the worker.
            let why = response.text().await;
            return Err(SourceError::new(
                FailureKind::NotFound,
                format!("HTTP 412: {}", why.trim()),
            ));
        }
        if !status.is_success() {
            let why = response.text().await;
            let error = |kind| SourceError::new(kind, format!("HTTP {status}: {}", why.trim()));
            return Err(match status.as_u16() {
                401 | 403 => error(FailureKind::Refused).blaming(Blame::Credentials),
                400..=499 => error(FailureKind::IoError).blaming(Blame::Request),
                _ => error(FailureKind::IoError),
            });
        }
        out.version = response
            .header("etag")
            .map(|v| v.trim_start_matches("W/").trim_matches('"').to_owned());
        // A 200 to a ranged request carries the whole file: skip to `from`.
        let mut skip = if status == http::StatusCode::OK {
            from
        } else {
            0
        };
        loop {
            let data = within(wait, response.data()).await.map_err(|_| {
                SourceError::new(FailureKind::Timeout, format!("stalled for {wait:?}"))
            })?;
            let Some(data) = data else {
                return Ok(());
            };
            let mut chunk =
                data.map_err(|e| SourceError::new(FailureKind::IoError, crate::error_chain(&e)))?;
            if skip > 0 {
                let n = skip.min(chunk.len() as u64);
                chunk = chunk.slice(n as usize..);
                skip -= n;
            }
            if let Some(limit) = rest {
                let left = limit - out.sent;
                if chunk.len() as u64 > left {
                    chunk.truncate(left as usize);
                }
            }
            out.send(chunk).await?;
        }
    }

    /// Reads `from..` of `path` from the UFS in chunks, of version `etag`
    /// when one is named.
    async fn read_ufs(
        &self,
        path: &str,
        from: u64,
        rest: Option<u64>,
        etag: Option<&str>,
        out: &mut Delivery<'_, '_>,
    ) -> Result<(), SourceError> {
        let Some(ufs) = &self.ufs else {
            return Err(SourceError::new(
                FailureKind::IoError,
                format!("this client has no UFS ({} is not set)", config::UFS_ROOT),
            ));
        };
        let ufs_error = |e: UfsError| {
            let blame = if e.is_request_fault() {
                Blame::Request
            } else {
                Blame::Source
            };
            SourceError::new(FailureKind::IoError, e.to_string()).blaming(blame)
        };
        let file =
            ufs.head(path).await.map_err(ufs_error)?.ok_or_else(|| {
                SourceError::new(FailureKind::NotFound, format!("no file {path}"))
            })?;
        if let Some(etag) = etag
            && file.etag() != etag
        {
            return Err(SourceError::new(
                FailureKind::NotFound,
                format!(
                    "the UFS has version \"{}\" of {path}, not \"{etag}\"",
                    file.etag()
                ),
            ));
        }
        out.version = Some(file.etag().to_owned());
        let end = match rest {
            Some(n) => (from + n).min(file.length),
            None => file.length,
        };
        let mut at = from.min(end);
        while at < end {
            let range: Range<u64> = at..(at + UFS_CHUNK).min(end);
            let bytes = ufs.read(&file, range.clone()).await.map_err(ufs_error)?;
            if bytes.len() as u64 != range.end - range.start {
                return Err(SourceError::new(
                    FailureKind::IoError,
                    format!("short read at byte {at}"),
                ));
            }
            at = range.end;
            out.send(bytes).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::within;

    /// A wait on a future that uses up the task's whole budget on every
    /// poll, and never ends (a worker streaming endless interim heads can
    /// do that to the head's wait), still ends at its deadline.
    #[tokio::test]
    async fn a_wait_on_a_future_that_uses_up_its_budget_still_ends() {
        let busy = async {
            loop {
                tokio::task::coop::consume_budget().await;
            }
        };
        // The guard is tokio's own timeout, which polls its timer outside
        // the budget.
        let waited = tokio::time::timeout(
            Duration::from_secs(10),
            within(Duration::from_millis(50), busy),
        )
        .await;
        assert!(
            matches!(waited, Ok(Err(super::TimedOut))),
            "the wait did not end at its deadline"
        );
    }

    /// A future that is ready at once is not timed (its answer stands
    /// even with no time to wait).
    #[tokio::test]
    async fn a_ready_future_answers_even_with_no_time_to_wait() {
        let answer = within(Duration::ZERO, async { 7 }).await;
        assert!(matches!(answer, Ok(7)));
    }
}
