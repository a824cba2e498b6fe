//! One live instance of a policy, with the limits every call runs under.
//!
//! An instance is cheap (made from a pre-linked component) and disposable:
//! after any failure the engine drops it rather than trust a guest whose
//! memory may be half-updated.
//!
//! The deadline is on CPU time, not wall time. Epoch ticks are wall time, so
//! a thread descheduled in the middle of a call (a busy machine) would hit a
//! wall-clock deadline through no fault of the policy. Instead a call that
//! outlives its first epoch tick starts measuring its thread's CPU time, and
//! is interrupted once it has used `call_timeout` of it. Calls that finish
//! within a tick (all well-behaved ones) never read a clock. If the clock
//! cannot be read the call is interrupted: a deadline that cannot be
//! measured fails closed, never open.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{Func, TypedFunc};
use wasmtime::{ResourceLimiter, Store, Trap, UpdateDeadline};

use super::bindings::{Failure, NextStep, Plan, Request};
use super::component::{CallPath, PolicyComponent};
use super::direct::DirectCalls;
use super::plan::InvalidAnswer;
use super::ticker::Ticker;
use super::wire::Candidate;

/// `rank`'s signature with the host's own `Candidate` (see `wire`).
type RankFn<'a> = TypedFunc<(Request, &'a [Candidate]), (Plan,)>;
/// `failover`'s signature with the host's own `Candidate`.
type FailoverFn<'a> = TypedFunc<(Request, &'a [Candidate], Failure), (NextStep,)>;

/// Why a call into a policy did not produce an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The call used more CPU time than allowed and was interrupted.
    #[error("ran past its deadline of {0:?} of CPU time")]
    Deadline(Duration),
    /// The guest tried to grow its memory past the cap.
    #[error("tried to use more than its memory cap of {0} bytes")]
    MemoryCap(usize),
    /// The guest trapped (a panic, an `unreachable`, an out-of-bounds access...).
    #[error("trapped: {0}")]
    Trap(String),
    /// The instance could not be created.
    #[error("could not be instantiated: {0}")]
    Instantiate(String),
    /// The thread's CPU clock could not be read, so the call's deadline
    /// could not be measured; the call was interrupted rather than run
    /// without one.
    #[error(
        "was interrupted: the thread CPU clock its deadline is measured on cannot be read ({0})"
    )]
    CpuClock(String),
    /// The answer broke the contract in a way seen while reading it from
    /// guest memory, before it was collected (the direct call path).
    #[error("answered invalidly: {0}")]
    InvalidAnswer(InvalidAnswer),
}

/// Per-instance state the store carries: the limits and whether they bit.
pub struct StoreState {
    memory_cap: usize,
    memory_denied: bool,
    cpu_budget: Duration,
    /// The thread's CPU time when the running call first outlived a tick.
    cpu_start: Option<Duration>,
    /// Why the CPU clock could not be read, when that interrupted the call.
    clock_failed: Option<String>,
    /// The epoch clock of the engine the instance belongs to, told of calls
    /// that begin and of calls that outlive a tick. Always set but in this
    /// module's unit tests of the deadline callback.
    ticker: Option<Arc<Ticker>>,
}

impl Drop for StoreState {
    /// A call unwound by a panic never returned: it must not hold the clock
    /// awake forever.
    fn drop(&mut self) {
        self.call_returned();
    }
}

impl StoreState {
    /// The guest returned (or never started): a call counted long is over.
    fn call_returned(&mut self) {
        if self.cpu_start.take().is_some()
            && let Some(ticker) = &self.ticker
        {
            ticker.long_call_over();
        }
    }
}

/// Ticks a call may run before its CPU time starts being measured.
const FIRST_CHECK_TICKS: u64 = 1;

/// Called by wasmtime each time a running call reaches its epoch deadline,
/// with the clock to measure CPU time on.
fn on_epoch_deadline(
    state: &mut StoreState,
    clock: impl FnOnce() -> std::io::Result<Duration>,
) -> UpdateDeadline {
    let now = match clock() {
        Ok(now) => now,
        Err(e) => {
            state.clock_failed = Some(e.to_string());
            return UpdateDeadline::Interrupt;
        }
    };
    match state.cpu_start {
        None => {
            state.cpu_start = Some(now);
            if let Some(ticker) = &state.ticker {
                ticker.long_call_began();
            }
            UpdateDeadline::Continue(1)
        }
        Some(start) if now.saturating_sub(start) >= state.cpu_budget => UpdateDeadline::Interrupt,
        Some(_) => UpdateDeadline::Continue(1),
    }
}

/// CPU time the calling thread has used.
#[cfg(unix)]
fn thread_cpu_time() -> std::io::Result<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID
    // exists on every unix wasmtime supports.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// Elsewhere, wall time since the first call stands in for CPU time.
#[cfg(not(unix))]
fn thread_cpu_time() -> std::io::Result<Duration> {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    Ok(START.get_or_init(std::time::Instant::now).elapsed())
}

impl ResourceLimiter for StoreState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            self.memory_denied = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold function references; a policy needs a handful.
        Ok(desired <= 100_000)
    }
}

/// Limits applied to every instance and call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimits {
    /// CPU time one call may use before it is interrupted (to within the
    /// engine's epoch tick).
    pub call_timeout: Duration,
    /// Most bytes of linear memory one instance may have.
    pub memory_cap: usize,
}

/// How an instance's two functions are reached.
enum Calls {
    /// The core functions, called directly (see `policy::direct`). Boxed:
    /// it is a few hundred bytes, and the engine moves idle instances in
    /// and out of its pool on every decision.
    Direct(Box<DirectCalls>),
    /// The component's exports, called through wasmtime.
    Component {
        // Kept untyped because the typed forms borrow the candidates'
        // lifetime; `new` type-checks both, which makes `new_unchecked` sound.
        rank: Func,
        failover: Func,
    },
}

/// A policy instance: its store and its two exports.
pub struct PolicyInstance {
    store: Store<StoreState>,
    calls: Calls,
    limits: CallLimits,
}

impl PolicyInstance {
    /// Instantiates `component` under `limits`, on the component's own call
    /// path (see [`PolicyComponent::call_path`]).
    pub fn new(component: &PolicyComponent, limits: CallLimits) -> Result<Self, CallError> {
        Self::on_path(component, limits, component.call_path())
    }

    /// Instantiates `component` on the call path `path`, which tests and
    /// benchmarks use to compare the two. A component that cannot be called
    /// directly is refused [`CallPath::Direct`].
    pub fn on_path(
        component: &PolicyComponent,
        limits: CallLimits,
        path: CallPath,
    ) -> Result<Self, CallError> {
        let engine = component.pre.engine();
        let mut store = Store::new(
            engine,
            StoreState {
                memory_cap: limits.memory_cap,
                memory_denied: false,
                cpu_budget: limits.call_timeout,
                cpu_start: None,
                clock_failed: None,
                ticker: Some(component.ticker.clone()),
            },
        );
        store.limiter(|state| state);
        store.epoch_deadline_callback(|mut ctx| {
            Ok(on_epoch_deadline(ctx.data_mut(), thread_cpu_time))
        });
        store.set_epoch_deadline(FIRST_CHECK_TICKS);
        // Instantiating runs the policy's start-up code, under the deadline.
        component.ticker.call_begun();
        let calls = match path {
            CallPath::Direct => {
                let pre = component.direct.as_ref().map_err(|reason| {
                    CallError::Instantiate(format!("cannot be called directly: {reason}"))
                })?;
                let made = DirectCalls::instantiate(pre, &mut store);
                store.data_mut().call_returned();
                match made {
                    Ok(calls) => Calls::Direct(Box::new(calls)),
                    Err(e) => return Err(classify(&store, limits, e, true)),
                }
            }
            CallPath::Component => {
                let made = component_calls(component, &mut store, limits);
                store.data_mut().call_returned();
                made?
            }
        };
        Ok(Self {
            store,
            calls,
            limits,
        })
    }

    /// Starts a call's clock and records afresh.
    fn arm_deadline(&mut self) {
        self.store.data_mut().call_returned();
        self.store.data_mut().clock_failed = None;
        // A growth refused in an earlier call that went on to answer must
        // not be blamed for this call's failure.
        self.store.data_mut().memory_denied = false;
        self.store.set_epoch_deadline(FIRST_CHECK_TICKS);
        // After the deadline is set (`ticker` says why the order matters).
        if let Some(ticker) = &self.store.data().ticker {
            ticker.call_begun();
        }
    }

    /// Calls the policy's `rank`.
    pub fn rank(&mut self, request: &Request, candidates: &[Candidate]) -> Result<Plan, CallError> {
        self.arm_deadline();
        let result = match &self.calls {
            Calls::Direct(calls) => calls.rank(&mut self.store, request, candidates),
            Calls::Component { rank, .. } => {
                // SAFETY: `component_calls` type-checked `rank` against exactly this signature.
                let rank = unsafe { RankFn::new_unchecked(*rank) };
                rank.call(&mut self.store, (*request, candidates))
                    .map(|(plan,)| plan)
            }
        };
        self.store.data_mut().call_returned();
        result.map_err(|e| classify(&self.store, self.limits, e, false))
    }

    /// Calls the policy's `failover`.
    pub fn failover(
        &mut self,
        request: &Request,
        candidates: &[Candidate],
        failure: &Failure,
    ) -> Result<NextStep, CallError> {
        self.arm_deadline();
        let result = match &self.calls {
            Calls::Direct(calls) => calls.failover(&mut self.store, request, candidates, failure),
            Calls::Component { failover, .. } => {
                // SAFETY: `component_calls` type-checked `failover` against exactly this signature.
                let failover = unsafe { FailoverFn::new_unchecked(*failover) };
                failover
                    .call(&mut self.store, (*request, candidates, *failure))
                    .map(|(step,)| step)
            }
        };
        self.store.data_mut().call_returned();
        result.map_err(|e| classify(&self.store, self.limits, e, false))
    }
}

/// Instantiates `component` as a component and finds its two exports.
fn component_calls(
    component: &PolicyComponent,
    store: &mut Store<StoreState>,
    limits: CallLimits,
) -> Result<Calls, CallError> {
    let instance = match component.pre.instance_pre().instantiate(&mut *store) {
        Ok(instance) => instance,
        Err(e) => return Err(classify(store, limits, e, true)),
    };
    let func = |store: &mut Store<StoreState>, index, name: &str| {
        instance
            .get_func(&mut *store, index)
            .ok_or_else(|| CallError::Instantiate(format!("the instance has no `{name}` export")))
    };
    let rank = func(store, &component.rank, "rank")?;
    let failover = func(store, &component.failover, "failover")?;
    rank.typed::<(Request, &[Candidate]), (Plan,)>(&*store)
        .and(
            failover
                .typed::<(Request, &[Candidate], Failure), (NextStep,)>(&*store)
                .map(drop),
        )
        .map_err(|e| {
            CallError::Instantiate(format!("the exports do not match the contract: {e:#}"))
        })?;
    Ok(Calls::Component { rank, failover })
}

/// Names what went wrong in a failed call, most specific cause first.
fn classify(
    store: &Store<StoreState>,
    limits: CallLimits,
    error: wasmtime::Error,
    instantiating: bool,
) -> CallError {
    if store.data().memory_denied {
        return CallError::MemoryCap(limits.memory_cap);
    }
    if let Some(why) = &store.data().clock_failed {
        return CallError::CpuClock(why.clone());
    }
    if let Some(invalid) = error.downcast_ref::<InvalidAnswer>() {
        return CallError::InvalidAnswer(invalid.clone());
    }
    if let Some(Trap::Interrupt) = error.downcast_ref::<Trap>() {
        return CallError::Deadline(limits.call_timeout);
    }
    if instantiating {
        CallError::Instantiate(format!("{error:#}"))
    } else {
        CallError::Trap(format!("{error:#}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> StoreState {
        StoreState {
            memory_cap: 1 << 20,
            memory_denied: false,
            cpu_budget: Duration::from_millis(10),
            cpu_start: None,
            clock_failed: None,
            ticker: None,
        }
    }

    #[test]
    fn a_call_is_interrupted_once_it_has_used_its_cpu_budget() {
        let mut state = state();
        let at = |ms| move || Ok(Duration::from_millis(ms));
        assert!(matches!(
            on_epoch_deadline(&mut state, at(100)),
            UpdateDeadline::Continue(1)
        ));
        assert!(matches!(
            on_epoch_deadline(&mut state, at(109)),
            UpdateDeadline::Continue(1)
        ));
        assert!(matches!(
            on_epoch_deadline(&mut state, at(110)),
            UpdateDeadline::Interrupt
        ));
    }

    #[test]
    fn a_cpu_clock_that_cannot_be_read_interrupts_the_call() {
        let mut state = state();
        let broken = || Err(std::io::Error::from_raw_os_error(libc::EINVAL));
        assert!(matches!(
            on_epoch_deadline(&mut state, broken),
            UpdateDeadline::Interrupt
        ));
        let why = state
            .clock_failed
            .take()
            .expect("the failure is kept for the error");
        assert!(why.contains("Invalid argument"), "{why}");
        // Also after the clock had worked once for this call.
        let mut state = self::state();
        let _ = on_epoch_deadline(&mut state, || Ok(Duration::from_millis(5)));
        assert!(matches!(
            on_epoch_deadline(&mut state, broken),
            UpdateDeadline::Interrupt
        ));
    }

    #[test]
    fn the_thread_cpu_clock_reads_here() {
        let first = thread_cpu_time().expect("the CPU clock reads");
        let mut x = 0u64;
        for i in 0..1_000_000u64 {
            x = std::hint::black_box(x.wrapping_add(i));
        }
        assert!(thread_cpu_time().unwrap() > first);
    }
}
