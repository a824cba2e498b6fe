//! A policy for tests: it answers with what it was given, so a test can
//! check that every field of every argument reaches the policy intact (the
//! SDK lays them out by hand, see `azimuth_policy_sdk::abi`). Its answers are
//! not valid plans; tests call it without the engine's validation.

pub use azimuth_policy_sdk::{Candidate, Failure, FailureKind, NextStep, Plan, Request, Source};

/// The [`echo`] words: as many of them as there are candidates as the
/// worker list (a host refuses a longer list before reading it), and all of
/// them folded into one FNV-1a hash as `passive_cache_to`.
pub fn rank(request: &Request, candidates: &[Candidate]) -> Plan {
    let mut words = echo(request, candidates);
    let hash = fnv1a(&words);
    words.truncate(candidates.len());
    Plan {
        workers: words,
        then_ufs: request.ufs_fallback,
        passive_cache_to: Some(hash),
    }
}

/// The [`echo`] words, then the failure's, folded into one FNV-1a hash:
/// `retry-after-ms(hash)`.
pub fn failover(request: &Request, candidates: &[Candidate], failure: &Failure) -> NextStep {
    let mut words = echo(request, candidates);
    let (tag, worker) = match failure.source {
        Source::Worker(i) => (0, i),
        Source::Ufs => (1, 0),
    };
    let kind = match failure.kind {
        FailureKind::Refused => 0,
        FailureKind::Timeout => 1,
        FailureKind::IoError => 2,
        FailureKind::Corrupt => 3,
        FailureKind::NotFound => 4,
    };
    words.extend([tag, worker, kind, failure.retries]);
    push_u64(&mut words, failure.delivered);
    NextStep::RetryAfterMs(fnv1a(&words))
}

/// Every field of the request, then of each candidate, as `u32` words
/// (64-bit values low word first; `None` is `[0, 0, 0]`, `Some(v)` is
/// `[1, low, high]`).
pub fn echo(request: &Request, candidates: &[Candidate]) -> Vec<u32> {
    let mut words = vec![
        u32::from(request.prefer_cached_replicas),
        u32::from(request.passive_cache),
        u32::from(request.ufs_fallback),
    ];
    push_option(&mut words, request.file_length);
    push_u64(&mut words, request.offset);
    push_option(&mut words, request.length);
    words.push(request.attempt);
    push_u64(&mut words, request.seed);
    for c in candidates {
        push_u64(&mut words, c.cached_bytes);
        words.extend([
            c.rtt_us,
            u32::from(c.cluster),
            c.cache as u32,
            u32::from(c.local),
            u32::from(c.healthy),
        ]);
    }
    words
}

/// FNV-1a over the words' little-endian bytes.
pub fn fnv1a(words: &[u32]) -> u32 {
    let mut hash = 0x811c_9dc5u32;
    for byte in words.iter().flat_map(|w| w.to_le_bytes()) {
        hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
    }
    hash
}

fn push_u64(words: &mut Vec<u32>, value: u64) {
    words.extend([value as u32, (value >> 32) as u32]);
}

fn push_option(words: &mut Vec<u32>, value: Option<u64>) {
    match value {
        Some(v) => {
            words.push(1);
            push_u64(words, v);
        }
        None => words.extend([0, 0, 0]),
    }
}

#[cfg(not(feature = "wit-bindgen-glue"))]
azimuth_policy_sdk::policy!(rank: rank, failover: failover);

/// The same two functions exported through wit-bindgen's generated glue.
#[cfg(all(target_arch = "wasm32", feature = "wit-bindgen-glue"))]
#[allow(clippy::all)]
mod plain {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "policy",
        // The SDK's bindings describe the same world in a section of the
        // same name; the linker would concatenate the two into one that
        // cannot be decoded. wit-component merges differently named ones.
        type_section_suffix: "plain",
    });

    use exports::azimuth::policy::routing as wit;

    fn request(r: wit::Request) -> super::Request {
        super::Request {
            prefer_cached_replicas: r.prefer_cached_replicas,
            passive_cache: r.passive_cache,
            ufs_fallback: r.ufs_fallback,
            file_length: r.file_length,
            offset: r.offset,
            length: r.length,
            attempt: r.attempt,
            seed: r.seed,
        }
    }

    fn candidates(list: Vec<wit::Candidate>) -> Vec<super::Candidate> {
        list.into_iter()
            .map(|c| super::Candidate {
                cached_bytes: c.cached_bytes,
                rtt_us: c.rtt_us,
                cluster: c.cluster,
                cache: match c.cache {
                    wit::CacheState::Unknown => azimuth_policy_sdk::CacheState::Unknown,
                    wit::CacheState::None => azimuth_policy_sdk::CacheState::None,
                    wit::CacheState::Partial => azimuth_policy_sdk::CacheState::Partial,
                    wit::CacheState::Full => azimuth_policy_sdk::CacheState::Full,
                },
                local: c.local,
                healthy: c.healthy,
            })
            .collect()
    }

    struct Echo;

    impl wit::Guest for Echo {
        fn rank(r: wit::Request, list: Vec<wit::Candidate>) -> wit::Plan {
            let plan = super::rank(&request(r), &candidates(list));
            wit::Plan {
                workers: plan.workers,
                then_ufs: plan.then_ufs,
                passive_cache_to: plan.passive_cache_to,
            }
        }

        fn failover(r: wit::Request, list: Vec<wit::Candidate>, f: wit::Failure) -> wit::NextStep {
            let failure = super::Failure {
                source: match f.source {
                    wit::Source::Worker(i) => super::Source::Worker(i),
                    wit::Source::Ufs => super::Source::Ufs,
                },
                kind: match f.kind {
                    wit::FailureKind::Refused => super::FailureKind::Refused,
                    wit::FailureKind::Timeout => super::FailureKind::Timeout,
                    wit::FailureKind::IoError => super::FailureKind::IoError,
                    wit::FailureKind::Corrupt => super::FailureKind::Corrupt,
                    wit::FailureKind::NotFound => super::FailureKind::NotFound,
                },
                retries: f.retries,
                delivered: f.delivered,
            };
            match super::failover(&request(r), &candidates(list), &failure) {
                super::NextStep::NextSource => wit::NextStep::NextSource,
                super::NextStep::RetryAfterMs(ms) => wit::NextStep::RetryAfterMs(ms),
                super::NextStep::GiveUp => wit::NextStep::GiveUp,
            }
        }
    }

    export!(Echo);
}
