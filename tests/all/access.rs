//! Access between the project's processes: with `azimuth.security.token.file`
//! set, workers refuse every route that reads data or changes state to a
//! request without the cluster token (401) or with another (403), serve the
//! open routes to anyone, and every client of the project — the read path,
//! `azimuth load`, `info nodes` — sends the token and reads on as before.

use std::path::PathBuf;

use reqwest::blocking::Client as Http;
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};

use crate::processes::{Site, Worker};
use crate::support::{refused_worker_start, show};
use crate::zones::{CLUSTERS, Zones, served_by_cluster};

const TOKEN: &str = "7f3c9e0a5b41d2866c0e4f9a1b3d5e7f";

/// A token file outside the zones' site, kept while `dir` lives.
fn token_file(dir: &tempfile::TempDir, token: &str) -> PathBuf {
    let path = dir.path().join("cluster.token");
    std::fs::write(&path, format!("{token}\n")).unwrap();
    path
}

fn status(request: reqwest::blocking::RequestBuilder) -> u16 {
    request.send().unwrap().status().as_u16()
}

#[test]
fn workers_refuse_data_and_state_routes_without_the_cluster_token_and_clients_send_it() {
    let dir = tempfile::tempdir().unwrap();
    let token = token_file(&dir, TOKEN);
    let lines = format!("azimuth.security.token.file={}\n", token.display());
    let zones = Zones::start_over(None, &lines);
    let data = zones.file("guarded.bin", 300_000);
    let worker = zones.address_of("a1");
    let http = Http::new();
    let bearer = format!("Bearer {TOKEN}");

    // Every route that reads data or changes state, without and with a
    // wrong token: nothing served, nothing changed.
    let routes = [
        ("GET", format!("http://{worker}/files/guarded.bin")),
        ("GET", format!("http://{worker}/status/guarded.bin")),
        ("POST", format!("http://{worker}/load/guarded.bin")),
        ("DELETE", format!("http://{worker}/cache/guarded.bin")),
    ];
    for (method, url) in &routes {
        let request = || http.request(method.parse().unwrap(), url);
        let missing = request().send().unwrap();
        assert_eq!(
            missing.status().as_u16(),
            401,
            "{method} {url} without a token"
        );
        assert!(missing.headers().contains_key(WWW_AUTHENTICATE));
        let body = missing.text().unwrap();
        assert!(body.contains("azimuth.security.token.file"), "{body}");
        let wrong = request()
            .header(AUTHORIZATION, "Bearer 00000000000000000000000000000000")
            .send()
            .unwrap();
        assert_eq!(
            wrong.status().as_u16(),
            403,
            "{method} {url} with a wrong token"
        );
        assert!(!wrong.text().unwrap().contains(TOKEN));
        let basic = request().header(AUTHORIZATION, format!("Basic {TOKEN}"));
        assert_eq!(status(basic), 401, "{method} {url} with another scheme");
    }
    let cached = |worker: &str| -> u64 {
        let status: azimuth_cluster::api::FileStatus = http
            .get(format!("http://{worker}/status/guarded.bin"))
            .header(AUTHORIZATION, format!("Bearer {TOKEN}"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        status.cached_bytes
    };
    assert_eq!(cached(&worker), 0, "a refused load cached nothing");
    // The open routes answer anyone; the refusals are counted.
    assert_eq!(status(http.get(format!("http://{worker}/healthz"))), 200);
    let metrics = http
        .get(format!("http://{worker}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("azimuth_worker_requests_refused_total{reason=\"missing\"} 8"),
        "{metrics}"
    );
    assert!(
        metrics.contains("azimuth_worker_requests_refused_total{reason=\"wrong\"} 4"),
        "{metrics}"
    );
    // With the token, the worker serves.
    let served = http
        .get(format!("http://{worker}/files/guarded.bin"))
        .header(AUTHORIZATION, &bearer)
        .send()
        .unwrap();
    assert_eq!(served.status().as_u16(), 200);
    assert_eq!(served.bytes().unwrap().as_ref(), &data[..]);

    // The read path sends the token: a read is served by the local zone's
    // workers, not by the UFS behind them.
    let client = zones.client("with-token", &lines);
    let (read, explain) = zones.read(&client, "guarded.bin", 0, None);
    assert_eq!(read.unwrap(), data);
    assert_eq!(served_by_cluster(&explain), CLUSTERS[0], "{explain}");

    // A client without the token is refused by every worker; with UFS
    // fallback off, the read fails and says why.
    let stranger = zones.client(
        "without-token",
        "alluxio.dora.client.ufs.fallback.enabled=false\n",
    );
    let (read, explain) = zones.read(&stranger, "guarded.bin", 0, None);
    let error = read.unwrap_err();
    assert!(
        explain.attempts.iter().all(|a| a.outcome.contains("401")),
        "{error}\n{explain}"
    );

    // `azimuth load` and `info nodes` send it too.
    let conf = zones.client_conf("cli", &lines);
    let conf = conf.display().to_string();
    let out = crate::support::azimuth(&["--conf", &conf, "load", "guarded.bin"]);
    assert!(out.status.success(), "{}", show(&out));
    let a2 = zones.address_of("a2");
    assert_eq!(
        cached(&worker).max(cached(&a2)),
        data.len() as u64,
        "the load cached the file in zone a"
    );
    let out = crate::support::azimuth(&["--conf", &conf, "info", "nodes"]);
    assert!(out.status.success(), "{}", show(&out));
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains("a1") && listed.contains("c2"), "{listed}");
    for output in [&out.stdout, &out.stderr] {
        assert!(!String::from_utf8_lossy(output).contains(TOKEN));
    }
}

#[test]
fn with_no_open_routes_even_health_and_metrics_need_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let token = token_file(&dir, TOKEN);
    let site = Site::new();
    let conf = site.lone_cluster(&format!(
        "azimuth.security.token.file={}\nazimuth.security.open.routes=\n",
        token.display()
    ));
    let worker = Worker::start(&conf, "w1", &[]);
    let http = Http::new();
    for route in ["healthz", "metrics"] {
        let url = format!("http://{}/{route}", worker.address);
        assert_eq!(status(http.get(&url)), 401, "{url}");
        let with = http
            .get(&url)
            .header(AUTHORIZATION, format!("Bearer {TOKEN}"));
        assert_eq!(status(with), 200, "{url}");
    }
}

#[test]
fn a_worker_refuses_to_start_with_an_unusable_token_file_naming_the_file_not_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site::new();
    let weak = token_file(&dir, "hunter2-secret");
    let err = refused_worker_start(
        site.dir.path(),
        &site.lone_cluster(&format!("azimuth.security.token.file={}\n", weak.display())),
    );
    assert!(err.contains(&weak.display().to_string()), "{err}");
    assert!(err.contains("at least 16"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");

    let absent = dir.path().join("no-such.token");
    let err = refused_worker_start(
        site.dir.path(),
        &site.lone_cluster(&format!(
            "azimuth.security.token.file={}\n",
            absent.display()
        )),
    );
    assert!(
        err.contains("no-such.token") && err.contains("azimuth.security.token.file"),
        "{err}"
    );

    let err = refused_worker_start(
        site.dir.path(),
        &site.lone_cluster("azimuth.security.open.routes=/healthz,/files\n"),
    );
    assert!(err.contains("\"/files\" cannot be opened"), "{err}");
}

const ROOT_PASSWORD: &str = "etcd-root-pw-5d1c";

#[test]
fn etcd_with_auth_admits_the_configured_user_and_a_wrong_password_stops_a_process_at_once() {
    let etcd = crate::processes::Etcd::start("auth");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut admin = etcd_client::Client::connect([etcd.url.as_str()], None)
            .await
            .unwrap();
        let _ = admin.role_add("root").await; // present already in some versions
        admin.user_add("root", ROOT_PASSWORD, None).await.unwrap();
        admin.user_grant_role("root", "root").await.unwrap();
        admin.auth_enable().await.unwrap();
    });
    let site = Site::new();
    let ufs = site.dir.path().join("ufs");
    std::fs::create_dir_all(&ufs).unwrap();
    let conf = |name: &str, password: &str| {
        site.write(
            &format!("{name}.properties"),
            &format!(
                "alluxio.cluster.name=secured\nalluxio.etcd.endpoints={}\n\
                 alluxio.etcd.username=root\nalluxio.etcd.password={password}\n\
                 alluxio.dora.client.ufs.root={}\n",
                etcd.url,
                ufs.display()
            ),
        )
    };
    let good = conf("good", ROOT_PASSWORD);
    let _worker = Worker::start(&good, "w1", &["--ufs", &ufs.display().to_string()]);
    let good = good.display().to_string();
    let listed = crate::processes::wait_for(std::time::Duration::from_secs(15), || {
        let out = crate::support::azimuth(&["--conf", &good, "info", "nodes"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.success() && text.contains("w1")).then_some(text)
    });
    assert!(
        listed.is_some(),
        "w1 never appeared to a client with the password"
    );

    let bad = conf("bad", "not-the-password-77").display().to_string();
    let cache = site.dir.path().join("cache-w2").display().to_string();
    let ufs = ufs.display().to_string();
    for args in [
        vec![
            "--conf",
            &bad,
            "worker",
            "--id",
            "w2",
            "--ufs",
            &ufs,
            "--cache-dir",
            &cache,
        ],
        vec!["--conf", &bad, "info", "nodes"],
        vec!["--conf", &bad, "read", "anything", "-o", "/dev/null"],
    ] {
        let started = std::time::Instant::now();
        let out = crate::support::azimuth(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{args:?} ran with a wrong password: {}",
            show(&out)
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{args:?} took {:?} to give up",
            started.elapsed()
        );
        assert!(
            err.contains("refused user \"root\"") && err.contains("alluxio.etcd.password"),
            "{args:?}: {err}"
        );
        assert!(
            !err.contains("not-the-password-77") && !err.contains(ROOT_PASSWORD),
            "{err}"
        );
    }
}
