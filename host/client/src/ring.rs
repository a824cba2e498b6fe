//! Where a file lives within one cluster: a consistent hash ring over the
//! cluster's live workers, the same in every process.
//!
//! The algorithm: each worker id is placed on a 64-bit ring at
//! [`VIRTUAL_NODES`] points, the first 8 bytes (big-endian) of
//! SHA-256(`"<id>#<i>"`) for i in 0..VIRTUAL_NODES. A file's point is the
//! same hash of its UFS path. Its replicas are the first `n` distinct
//! workers met walking clockwise from the file's point (wrapping around).
//!
//! Why this way: the input is only worker ids and paths, so every client and
//! worker computes the same placement from the same membership without
//! talking to each other; SHA-256 is stable across platforms and releases
//! (unlike `std`'s hasher); and a worker joining or leaving only takes or
//! gives back the arcs next to its own points, about 1/N of the files, spread
//! over all the other workers thanks to the virtual nodes.

use sha2::{Digest, Sha256};

/// Points per worker on the ring: enough that files spread within a few
/// percent of evenly over a handful of workers.
pub const VIRTUAL_NODES: u32 = 160;

/// The ring of one cluster.
#[derive(Clone, Debug, Default)]
pub struct HashRing {
    /// (point, index into `workers`), sorted by point.
    points: Vec<(u64, u32)>,
    /// Worker ids, sorted.
    workers: Vec<String>,
}

fn point(text: &str) -> u64 {
    let digest = Sha256::digest(text.as_bytes());
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

impl HashRing {
    /// The ring over `workers` (ids; order and duplicates do not matter).
    pub fn new<'a>(workers: impl IntoIterator<Item = &'a str>) -> Self {
        let mut ids: Vec<String> = workers.into_iter().map(str::to_owned).collect();
        ids.sort();
        ids.dedup();
        let mut points = Vec::with_capacity(ids.len() * VIRTUAL_NODES as usize);
        for (index, id) in ids.iter().enumerate() {
            for v in 0..VIRTUAL_NODES {
                points.push((point(&format!("{id}#{v}")), index as u32));
            }
        }
        // Ties (vanishingly rare) break by worker id, so every process agrees.
        points.sort_unstable();
        Self {
            points,
            workers: ids,
        }
    }

    /// Workers on the ring.
    pub fn len(&self) -> usize {
        self.workers.len()
    }

    /// True if the ring has no worker.
    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }

    /// The `n` workers (fewer if the cluster is smaller) that hold `path`,
    /// primary first.
    pub fn replicas(&self, path: &str, n: usize) -> Vec<&str> {
        self.replicas_at(Self::point_of(path), n)
            .into_iter()
            .map(|index| self.workers[index].as_str())
            .collect()
    }

    /// Where `path` sits on every ring: hashed once, a read asks each
    /// cluster's ring with the same point.
    pub fn point_of(path: &str) -> u64 {
        point(path)
    }

    /// The `n` workers (fewer if the cluster is smaller) that hold the file
    /// at `at` ([`HashRing::point_of`]), primary first, as indices into
    /// [`HashRing::workers`].
    pub fn replicas_at(&self, at: u64, n: usize) -> Vec<usize> {
        let n = n.min(self.workers.len());
        let mut out: Vec<usize> = Vec::with_capacity(n);
        if n == 0 {
            return out;
        }
        let start = self.points.partition_point(|&(p, _)| p < at);
        for &(_, index) in self.points[start..].iter().chain(&self.points[..start]) {
            let index = index as usize;
            if !out.contains(&index) {
                out.push(index);
                if out.len() == n {
                    break;
                }
            }
        }
        out
    }

    /// The ring's worker ids, sorted: what [`HashRing::replicas_at`]'s
    /// indices point into.
    pub fn workers(&self) -> &[String] {
        &self.workers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> Vec<String> {
        (0..10_000).map(|i| format!("/data/part-{i:05}")).collect()
    }

    #[test]
    fn placement_ignores_the_order_workers_are_listed_in() {
        let a = HashRing::new(["w1", "w2", "w3"]);
        let b = HashRing::new(["w3", "w1", "w2", "w1"]);
        for path in paths().iter().take(500) {
            assert_eq!(a.replicas(path, 2), b.replicas(path, 2));
        }
    }

    #[test]
    fn replicas_are_distinct_and_capped_by_the_cluster_size() {
        let ring = HashRing::new(["w1", "w2", "w3"]);
        let r = ring.replicas("/f", 5);
        assert_eq!(r.len(), 3);
        let mut sorted = r.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 3);
        assert!(HashRing::new([]).replicas("/f", 1).is_empty());
    }

    #[test]
    fn a_worker_joining_moves_only_its_share_and_files_spread_evenly() {
        let before = HashRing::new(["w1", "w2", "w3", "w4"]);
        let after = HashRing::new(["w1", "w2", "w3", "w4", "w5"]);
        let mut moved = 0;
        let mut load = std::collections::HashMap::new();
        for path in paths() {
            let (old, new) = (before.replicas(&path, 1)[0], after.replicas(&path, 1)[0]);
            if old != new {
                assert_eq!(new, "w5", "{path} moved between two old workers");
                moved += 1;
            }
            *load.entry(old).or_insert(0) += 1;
        }
        // The newcomer's fair share is 1/5 of the files.
        assert!((1500..2500).contains(&moved), "{moved} of 10000 moved");
        for (worker, files) in load {
            assert!((2000..3000).contains(&files), "{worker} holds {files}");
        }
    }

    #[test]
    fn a_worker_leaving_moves_only_its_own_files() {
        let before = HashRing::new(["w1", "w2", "w3"]);
        let after = HashRing::new(["w1", "w3"]);
        for path in paths().iter().take(2000) {
            let old = before.replicas(path, 1)[0];
            if old != "w2" {
                assert_eq!(after.replicas(path, 1)[0], old, "{path}");
            }
        }
    }
}
