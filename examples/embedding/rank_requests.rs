//! A proxy deciding where to send a request, with `azimuth-policy` alone: the
//! backends that could serve it are the candidates, the policy ranks them
//! (the embedded default, or the component file given), and the proxy sends
//! the request to the first, then the next if that one fails.
//!
//! Run: `cargo run -p azimuth-policy --example rank-requests [-- policy.wasm]`

use azimuth_policy::{CacheState, Candidate, PolicyConfig, PolicyEngine, Request};

/// The proxy's backends: name, cluster (0 is the proxy's own zone), what
/// it holds of the object asked for, whether it answered lately, latency.
const BACKENDS: [(&str, u8, CacheState, bool, u32); 4] = [
    ("a1", 0, CacheState::None, true, 300),
    ("a2", 0, CacheState::Full, false, 250),
    ("b1", 1, CacheState::Full, true, 900),
    ("c1", 2, CacheState::Partial, true, 1400),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = PolicyEngine::new(PolicyConfig::default())?;
    if let Some(path) = std::env::args().nth(1) {
        engine.compile_and_swap(&std::fs::read(&path)?, &path)?;
    }
    println!("policy {}", engine.active());
    let candidates: Vec<Candidate> = BACKENDS
        .iter()
        .map(|&(_, cluster, cache, healthy, rtt_us)| Candidate {
            cached_bytes: if cache == CacheState::Full {
                1 << 20
            } else {
                0
            },
            rtt_us,
            cluster,
            cache,
            local: cluster == 0,
            healthy,
        })
        .collect();
    for prefer_cached_replicas in [true, false] {
        let request = Request {
            prefer_cached_replicas,
            passive_cache: true,
            ufs_fallback: true,
            file_length: Some(1 << 20),
            offset: 0,
            length: None,
            attempt: 0,
            seed: 0,
        };
        let plan = engine.rank(&request, &candidates).value;
        let mut order: Vec<&str> = plan
            .workers
            .iter()
            .map(|&i| BACKENDS[i as usize].0)
            .collect();
        if plan.then_ufs {
            order.push("origin");
        }
        let copy = plan
            .passive_cache_to
            .map_or("nowhere", |i| BACKENDS[i as usize].0);
        println!(
            "prefer cached {prefer_cached_replicas}: send to {}; copy to {copy}",
            order.join(" > ")
        );
    }
    let stats = engine.stats();
    println!(
        "{} decisions, {} fallbacks",
        stats.decisions,
        stats.fallbacks()
    );
    Ok(())
}
