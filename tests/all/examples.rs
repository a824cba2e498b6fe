//! The deployment examples, checked offline: each etcd pattern's topology
//! and site files, and the Kubernetes manifests (parsed, and their pieces
//! checked against each other and against Azimuth's own validation).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use azimuth_cluster::config::{self, SiteConfig, properties};
use azimuth_cluster::topology::Topology;
use yaml_rust2::{Yaml, YamlLoader};

use crate::support::repo;

const PATTERNS: [&str; 3] = ["1-etcd-per-cluster", "2-shared-etcd", "3-external-etcd"];

/// A site file's key as written (before validation resolves it).
fn raw_value(text: &str, key: &str) -> Option<String> {
    properties::parse(text, Path::new("alluxio-site.properties"))
        .unwrap()
        .remove(key)
        .map(|entry| entry.value)
}

/// Validates a site file's text as a worker would where `topology` is
/// mounted at the path the site file names: the text is written to `dir`,
/// the topology beside it, and the topology key pointed there.
fn site(dir: &Path, text: &str, topology: &str) -> SiteConfig {
    let path = dir.join("alluxio-site.properties");
    std::fs::write(&path, text).unwrap();
    let mounted = dir.join("multi-az-clusters.json");
    std::fs::write(&mounted, topology).unwrap();
    SiteConfig::load(Some(&path), |raw| {
        raw.set_flag(
            "(the multi-cluster ConfigMap, mounted)",
            config::MULTI_CLUSTER_CONFIG_PATH,
            Some(mounted.display().to_string()),
        )
    })
    .unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Every etcd endpoint of a topology, as `host` (service.namespace).
fn endpoint_hosts(topology: &Topology) -> BTreeSet<String> {
    topology
        .groups
        .iter()
        .flat_map(|g| &g.endpoints)
        .map(|e| {
            let rest = e.strip_prefix("http://").expect("http endpoint");
            rest.split(':').next().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn each_etcd_pattern_example_is_a_valid_topology_and_site_file() {
    for pattern in PATTERNS {
        let base = repo().join("examples/etcd-patterns").join(pattern);
        let topology = Topology::load(&base.join("multi-az-clusters.json")).unwrap();
        assert_eq!(topology.groups.len(), 3, "{pattern}");
        let hosts = endpoint_hosts(&topology);
        assert_eq!(
            hosts.len(),
            if pattern.starts_with('1') { 3 } else { 1 },
            "{pattern}"
        );
        let site_file = base.join("alluxio-site.properties");
        let config =
            SiteConfig::load(Some(&site_file), |_| {}).unwrap_or_else(|e| panic!("{pattern}: {e}"));
        assert!(config.multi_cluster);
        assert!(
            topology
                .group_of(config.cluster_name.as_deref().unwrap())
                .is_some()
        );
        // Only the external pattern names etcd in the site file too.
        let text = std::fs::read_to_string(&site_file).unwrap();
        assert_eq!(
            raw_value(&text, config::ETCD_ENDPOINTS).is_some(),
            pattern.starts_with('3'),
            "{pattern}"
        );
    }
}

#[test]
fn kubernetes_manifests_parse_and_fit_together_for_each_etcd_pattern() {
    let dir = tempfile::tempdir().unwrap();
    for pattern in PATTERNS {
        let file = repo().join(format!("examples/kubernetes/{pattern}.yaml"));
        let docs = YamlLoader::load_from_str(&std::fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let name = |d: &Yaml| d["metadata"]["name"].as_str().unwrap().to_owned();
        let namespace = |d: &Yaml| d["metadata"]["namespace"].as_str().unwrap_or("").to_owned();
        let mut services = BTreeSet::new();
        let mut config_maps = BTreeMap::new();
        let mut topologies = Vec::new();
        for doc in &docs {
            let kind = doc["kind"]
                .as_str()
                .unwrap_or_else(|| panic!("{pattern}: no kind"));
            assert!(
                doc["apiVersion"].as_str().is_some(),
                "{pattern}: {kind} has no apiVersion"
            );
            assert!(!name(doc).is_empty());
            if kind != "Namespace" {
                assert!(
                    !namespace(doc).is_empty(),
                    "{pattern}: {kind} {} has no namespace",
                    name(doc)
                );
            }
            match kind {
                "Service" => {
                    services.insert(format!("{}.{}", name(doc), namespace(doc)));
                }
                "ConfigMap" => {
                    if let Some(json) = doc["data"]["multi-az-clusters.json"].as_str() {
                        assert_eq!(name(doc), "multi-cluster");
                        topologies.push(Topology::parse(json, &file).unwrap());
                    }
                    config_maps.insert((namespace(doc), name(doc)), doc.clone());
                }
                _ => {}
            }
        }
        // Every namespace with workers has the same topology ConfigMap.
        assert!(topologies.len() >= 2 && topologies.windows(2).all(|w| w[0].groups == w[1].groups));
        let topology = &topologies[0];
        for host in endpoint_hosts(topology) {
            let external = host.starts_with("external-etcd");
            assert_eq!(
                services.contains(&host),
                !external,
                "{pattern}: etcd endpoint {host} should {} a Service here",
                if external { "not be" } else { "be" }
            );
        }

        let mut zones = BTreeSet::new();
        let mut clusters = BTreeSet::new();
        for worker in docs
            .iter()
            .filter(|d| d["kind"].as_str() == Some("StatefulSet") && name(d).ends_with("-worker"))
        {
            let spec = &worker["spec"]["template"]["spec"];
            let zone = spec["nodeSelector"]["topology.kubernetes.io/zone"]
                .as_str()
                .unwrap();
            assert!(
                zones.insert(zone.to_owned()),
                "{pattern}: two clusters in zone {zone}"
            );
            let container = &spec["containers"][0];
            let args: Vec<&str> = container["args"]
                .as_vec()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            assert!(
                args.contains(&"worker") && args.contains(&"--conf"),
                "{args:?}"
            );
            let mounts: BTreeMap<&str, &str> = container["volumeMounts"]
                .as_vec()
                .unwrap()
                .iter()
                .map(|m| {
                    (
                        m["name"].as_str().unwrap(),
                        m["mountPath"].as_str().unwrap(),
                    )
                })
                .collect();
            assert_eq!(mounts.get("multi-cluster"), Some(&"/multi-az"), "{pattern}");
            let conf_dir = Path::new(args[args.iter().position(|a| *a == "--conf").unwrap() + 1])
                .parent()
                .unwrap()
                .to_str()
                .unwrap();
            let volumes = spec["volumes"].as_vec().unwrap();
            let volume = |v: &str| {
                volumes
                    .iter()
                    .find(|x| x["name"].as_str() == Some(v))
                    .unwrap()
            };
            assert_eq!(
                volume("multi-cluster")["configMap"]["name"].as_str(),
                Some("multi-cluster")
            );
            let site_volume = mounts
                .iter()
                .find(|(_, p)| **p == conf_dir)
                .expect("site mounted")
                .0;
            let map_name = volume(site_volume)["configMap"]["name"].as_str().unwrap();
            let map = &config_maps[&(namespace(worker), map_name.to_owned())];
            let text = map["data"]["alluxio-site.properties"].as_str().unwrap();
            assert_eq!(
                raw_value(text, config::MULTI_CLUSTER_CONFIG_PATH).as_deref(),
                Some("/multi-az/multi-az-clusters.json"),
                "{pattern}: the site file must name the mounted topology"
            );
            let mounted = config_maps[&(namespace(worker), "multi-cluster".to_owned())]["data"]
                ["multi-az-clusters.json"]
                .as_str()
                .unwrap();
            let config = site(dir.path(), text, mounted);
            let cluster = config.cluster_name.clone().unwrap();
            assert!(
                topology.group_of(&cluster).is_some(),
                "{pattern}: {cluster} not in the topology"
            );
            assert!(config_maps.contains_key(&(namespace(worker), "multi-cluster".to_owned())));
            clusters.insert(cluster);
        }
        assert_eq!(clusters.len(), 3, "{pattern}: three clusters, one per zone");
    }
}
