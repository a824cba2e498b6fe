//! Which clusters exist and which etcd each registers in: the topology file
//! (`multi-az-clusters.json`, the seed's format, read verbatim) resolved with
//! the site configuration into a [`Layout`].
//!
//! The file is a JSON array of groups, `{"clusterNames": [...], "endpoints":
//! [...]}`; the clusters of one group register in the etcd at its endpoints.
//! The three deployment patterns are three shapes of this file: one etcd per
//! group, one etcd named by every group, or an external etcd (also named by
//! `alluxio.etcd.endpoints`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::{self, ConfigError};
use crate::membership::keys::check_name;
use crate::membership::{MembershipView, static_list};

/// Why a topology file was refused. Each names the file and the JSON position.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// The file could not be read.
    #[error("cannot read topology file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Not JSON of the expected shape (serde's message carries line and column).
    #[error("topology file {}: {source}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// serde's message.
        #[source]
        source: serde_json::Error,
    },
    /// Well-formed JSON whose content cannot work.
    #[error("topology file {}: {at}: {why}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Where in the JSON (`[1].clusterNames[0]`).
        at: String,
        /// What is wrong there.
        why: String,
    },
    /// The process's own cluster is not in the file.
    #[error("alluxio.cluster.name={cluster:?} is not listed in topology file {} (it lists {listed})", path.display())]
    UnknownCluster {
        /// The file.
        path: PathBuf,
        /// The cluster name.
        cluster: String,
        /// The clusters the file lists.
        listed: String,
    },
}

/// One group of the topology file, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawGroup {
    cluster_names: Vec<String>,
    endpoints: Vec<String>,
}

/// Clusters that register in the same etcd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// The clusters of this group, in file order.
    pub clusters: Vec<String>,
    /// The etcd endpoints, checked to be URLs, without trailing `/`.
    pub endpoints: Vec<String>,
}

/// A checked topology file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its groups, in file order.
    pub groups: Vec<Group>,
}

impl Topology {
    /// Reads and checks the topology file at `path`.
    pub fn load(path: &Path) -> Result<Self, TopologyError> {
        let text = std::fs::read_to_string(path).map_err(|source| TopologyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Checks topology JSON; `path` is used in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, TopologyError> {
        let raw: Vec<RawGroup> =
            serde_json::from_str(text).map_err(|source| TopologyError::Malformed {
                path: path.to_owned(),
                source,
            })?;
        let invalid = |at: String, why: String| TopologyError::Invalid {
            path: path.to_owned(),
            at,
            why,
        };
        if raw.is_empty() {
            return Err(invalid(
                "top level".into(),
                "no groups: the array is empty".into(),
            ));
        }
        let mut seen: BTreeMap<&str, String> = BTreeMap::new();
        let mut groups = Vec::with_capacity(raw.len());
        for (g, group) in raw.iter().enumerate() {
            if group.cluster_names.is_empty() {
                return Err(invalid(
                    format!("[{g}].clusterNames"),
                    "a group needs at least one cluster".into(),
                ));
            }
            for (c, name) in group.cluster_names.iter().enumerate() {
                let at = format!("[{g}].clusterNames[{c}]");
                check_name(name).map_err(|why| invalid(at.clone(), format!("{name:?}: {why}")))?;
                if let Some(first) = seen.insert(name, at.clone()) {
                    return Err(invalid(
                        at,
                        format!("cluster {name:?} is listed twice (first at {first})"),
                    ));
                }
            }
            if group.endpoints.is_empty() {
                return Err(invalid(
                    format!("[{g}].endpoints"),
                    "a group needs at least one etcd endpoint".into(),
                ));
            }
            let endpoints = group
                .endpoints
                .iter()
                .enumerate()
                .map(|(e, url)| {
                    config::values::parse_endpoint(url).map_err(|why| {
                        invalid(format!("[{g}].endpoints[{e}]"), format!("{url:?}: {why}"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            groups.push(Group {
                clusters: group.cluster_names.clone(),
                endpoints,
            });
        }
        Ok(Self {
            path: path.to_owned(),
            groups,
        })
    }

    /// The group that lists `cluster`.
    pub fn group_of(&self, cluster: &str) -> Option<&Group> {
        self.groups
            .iter()
            .find(|g| g.clusters.iter().any(|c| c == cluster))
    }
}

/// What a process's configuration says about membership, before it is
/// resolved into a [`Layout`] (see `config::validate`).
#[derive(Clone, Copy, Debug)]
pub struct MembershipSource<'a> {
    /// The static worker list, with STATIC membership.
    pub static_list: Option<&'a Path>,
    /// `alluxio.cluster.name`.
    pub cluster: Option<&'a str>,
    /// `alluxio.multi.cluster.enabled`.
    pub multi_cluster: bool,
    /// `alluxio.multi.cluster.config.path`.
    pub topology: Option<&'a Path>,
    /// `alluxio.etcd.endpoints`, checked.
    pub etcd_endpoints: &'a [String],
}

/// What a process watches and where it registers, resolved from the config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Workers found through etcd: every group this process sees.
    Etcd {
        /// The groups to watch (all of the topology with multi-cluster on,
        /// else just this cluster's).
        groups: Vec<Group>,
        /// This process's cluster, if it has one.
        own_cluster: Option<String>,
    },
    /// A fixed list of workers; no etcd.
    Static {
        /// The process's own cluster.
        cluster: String,
        /// The workers the list names (with multi-cluster, of every cluster
        /// it lists; else of this one).
        view: MembershipView,
    },
}

impl Layout {
    /// Resolves the layout, reading the topology file or the static list.
    pub fn resolve(source: MembershipSource<'_>) -> Result<Self, ConfigError> {
        if let Some(file) = source.static_list {
            let cluster = source.cluster.unwrap_or("static").to_owned();
            let view = static_list::load(file, &cluster, source.multi_cluster)?;
            return Ok(Layout::Static { cluster, view });
        }
        if source.multi_cluster && source.topology.is_none() {
            return Err(ConfigError::Missing {
                key: config::MULTI_CLUSTER_CONFIG_PATH,
                why: format!(
                    "{}=true needs the topology file (multi-az-clusters.json), \
                     or a STATIC worker list with [cluster] sections",
                    config::MULTI_CLUSTER_ENABLED
                ),
            });
        }
        let topology = source.topology.map(Topology::load).transpose()?;
        let own = source.cluster.map(str::to_owned);
        let endpoints = source.etcd_endpoints;
        if let (Some(topology), Some(cluster)) = (&topology, &own)
            && topology.group_of(cluster).is_none()
            && (source.multi_cluster || endpoints.is_empty())
        {
            return Err(TopologyError::UnknownCluster {
                path: topology.path.clone(),
                cluster: cluster.clone(),
                listed: topology
                    .groups
                    .iter()
                    .flat_map(|g| g.clusters.iter().map(String::as_str))
                    .collect::<Vec<_>>()
                    .join(", "),
            }
            .into());
        }
        let groups = match (&topology, source.multi_cluster) {
            (Some(topology), true) => {
                if let Some(cluster) = &own
                    && !endpoints.is_empty()
                    && topology
                        .group_of(cluster)
                        .is_some_and(|g| g.endpoints != endpoints)
                {
                    tracing::warn!(
                        cluster,
                        "{} differs from this cluster's endpoints in {}; using the topology file",
                        config::ETCD_ENDPOINTS,
                        topology.path.display()
                    );
                }
                topology.groups.clone()
            }
            _ => {
                let cluster = own.clone().ok_or(ConfigError::Missing {
                    key: config::CLUSTER_NAME,
                    why: format!(
                        "without {}=true a process sees only its own cluster, so it must name it \
                         (a worker's or client's --cluster)",
                        config::MULTI_CLUSTER_ENABLED
                    ),
                })?;
                let endpoints = if !endpoints.is_empty() {
                    endpoints.to_vec()
                } else if let Some(group) = topology.as_ref().and_then(|t| t.group_of(&cluster)) {
                    group.endpoints.clone()
                } else {
                    return Err(ConfigError::Missing {
                        key: config::ETCD_ENDPOINTS,
                        why: format!(
                            "cluster {cluster:?} needs its etcd (or set {}=STATIC for a fixed worker list)",
                            config::MEMBERSHIP_TYPE
                        ),
                    });
                };
                vec![Group {
                    clusters: vec![cluster],
                    endpoints,
                }]
            }
        };
        Ok(Layout::Etcd {
            groups,
            own_cluster: own,
        })
    }

    /// The etcd endpoints this process's own cluster registers in.
    pub fn own_endpoints(&self) -> Option<&[String]> {
        match self {
            Layout::Etcd {
                groups,
                own_cluster: Some(own),
            } => groups
                .iter()
                .find(|g| g.clusters.contains(own))
                .map(|g| g.endpoints.as_slice()),
            _ => None,
        }
    }

    /// The distinct etcds of the layout (groups naming the same endpoints
    /// are one etcd), each with the clusters it serves; empty for STATIC.
    pub fn etcds(&self) -> Vec<Group> {
        let Layout::Etcd { groups, .. } = self else {
            return Vec::new();
        };
        let mut etcds: Vec<Group> = Vec::new();
        for group in groups {
            match etcds.iter_mut().find(|e| e.endpoints == group.endpoints) {
                Some(etcd) => etcd.clusters.extend(group.clusters.iter().cloned()),
                None => etcds.push(group.clone()),
            }
        }
        etcds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Topology, String> {
        Topology::parse(text, Path::new("multi-az-clusters.json")).map_err(|e| e.to_string())
    }

    #[test]
    fn the_seed_example_is_read_verbatim() {
        let t = parse(
            r#"[
{"clusterNames": ["alx-ns-alluxio-a"], "endpoints": ["http://alluxio-a-etcd.alx-ns:2379"]},
{"clusterNames": ["alx-ns-alluxio-b"], "endpoints": ["http://alluxio-b-etcd.alx-ns:2379"]},
{"clusterNames": ["alx-ns-2-alluxio-c"], "endpoints": ["http://alluxio-c-etcd.alx-ns-2:2379"]}
]"#,
        )
        .unwrap();
        assert_eq!(t.groups.len(), 3);
        assert_eq!(
            t.group_of("alx-ns-alluxio-b").unwrap().endpoints,
            ["http://alluxio-b-etcd.alx-ns:2379"]
        );
    }

    #[test]
    fn malformed_json_names_line_and_column() {
        let err = parse("[\n{\"clusterNames\": [\"a\"],\n \"endpoints\": [\"http://e:1\"]\n")
            .unwrap_err();
        assert!(
            err.starts_with("topology file multi-az-clusters.json: EOF while parsing"),
            "{err}"
        );
        assert!(err.contains("line 4"), "{err}");
    }

    #[test]
    fn a_cluster_listed_twice_is_refused_with_both_positions() {
        let err = parse(
            r#"[{"clusterNames": ["a"], "endpoints": ["http://e:1"]},
                {"clusterNames": ["b", "a"], "endpoints": ["http://e:1"]}]"#,
        )
        .unwrap_err();
        assert_eq!(
            err,
            "topology file multi-az-clusters.json: [1].clusterNames[1]: cluster \"a\" is listed twice (first at [0].clusterNames[0])"
        );
    }

    #[test]
    fn a_group_without_endpoints_or_with_a_bad_url_is_refused() {
        let err = parse(r#"[{"clusterNames": ["a"], "endpoints": []}]"#).unwrap_err();
        assert!(
            err.ends_with("[0].endpoints: a group needs at least one etcd endpoint"),
            "{err}"
        );
        let err = parse(r#"[{"clusterNames": ["a"], "endpoints": ["etcd-a:2379"]}]"#).unwrap_err();
        assert!(
            err.contains("[0].endpoints[0]: \"etcd-a:2379\": expected a URL"),
            "{err}"
        );
    }

    #[test]
    fn misspelt_fields_are_refused() {
        let err = parse(r#"[{"clusterNames": ["a"], "endpoint": ["http://e:1"]}]"#).unwrap_err();
        assert!(err.contains("unknown field `endpoint`"), "{err}");
    }
}
