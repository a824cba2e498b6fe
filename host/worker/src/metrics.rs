//! The worker's Prometheus metrics: reads, the UFS, and the page cache.

use std::sync::atomic::Ordering;

use azimuth_cluster::prometheus;

use crate::files::Files;

/// Renders the read and cache counters in Prometheus text format.
pub fn render(files: &Files) -> String {
    let s = &files.stats;
    let cache = files.store().stats();
    let rows: [(&str, &str, &str, u64); 17] = [
        (
            "azimuth_worker_cache_hits_total",
            "counter",
            "Page reads served from the cache.",
            s.hits.load(Ordering::Relaxed),
        ),
        (
            "azimuth_worker_cache_memory_hits_total",
            "counter",
            "Of the cache hits, those served from pages held in memory.",
            s.memory_hits.load(Ordering::Relaxed),
        ),
        (
            "azimuth_worker_cache_misses_total",
            "counter",
            "Page reads that went to the UFS.",
            s.misses.load(Ordering::Relaxed),
        ),
        (
            "azimuth_worker_bytes_served_total",
            "counter",
            "File bytes sent to clients.",
            s.bytes_served.load(Ordering::Relaxed),
        ),
        (
            "azimuth_worker_ufs_bytes_read_total",
            "counter",
            "Bytes read from the UFS.",
            s.ufs_bytes.load(Ordering::Relaxed),
        ),
        (
            "azimuth_worker_ufs_reads_total",
            "counter",
            "Reads made from the UFS (one per page fetched).",
            s.ufs_reads.load(Ordering::Relaxed),
        ),
        (
            "azimuth_worker_ufs_changed_total",
            "counter",
            "Page fetches that found the UFS file changed mid-read (the read stops, never mixing versions).",
            s.ufs_changed.load(Ordering::Relaxed),
        ),
        (
            "azimuth_worker_cache_evictions_total",
            "counter",
            "Pages evicted to stay within capacity.",
            cache.evictions,
        ),
        (
            "azimuth_worker_cache_checksum_failures_total",
            "counter",
            "Cached pages dropped because a checksum failed.",
            cache.checksum_failures,
        ),
        (
            "azimuth_worker_cache_pages_missing_total",
            "counter",
            "Cached pages whose files were gone from disk (fetched again).",
            cache.pages_missing,
        ),
        (
            "azimuth_worker_cache_disk_full_total",
            "counter",
            "Page writes that found the cache's disk full (each evicts and tries once more).",
            cache.disk_full,
        ),
        (
            "azimuth_worker_cache_write_failures_total",
            "counter",
            "Pages served but not cached: their write failed even after evicting.",
            cache.write_failures,
        ),
        (
            "azimuth_worker_cache_used_bytes",
            "gauge",
            "Bytes of cached pages on disk.",
            cache.used_bytes,
        ),
        (
            "azimuth_worker_cache_capacity_bytes",
            "gauge",
            "Configured cache capacity.",
            cache.capacity_bytes,
        ),
        (
            "azimuth_worker_cache_memory_used_bytes",
            "gauge",
            "Bytes of verified pages held in memory.",
            files.memory_used(),
        ),
        (
            "azimuth_worker_cache_pages",
            "gauge",
            "Pages in the cache.",
            cache.pages,
        ),
        (
            "azimuth_worker_page_size_bytes",
            "gauge",
            "Page size.",
            files.page_size(),
        ),
    ];
    let mut out = String::new();
    for (name, kind, help, value) in rows {
        prometheus::family(&mut out, name, kind, help).sample(&[], value);
    }
    out
}
