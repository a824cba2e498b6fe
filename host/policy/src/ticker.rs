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
//! call into a guest wakes it.
//!
//! Why a call can never run unchecked. A call (or an instantiation, which
//! runs the policy's start-up code) first sets its deadline one tick ahead,
//! then marks the clock `active` if it is not already, then looks whether
//! the clock sleeps and wakes it if so. The clock clears `active` when it
//! finds it set, and then ticks at least [`QUIET_TICKS`] more; before it
//! sleeps it says so, then looks at `active` once more (all in sequentially
//! consistent order, so of a call marking `active` and the clock going to
//! sleep, one sees the other). So after any call has set its deadline the
//! clock ticks at least once more, and a call still running at that tick
//! is counted long until it returns, which keeps the clock awake. On the
//! hot path that is one load of a flag that changes at most once a tick.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

/// How often the epoch advances: how often a long call's CPU time is checked.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Ticks without a call beginning (and none running long) after which the
/// clock sleeps: one second.
pub(crate) const QUIET_TICKS: u32 = 1000;

/// An engine's epoch clock (see the module's documentation). The clock's
/// thread runs until the last handle is dropped: the engine and every
/// component and instance made with it hold one, so no instance can
/// outlive its clock.
pub(crate) struct Ticker {
    clock: Arc<Clock>,
}

/// What the handles and the clock's thread share.
struct Clock {
    engine: wasmtime::Engine,
    /// Whether a call began since the clock last looked. Read by every
    /// call: on a cache line of its own, so that counters written near it
    /// do not make those reads miss.
    active: Padded<AtomicBool>,
    /// Calls past their first tick that have not returned.
    long_calls: AtomicUsize,
    /// Whether the clock sleeps (or is about to).
    sleeping: AtomicBool,
    /// Ticks so far: the epoch, as far as this clock moved it (wasmtime
    /// does not say), for the tests that the clock stands still.
    ticks: AtomicU64,
    stop: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

/// A value alone on its cache line (128 bytes: the adjacent-line prefetcher
/// of x86 pairs lines).
#[repr(align(128))]
struct Padded<T>(T);

impl Ticker {
    /// Starts the clock of `engine` on a thread of its own.
    pub(crate) fn start(engine: wasmtime::Engine) -> std::io::Result<Arc<Self>> {
        let clock = Arc::new(Clock {
            engine,
            active: Padded(AtomicBool::new(false)),
            long_calls: AtomicUsize::new(0),
            sleeping: AtomicBool::new(false),
            ticks: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        });
        let running = clock.clone();
        std::thread::Builder::new()
            .name("azimuth-policy-epoch".into())
            .spawn(move || running.run())?;
        Ok(Arc::new(Self { clock }))
    }

    /// A call into a guest is about to start, its epoch deadline already
    /// set: the clock must tick at least once more.
    #[inline]
    pub(crate) fn call_begun(&self) {
        let clock = &*self.clock;
        // Once set, left alone until the clock clears it: a store per call
        // would make every thread's next read miss.
        if !clock.active.0.load(Ordering::SeqCst) {
            clock.active.0.store(true, Ordering::SeqCst);
            clock.wake_if_sleeping();
        }
    }

    /// A call reached its first tick: the clock must tick until it returns
    /// ([`Ticker::long_call_over`]).
    pub(crate) fn long_call_began(&self) {
        self.clock.long_calls.fetch_add(1, Ordering::SeqCst);
        self.clock.wake_if_sleeping();
    }

    /// A call counted by [`Ticker::long_call_began`] returned.
    pub(crate) fn long_call_over(&self) {
        self.clock.long_calls.fetch_sub(1, Ordering::SeqCst);
    }

    /// Whether the clock sleeps now.
    pub(crate) fn is_sleeping(&self) -> bool {
        self.clock.sleeping.load(Ordering::SeqCst)
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.clock.stop.store(true, Ordering::SeqCst);
        let _lock = self
            .clock
            .lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.clock.wake.notify_one();
    }
}

impl Clock {
    fn wake_if_sleeping(&self) {
        if self.sleeping.load(Ordering::SeqCst) && self.sleeping.swap(false, Ordering::SeqCst) {
            // Taken so that the wake cannot fall between the clock's last
            // look at `sleeping` and its wait.
            let _lock = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.wake.notify_one();
        }
    }

    /// Whether a call began or runs long since the last look (clearing
    /// the mark of calls begun).
    fn busy(&self) -> bool {
        let began =
            self.active.0.load(Ordering::SeqCst) && self.active.0.swap(false, Ordering::SeqCst);
        began || self.long_calls.load(Ordering::SeqCst) > 0
    }

    fn run(&self) {
        let mut quiet = 0;
        while !self.stop.load(Ordering::SeqCst) {
            std::thread::sleep(EPOCH_TICK);
            self.engine.increment_epoch();
            self.ticks.fetch_add(1, Ordering::Relaxed);
            if self.busy() {
                quiet = 0;
                continue;
            }
            quiet += 1;
            if quiet < QUIET_TICKS {
                continue;
            }
            let mut lock = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.sleeping.store(true, Ordering::SeqCst);
            // A call that marked `active` before `sleeping` was set may have
            // read it unset and not woken the clock: look once more.
            if !self.active.0.load(Ordering::SeqCst) && self.long_calls.load(Ordering::SeqCst) == 0
            {
                while self.sleeping.load(Ordering::SeqCst) && !self.stop.load(Ordering::SeqCst) {
                    lock = self.wake.wait(lock).unwrap_or_else(PoisonError::into_inner);
                }
            }
            self.sleeping.store(false, Ordering::SeqCst);
            drop(lock);
            quiet = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn ticker() -> (Arc<Ticker>, Arc<Clock>) {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let ticker = Ticker::start(wasmtime::Engine::new(&config).unwrap()).unwrap();
        let clock = ticker.clock.clone();
        (ticker, clock)
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

    /// Whether the clock advances the epoch within `limit`.
    fn epoch_moves_within(clock: &Clock, limit: Duration) -> bool {
        let from = clock.ticks.load(Ordering::Relaxed);
        let started = Instant::now();
        while started.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(5));
            if clock.ticks.load(Ordering::Relaxed) != from {
                return true;
            }
        }
        false
    }

    #[test]
    fn an_idle_clock_sleeps_and_a_call_wakes_it() {
        let (ticker, clock) = ticker();
        assert!(
            sleeps_within(&ticker, true, Duration::from_secs(5)),
            "the clock still ticks with no call"
        );
        assert!(
            !epoch_moves_within(&clock, Duration::from_millis(50)),
            "the clock says it sleeps and the epoch moves"
        );
        ticker.call_begun();
        assert!(
            epoch_moves_within(&clock, Duration::from_secs(1)),
            "a call began and the epoch stands still"
        );
        // It ticks on for a while after, then sleeps again.
        std::thread::sleep(Duration::from_millis(100));
        assert!(!ticker.is_sleeping());
        assert!(sleeps_within(&ticker, true, Duration::from_secs(5)));
    }

    #[test]
    fn a_long_call_keeps_the_clock_ticking_until_it_returns() {
        let (ticker, clock) = ticker();
        ticker.long_call_began();
        // Well past the quiet ticks: a long call holds the clock awake.
        std::thread::sleep(Duration::from_millis(u64::from(QUIET_TICKS) * 2));
        assert!(
            epoch_moves_within(&clock, Duration::from_secs(1)),
            "the clock stopped under a running call"
        );
        ticker.long_call_over();
        assert!(sleeps_within(&ticker, true, Duration::from_secs(5)));
    }

    #[test]
    fn a_call_found_long_wakes_a_sleeping_clock() {
        let (ticker, clock) = ticker();
        assert!(sleeps_within(&ticker, true, Duration::from_secs(5)));
        // A call descheduled past its first tick reaches the check late,
        // after the clock has fallen asleep.
        ticker.long_call_began();
        assert!(
            epoch_moves_within(&clock, Duration::from_secs(1)),
            "a long call was counted and the epoch stands still"
        );
        std::thread::sleep(Duration::from_millis(u64::from(QUIET_TICKS) * 2));
        assert!(!ticker.is_sleeping(), "the clock slept under a long call");
        ticker.long_call_over();
        assert!(sleeps_within(&ticker, true, Duration::from_secs(5)));
    }

    #[test]
    fn the_clock_s_thread_ends_with_its_last_handle() {
        let (ticker, clock) = ticker();
        drop(ticker);
        let started = Instant::now();
        // The thread holds the shared state until it returns.
        while Arc::strong_count(&clock) > 1 {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the clock's thread runs on"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(!epoch_moves_within(&clock, Duration::from_millis(50)));
    }
}
