//! The policy engine: every routing decision goes through here.
//!
//! It runs the active policy under a CPU deadline and a memory cap, checks
//! its answer, and when anything goes wrong answers that one decision with
//! the embedded default policy instead, so a read never fails because a
//! policy did. A policy that keeps failing is quarantined until replaced.
//!
//! The active policy lives in a `tokio::sync::watch`: swapping it publishes
//! a new value, decisions in flight finish on the policy they started with,
//! and readers never block the writer.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use crate::bindings::{Failure, NextStep, Plan, Request};
use crate::component::{CompileError, PolicyComponent, PolicyId};
use crate::embedded;
use crate::instance::{CallError, CallLimits, PolicyInstance};
use crate::log_limit::LogLimiter;
use crate::plan::{InvalidAnswer, validate_next_step, validate_plan};
use crate::stats::{Counters, EngineStats};
use crate::ticker::Ticker;
use crate::wire::Candidate;

/// Settings of the policy engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyConfig {
    /// CPU time one call into a policy may use before it is interrupted
    /// (`azimuth.policy.call.timeout`), measured to within a millisecond.
    /// Default 10 ms: a decision normally takes well under a microsecond.
    pub call_timeout: Duration,
    /// Most linear memory one policy instance may use
    /// (`azimuth.policy.memory.limit`). Default 16 MiB.
    pub memory_limit: usize,
    /// Consecutive failed decisions after which a policy is quarantined
    /// (`azimuth.policy.quarantine.after`). Default 5.
    pub quarantine_after: u32,
    /// Ready instances kept per policy (`azimuth.policy.instances.idle`).
    /// Default: twice the number of CPUs, enough for every thread that
    /// decides at once.
    pub idle_instances: usize,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            call_timeout: Duration::from_millis(10),
            memory_limit: 16 << 20,
            quarantine_after: 5,
            idle_instances: 2 * cpus,
        }
    }
}

/// A setting of [`PolicyConfig`] that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyConfigError {
    /// The call timeout is outside 1 ms ..= 10 s.
    #[error("azimuth.policy.call.timeout = {0:?}: must be between 1ms and 10s")]
    CallTimeout(Duration),
    /// The memory limit is below what a Rust guest needs to start.
    #[error(
        "azimuth.policy.memory.limit = {0}: must be at least 2 MiB (2097152), the smallest a Rust policy starts in"
    )]
    MemoryLimit(usize),
    /// Quarantining after zero failures would quarantine every policy.
    #[error("azimuth.policy.quarantine.after = 0: must be at least 1")]
    QuarantineAfter,
}

impl PolicyConfig {
    /// Checks every setting, naming the first bad one.
    pub fn validate(&self) -> Result<(), PolicyConfigError> {
        if self.call_timeout < Duration::from_millis(1)
            || self.call_timeout > Duration::from_secs(10)
        {
            return Err(PolicyConfigError::CallTimeout(self.call_timeout));
        }
        if self.memory_limit < 2 << 20 {
            return Err(PolicyConfigError::MemoryLimit(self.memory_limit));
        }
        if self.quarantine_after == 0 {
            return Err(PolicyConfigError::QuarantineAfter);
        }
        Ok(())
    }
}

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A setting is invalid.
    #[error(transparent)]
    Config(#[from] PolicyConfigError),
    /// wasmtime rejected its configuration.
    #[error("cannot start the Wasm runtime: {0}")]
    Runtime(String),
    /// The embedded default policy failed to load (a build defect).
    #[error("the embedded default policy does not load: {0}")]
    Embedded(CompileError),
}

/// Why a decision was not made by the active policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FallbackReason {
    /// The call failed: trap, deadline, memory cap.
    Call(CallError),
    /// The call answered, but the answer broke the contract.
    Invalid(InvalidAnswer),
    /// The active policy is quarantined.
    Quarantined,
}

impl fmt::Display for FallbackReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Call(e) => write!(f, "the policy {e}"),
            Self::Invalid(e) => write!(f, "invalid answer: {e}"),
            Self::Quarantined => f.write_str("the policy is quarantined"),
        }
    }
}

/// An answer and who gave it.
#[derive(Debug, Clone)]
pub struct Decision<T> {
    /// The answer.
    pub value: T,
    /// The policy that gave it: the active one, or the default after a fallback.
    pub policy: Arc<PolicyId>,
    /// Why the active policy did not give it, when it did not.
    pub fallback: Option<FallbackReason>,
}

/// A loaded policy with its ready instances and failure record.
pub struct LoadedPolicy {
    component: PolicyComponent,
    idle: Mutex<Vec<PolicyInstance>>,
    consecutive_failures: AtomicU32,
    quarantined: AtomicBool,
}

impl LoadedPolicy {
    fn new(component: PolicyComponent) -> Self {
        Self {
            component,
            idle: Mutex::new(Vec::new()),
            consecutive_failures: AtomicU32::new(0),
            quarantined: AtomicBool::new(false),
        }
    }

    /// The policy's identity.
    pub fn id(&self) -> &Arc<PolicyId> {
        self.component.id()
    }

    /// Whether the policy has been quarantined for failing repeatedly.
    pub fn is_quarantined(&self) -> bool {
        self.quarantined.load(Ordering::Relaxed)
    }
}

/// Runs routing policies. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct PolicyEngine {
    inner: Arc<Inner>,
}

struct Inner {
    wasm: wasmtime::Engine,
    config: PolicyConfig,
    limits: CallLimits,
    default: Arc<LoadedPolicy>,
    active: watch::Sender<Arc<LoadedPolicy>>,
    stats: Counters,
    failure_log: LogLimiter,
    ticker: Arc<Ticker>,
}

impl PolicyEngine {
    /// Starts an engine whose active policy is the embedded default.
    pub fn new(config: PolicyConfig) -> Result<Self, EngineError> {
        config.validate()?;
        let mut wasm_config = wasmtime::Config::new();
        wasm_config
            .wasm_component_model(true)
            .epoch_interruption(true);
        let wasm = wasmtime::Engine::new(&wasm_config)
            .map_err(|e| EngineError::Runtime(format!("{e:#}")))?;
        let ticker = Ticker::start(wasm.clone())
            .map_err(|e| EngineError::Runtime(format!("cannot start the epoch thread: {e}")))?;
        let default = PolicyComponent::compile(
            &wasm,
            &ticker,
            embedded::DEFAULT_POLICY,
            embedded::DEFAULT_ORIGIN,
        )
        .map_err(EngineError::Embedded)?;
        let default = Arc::new(LoadedPolicy::new(default));
        let limits = CallLimits {
            call_timeout: config.call_timeout,
            memory_cap: config.memory_limit,
        };
        let (active, _) = watch::channel(default.clone());
        let engine = Self {
            inner: Arc::new(Inner {
                wasm,
                config,
                limits,
                default,
                active,
                stats: Counters::default(),
                failure_log: LogLimiter::new(Duration::from_secs(1)),
                ticker,
            }),
        };
        engine.inner.prewarm(&engine.inner.default);
        tracing::info!(policy = %engine.inner.default.id(), "policy engine started with the embedded default policy");
        Ok(engine)
    }

    /// Ranks the sources for one read.
    pub fn rank(&self, request: &Request, candidates: &[Candidate]) -> Decision<Plan> {
        self.inner.decide(
            |instance| instance.rank(request, candidates),
            |plan| validate_plan(request, candidates, plan),
            || last_resort_plan(request, candidates),
        )
    }

    /// Decides what to do after a source failed.
    pub fn failover(
        &self,
        request: &Request,
        candidates: &[Candidate],
        failure: &Failure,
    ) -> Decision<NextStep> {
        self.inner.decide(
            |instance| instance.failover(request, candidates, failure),
            validate_next_step,
            || NextStep::NextSource,
        )
    }

    /// Whether the engine's epoch clock sleeps, as it does after a second
    /// without a call: for the tests that a call wakes it. Not a stable
    /// interface.
    #[doc(hidden)]
    pub fn epoch_clock_sleeps(&self) -> bool {
        self.inner.ticker.is_sleeping()
    }

    /// Compiles and checks a component with this engine, without activating it.
    pub fn compile(&self, bytes: &[u8], origin: &str) -> Result<PolicyComponent, CompileError> {
        PolicyComponent::compile(&self.inner.wasm, &self.inner.ticker, bytes, origin)
    }

    /// Makes `component` the active policy. Decisions already running finish
    /// on the policy they started with.
    pub fn swap(&self, component: PolicyComponent) -> Arc<PolicyId> {
        let loaded = Arc::new(LoadedPolicy::new(component));
        self.inner.prewarm(&loaded);
        let id = loaded.id().clone();
        let old = self.inner.active.send_replace(loaded);
        self.inner.stats.swaps.fetch_add(1, Ordering::Relaxed);
        tracing::info!(policy = %id, previous = %old.id(), "policy swapped in");
        id
    }

    /// Compiles `bytes` and, if they are a valid policy, makes it active. An
    /// invalid component is refused (see [`PolicyEngine::refuse`]); the
    /// active policy stays.
    pub fn compile_and_swap(
        &self,
        bytes: &[u8],
        origin: &str,
    ) -> Result<Arc<PolicyId>, CompileError> {
        match self.compile(bytes, origin) {
            Ok(component) => Ok(self.swap(component)),
            Err(e) => {
                self.refuse(origin, &e);
                Err(e)
            }
        }
    }

    /// Records that a policy offered for swapping (from `origin`) was
    /// refused because of `why`: logged, and counted in
    /// [`EngineStats::swaps_refused`]. The active policy stays.
    pub fn refuse(&self, origin: &str, why: &dyn fmt::Display) {
        self.inner
            .stats
            .swaps_refused
            .fetch_add(1, Ordering::Relaxed);
        tracing::error!(
            origin,
            active = %self.active(),
            "refused policy {origin}: {why}; the active policy stays"
        );
    }

    /// Makes the embedded default the active policy again.
    pub fn reset_to_default(&self) {
        let old = self.inner.active.send_replace(self.inner.default.clone());
        if !Arc::ptr_eq(&old, &self.inner.default) {
            self.inner.stats.swaps.fetch_add(1, Ordering::Relaxed);
            tracing::info!(policy = %self.inner.default.id(), previous = %old.id(), "policy swapped in");
        }
    }

    /// The identity of the active policy.
    pub fn active(&self) -> Arc<PolicyId> {
        self.inner.active.borrow().id().clone()
    }

    /// The identity of the embedded default policy.
    pub fn default_policy(&self) -> Arc<PolicyId> {
        self.inner.default.id().clone()
    }

    /// Whether the active policy is quarantined.
    pub fn active_is_quarantined(&self) -> bool {
        self.inner.active.borrow().is_quarantined()
    }

    /// A receiver that sees every change of the active policy.
    pub fn subscribe(&self) -> watch::Receiver<Arc<LoadedPolicy>> {
        self.inner.active.subscribe()
    }

    /// The engine's counters now, as numbers (render them as you need;
    /// `azimuth-cluster` writes them as Prometheus text).
    pub fn stats(&self) -> EngineStats {
        self.inner.stats.snapshot()
    }

    /// The settings the engine runs with.
    pub fn config(&self) -> &PolicyConfig {
        &self.inner.config
    }
}

impl Inner {
    fn decide<T>(
        &self,
        call: impl Fn(&mut PolicyInstance) -> Result<T, CallError>,
        check: impl Fn(&T) -> Result<(), InvalidAnswer>,
        last_resort: impl FnOnce() -> T,
    ) -> Decision<T> {
        self.stats.decisions.fetch_add(1, Ordering::Relaxed);
        let active = self.active.borrow().clone();
        let reason = if active.is_quarantined() {
            FallbackReason::Quarantined
        } else {
            match self.run(&active, &call, &check) {
                Ok(value) => {
                    return Decision {
                        value,
                        policy: active.id().clone(),
                        fallback: None,
                    };
                }
                Err(reason) => {
                    self.record_failure(&active, &reason);
                    reason
                }
            }
        };
        self.stats.count_fallback(&reason);
        let value = if Arc::ptr_eq(&active, &self.default) {
            None
        } else {
            self.run(&self.default, &call, &check).ok()
        };
        // The embedded default is tested never to fail; should it anyway, the
        // decision still gets an answer the host can act on.
        let value = value.unwrap_or_else(last_resort);
        Decision {
            value,
            policy: self.default.id().clone(),
            fallback: Some(reason),
        }
    }

    /// One call on a ready instance. A failed instance is dropped, never reused:
    /// a trap or an interrupted call can leave the guest's memory inconsistent.
    fn run<T>(
        &self,
        policy: &LoadedPolicy,
        call: &impl Fn(&mut PolicyInstance) -> Result<T, CallError>,
        check: &impl Fn(&T) -> Result<(), InvalidAnswer>,
    ) -> Result<T, FallbackReason> {
        let idle = policy
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut instance = match idle {
            Some(instance) => instance,
            None => {
                PolicyInstance::new(&policy.component, self.limits).map_err(FallbackReason::Call)?
            }
        };
        let value = call(&mut instance).map_err(|e| match e {
            CallError::InvalidAnswer(invalid) => FallbackReason::Invalid(invalid),
            e => FallbackReason::Call(e),
        })?;
        check(&value).map_err(FallbackReason::Invalid)?;
        let mut idle = policy.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.config.idle_instances {
            idle.push(instance);
        }
        drop(idle);
        // Read before writing: the common case (no failures) then leaves the
        // cache line shared between threads.
        if policy.consecutive_failures.load(Ordering::Relaxed) != 0 {
            policy.consecutive_failures.store(0, Ordering::Relaxed);
        }
        Ok(value)
    }

    fn record_failure(&self, policy: &LoadedPolicy, reason: &FallbackReason) {
        if let Some(suppressed) = self.failure_log.allow() {
            tracing::warn!(
                policy = %policy.id(),
                suppressed,
                "policy failed a decision ({reason}); the default policy made it instead"
            );
        }
        let failures = policy.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures >= self.config.quarantine_after
            && !policy.quarantined.swap(true, Ordering::Relaxed)
        {
            self.stats.quarantines.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                policy = %policy.id(),
                failures,
                "policy quarantined after {failures} consecutive failures; the default policy decides until it is replaced"
            );
        }
    }

    /// Makes one instance ahead of need, so the first decision after a swap
    /// does not pay for instantiation.
    fn prewarm(&self, policy: &LoadedPolicy) {
        if let Ok(instance) = PolicyInstance::new(&policy.component, self.limits) {
            policy
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(instance);
        }
    }
}

/// Healthy workers in the host's order, then the UFS if allowed.
fn last_resort_plan(request: &Request, candidates: &[Candidate]) -> Plan {
    Plan {
        workers: (0..candidates.len() as u32)
            .filter(|&i| candidates[i as usize].healthy)
            .collect(),
        then_ufs: request.ufs_fallback,
        passive_cache_to: None,
    }
}
