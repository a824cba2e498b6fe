//! Bad configuration is refused before anything starts, with an error that
//! names the file, the key or JSON position, and what is wrong.

use std::process::Command;

use crate::processes::Site;
use crate::support::show;

/// Runs `azimuth worker` with a site file (through AZIMUTH_CONF, as in a
/// container) and a topology file; returns (exit code, stdout, stderr).
fn worker_with(
    site_text: &str,
    topology: Option<&str>,
    flags: &[&str],
) -> (Option<i32>, String, String, Site) {
    let site = Site::new();
    if let Some(json) = topology {
        site.write("multi-az-clusters.json", json);
    }
    let conf = site.write("alluxio-site.properties", site_text);
    let out = Command::new(env!("CARGO_BIN_EXE_azimuth"))
        .args(["worker", "--listen", "127.0.0.1:0"])
        .args(flags)
        .env("AZIMUTH_CONF", &conf)
        .current_dir(site.dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.stdout.is_empty(),
        "nothing may start on a bad config: {}",
        show(&out)
    );
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
        site,
    )
}

const MULTI: &str = "alluxio.cluster.name=a\nalluxio.multi.cluster.enabled=true\n\
                     alluxio.multi.cluster.config.path=multi-az-clusters.json\n";

#[test]
fn every_bad_config_gets_an_error_naming_where_and_what() {
    let cases: &[(&str, &str, Option<&str>, &str)] = &[
        (
            "malformed JSON",
            MULTI,
            Some("[{\"clusterNames\": [\"a\"],\n \"endpoints\": [\"http://127.0.0.1:1\"]"),
            "multi-az-clusters.json: EOF while parsing an object at line 2 column 36",
        ),
        (
            "a cluster listed twice",
            MULTI,
            Some(
                r#"[{"clusterNames": ["a"], "endpoints": ["http://127.0.0.1:1"]},
                     {"clusterNames": ["a"], "endpoints": ["http://127.0.0.1:2"]}]"#,
            ),
            "multi-az-clusters.json: [1].clusterNames[0]: cluster \"a\" is listed twice (first at [0].clusterNames[0])",
        ),
        (
            "a group with no endpoints",
            MULTI,
            Some(r#"[{"clusterNames": ["a"], "endpoints": []}]"#),
            "multi-az-clusters.json: [0].endpoints: a group needs at least one etcd endpoint",
        ),
        (
            "an endpoint that is not a URL",
            MULTI,
            Some(r#"[{"clusterNames": ["a"], "endpoints": ["etcd-a.alx-ns:2379"]}]"#),
            "multi-az-clusters.json: [0].endpoints[0]: \"etcd-a.alx-ns:2379\": expected a URL such as http://etcd.example:2379 (missing http:// or https://)",
        ),
        (
            "the cluster name missing from the topology",
            MULTI,
            Some(r#"[{"clusterNames": ["b", "c"], "endpoints": ["http://127.0.0.1:1"]}]"#),
            "alluxio.cluster.name=\"a\" is not listed in topology file",
        ),
        (
            "an unknown azimuth key",
            "alluxio.cluster.name=a\nalluxio.etcd.endpoints=http://127.0.0.1:1\nazimuth.worker.lissen=0.0.0.0:1\n",
            None,
            "alluxio-site.properties:3: unknown key azimuth.worker.lissen (did you mean azimuth.worker.listen?)",
        ),
        (
            "a value of the wrong type",
            "alluxio.cluster.name=a\nalluxio.etcd.endpoints=http://127.0.0.1:1\n\
             alluxio.worker.failure.detection.timeout=soon\n",
            None,
            "alluxio-site.properties:3: alluxio.worker.failure.detection.timeout=\"soon\": expected a duration such as 500ms, 5s or 2min",
        ),
        (
            "an etcd endpoint in the site file that is not a URL",
            "alluxio.cluster.name=a\nalluxio.etcd.endpoints=127.0.0.1:2379\n",
            None,
            "alluxio-site.properties:2: alluxio.etcd.endpoints=\"127.0.0.1:2379\": expected a URL",
        ),
        (
            "STATIC membership without its file",
            "alluxio.cluster.name=a\nalluxio.worker.membership.manager.type=STATIC\n",
            None,
            "alluxio.worker.static.membership.manager.config.file is not set: alluxio.worker.membership.manager.type=STATIC needs the file listing the workers",
        ),
        (
            "no etcd for this cluster",
            "alluxio.cluster.name=a\n",
            None,
            "alluxio.etcd.endpoints is not set: cluster \"a\" needs its etcd",
        ),
        (
            "a worker without a cluster",
            "alluxio.etcd.endpoints=http://127.0.0.1:1\n",
            None,
            "alluxio.cluster.name is not set: without alluxio.multi.cluster.enabled=true a process \
             sees only its own cluster, so it must name it (a worker's or client's --cluster)",
        ),
        (
            "a multi-cluster worker without a cluster",
            "alluxio.multi.cluster.enabled=true\n\
             alluxio.multi.cluster.config.path=multi-az-clusters.json\n",
            Some(r#"[{"clusterNames": ["a"], "endpoints": ["http://127.0.0.1:1"]}]"#),
            "alluxio.cluster.name is not set: a worker must know the cluster it registers in (--cluster)",
        ),
        (
            "a UFS that is not a directory",
            "alluxio.cluster.name=a\nalluxio.etcd.endpoints=http://127.0.0.1:1\n\
             alluxio.dora.client.ufs.root=/no/such/ufs\n",
            None,
            "alluxio-site.properties:3: alluxio.dora.client.ufs.root: UFS \"/no/such/ufs\": no such directory",
        ),
    ];
    for (what, site_text, topology, expected) in cases {
        let (code, _, stderr, _site) = worker_with(site_text, *topology, &[]);
        assert_eq!(code, Some(1), "{what}: exit status; stderr: {stderr}");
        assert!(
            stderr.contains(expected),
            "{what}: expected {expected:?} in:\n{stderr}"
        );
    }
}

#[test]
fn a_flag_overrides_the_site_file_and_is_named_when_wrong() {
    let (code, _, stderr, _site) = worker_with(
        "alluxio.cluster.name=a\nalluxio.etcd.endpoints=http://127.0.0.1:1\n",
        None,
        &["--cluster", "a/../b"],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "command line --cluster: alluxio.cluster.name=\"a/../b\": '/' is not allowed"
        ),
        "{stderr}"
    );
}

#[test]
fn the_readme_documents_every_configuration_key() {
    let readme = std::fs::read_to_string(crate::support::repo().join("README.md")).unwrap();
    for (key, _, _) in azimuth_cluster::config::KEYS {
        assert!(
            readme.contains(&format!("`{key}`")),
            "README.md does not document {key}"
        );
    }
}

#[test]
fn the_multi_az_example_site_resolves_to_three_groups() {
    let conf = crate::support::repo().join("examples/multi-az/alluxio-site.properties");
    let config = azimuth_cluster::config::SiteConfig::load(Some(&conf), |_| {}).unwrap();
    let azimuth_cluster::topology::Layout::Etcd {
        groups,
        own_cluster,
    } = &config.layout
    else {
        panic!("the example uses etcd")
    };
    assert_eq!(own_cluster.as_deref(), Some("alx-ns-alluxio-a"));
    assert_eq!(groups.len(), 3);
    assert_eq!(config.policy.name.as_deref(), Some("routing"));
}
