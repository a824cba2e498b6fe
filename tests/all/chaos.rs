//! Chaos: three clusters of two workers over one three-member etcd cluster,
//! 16 readers of mixed sizes and ranges, while workers, whole zones and etcd
//! members are killed (SIGKILL), stopped (SIGSTOP) and started again at
//! random. Every read must succeed with exactly the UFS's bytes.
//!
//! `AZIMUTH_CHAOS_SECS` sets how long the faults go on (default 30);
//! `AZIMUTH_CHAOS_SEED` repeats a run's faults (the seed is printed). The
//! figures of a long run are in RELIABILITY.md.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use azimuth_client::Client;
use azimuth_cluster::config::SiteConfig;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::processes::{Etcd, Site, Worker, wait_for};
use crate::zones::CLUSTERS;

const READERS: usize = 16;

/// What the readers saw.
#[derive(Default)]
struct Tally {
    reads: u64,
    bytes: u64,
    failovers: u64,
    ufs_fallbacks: u64,
    cross_zone: u64,
    worst: Duration,
    worst_read: String,
    failures: Vec<String>,
}

/// A fault to undo later.
enum Down {
    Killed(usize),
    Paused(usize),
    EtcdKilled(usize),
    EtcdPaused(usize),
}

#[test]
fn every_read_succeeds_with_exact_bytes_while_workers_zones_and_etcd_members_fail() {
    let secs: u64 = std::env::var("AZIMUTH_CHAOS_SECS")
        .ok()
        .map(|s| s.parse().expect("AZIMUTH_CHAOS_SECS: whole seconds"))
        .unwrap_or(30);
    let seed: u64 = std::env::var("AZIMUTH_CHAOS_SEED")
        .ok()
        .map(|s| s.parse().expect("AZIMUTH_CHAOS_SEED: a number"))
        .unwrap_or_else(rand::random);
    println!("chaos: {secs} s of faults, seed {seed} (repeat with AZIMUTH_CHAOS_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);

    let site = Site::new();
    let mut etcds = Etcd::start_cluster(&["chaos-1", "chaos-2", "chaos-3"]);
    let endpoints: Vec<&str> = etcds.iter().map(|e| e.url.as_str()).collect();
    let topology = site.write(
        "multi-az-clusters.json",
        &serde_json::json!([{"clusterNames": CLUSTERS, "endpoints": endpoints}]).to_string(),
    );
    // Short timeouts, so that a stopped worker costs a read about a second.
    let timeouts = "azimuth.client.connect.timeout=300ms\n\
                    azimuth.client.first.byte.timeout=1s\n\
                    alluxio.worker.failure.detection.timeout=2s\n";
    let confs = site.multi_az_confs(&CLUSTERS, &topology, timeouts);
    let ufs = site.dir.path().join("ufs");
    std::fs::create_dir_all(&ufs).unwrap();
    let files = write_files(&ufs, &mut rng);
    let logs = site.dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let ufs_arg = ufs.display().to_string();
    let mut workers: Vec<Worker> = confs
        .iter()
        .zip(["a", "b", "c"])
        .flat_map(|(conf, zone)| [1, 2].map(|n| (conf.clone(), format!("{zone}{n}"))))
        .map(|(conf, id)| {
            let log = logs.join(format!("{id}.log"));
            // Each worker's cache is its own, kept across its restarts.
            let cache = site.dir.path().join(format!("cache-{id}"));
            let cache = cache.display().to_string();
            Worker::start_logging_to(
                &conf,
                &id,
                &["--ufs", &ufs_arg, "--cache-dir", &cache],
                &log,
            )
        })
        .collect();

    let runtime = crate::zones::runtime();
    // Clients of every cluster; half cache passively where they read.
    let clients: Vec<Arc<Client>> = (0..4)
        .map(|i| {
            let cluster = CLUSTERS[i % 3];
            let conf = site.write(
                &format!("client-{i}.properties"),
                &format!(
                    "alluxio.cluster.name={cluster}\nalluxio.multi.cluster.enabled=true\n\
                     alluxio.multi.cluster.config.path={}\nalluxio.dora.client.ufs.root={}\n\
                     alluxio.user.file.passive.cache.enabled={}\n{timeouts}",
                    topology.display(),
                    ufs.display(),
                    i % 2 == 0
                ),
            );
            let config = SiteConfig::load(Some(&conf), |_| {}).unwrap();
            let client = runtime.block_on(Client::connect(&config)).unwrap();
            let seen = wait_for(Duration::from_secs(20), || {
                (client.view().workers().count() == 6).then_some(())
            });
            assert!(seen.is_some(), "client {i} never saw the six workers");
            Arc::new(client)
        })
        .collect();

    let files = Arc::new(files);
    let tally = Arc::new(Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..READERS)
        .map(|n| {
            let client = clients[n % clients.len()].clone();
            let files = files.clone();
            let tally = tally.clone();
            let stop = stop.clone();
            let mut rng = StdRng::seed_from_u64(seed.wrapping_add(n as u64 + 1));
            runtime.spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    read_once(&client, &files, &mut rng, &tally).await;
                }
            })
        })
        .collect();

    // The faults: one every 0.3 to 1.5 s, each undone 1 to 4 s later.
    let mut faults: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut pending: Vec<(Instant, Down)> = Vec::new();
    let end = Instant::now() + Duration::from_secs(secs);
    let mut next_fault = Instant::now() + Duration::from_millis(500);
    // Every 10 s, a line of what the site and the clients look like.
    let began = Instant::now();
    let mut next_report = began + Duration::from_secs(10);
    let mut last = (0u64, 0u64);
    while Instant::now() < end {
        if Instant::now() >= next_report {
            next_report += Duration::from_secs(10);
            let serving = workers
                .iter()
                .filter(|w| w.running() && !w.paused())
                .count();
            let seen: Vec<String> = clients
                .iter()
                .map(|c| {
                    let view = c.view();
                    let trusted = view.workers().filter(|w| c.trusts(&w.id)).count();
                    format!("{}/{trusted}", view.workers().count())
                })
                .collect();
            let (reads, ufs) = {
                let t = tally.lock().unwrap();
                (t.reads, t.ufs_fallbacks)
            };
            println!(
                "chaos: {:>4} s: {serving}/6 workers serving; clients see/trust {}; \
                 {} reads in 10 s, {} from the UFS",
                began.elapsed().as_secs(),
                seen.join(" "),
                reads - last.0,
                ufs - last.1
            );
            last = (reads, ufs);
        }
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) = pending.drain(..).partition(|(at, _)| *at <= now);
        pending = later;
        for (_, down) in due {
            undo(down, &mut workers, &mut etcds);
        }
        if now >= next_fault {
            let undo_at = now + Duration::from_millis(rng.random_range(1000..4000));
            inject(&mut rng, &mut workers, &mut etcds, &mut faults, |down| {
                pending.push((undo_at, down))
            });
            next_fault = now + Duration::from_millis(rng.random_range(300..1500));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for (_, down) in pending.drain(..) {
        undo(down, &mut workers, &mut etcds);
    }
    stop.store(true, Ordering::Relaxed);
    runtime.block_on(async {
        for reader in readers {
            reader.await.unwrap();
        }
    });

    // Once every process is back, every client sees and trusts all six
    // workers within the longest probe pause (30 s) and a probe...
    let trusted = wait_for(Duration::from_secs(40), || {
        clients
            .iter()
            .all(|c| {
                let view = c.view();
                view.workers().count() == 6 && view.workers().all(|w| c.trusts(&w.id))
            })
            .then_some(())
    });
    let distrusted: Vec<String> = clients
        .iter()
        .map(|c| {
            let view = c.view();
            let ids: Vec<&str> = view
                .workers()
                .filter(|w| !c.trusts(&w.id))
                .map(|w| w.id.as_str())
                .collect();
            format!(
                "{} of {} seen, distrusting {ids:?}",
                view.workers().count(),
                6
            )
        })
        .collect();
    assert!(
        trusted.is_some(),
        "seed {seed}: after the faults, clients did not trust every worker again: {distrusted:?}"
    );
    // ...and reads are served by workers again.
    let client = clients[0].clone();
    let back = wait_for(Duration::from_secs(30), || {
        let (read, explain) = runtime.block_on(client.read_all(&files[3].0, 0, None));
        (read.is_ok() && explain.served_by.as_deref() != Some("ufs")).then_some(())
    });

    let tally = tally.lock().unwrap();
    let injected: u64 = faults.values().sum();
    println!(
        "chaos: {} reads ({} MiB), {} faults injected {:?}, {} failovers, {} UFS fallbacks, \
         {} served by another zone, worst read {:.2?} ({})",
        tally.reads,
        tally.bytes >> 20,
        injected,
        faults,
        tally.failovers,
        tally.ufs_fallbacks,
        tally.cross_zone,
        tally.worst,
        tally.worst_read
    );
    assert!(
        tally.failures.is_empty(),
        "seed {seed}: {} reads failed or were wrong, the first: {:#?}",
        tally.failures.len(),
        &tally.failures[..tally.failures.len().min(3)]
    );
    assert!(tally.reads > 0 && injected > 0, "nothing was tried");
    assert!(
        back.is_some(),
        "seed {seed}: reads were not served by workers again after the faults"
    );
}

/// UFS files of mixed sizes, from empty to 6 MiB: (name, bytes).
fn write_files(ufs: &Path, rng: &mut StdRng) -> Vec<(String, Vec<u8>)> {
    let sizes = [
        0,
        1,
        4 << 10,
        (64 << 10) + 7,
        1 << 20,
        (3 << 20) + 1,
        6 << 20,
    ];
    sizes
        .iter()
        .enumerate()
        .map(|(i, &len)| {
            let name = format!("chaos/f{i}-{len}");
            let data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            std::fs::create_dir_all(ufs.join("chaos")).unwrap();
            std::fs::write(ufs.join(&name), &data).unwrap();
            (name, data)
        })
        .collect()
}

/// One read of a random file: whole, a range, or its tail; checks every byte.
async fn read_once(
    client: &Client,
    files: &[(String, Vec<u8>)],
    rng: &mut StdRng,
    tally: &Mutex<Tally>,
) {
    let (name, data) = &files[rng.random_range(0..files.len())];
    let len = data.len() as u64;
    let (offset, length) = match rng.random_range(0..3) {
        0 => (0, None),
        1 if len > 0 => {
            let offset = rng.random_range(0..len);
            (offset, Some(rng.random_range(0..=len - offset)))
        }
        _ => (len - rng.random_range(0..=len.min(100_000)), None),
    };
    let started = Instant::now();
    let (read, explain) = client.read_all(name, offset, length).await;
    let took = started.elapsed();
    let end = length.map_or(len, |l| offset + l) as usize;
    let expected = &data[offset as usize..end];
    let mut tally = tally.lock().unwrap();
    tally.reads += 1;
    let describe = || format!("{name} [{offset}, {end}): {explain}");
    match read {
        Ok(bytes) if bytes.as_ref() == expected => tally.bytes += bytes.len() as u64,
        Ok(bytes) => {
            let at = bytes
                .iter()
                .zip(expected)
                .position(|(a, b)| a != b)
                .unwrap_or(bytes.len().min(expected.len()));
            let failure = format!(
                "{} bytes where {} were expected, first difference at {at}: {}",
                bytes.len(),
                expected.len(),
                describe()
            );
            tally.failures.push(failure);
        }
        Err(e) => {
            let failure = format!("{e}: {}", describe());
            tally.failures.push(failure);
        }
    }
    if explain.attempts.len() > 1 {
        tally.failovers += 1;
    }
    match explain.served_by.as_deref() {
        Some("ufs") => tally.ufs_fallbacks += 1,
        Some(worker) => {
            let id = worker.trim_start_matches("worker ");
            let remote = explain
                .candidates
                .iter()
                .any(|c| c.worker == id && !c.local);
            if remote {
                tally.cross_zone += 1;
            }
        }
        None => {}
    }
    if took > tally.worst {
        tally.worst = took;
        tally.worst_read = format!(
            "{name} [{offset}, {end}), {} attempts",
            explain.attempts.len()
        );
    }
}

/// Injects one random fault; `undo_later` gets what to undo.
fn inject(
    rng: &mut StdRng,
    workers: &mut [Worker],
    etcds: &mut [Etcd],
    faults: &mut BTreeMap<&'static str, u64>,
    mut undo_later: impl FnMut(Down),
) {
    let up: Vec<usize> = (0..workers.len())
        .filter(|&i| workers[i].running() && !workers[i].paused())
        .collect();
    let etcd_up: Vec<usize> = (0..etcds.len())
        .filter(|&i| etcds[i].running() && !etcds[i].paused())
        .collect();
    let kind = rng.random_range(0..10);
    let mut count = |name| *faults.entry(name).or_default() += 1;
    match kind {
        0..=2 if !up.is_empty() => {
            let i = up[rng.random_range(0..up.len())];
            workers[i].kill();
            count("worker SIGKILL");
            undo_later(Down::Killed(i));
        }
        3..=5 if !up.is_empty() => {
            let i = up[rng.random_range(0..up.len())];
            workers[i].pause();
            count("worker SIGSTOP");
            undo_later(Down::Paused(i));
        }
        6 | 7 => {
            // A whole zone: both workers of one cluster, killed or stopped.
            let zone = rng.random_range(0..3);
            let stop = rng.random_bool(0.5);
            for i in [zone * 2, zone * 2 + 1] {
                if !workers[i].running() || workers[i].paused() {
                    continue;
                }
                if stop {
                    workers[i].pause();
                    undo_later(Down::Paused(i));
                } else {
                    workers[i].kill();
                    undo_later(Down::Killed(i));
                }
            }
            count(if stop { "zone SIGSTOP" } else { "zone SIGKILL" });
        }
        // etcd members, while a quorum would remain up: a lost quorum is
        // another test (membership keeps the last view), not this one's.
        8 if etcd_up.len() == etcds.len() => {
            let i = etcd_up[rng.random_range(0..etcd_up.len())];
            etcds[i].kill();
            count("etcd member SIGKILL");
            undo_later(Down::EtcdKilled(i));
        }
        9 if etcd_up.len() == etcds.len() => {
            let i = etcd_up[rng.random_range(0..etcd_up.len())];
            etcds[i].pause();
            count("etcd member SIGSTOP");
            undo_later(Down::EtcdPaused(i));
        }
        _ => {}
    }
}

fn undo(down: Down, workers: &mut [Worker], etcds: &mut [Etcd]) {
    match down {
        Down::Killed(i) => {
            if !workers[i].running() {
                workers[i].restart();
            }
        }
        Down::Paused(i) => workers[i].resume(),
        Down::EtcdKilled(i) => etcds[i].spawn(),
        Down::EtcdPaused(i) => etcds[i].resume(),
    }
}
