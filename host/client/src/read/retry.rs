//! Where a read stands in its plan, and the host's ceilings on retrying.
//!
//! The policy decides what follows a failure; the host bounds what that can
//! cost. A `retry-after` past `azimuth.client.retry.limit.per.source`
//! retries of one source, or past `azimuth.client.retry.limit.total` of
//! waiting in all, is taken as `next-source`: a policy that answers
//! `retry-after` forever still lets the read end.

use std::time::Duration;

use azimuth_cluster::config::RetryLimits;
use azimuth_policy::{NextStep, Source};

/// What the read does after a failed attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Then {
    /// Go on to the next source of the plan (none left: the read fails).
    Next,
    /// Try the same source again after this wait.
    Retry(Duration),
    /// Stop: the policy gave up.
    Stop,
}

/// A read's position in its plan's sources, and the retries it has made.
#[derive(Debug)]
pub(crate) struct Cursor {
    sources: Vec<Source>,
    next: usize,
    /// Retries of the current source.
    retries: u32,
    /// Time granted to retries so far, all sources together.
    waited: Duration,
    limits: RetryLimits,
}

impl Cursor {
    pub(crate) fn new(sources: Vec<Source>, limits: RetryLimits) -> Self {
        Self {
            sources,
            next: 0,
            retries: 0,
            waited: Duration::ZERO,
            limits,
        }
    }

    /// The source to try now, if any is left.
    pub(crate) fn current(&self) -> Option<Source> {
        self.sources.get(self.next).copied()
    }

    /// Retries of the current source so far (what a policy's `failure` says).
    pub(crate) fn retries(&self) -> u32 {
        self.retries
    }

    /// Applies the policy's answer to a failure of the current source,
    /// within the ceilings; returns what to do and, when a ceiling
    /// overrode the policy, which.
    pub(crate) fn after_failure(&mut self, step: NextStep) -> (Then, Option<&'static str>) {
        match step {
            NextStep::GiveUp => (Then::Stop, None),
            NextStep::NextSource => {
                self.advance();
                (Then::Next, None)
            }
            NextStep::RetryAfterMs(ms) => {
                let wait = Duration::from_millis(ms.into());
                let capped = if self.retries >= self.limits.per_source {
                    Some("the per-source retry limit")
                } else if self.waited + wait > self.limits.total {
                    Some("the read's total retry time")
                } else {
                    None
                };
                if capped.is_some() {
                    self.advance();
                    return (Then::Next, capped);
                }
                self.retries += 1;
                self.waited += wait;
                (Then::Retry(wait), None)
            }
        }
    }

    fn advance(&mut self) {
        self.next += 1;
        self.retries = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(per_source: u32, total_ms: u64) -> Cursor {
        Cursor::new(
            vec![Source::Worker(0), Source::Worker(1), Source::Ufs],
            RetryLimits {
                per_source,
                total: Duration::from_millis(total_ms),
            },
        )
    }

    #[test]
    fn a_policy_that_always_retries_moves_on_after_the_per_source_limit() {
        let mut c = cursor(3, 60_000);
        let retry = NextStep::RetryAfterMs(10);
        for n in 1..=3 {
            assert_eq!(
                c.after_failure(retry),
                (Then::Retry(Duration::from_millis(10)), None)
            );
            assert_eq!(c.retries(), n);
        }
        assert_eq!(
            c.after_failure(retry),
            (Then::Next, Some("the per-source retry limit"))
        );
        assert_eq!((c.current(), c.retries()), (Some(Source::Worker(1)), 0));
        // Each source gets its own retries, and the plan still ends.
        for _ in 0..8 {
            c.after_failure(retry);
        }
        assert_eq!(c.current(), None);
    }

    #[test]
    fn retries_stop_once_the_total_retry_time_would_pass() {
        let mut c = cursor(100, 25);
        let retry = NextStep::RetryAfterMs(10);
        assert_eq!(
            c.after_failure(retry).0,
            Then::Retry(Duration::from_millis(10))
        );
        assert_eq!(
            c.after_failure(retry).0,
            Then::Retry(Duration::from_millis(10))
        );
        assert_eq!(
            c.after_failure(retry),
            (Then::Next, Some("the read's total retry time"))
        );
        // The budget is the read's: the next source gets no more of it.
        assert_eq!(c.after_failure(NextStep::RetryAfterMs(10)).0, Then::Next);
        assert_eq!(c.current(), Some(Source::Ufs));
    }

    #[test]
    fn next_source_and_give_up_are_followed_as_said() {
        let mut c = cursor(0, 0);
        assert_eq!(c.after_failure(NextStep::NextSource), (Then::Next, None));
        assert_eq!(c.current(), Some(Source::Worker(1)));
        assert_eq!(c.after_failure(NextStep::GiveUp), (Then::Stop, None));
        assert_eq!(
            c.after_failure(NextStep::RetryAfterMs(0)),
            (Then::Next, Some("the per-source retry limit"))
        );
    }
}
