//! What the mount counts: FUSE operations by name and outcome, bytes read,
//! and how reads were met (from read-ahead, by a fetch of the window, or
//! by a fetch of exactly what was asked). `/metrics` shows them, then the
//! read path's counters (by source tier, cross-zone bytes).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use azimuth_cluster::prometheus;

/// The mount's counters.
#[derive(Debug, Default)]
pub struct MountMetrics {
    /// Operations by (name, outcome): `ok` or an errno's name.
    operations: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// Bytes returned to `read` calls.
    pub(crate) read_bytes: AtomicU64,
    /// `read` calls met, at least in part, by bytes fetched ahead.
    pub(crate) readahead_hits: AtomicU64,
    /// Bytes fetched ahead of a sequential reader, in the background.
    pub(crate) readahead_bytes: AtomicU64,
    /// Fetches of a sequential reader's window, on its `read`.
    pub(crate) window_fetches: AtomicU64,
    /// Fetches of exactly what a random `read` asked.
    pub(crate) exact_fetches: AtomicU64,
}

impl MountMetrics {
    /// Counts one `operation` that ended with `outcome`.
    pub(crate) fn count(&self, operation: &'static str, outcome: &'static str) {
        *self
            .operations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((operation, outcome))
            .or_default() += 1;
    }

    /// Operations counted of `operation` with `outcome`.
    pub fn operations(&self, operation: &str, outcome: &str) -> u64 {
        self.operations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|((op, out), _)| *op == operation && *out == outcome)
            .map(|(_, n)| n)
            .sum()
    }

    /// `read` calls met, at least in part, by read-ahead.
    pub fn readahead_hits(&self) -> u64 {
        self.readahead_hits.load(Ordering::Relaxed)
    }

    /// The counters in Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        {
            let operations = self.operations.lock().unwrap_or_else(|e| e.into_inner());
            let mut family = prometheus::family(
                &mut out,
                "azimuth_mount_operations_total",
                "counter",
                "FUSE operations by name and outcome (ok, or the errno answered).",
            );
            for ((operation, outcome), n) in operations.iter() {
                family.sample(&[("operation", operation), ("outcome", outcome)], n);
            }
        }
        let counters = [
            (
                "azimuth_mount_read_bytes_total",
                "Bytes returned to read calls.",
                &self.read_bytes,
            ),
            (
                "azimuth_mount_readahead_hits_total",
                "Read calls met, at least in part, by bytes fetched ahead.",
                &self.readahead_hits,
            ),
            (
                "azimuth_mount_readahead_bytes_total",
                "Bytes fetched ahead of sequential readers, in the background.",
                &self.readahead_bytes,
            ),
            (
                "azimuth_mount_window_fetches_total",
                "Fetches of a sequential reader's window on its read call.",
                &self.window_fetches,
            ),
            (
                "azimuth_mount_exact_fetches_total",
                "Fetches of exactly what a random read asked.",
                &self.exact_fetches,
            ),
        ];
        for (name, help, value) in counters {
            prometheus::family(&mut out, name, "counter", help)
                .sample(&[], value.load(Ordering::Relaxed));
        }
        out
    }
}
