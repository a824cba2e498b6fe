//! The timer of one connection's header deadline (hyper's
//! `header_read_timeout`, `azimuth.worker.http.header.timeout`).
//!
//! hyper arms the deadline each time it waits for a request's head — on a
//! busy keep-alive connection, once per request — and drops it when the
//! head is in. With `hyper_util`'s `TokioTimer` every arming is a new boxed
//! tokio sleep, put into the runtime's timer wheel and taken out again: 780
//! of the 12,700 instructions a cached 4 KiB read cost the worker
//! (callgrind under `wrk`), where the bare hyper server spends 7,100 in all.
//!
//! A [`ConnectionTimer`] keeps one tokio sleep per connection in the wheel
//! and lets it lag behind the deadlines hyper asks for: while it has not
//! fired, a later deadline is only noted, and when it fires early it is
//! moved to the deadline then asked for. On a busy connection it is thus
//! moved about once per header timeout rather than once per request, and
//! every deadline still holds to the timer wheel's precision.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::rt::{Sleep, Timer};

/// A timer for one connection's hyper server: see the module's text.
#[derive(Clone, Default)]
pub struct ConnectionTimer {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    /// The connection's sleep in the timer wheel, made on first use (a tokio
    /// sleep is made inside the runtime).
    sleep: Mutex<Option<Pin<Box<tokio::time::Sleep>>>>,
    /// A [`HeaderSleep`] is using `sleep`; a second one at once gets a
    /// sleep of its own (hyper asks for one at a time).
    taken: AtomicBool,
}

impl ConnectionTimer {
    /// A timer for a new connection.
    pub fn new() -> Self {
        Self::default()
    }

    fn sleep_at(&self, deadline: Instant) -> HeaderSleep {
        let deadline = tokio::time::Instant::from_std(deadline);
        if self.shared.taken.swap(true, Ordering::Acquire) {
            HeaderSleep::Own(Box::pin(tokio::time::sleep_until(deadline)))
        } else {
            HeaderSleep::Shared {
                shared: self.shared.clone(),
                deadline,
            }
        }
    }
}

impl Timer for ConnectionTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        Box::pin(self.sleep_at(Instant::now() + duration))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(self.sleep_at(deadline))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn Sleep>>, new_deadline: Instant) {
        let new_deadline = tokio::time::Instant::from_std(new_deadline);
        match sleep.as_mut().downcast_mut_pin::<HeaderSleep>() {
            Some(mut header) => match &mut *header {
                HeaderSleep::Shared { deadline, .. } => *deadline = new_deadline,
                HeaderSleep::Own(own) => own.as_mut().reset(new_deadline),
            },
            None => *sleep = Box::pin(self.sleep_at(new_deadline.into_std())),
        }
    }
}

/// One deadline of a [`ConnectionTimer`].
enum HeaderSleep {
    /// On the connection's sleep, which may lag behind `deadline`.
    Shared {
        shared: Arc<Shared>,
        deadline: tokio::time::Instant,
    },
    /// On a sleep of its own.
    Own(Pin<Box<tokio::time::Sleep>>),
}

impl Sleep for HeaderSleep {}

impl Future for HeaderSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let (shared, deadline) = match self.get_mut() {
            HeaderSleep::Own(own) => return own.as_mut().poll(cx),
            HeaderSleep::Shared { shared, deadline } => (shared, *deadline),
        };
        let mut slot = shared.sleep.lock().unwrap_or_else(PoisonError::into_inner);
        poll_lagging(
            slot.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline))),
            deadline,
            cx,
        )
    }
}

/// Polls `sleep`, a sleep kept for many deadlines in turn, for `deadline`:
/// ready once `deadline` has passed. The sleep lags behind later
/// deadlines: it is moved only when it is due later than `deadline`, or
/// fires before it. (The worker's own connection keeps one so too.)
pub(crate) fn poll_lagging(
    sleep: &mut Pin<Box<tokio::time::Sleep>>,
    deadline: tokio::time::Instant,
    cx: &mut Context<'_>,
) -> Poll<()> {
    // Later than this deadline: only an earlier one may lag.
    if sleep.deadline() > deadline {
        sleep.as_mut().reset(deadline);
    }
    loop {
        match sleep.as_mut().poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(()) if sleep.deadline() >= deadline => return Poll::Ready(()),
            // An earlier deadline fired: on to this one.
            Poll::Ready(()) => sleep.as_mut().reset(deadline),
        }
    }
}

impl Drop for HeaderSleep {
    fn drop(&mut self) {
        if let HeaderSleep::Shared { shared, .. } = self {
            shared.taken.store(false, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Now on the runtime's clock, which the tests pause and advance.
    fn now() -> Instant {
        tokio::time::Instant::now().into_std()
    }

    /// Polls `sleep` once.
    fn ready(sleep: &mut Pin<Box<dyn Sleep>>) -> bool {
        let waker = std::task::Waker::noop();
        sleep
            .as_mut()
            .poll(&mut Context::from_waker(waker))
            .is_ready()
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_after_a_lagging_one_fires_at_its_own_time() {
        let timer = ConnectionTimer::new();
        let start = now();
        // The first deadline puts the connection's sleep at 10 s.
        let mut first = timer.sleep_until(start + Duration::from_secs(10));
        assert!(!ready(&mut first));
        drop(first);
        // A later one leaves it there...
        tokio::time::advance(Duration::from_secs(4)).await;
        let mut second = timer.sleep_until(now() + Duration::from_secs(10));
        assert!(!ready(&mut second));
        // ...and is not over when the sleep fires at 10 s,
        tokio::time::advance(Duration::from_secs(7)).await;
        assert!(!ready(&mut second), "fired at 11 s, its deadline is 14 s");
        // but is at 14 s.
        tokio::time::advance(Duration::from_millis(2_900)).await;
        assert!(!ready(&mut second));
        tokio::time::advance(Duration::from_millis(200)).await;
        assert!(ready(&mut second), "past its deadline");
    }

    #[tokio::test(start_paused = true)]
    async fn an_earlier_deadline_and_a_second_sleep_at_once_each_hold() {
        let timer = ConnectionTimer::new();
        let start = now();
        let mut late = timer.sleep_until(start + Duration::from_secs(30));
        assert!(!ready(&mut late));
        // A second sleep while the first is alive: one of its own.
        let mut early = timer.sleep_until(start + Duration::from_secs(2));
        assert!(!ready(&mut early));
        tokio::time::advance(Duration::from_millis(2_100)).await;
        assert!(ready(&mut early));
        assert!(!ready(&mut late));
        // Reset to earlier than the connection's sleep: it moves.
        timer.reset(&mut late, now() + Duration::from_secs(1));
        tokio::time::advance(Duration::from_millis(1_100)).await;
        assert!(ready(&mut late));
    }
}
