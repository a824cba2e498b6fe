//! Read counters by source tier, and their Prometheus rendering.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use azimuth_cluster::prometheus;

/// Where a read's bytes came from, as the counters split them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// A worker of the client's cluster that had the file fully cached.
    LocalCached,
    /// A worker of another cluster that had it fully cached.
    RemoteCached,
    /// Another worker of the client's cluster.
    Local,
    /// Another worker of another cluster.
    Remote,
    /// The UFS.
    Ufs,
}

impl Tier {
    /// Every tier, in the order of [`ClientStats`]' arrays.
    pub const ALL: [Tier; 5] = [
        Tier::LocalCached,
        Tier::RemoteCached,
        Tier::Local,
        Tier::Remote,
        Tier::Ufs,
    ];

    /// The tier's label in metrics and reports.
    pub fn name(self) -> &'static str {
        match self {
            Tier::LocalCached => "local_cached",
            Tier::RemoteCached => "remote_cached",
            Tier::Local => "local",
            Tier::Remote => "remote",
            Tier::Ufs => "ufs",
        }
    }
}

/// Counters since the client started; [`Counters::snapshot`] reads them.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    reads: [AtomicU64; 5],
    bytes: [AtomicU64; 5],
    cross_zone_bytes: AtomicU64,
    failed_reads: AtomicU64,
    failovers: AtomicU64,
}

impl Counters {
    /// Counts a read that a source of `tier` finished, having delivered `bytes`.
    pub(crate) fn served(&self, tier: Tier, bytes: u64) {
        self.reads[tier as usize].fetch_add(1, Ordering::Relaxed);
        self.bytes[tier as usize].fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn crossed_zones(&self, bytes: u64) {
        self.cross_zone_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn failed(&self) {
        self.failed_reads.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn failed_over(&self) {
        self.failovers.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub(crate) fn snapshot(&self) -> ClientStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ClientStats {
            reads: self.reads.each_ref().map(get),
            bytes: self.bytes.each_ref().map(get),
            cross_zone_bytes: get(&self.cross_zone_bytes),
            failed_reads: get(&self.failed_reads),
            failovers: get(&self.failovers),
        }
    }
}

/// The counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClientStats {
    /// Reads served, by tier (indexed like [`Tier::ALL`]); a read that failed
    /// over counts once, for the source that finished it.
    pub reads: [u64; 5],
    /// Bytes delivered, by the tier of the source that delivered them.
    pub bytes: [u64; 5],
    /// Bytes that came from workers of other clusters.
    pub cross_zone_bytes: u64,
    /// Reads no source could serve.
    pub failed_reads: u64,
    /// Times a read went on to another source after a failure.
    pub failovers: u64,
}

impl ClientStats {
    /// Reads served by `tier`.
    pub fn reads_of(&self, tier: Tier) -> u64 {
        self.reads[tier as usize]
    }

    /// Bytes delivered by `tier`.
    pub fn bytes_of(&self, tier: Tier) -> u64 {
        self.bytes[tier as usize]
    }

    /// Reads served, all tiers.
    pub fn total_reads(&self) -> u64 {
        self.reads.iter().sum()
    }

    /// What happened between `earlier` and this snapshot.
    pub fn since(&self, earlier: &ClientStats) -> ClientStats {
        let minus = |a: [u64; 5], b: [u64; 5]| std::array::from_fn(|i| a[i] - b[i]);
        ClientStats {
            reads: minus(self.reads, earlier.reads),
            bytes: minus(self.bytes, earlier.bytes),
            cross_zone_bytes: self.cross_zone_bytes - earlier.cross_zone_bytes,
            failed_reads: self.failed_reads - earlier.failed_reads,
            failovers: self.failovers - earlier.failovers,
        }
    }

    /// The counters in Prometheus text format, `cluster` as a label.
    pub fn prometheus(&self, cluster: &str) -> String {
        let mut out = String::new();
        for (name, help, values) in [
            (
                "azimuth_client_reads_total",
                "Reads served, by the tier of the source that finished them.",
                &self.reads,
            ),
            (
                "azimuth_client_read_bytes_total",
                "Bytes delivered, by the tier of the source that delivered them.",
                &self.bytes,
            ),
        ] {
            let mut family = prometheus::family(&mut out, name, "counter", help);
            for tier in Tier::ALL {
                let labels = [("cluster", cluster), ("tier", tier.name())];
                family.sample(&labels, values[tier as usize]);
            }
        }
        for (name, help, value) in [
            (
                "azimuth_client_cross_zone_bytes_total",
                "Bytes read from workers of other clusters.",
                self.cross_zone_bytes,
            ),
            (
                "azimuth_client_failed_reads_total",
                "Reads no source could serve.",
                self.failed_reads,
            ),
            (
                "azimuth_client_failovers_total",
                "Times a read went on to another source after a failure.",
                self.failovers,
            ),
        ] {
            prometheus::family(&mut out, name, "counter", help)
                .sample(&[("cluster", cluster)], value);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_tier_and_renders_every_tier_as_a_labelled_counter() {
        let stats = Counters::default();
        stats.served(Tier::RemoteCached, 100);
        stats.crossed_zones(100);
        stats.served(Tier::Ufs, 7);
        stats.failed_over();
        let before = stats.snapshot();
        stats.served(Tier::Ufs, 5);
        let now = stats.snapshot();
        assert_eq!(now.reads_of(Tier::Ufs), 2);
        assert_eq!(now.since(&before).bytes_of(Tier::Ufs), 5);
        assert_eq!(now.total_reads(), 3);
        let text = now.prometheus("a");
        assert!(
            text.contains("azimuth_client_reads_total{cluster=\"a\",tier=\"remote_cached\"} 1")
        );
        assert!(text.contains("azimuth_client_read_bytes_total{cluster=\"a\",tier=\"ufs\"} 12"));
        assert!(text.contains("azimuth_client_cross_zone_bytes_total{cluster=\"a\"} 100"));
        assert!(text.contains("azimuth_client_failovers_total{cluster=\"a\"} 1"));
        assert_eq!(text.matches("# TYPE").count(), 5);
    }
}
