//! One live instance of a policy, with the limits every call runs under.
//!
//! An instance is cheap (made from a pre-linked component) and disposable:
//! after any failure the engine drops it rather than trust a guest whose
//! memory may be half-updated.

use wasmtime::{ResourceLimiter, Store, Trap};

use super::bindings::{Candidate, Failure, NextStep, Plan, Policy, Request};
use super::component::PolicyComponent;

/// Why a call into a policy did not produce an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The call ran past its CPU deadline and was interrupted.
    #[error("ran past its deadline of {0} ms")]
    Deadline(u64),
    /// The guest tried to grow its memory past the cap.
    #[error("tried to use more than its memory cap of {0} bytes")]
    MemoryCap(usize),
    /// The guest trapped (a panic, an `unreachable`, an out-of-bounds access...).
    #[error("trapped: {0}")]
    Trap(String),
    /// The instance could not be created.
    #[error("could not be instantiated: {0}")]
    Instantiate(String),
}

/// Per-instance state the store carries: the memory cap and whether it bit.
pub struct StoreState {
    memory_cap: usize,
    memory_denied: bool,
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
    /// Epoch ticks a call may run before it is interrupted.
    pub deadline_ticks: u64,
    /// The deadline in milliseconds, for error messages.
    pub deadline_ms: u64,
    /// Most bytes of linear memory one instance may have.
    pub memory_cap: usize,
}

/// A policy instance: its store and its typed exports.
pub struct PolicyInstance {
    store: Store<StoreState>,
    policy: Policy,
    limits: CallLimits,
}

impl PolicyInstance {
    /// Instantiates `component` under `limits`.
    pub fn new(component: &PolicyComponent, limits: CallLimits) -> Result<Self, CallError> {
        let engine = component.pre.engine();
        let mut store = Store::new(
            engine,
            StoreState {
                memory_cap: limits.memory_cap,
                memory_denied: false,
            },
        );
        store.limiter(|state| state);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(limits.deadline_ticks);
        let policy = match component.pre.instantiate(&mut store) {
            Ok(policy) => policy,
            Err(e) => return Err(classify(&store, limits, e, true)),
        };
        Ok(Self {
            store,
            policy,
            limits,
        })
    }

    /// Calls the policy's `rank`.
    pub fn rank(&mut self, request: &Request, candidates: &[Candidate]) -> Result<Plan, CallError> {
        self.store.set_epoch_deadline(self.limits.deadline_ticks);
        let routing = self.policy.azimuth_policy_routing();
        routing
            .call_rank(&mut self.store, *request, candidates)
            .map_err(|e| classify(&self.store, self.limits, e, false))
    }

    /// Calls the policy's `failover`.
    pub fn failover(
        &mut self,
        request: &Request,
        candidates: &[Candidate],
        failure: &Failure,
    ) -> Result<NextStep, CallError> {
        self.store.set_epoch_deadline(self.limits.deadline_ticks);
        let routing = self.policy.azimuth_policy_routing();
        routing
            .call_failover(&mut self.store, *request, candidates, *failure)
            .map_err(|e| classify(&self.store, self.limits, e, false))
    }
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
    if let Some(Trap::Interrupt) = error.downcast_ref::<Trap>() {
        return CallError::Deadline(limits.deadline_ms);
    }
    if instantiating {
        CallError::Instantiate(format!("{error:#}"))
    } else {
        CallError::Trap(format!("{error:#}"))
    }
}
