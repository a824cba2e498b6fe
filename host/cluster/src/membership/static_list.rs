//! STATIC membership: a fixed list of workers in a file, for single-machine
//! use with no etcd (`alluxio.worker.membership.manager.type=STATIC`).
//!
//! One worker per line, `host:port` or `id host:port`; `#` starts a comment.
//! Without an id, the address is the id. Workers belong to the process's own
//! cluster, or, after a `[cluster-name]` line, to that cluster: one file can
//! list several clusters (zones) on one machine, as `azimuth demo` does
//! without etcd. Other clusters are seen only with
//! `alluxio.multi.cluster.enabled=true`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::keys::{check_name, worker_key};
use super::record::{Ports, WorkerRecord};
use super::view::{GroupStatus, GroupView, MembershipView};

/// Why a static workers file was refused.
#[derive(Debug, thiserror::Error)]
pub enum StaticListError {
    /// The file could not be read.
    #[error("cannot read static workers file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line that is not `[id ]host:port`.
    #[error("static workers file {}:{line}: {text:?}: {why}", path.display())]
    Line {
        /// The file.
        path: PathBuf,
        /// The line number.
        line: usize,
        /// The line as written.
        text: String,
        /// What is wrong with it.
        why: String,
    },
}

/// Reads the workers file into a one-group view: `cluster`'s workers, and
/// with `multi_cluster` those of every other cluster the file lists.
pub fn load(
    path: &Path,
    own_cluster: &str,
    multi_cluster: bool,
) -> Result<MembershipView, StaticListError> {
    let text = std::fs::read_to_string(path).map_err(|source| StaticListError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut workers = BTreeMap::new();
    let mut clusters = vec![own_cluster.to_owned()];
    let mut cluster = own_cluster.to_owned();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let bad = |why: String| StaticListError::Line {
            path: path.to_owned(),
            line: index + 1,
            text: raw.to_owned(),
            why,
        };
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            check_name(name).map_err(|why| bad(format!("cluster name {name:?}: {why}")))?;
            if !clusters.iter().any(|c| c == name) {
                clusters.push(name.to_owned());
            }
            cluster = name.to_owned();
            continue;
        }
        if !multi_cluster && cluster != own_cluster {
            continue;
        }
        let mut fields = line.split_whitespace();
        let (id, address) = match (fields.next(), fields.next(), fields.next()) {
            (Some(address), None, _) => (address.replace([':', '[', ']'], "_"), address),
            (Some(id), Some(address), None) => (id.to_owned(), address),
            _ => return Err(bad("expected host:port or id host:port".into())),
        };
        check_name(&id).map_err(|why| bad(format!("worker id {id:?}: {why}")))?;
        let (host, port) = address
            .rsplit_once(':')
            .ok_or_else(|| bad("missing :port".into()))?;
        let port: u16 = port
            .parse()
            .map_err(|_| bad(format!("port {port:?} is not a number up to 65535")))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let record = WorkerRecord {
            id: id.clone(),
            cluster: cluster.clone(),
            zone: cluster.clone(),
            host,
            ports: Ports { http: port },
            capacity_bytes: 0,
            used_bytes: 0,
            start_time_ms: 0,
            version: String::new(),
            policy_sha256: None,
        };
        if workers.insert(worker_key(&cluster, &id), record).is_some() {
            return Err(bad(format!("worker {id:?} is listed twice")));
        }
    }
    Ok(MembershipView {
        groups: vec![GroupView {
            clusters: if multi_cluster {
                clusters
            } else {
                vec![own_cluster.to_owned()]
            },
            endpoints: Vec::new(),
            status: GroupStatus::Static,
            workers,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_workers_by_address_or_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("workers");
        std::fs::write(
            &path,
            "# local workers\n127.0.0.1:29999\nw2 127.0.0.1:30000  # second\n",
        )
        .unwrap();
        let view = load(&path, "local", false).unwrap();
        let ids: Vec<_> = view
            .workers()
            .map(|w| (w.id.as_str(), w.http_address()))
            .collect();
        assert_eq!(
            ids,
            [
                ("127.0.0.1_29999", "127.0.0.1:29999".to_owned()),
                ("w2", "127.0.0.1:30000".to_owned())
            ]
        );
    }

    #[test]
    fn sections_list_other_clusters_seen_only_with_multi_cluster() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("workers");
        std::fs::write(
            &path,
            "a1 127.0.0.1:1\n[zone-b]\nb1 127.0.0.1:2\n[zone-a]\na2 127.0.0.1:3\n",
        )
        .unwrap();
        let all = load(&path, "zone-a", true).unwrap();
        assert_eq!(all.groups[0].clusters, ["zone-a", "zone-b"]);
        let placed: Vec<_> = all
            .workers()
            .map(|w| format!("{}/{}", w.cluster, w.id))
            .collect();
        assert_eq!(placed, ["zone-a/a1", "zone-a/a2", "zone-b/b1"]);
        let own = load(&path, "zone-a", false).unwrap();
        assert_eq!(own.groups[0].clusters, ["zone-a"]);
        assert_eq!(own.workers().count(), 2);
        std::fs::write(&path, "[bad name]\n").unwrap();
        let err = load(&path, "zone-a", true).unwrap_err().to_string();
        assert!(
            err.contains("workers:1: \"[bad name]\": cluster name"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("workers");
        std::fs::write(&path, "127.0.0.1:1\nlocalhost\n").unwrap();
        let err = load(&path, "local", false).unwrap_err().to_string();
        assert!(
            err.ends_with("workers:2: \"localhost\": missing :port"),
            "{err}"
        );
    }
}
