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
//! the clock sleeps and, if so, unparks it. The clock clears `active` when
//! it finds it set and then ticks at least [`QUIET_TICKS`] more; to sleep,
//! it says so (`sleeping`), then parks only while `active` is unset and no
//! call runs long, looking again after every wake. Only the clock clears
//! `sleeping`, and an unpark before the park is not lost, so of a call that
//! finds `active` set and a clock going to sleep, one sees the other (all
//! sequentially consistent): either the clock stays awake, or the call
//! sees `sleeping` and wakes it. So after any call has set its deadline
//! the clock ticks at least once more, and a call still running at that
//! tick is counted long until it returns, which keeps the clock awake. A
//! call whose thread was descheduled past all that (the clock fell asleep
//! meanwhile) reaches its deadline check on the tick it missed, and
//! counting itself long wakes the clock.
//!
//! Two assumptions beyond the atomics here, both wasmtime's: the epoch a
//! call's deadline is set from is one the clock wrote, and the guest's own
//! (relaxed) reads of the epoch see the clock's later increments. On the
//! hot path this costs two loads from one cache line that changes at most
//! once a tick.

use std::sync::Arc;
#[cfg(test)]
use std::sync::atomic::AtomicU64;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::Thread;
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
    /// The clock's thread, to unpark.
    thread: Thread,
}

/// What the handles and the clock's thread share.
struct Clock {
    engine: wasmtime::Engine,
    /// Read by every call: on a cache line of their own, so that counters
    /// written near them do not make those reads miss.
    hot: Padded<Hot>,
    /// Calls past their first tick that have not returned.
    long_calls: AtomicUsize,
    stop: AtomicBool,
    /// Ticks without a call after which the clock sleeps.
    quiet_ticks: u32,
    /// Ticks so far, for the tests that the clock stands still and moves.
    #[cfg(test)]
    ticks: AtomicU64,
}

struct Hot {
    /// Whether a call began since the clock last looked.
    active: AtomicBool,
    /// Whether the clock sleeps (or is about to); cleared only by the clock.
    sleeping: AtomicBool,
}

/// A value alone on its cache line (128 bytes: the adjacent-line prefetcher
/// of x86 pairs lines).
#[repr(align(128))]
struct Padded<T>(T);

impl Ticker {
    /// Starts the clock of `engine` on a thread of its own.
    pub(crate) fn start(engine: wasmtime::Engine) -> std::io::Result<Arc<Self>> {
        Self::start_with(engine, QUIET_TICKS)
    }

    /// As [`Ticker::start`], sleeping after `quiet_ticks` quiet ticks.
    fn start_with(engine: wasmtime::Engine, quiet_ticks: u32) -> std::io::Result<Arc<Self>> {
        let clock = Arc::new(Clock {
            engine,
            hot: Padded(Hot {
                active: AtomicBool::new(false),
                sleeping: AtomicBool::new(false),
            }),
            long_calls: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            quiet_ticks,
            #[cfg(test)]
            ticks: AtomicU64::new(0),
        });
        let running = clock.clone();
        let thread = std::thread::Builder::new()
            .name("azimuth-policy-epoch".into())
            .spawn(move || running.run())?
            .thread()
            .clone();
        Ok(Arc::new(Self { clock, thread }))
    }

    /// A call into a guest is about to start, its epoch deadline already
    /// set: the clock must tick at least once more.
    #[inline]
    pub(crate) fn call_begun(&self) {
        let hot = &self.clock.hot.0;
        // Once set, left alone until the clock clears it: a store per call
        // would make every thread's next read miss.
        if !hot.active.load(Ordering::SeqCst) {
            hot.active.store(true, Ordering::SeqCst);
        }
        // Looked at by every call, not only the one that set `active`: that
        // one may be descheduled before it gets here.
        self.wake_if_sleeping();
    }

    /// A call reached its first tick: the clock must tick until it returns
    /// ([`Ticker::long_call_over`]).
    pub(crate) fn long_call_began(&self) {
        self.clock.long_calls.fetch_add(1, Ordering::SeqCst);
        self.wake_if_sleeping();
    }

    /// A call counted by [`Ticker::long_call_began`] returned.
    pub(crate) fn long_call_over(&self) {
        self.clock.long_calls.fetch_sub(1, Ordering::SeqCst);
    }

    /// Whether the clock sleeps now.
    pub(crate) fn is_sleeping(&self) -> bool {
        self.clock.hot.0.sleeping.load(Ordering::SeqCst)
    }

    #[inline]
    fn wake_if_sleeping(&self) {
        if self.clock.hot.0.sleeping.load(Ordering::SeqCst) {
            self.thread.unpark();
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.clock.stop.store(true, Ordering::SeqCst);
        self.thread.unpark();
    }
}

impl Clock {
    /// Whether a call began or runs long since the last look (clearing
    /// the mark of calls begun).
    fn busy(&self) -> bool {
        let active = &self.hot.0.active;
        let began = active.load(Ordering::SeqCst) && active.swap(false, Ordering::SeqCst);
        began || self.long_calls.load(Ordering::SeqCst) > 0
    }

    /// Whether the clock may go on sleeping.
    fn quiet(&self) -> bool {
        !self.hot.0.active.load(Ordering::SeqCst)
            && self.long_calls.load(Ordering::SeqCst) == 0
            && !self.stop.load(Ordering::SeqCst)
    }

    fn run(&self) {
        let mut quiet = 0;
        while !self.stop.load(Ordering::SeqCst) {
            std::thread::sleep(EPOCH_TICK);
            self.engine.increment_epoch();
            #[cfg(test)]
            self.ticks.fetch_add(1, Ordering::Relaxed);
            if self.busy() {
                quiet = 0;
                continue;
            }
            quiet += 1;
            if quiet < self.quiet_ticks {
                continue;
            }
            self.hot.0.sleeping.store(true, Ordering::SeqCst);
            // Looked at after saying so: a call that marked `active` before
            // may have read `sleeping` unset and not woken the clock. Parks
            // return spuriously too, hence the loop.
            while self.quiet() {
                std::thread::park();
            }
            self.hot.0.sleeping.store(false, Ordering::SeqCst);
            quiet = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// Quiet ticks for these tests: the engine's second would make each
    /// wait that long, on a machine whose ticks a loaded CI may stretch.
    const QUIET: u32 = 50;

    /// Long enough for any wait here, on a loaded machine.
    const PATIENCE: Duration = Duration::from_secs(10);

    fn ticker() -> (Arc<Ticker>, Arc<Clock>) {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let ticker = Ticker::start_with(wasmtime::Engine::new(&config).unwrap(), QUIET).unwrap();
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
            sleeps_within(&ticker, true, PATIENCE),
            "the clock still ticks with no call"
        );
        assert!(
            !epoch_moves_within(&clock, Duration::from_millis(50)),
            "the clock says it sleeps and the epoch moves"
        );
        ticker.call_begun();
        assert!(
            epoch_moves_within(&clock, PATIENCE),
            "a call began and the epoch stands still"
        );
        // Then, quiet again, it sleeps again.
        assert!(sleeps_within(&ticker, true, PATIENCE));
    }

    #[test]
    fn a_call_wakes_the_clock_when_another_marked_it_active_and_stalled() {
        let (ticker, clock) = ticker();
        assert!(sleeps_within(&ticker, true, PATIENCE));
        // Another thread's call marked the clock active, then was
        // descheduled before it could look whether the clock sleeps.
        clock.hot.0.active.store(true, Ordering::SeqCst);
        ticker.call_begun();
        assert!(
            epoch_moves_within(&clock, PATIENCE),
            "a call found the clock marked active and left it asleep"
        );
    }

    #[test]
    fn a_long_call_keeps_the_clock_ticking_until_it_returns() {
        let (ticker, clock) = ticker();
        ticker.long_call_began();
        // Well past the quiet ticks: a long call holds the clock awake.
        std::thread::sleep(Duration::from_millis(u64::from(QUIET) * 10));
        assert!(
            epoch_moves_within(&clock, PATIENCE),
            "the clock stopped under a running call"
        );
        ticker.long_call_over();
        assert!(sleeps_within(&ticker, true, PATIENCE));
    }

    #[test]
    fn a_call_found_long_wakes_a_sleeping_clock() {
        let (ticker, clock) = ticker();
        assert!(sleeps_within(&ticker, true, PATIENCE));
        // A call descheduled past its first tick reaches the check late,
        // after the clock has fallen asleep.
        ticker.long_call_began();
        assert!(
            epoch_moves_within(&clock, PATIENCE),
            "a long call was counted and the epoch stands still"
        );
        std::thread::sleep(Duration::from_millis(u64::from(QUIET) * 10));
        assert!(!ticker.is_sleeping(), "the clock slept under a long call");
        ticker.long_call_over();
        assert!(sleeps_within(&ticker, true, PATIENCE));
    }

    #[test]
    fn the_clock_s_thread_ends_with_its_last_handle() {
        let (ticker, clock) = ticker();
        drop(ticker);
        let started = Instant::now();
        // The thread holds the shared state until it returns.
        while Arc::strong_count(&clock) > 1 {
            assert!(started.elapsed() < PATIENCE, "the clock's thread runs on");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(!epoch_moves_within(&clock, Duration::from_millis(50)));
    }
}
