//! Checking a policy's answers before the host acts on them.
//!
//! A policy is untrusted code: whatever it returns is checked here, and an
//! answer that fails a check is treated like a trap (the decision falls back
//! to the default policy).

use super::bindings::{NextStep, Plan, Request};
use super::wire::Candidate;

/// The longest retry delay a policy may ask for. Longer waits would stall
/// reads that have other sources to try.
pub const MAX_RETRY_DELAY_MS: u32 = 30_000;

/// What is wrong with a policy's answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidAnswer {
    /// The plan lists more workers than there are candidates (so it must
    /// repeat one); seen before the list is read from guest memory.
    #[error("the plan lists {workers} workers but there are only {candidates} candidates")]
    TooManyWorkers {
        /// Workers the plan lists.
        workers: u32,
        /// Candidates the policy was given.
        candidates: usize,
    },
    /// A worker index is not an index into the candidates.
    #[error("worker index {index} is out of range ({candidates} candidates)")]
    IndexOutOfRange {
        /// The index.
        index: u32,
        /// Candidates the policy was given.
        candidates: usize,
    },
    /// A worker index appears twice in the order.
    #[error("worker index {0} appears more than once")]
    Duplicate(u32),
    /// The plan reads from the UFS although the request forbids it.
    #[error("the plan reads from the UFS but UFS fallback is off")]
    UfsNotAllowed,
    /// Healthy candidates exist but the plan tries nothing.
    #[error("the plan is empty although healthy candidates exist")]
    Empty,
    /// The passive cache target is not a valid candidate.
    #[error("passive cache target {index} is out of range ({candidates} candidates)")]
    PassiveOutOfRange {
        /// The index.
        index: u32,
        /// Candidates the policy was given.
        candidates: usize,
    },
    /// The passive cache target is in another cluster.
    #[error("passive cache target {0} is not in the client's cluster")]
    PassiveNotLocal(u32),
    /// A retry delay is longer than allowed.
    #[error("retry delay of {0} ms exceeds the maximum of {MAX_RETRY_DELAY_MS} ms")]
    RetryTooLong(u32),
}

/// Checks a plan against the request and candidates it answers.
pub fn validate_plan(
    request: &Request,
    candidates: &[Candidate],
    plan: &Plan,
) -> Result<(), InvalidAnswer> {
    let n = candidates.len();
    if plan.workers.len() > n {
        return Err(InvalidAnswer::TooManyWorkers {
            workers: plan.workers.len() as u32,
            candidates: n,
        });
    }
    // Indices seen so far: up to 64 candidates (the usual case) the set is
    // one register; beyond, a bitset on the heap.
    let mut small = 0u64;
    let mut large = if n > 64 {
        vec![0u64; n.div_ceil(64)]
    } else {
        Vec::new()
    };
    for &index in &plan.workers {
        let i = index as usize;
        if i >= n {
            return Err(InvalidAnswer::IndexOutOfRange {
                index,
                candidates: n,
            });
        }
        let (word, bit) = if n <= 64 {
            (&mut small, 1u64 << i)
        } else {
            (&mut large[i / 64], 1u64 << (i % 64))
        };
        if *word & bit != 0 {
            return Err(InvalidAnswer::Duplicate(index));
        }
        *word |= bit;
    }
    if plan.then_ufs && !request.ufs_fallback {
        return Err(InvalidAnswer::UfsNotAllowed);
    }
    if plan.workers.is_empty() && !plan.then_ufs && candidates.iter().any(|c| c.healthy) {
        return Err(InvalidAnswer::Empty);
    }
    if let Some(index) = plan.passive_cache_to {
        match candidates.get(index as usize) {
            None => {
                return Err(InvalidAnswer::PassiveOutOfRange {
                    index,
                    candidates: n,
                });
            }
            Some(c) if !c.local => return Err(InvalidAnswer::PassiveNotLocal(index)),
            Some(_) => {}
        }
    }
    Ok(())
}

/// Checks a failover answer.
pub fn validate_next_step(step: &NextStep) -> Result<(), InvalidAnswer> {
    match *step {
        NextStep::RetryAfterMs(ms) if ms > MAX_RETRY_DELAY_MS => {
            Err(InvalidAnswer::RetryTooLong(ms))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::CacheState;

    fn request(ufs_fallback: bool) -> Request {
        Request {
            prefer_cached_replicas: false,
            passive_cache: true,
            ufs_fallback,
            file_length: None,
            offset: 0,
            length: None,
            attempt: 0,
            seed: 0,
        }
    }

    fn candidate(local: bool, healthy: bool) -> Candidate {
        Candidate {
            local,
            cluster: u8::from(!local),
            cache: CacheState::Unknown,
            cached_bytes: 0,
            healthy,
            rtt_us: 0,
        }
    }

    fn plan(workers: Vec<u32>, then_ufs: bool, passive: Option<u32>) -> Plan {
        Plan {
            workers,
            then_ufs,
            passive_cache_to: passive,
        }
    }

    #[test]
    fn a_plan_of_distinct_in_range_workers_then_ufs_is_valid() {
        let c = [candidate(true, true), candidate(false, true)];
        assert_eq!(
            validate_plan(&request(true), &c, &plan(vec![1, 0], true, Some(0))),
            Ok(())
        );
    }

    #[test]
    fn out_of_range_index_is_rejected() {
        let c = [candidate(true, true), candidate(false, true)];
        assert_eq!(
            validate_plan(&request(true), &c, &plan(vec![0, 2], true, None)),
            Err(InvalidAnswer::IndexOutOfRange {
                index: 2,
                candidates: 2
            })
        );
    }

    #[test]
    fn more_workers_than_candidates_is_rejected_before_looking_at_them() {
        let c = [candidate(true, true)];
        assert_eq!(
            validate_plan(&request(true), &c, &plan(vec![0, 7], true, None)),
            Err(InvalidAnswer::TooManyWorkers {
                workers: 2,
                candidates: 1
            })
        );
    }

    #[test]
    fn duplicate_index_is_rejected_also_past_256_candidates() {
        let c = vec![candidate(true, true); 300];
        assert_eq!(
            validate_plan(&request(true), &c, &plan(vec![3, 299, 3], true, None)),
            Err(InvalidAnswer::Duplicate(3))
        );
        assert_eq!(
            validate_plan(&request(true), &c, &plan(vec![299, 280, 299], true, None)),
            Err(InvalidAnswer::Duplicate(299))
        );
    }

    #[test]
    fn ufs_is_rejected_when_fallback_is_off() {
        let c = [candidate(true, true)];
        assert_eq!(
            validate_plan(&request(false), &c, &plan(vec![0], true, None)),
            Err(InvalidAnswer::UfsNotAllowed)
        );
    }

    #[test]
    fn empty_plan_is_rejected_only_when_a_healthy_candidate_exists() {
        let healthy = [candidate(true, true)];
        let sick = [candidate(true, false)];
        assert_eq!(
            validate_plan(&request(false), &healthy, &plan(vec![], false, None)),
            Err(InvalidAnswer::Empty)
        );
        assert_eq!(
            validate_plan(&request(false), &sick, &plan(vec![], false, None)),
            Ok(())
        );
    }

    #[test]
    fn passive_target_must_be_a_local_candidate() {
        let c = [candidate(true, true), candidate(false, true)];
        assert_eq!(
            validate_plan(&request(true), &c, &plan(vec![1], true, Some(1))),
            Err(InvalidAnswer::PassiveNotLocal(1))
        );
        assert_eq!(
            validate_plan(&request(true), &c, &plan(vec![1], true, Some(7))),
            Err(InvalidAnswer::PassiveOutOfRange {
                index: 7,
                candidates: 2
            })
        );
    }

    #[test]
    fn retry_delays_are_capped() {
        assert_eq!(
            validate_next_step(&NextStep::RetryAfterMs(MAX_RETRY_DELAY_MS)),
            Ok(())
        );
        assert_eq!(
            validate_next_step(&NextStep::RetryAfterMs(MAX_RETRY_DELAY_MS + 1)),
            Err(InvalidAnswer::RetryTooLong(MAX_RETRY_DELAY_MS + 1))
        );
    }
}
