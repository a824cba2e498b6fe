//! TLS between the site's processes (`azimuth.security.tls.*`): the worker
//! serves HTTPS with its certificate; a client certificate the site's CA
//! signed admits a request as the token does; without either a request to a
//! data route is refused, a certificate of another CA fails the handshake,
//! and a worker whose key does not load refuses to start, naming the file.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, Certificate, CertificateParams, IsCa, KeyPair};
use reqwest::blocking::Client as Http;
use reqwest::header::AUTHORIZATION;

use azimuth_client::Client;
use azimuth_cluster::config::SiteConfig;

use crate::processes::{Site, Worker, free_port};

const TOKEN: &str = "tls-test-token-0123456789";

/// A certificate authority.
pub struct Ca {
    pub cert: Certificate,
    key: KeyPair,
}

impl Ca {
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    /// A certificate for `names`, signed by this CA: (certificate, key) PEM.
    pub fn issue(&self, names: &[&str]) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// Writes `name.crt` and `name.key` for a certificate of `ca`.
pub fn files(site: &Site, name: &str, (cert, key): (String, String)) -> (PathBuf, PathBuf) {
    (
        site.write(&format!("{name}.crt"), &cert),
        site.write(&format!("{name}.key"), &key),
    )
}

pub fn tls_lines(ca: &Path, identity: Option<&(PathBuf, PathBuf)>) -> String {
    let mut lines = format!("azimuth.security.tls.ca={}\n", ca.display());
    if let Some((cert, key)) = identity {
        lines.push_str(&format!(
            "azimuth.security.tls.cert={}\nazimuth.security.tls.key={}\n",
            cert.display(),
            key.display()
        ));
    }
    lines
}

/// An HTTPS client trusting `ca`, presenting `identity` if given.
pub fn https(ca: &str, identity: Option<(String, String)>) -> Http {
    let mut builder = Http::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap());
    if let Some((cert, key)) = identity {
        builder = builder
            .identity(reqwest::Identity::from_pem(format!("{key}\n{cert}").as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

#[test]
fn a_tls_worker_admits_a_certificate_of_the_site_s_ca_as_it_admits_the_token() {
    let site = Site::new();
    let ca = Ca::new("azimuth test CA");
    let ca_file = site.write("ca.crt", &ca.cert.pem());
    let worker_files = files(&site, "worker", ca.issue(&["127.0.0.1", "localhost"]));
    let client_pem = ca.issue(&["reader"]);
    let client_files = files(&site, "client", client_pem.clone());
    let token = site.write("token", &format!("{TOKEN}\n"));
    let ufs = site.dir.path().join("ufs");
    std::fs::create_dir_all(ufs.join("d")).unwrap();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(ufs.join("d/f"), &data).unwrap();
    let port = free_port();
    let list = site.write("workers", &format!("w1 127.0.0.1:{port}\n"));
    let base = format!(
        "alluxio.cluster.name=tls\nalluxio.worker.membership.manager.type=STATIC\n\
         alluxio.worker.static.membership.manager.config.file={}\n\
         alluxio.dora.client.ufs.root={}\nalluxio.dora.client.ufs.fallback.enabled=false\n\
         azimuth.security.token.file={}\n",
        list.display(),
        ufs.display(),
        token.display()
    );
    let worker_conf = site.write(
        "worker.properties",
        &format!("{base}{}", tls_lines(&ca_file, Some(&worker_files))),
    );
    let listen = format!("127.0.0.1:{port}");
    let worker = Worker::start(
        &worker_conf,
        "w1",
        &["--listen", &listen, "--ufs", &ufs.display().to_string()],
    );
    let files_url = format!("https://{}/files/d/f", worker.address);

    // The library's client with its own certificate and no token reads
    // from the worker (the UFS fallback is off).
    let client_conf = site.write(
        "client.properties",
        &format!(
            "{}{}",
            base.replace(
                &format!("azimuth.security.token.file={}\n", token.display()),
                ""
            ),
            tls_lines(&ca_file, Some(&client_files))
        ),
    );
    let config = SiteConfig::load(Some(&client_conf), |_| {}).unwrap();
    assert!(config.security.token.is_none());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (read, explain) = runtime.block_on(async {
        let client = Client::connect(&config).await.unwrap();
        client.read_all("d/f", 0, None).await
    });
    assert_eq!(read.unwrap().as_ref(), &data[..], "{explain}");
    assert_eq!(explain.served_by.as_deref(), Some("worker w1"), "{explain}");

    // Raw HTTPS: a certificate of the CA, or the token, admits; neither is 401.
    let ca_pem = ca.cert.pem();
    let certified = https(&ca_pem, Some(client_pem))
        .get(&files_url)
        .send()
        .unwrap();
    assert_eq!(certified.status().as_u16(), 200);
    assert_eq!(certified.bytes().unwrap().as_ref(), &data[..]);
    // `GET /files` takes the worker's direct path; a `HEAD` of it and the
    // other routes go through the router, which must see the certificate too.
    let certified = https(&ca_pem, Some(ca.issue(&["reader"])));
    let head = certified.head(&files_url).send().unwrap();
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(
        head.headers()[reqwest::header::CONTENT_LENGTH],
        data.len().to_string().as_str()
    );
    let status_url = format!("https://{}/status/d/f", worker.address);
    assert_eq!(
        certified.get(&status_url).send().unwrap().status().as_u16(),
        200
    );
    let anonymous = https(&ca_pem, None);
    assert_eq!(
        anonymous.get(&status_url).send().unwrap().status().as_u16(),
        401
    );
    assert_eq!(
        anonymous.get(&files_url).send().unwrap().status().as_u16(),
        401
    );
    let with_token = anonymous
        .get(&files_url)
        .header(AUTHORIZATION, format!("Bearer {TOKEN}"))
        .send()
        .unwrap();
    assert_eq!(with_token.status().as_u16(), 200);
    let health = anonymous
        .get(format!("https://{}/healthz", worker.address))
        .send()
        .unwrap();
    assert_eq!(health.status().as_u16(), 200, "/healthz stays open");

    // A certificate of another CA fails the handshake; so does plain HTTP.
    let stranger = Ca::new("another CA").issue(&["reader"]);
    assert!(
        https(&ca_pem, Some(stranger))
            .get(&files_url)
            .send()
            .is_err(),
        "a certificate of another CA was accepted"
    );
    let plain = Http::new()
        .get(format!("http://{}/files/d/f", worker.address))
        .send();
    assert!(
        plain.map_or(true, |r| r.status().as_u16() != 200),
        "plain HTTP was served"
    );
}

#[test]
fn a_worker_refuses_to_start_with_tls_files_that_do_not_load_naming_the_file() {
    let site = Site::new();
    let ca = Ca::new("azimuth test CA");
    let ca_file = site.write("ca.crt", &ca.cert.pem());
    let (cert, _) = files(&site, "worker", ca.issue(&["127.0.0.1"]));
    let (_, other_key) = files(&site, "other", ca.issue(&["127.0.0.1"]));
    let garbage = site.write(
        "garbage.key",
        "-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n",
    );
    for (key, why) in [(&garbage, "garbage.key"), (&other_key, "other.key")] {
        let conf = site.lone_cluster(&tls_lines(&ca_file, Some(&(cert.clone(), key.clone()))));
        let err = crate::support::refused_worker_start(site.dir.path(), &conf);
        assert!(
            err.contains(why) && err.contains("azimuth.security.tls.key"),
            "{err}"
        );
    }
    let conf = site.lone_cluster(&format!("azimuth.security.tls.cert={}\n", cert.display()));
    let out = crate::support::azimuth(&["--conf", &conf.display().to_string(), "worker"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("without azimuth.security.tls.key"), "{err}");
}

#[test]
fn etcd_over_https_is_trusted_by_its_ca_and_admits_the_sites_client_certificate() {
    let site = Site::new();
    let ca = Ca::new("etcd CA");
    let ca_file = site.write("etcd-ca.crt", &ca.cert.pem());
    let server = files(&site, "etcd-server", ca.issue(&["127.0.0.1"]));
    let client_pem = ca.issue(&["azimuth"]);
    let client = files(&site, "etcd-client", client_pem.clone());
    let etcd = crate::processes::Etcd::start_tls(
        "etcd-tls",
        crate::processes::EtcdTls {
            cert: &server.0,
            key: &server.1,
            ca: &ca_file,
            health: https(&ca.cert.pem(), Some(client_pem)),
        },
    );
    assert!(etcd.url.starts_with("https://"), "{}", etcd.url);
    let ufs = site.dir.path().join("ufs");
    std::fs::create_dir_all(ufs.join("d")).unwrap();
    let data: Vec<u8> = (0..50_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(ufs.join("d/f"), &data).unwrap();
    let base = format!(
        "alluxio.cluster.name=etcdtls\nalluxio.etcd.endpoints={}\n\
         alluxio.dora.client.ufs.root={}\nalluxio.dora.client.ufs.fallback.enabled=false\n",
        etcd.url,
        ufs.display()
    );
    let conf = site.write(
        "site.properties",
        &format!(
            "{base}azimuth.etcd.tls.ca={}\nazimuth.etcd.tls.cert={}\nazimuth.etcd.tls.key={}\n",
            ca_file.display(),
            client.0.display(),
            client.1.display()
        ),
    );
    let _worker = Worker::start(&conf, "w1", &["--ufs", &ufs.display().to_string()]);

    // The worker registered over TLS: a client finds it there and reads.
    let config = SiteConfig::load(Some(&conf), |_| {}).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (read, explain) = runtime.block_on(async {
        let client = Client::connect(&config).await.unwrap();
        let found = crate::processes::wait_for(std::time::Duration::from_secs(15), || {
            client.view().workers().any(|w| w.id == "w1").then_some(())
        });
        assert!(found.is_some(), "w1 never appeared through etcd over TLS");
        client.read_all("d/f", 0, None).await
    });
    assert_eq!(read.unwrap().as_ref(), &data[..], "{explain}");
    assert_eq!(explain.served_by.as_deref(), Some("worker w1"), "{explain}");
    let conf_arg = conf.display().to_string();
    let nodes = crate::support::azimuth(&["--conf", &conf_arg, "info", "nodes"]);
    assert!(
        String::from_utf8_lossy(&nodes.stdout).contains("w1"),
        "{}",
        String::from_utf8_lossy(&nodes.stderr)
    );

    // An https:// etcd with no CA named is a configuration error naming the key.
    let bare = site.write("bare.properties", &base).display().to_string();
    let out = crate::support::azimuth(&["--conf", &bare, "info", "nodes"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("azimuth.etcd.tls.ca") && err.contains("https://"),
        "{err}"
    );
}
