//! The demo's readers: tasks reading random ranges of the sample files
//! through one client, checking every byte against the data they were made
//! from, and timing each read.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use rand::{Rng, SeedableRng};

use azimuth_client::Client;

/// The sample files: UFS path and content.
pub type Files = Arc<Vec<(String, Bytes)>>;

/// What the readers saw since it was last taken.
#[derive(Default)]
struct Seen {
    latencies_us: Vec<u32>,
    mismatched: u64,
    errors: Vec<String>,
}

/// Running readers; they stop when this is dropped.
pub struct Workload {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// What the readers saw during one phase.
#[derive(Default)]
pub struct Taken {
    /// Latency of every finished read, µs, sorted.
    pub latencies_us: Vec<u32>,
    /// Reads whose bytes differed from the file's.
    pub mismatched: u64,
    /// The first errors, for the report.
    pub errors: Vec<String>,
}

impl Workload {
    /// Starts `readers` tasks on `runtime`, each reading `read_size` bytes at
    /// a random offset of a random file, again and again.
    pub fn start(
        runtime: &tokio::runtime::Handle,
        client: &Client,
        files: Files,
        readers: usize,
        read_size: u64,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let tasks = (0..readers as u64)
            .map(|seed| {
                let (client, files, stop, seen) =
                    (client.clone(), files.clone(), stop.clone(), seen.clone());
                runtime.spawn(async move {
                    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
                    while !stop.load(Ordering::Relaxed) {
                        let (path, data) = &files[rng.random_range(0..files.len())];
                        let length = read_size.min(data.len() as u64);
                        let offset = rng.random_range(0..=data.len() as u64 - length);
                        let started = Instant::now();
                        let (result, _) = client.read_all(path, offset, Some(length)).await;
                        let took = started.elapsed().as_micros().min(u32::MAX as u128) as u32;
                        let range = offset as usize..(offset + length) as usize;
                        let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                        match result {
                            Ok(bytes) => {
                                seen.latencies_us.push(took);
                                if bytes != data[range] {
                                    seen.mismatched += 1;
                                }
                            }
                            Err(e) if seen.errors.len() < 5 => seen.errors.push(e.to_string()),
                            Err(_) => {}
                        }
                    }
                })
            })
            .collect();
        Self { stop, seen, tasks }
    }

    /// Takes what the readers saw since the last call.
    pub fn take(&self) -> Taken {
        let seen = std::mem::take(&mut *self.seen.lock().unwrap_or_else(|e| e.into_inner()));
        let mut latencies_us = seen.latencies_us;
        latencies_us.sort_unstable();
        Taken {
            latencies_us,
            mismatched: seen.mismatched,
            errors: seen.errors,
        }
    }

    /// The median latency of the latest reads (up to 2,000) since the last take.
    pub fn peek_p50_us(&self) -> Option<u32> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let mut recent: Vec<u32> = seen.latencies_us.iter().rev().take(2000).copied().collect();
        if recent.is_empty() {
            return None;
        }
        let middle = recent.len() / 2;
        Some(*recent.select_nth_unstable(middle).1)
    }

    /// Stops the readers and waits for them.
    pub async fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The `p` (0..=1) percentile of sorted samples.
pub fn percentile(sorted: &[u32], p: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    Some(sorted[((sorted.len() - 1) as f64 * p).round() as usize])
}
