//! The engine's epoch clock: what interrupts a policy call that runs past
//! its deadline (see [`instance`](crate::instance)).
//!
//! wasmtime checks a store's epoch deadline at every function entry and
//! loop header of the guest; the clock only has to advance. A thread that
//! advanced it every millisecond for the engine's whole life woke a
//! thousand times a second in every process holding an engine — a gateway
//! or a client's application idle for hours included. This clock ticks
//! while calls may need it and sleeps once none has begun for
//! [`QUIET_TICKS`] ticks and none is running past its first tick; the next
//! decision wakes it (one load on the hot path while it ticks, a wake
//! once after it slept).
//!
//! Why a call can never run unchecked: a call begins by counting itself
//! (the engine's `decisions`), then looks whether the clock sleeps, and
//! wakes it if so; the clock, before it sleeps, says so, then looks once
//! more at the count (both in sequentially consistent order, so one of the
//! two sees the other). Once the clock has seen a call begin it ticks for
//! at least [`QUIET_TICKS`] more, and a call still running at its first
//! tick is counted as long until it returns, which keeps the clock awake.
//! A call whose thread was descheduled past all that reaches its deadline
//! check on the tick it missed, and counting itself long wakes the clock.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

/// How often the epoch advances: how often a long call's CPU time is checked.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Ticks without a call beginning (and none running long) after which the
/// clock sleeps: one second.
pub(crate) const QUIET_TICKS: u32 = 1000;

/// An engine's epoch clock (see the module's documentation).
pub(crate) struct Ticker {
    engine: wasmtime::Engine,
    /// Calls begun, counted by whoever begins one (the engine's decisions).
    begun: Arc<AtomicU64>,
    /// Calls past their first tick that have not returned.
    long_calls: AtomicUsize,
    /// Whether the clock sleeps (or is about to).
    sleeping: AtomicBool,
    stop: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

impl Ticker {
    /// Starts the clock of `engine` on a thread of its own; `begun` is the
    /// count of calls begun, which callers bump before calling
    /// [`Ticker::call_begun`].
    pub(crate) fn start(
        engine: wasmtime::Engine,
        begun: Arc<AtomicU64>,
    ) -> std::io::Result<Arc<Self>> {
        let ticker = Arc::new(Self {
            engine,
            begun,
            long_calls: AtomicUsize::new(0),
            sleeping: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        });
        let clock = ticker.clone();
        std::thread::Builder::new()
            .name("azimuth-policy-epoch".into())
            .spawn(move || clock.run())?;
        Ok(ticker)
    }

    /// After a call was counted in `begun`: wakes the clock if it sleeps.
    #[inline]
    pub(crate) fn call_begun(&self) {
        if self.sleeping.load(Ordering::SeqCst) {
            self.wake();
        }
    }

    /// Wakes the clock if it sleeps; it then ticks for at least
    /// [`QUIET_TICKS`]. For guest code run outside a counted call (an
    /// instance made ahead of time runs the policy's start-up code).
    pub(crate) fn wake(&self) {
        if self.sleeping.swap(false, Ordering::SeqCst) {
            // Taken so that the wake cannot fall between the clock's last
            // look at `sleeping` and its wait.
            let _lock = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.wake.notify_one();
        }
    }

    /// A call reached its first tick: the clock must tick until it returns
    /// ([`Ticker::long_call_over`]).
    pub(crate) fn long_call_began(&self) {
        self.long_calls.fetch_add(1, Ordering::SeqCst);
        self.wake();
    }

    /// A call counted by [`Ticker::long_call_began`] returned.
    pub(crate) fn long_call_over(&self) {
        self.long_calls.fetch_sub(1, Ordering::SeqCst);
    }

    /// Stops the clock's thread.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _lock = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.wake.notify_one();
    }

    /// Whether the clock sleeps now.
    #[cfg(test)]
    pub(crate) fn is_sleeping(&self) -> bool {
        self.sleeping.load(Ordering::SeqCst)
    }

    fn run(&self) {
        let mut seen = self.begun.load(Ordering::SeqCst);
        let mut quiet = 0;
        while !self.stop.load(Ordering::SeqCst) {
            std::thread::sleep(EPOCH_TICK);
            self.engine.increment_epoch();
            let begun = self.begun.load(Ordering::SeqCst);
            if begun != seen || self.long_calls.load(Ordering::SeqCst) > 0 {
                (seen, quiet) = (begun, 0);
                continue;
            }
            quiet += 1;
            if quiet < QUIET_TICKS {
                continue;
            }
            let mut lock = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.sleeping.store(true, Ordering::SeqCst);
            // A call counted before `sleeping` was set may have read it
            // unset and not woken the clock: look once more.
            if self.begun.load(Ordering::SeqCst) == seen
                && self.long_calls.load(Ordering::SeqCst) == 0
            {
                while self.sleeping.load(Ordering::SeqCst) && !self.stop.load(Ordering::SeqCst) {
                    lock = self.wake.wait(lock).unwrap_or_else(PoisonError::into_inner);
                }
            }
            self.sleeping.store(false, Ordering::SeqCst);
            drop(lock);
            (seen, quiet) = (self.begun.load(Ordering::SeqCst), 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn ticker() -> (Arc<Ticker>, Arc<AtomicU64>) {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let engine = wasmtime::Engine::new(&config).unwrap();
        let begun = Arc::new(AtomicU64::new(0));
        (Ticker::start(engine, begun.clone()).unwrap(), begun)
    }

    /// Waits up to `limit` for `ticker` to sleep (`true`) or tick (`false`).
    fn sleeps_within(ticker: &Ticker, sleeping: bool, limit: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < limit {
            if ticker.is_sleeping() == sleeping {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    #[test]
    fn an_idle_clock_sleeps_and_a_call_wakes_it() {
        let (ticker, begun) = ticker();
        assert!(
            sleeps_within(&ticker, true, Duration::from_secs(5)),
            "the clock still ticks with no call"
        );
        begun.fetch_add(1, Ordering::SeqCst);
        ticker.call_begun();
        assert!(
            !ticker.is_sleeping(),
            "a call began and the clock sleeps on"
        );
        // It ticks on for a while after, then sleeps again.
        std::thread::sleep(Duration::from_millis(100));
        assert!(!ticker.is_sleeping());
        assert!(sleeps_within(&ticker, true, Duration::from_secs(5)));
        ticker.stop();
    }

    #[test]
    fn a_long_call_keeps_the_clock_ticking_until_it_returns() {
        let (ticker, _) = ticker();
        ticker.long_call_began();
        // Well past the quiet ticks: a long call holds the clock awake.
        std::thread::sleep(Duration::from_millis(u64::from(QUIET_TICKS) * 2));
        assert!(
            !ticker.is_sleeping(),
            "the clock slept under a running call"
        );
        ticker.long_call_over();
        assert!(sleeps_within(&ticker, true, Duration::from_secs(5)));
        ticker.stop();
    }
}
