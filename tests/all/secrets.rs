//! Secrets never show: a full run with every kind of secret the project
//! takes — the cluster token, etcd's password, the S3 UFS's secret key, the
//! gateway's secret key, a TLS private key — logging everything (`trace`) in every process,
//! and every output of it read for them: workers' and the gateway's logs,
//! `read --explain`, `load`, `info nodes` (text and JSON), every `/metrics`,
//! S3 answers to good and badly signed requests, errors, and `--help`.

use std::process::Command;

use reqwest::header::AUTHORIZATION;

use crate::processes::{Etcd, Site, Worker, wait_for};
use crate::s3::{ACCESS_KEY, Gateway, Moto, SECRET_KEY, venv};
use crate::tls::{Ca, files, https, tls_lines};

const TOKEN: &str = "cluster-token-9f2e61c0d4b87a35";
const ETCD_PASSWORD: &str = "etcd-password-3b7d0e";
const MOTO_SECRET: &str = "moto-secret-key-c81f44";

/// `azimuth ARGS` at trace level; its stdout and stderr together.
fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_azimuth"))
        .args(args)
        .env("AZIMUTH_LOG", "trace")
        .output()
        .expect("azimuth runs");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn no_secret_appears_in_any_output_of_a_full_run_logging_everything() {
    let site = Site::new();
    // etcd with authentication on.
    let etcd = Etcd::start("secrets");
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut admin = etcd_client::Client::connect([etcd.url.as_str()], None)
            .await
            .unwrap();
        let _ = admin.role_add("root").await;
        admin.user_add("root", ETCD_PASSWORD, None).await.unwrap();
        admin.user_grant_role("root", "root").await.unwrap();
        admin.auth_enable().await.unwrap();
    });
    // The UFS on moto, with its own secret key.
    let moto = Moto::start();
    let py = format!(
        "import boto3\ns3 = boto3.client('s3', endpoint_url='{}', region_name='us-east-1', \
         aws_access_key_id='moto', aws_secret_access_key='{MOTO_SECRET}')\n\
         s3.create_bucket(Bucket='lake')\n\
         s3.put_object(Bucket='lake', Key='root/data/file.bin', Body=b'x' * 300000)\n",
        moto.url
    );
    let made = Command::new(venv().join("bin/python"))
        .args(["-c", &py])
        .status()
        .unwrap();
    assert!(made.success());
    // TLS between the processes; the worker's key is a secret too.
    let ca = Ca::new("secrets CA");
    let ca_file = site.write("ca.crt", &ca.cert.pem());
    let worker_pem = ca.issue(&["127.0.0.1"]);
    let tls_key = key_body(&worker_pem.1);
    let tls = tls_lines(&ca_file, Some(&files(&site, "worker", worker_pem)));
    let token = site.write("cluster.token", &format!("{TOKEN}\n"));
    let keys = site.write("gateway-keys", &format!("{ACCESS_KEY} {SECRET_KEY}\n"));
    let conf = site.write(
        "site.properties",
        &format!(
            "alluxio.cluster.name=vault\nalluxio.etcd.endpoints={}\n\
             alluxio.etcd.username=root\nalluxio.etcd.password={ETCD_PASSWORD}\n\
             alluxio.dora.client.ufs.root=s3://lake/root\n\
             alluxio.underfs.s3.endpoint={}\nalluxio.underfs.s3.endpoint.region=us-east-1\n\
             s3a.accessKeyId=moto\ns3a.secretKey={MOTO_SECRET}\n\
             azimuth.security.token.file={}\nazimuth.security.open.routes=\n\
             azimuth.gateway.credentials.file={}\n{tls}",
            etcd.url,
            moto.url,
            token.display(),
            keys.display()
        ),
    );
    let logs = site.dir.path();
    let worker = Worker::start_logging_everything(
        &conf,
        "w1",
        &["--ufs", "s3://lake/root"],
        &logs.join("w1.log"),
    );
    let gateway = Gateway::start_logging_everything(&conf, &logs.join("gateway.log"));
    let conf = conf.display().to_string();
    let mut outputs: Vec<(String, String)> = Vec::new();

    // The CLI's outputs, at trace level.
    let listed = wait_for(std::time::Duration::from_secs(15), || {
        let out = run(&["--conf", &conf, "info", "nodes"]);
        out.contains("w1").then_some(out)
    })
    .expect("w1 is listed");
    outputs.push(("info nodes".into(), listed));
    for (name, args) in [
        ("info nodes --json", vec!["info", "nodes", "--json"]),
        ("load", vec!["load", "data/file.bin"]),
        (
            "read --explain",
            vec!["read", "data/file.bin", "--explain", "-o", "/dev/null"],
        ),
        (
            "read of a missing file",
            vec!["read", "data/absent", "-o", "/dev/null"],
        ),
        ("--help", vec!["--help"]),
        ("worker --help", vec!["worker", "--help"]),
        ("gateway --help", vec!["gateway", "--help"]),
        ("read --help", vec!["read", "--help"]),
    ] {
        let mut full = vec!["--conf", conf.as_str()];
        full.extend(args);
        outputs.push((name.into(), run(&full)));
    }
    let explained = &outputs
        .iter()
        .find(|(n, _)| n == "read --explain")
        .unwrap()
        .1;
    assert!(
        explained.contains("served by"),
        "the read was not served:\n{explained}"
    );

    // HTTP answers: metrics with the token, refusals, S3 answers.
    let http = https(&ca.cert.pem(), None);
    let bearer = format!("Bearer {TOKEN}");
    for (name, request) in [
        (
            "worker /metrics",
            http.get(format!("https://{}/metrics", worker.address))
                .header(AUTHORIZATION, &bearer),
        ),
        (
            "worker refusal",
            http.get(format!("https://{}/files/data/file.bin", worker.address))
                .header(AUTHORIZATION, "Bearer cluster-token-9f2e61c0d4b87a3X"),
        ),
        (
            "gateway /metrics",
            http.get(format!("{}/metrics", gateway.url())),
        ),
        (
            "gateway unsigned",
            http.get(format!("{}/data/file.bin", gateway.url())),
        ),
    ] {
        let body = request.send().unwrap().text().unwrap();
        outputs.push((name.into(), body));
    }
    let py = format!(
        "import boto3, botocore\n\
         def c(secret):\n    return boto3.client('s3', endpoint_url='{}', region_name='us-east-1', \
         aws_access_key_id='{ACCESS_KEY}', aws_secret_access_key=secret, \
         config=botocore.config.Config(s3={{'addressing_style': 'path'}}))\n\
         assert len(c('{SECRET_KEY}').get_object(Bucket='data', Key='file.bin')['Body'].read()) == 300000\n\
         try:\n    c('wrong-secret').get_object(Bucket='data', Key='file.bin')\n\
         except botocore.exceptions.ClientError as e:\n    print(e.response)\n",
        gateway.url()
    );
    let s3 = Command::new(venv().join("bin/python"))
        .args(["-c", &py])
        .output()
        .unwrap();
    assert!(
        s3.status.success(),
        "{}",
        String::from_utf8_lossy(&s3.stderr)
    );
    outputs.push((
        "S3 answers".into(),
        String::from_utf8_lossy(&s3.stdout).into_owned(),
    ));
    drop(gateway);
    drop(worker);
    for log in ["w1.log", "gateway.log"] {
        let text = std::fs::read_to_string(logs.join(log)).unwrap();
        // Logging everything: a log that says little would prove nothing.
        assert!(text.lines().count() > 50, "{log} has only:\n{text}");
        outputs.push((log.into(), text));
    }
    assert!(
        has_trace_of_requests(&outputs),
        "the logs show no request being handled"
    );

    for (name, text) in &outputs {
        for secret in [
            TOKEN,
            ETCD_PASSWORD,
            MOTO_SECRET,
            SECRET_KEY,
            tls_key.as_str(),
        ] {
            assert!(
                !text.contains(secret),
                "{name} shows the secret {secret:?}:\n{}",
                context(text, secret)
            );
        }
    }
}

/// Whether the gateway's and the worker's logs show requests in detail
/// (hyper's and s3s's trace lines), so that the search means something.
fn has_trace_of_requests(outputs: &[(String, String)]) -> bool {
    outputs
        .iter()
        .filter(|(name, _)| name.ends_with(".log"))
        .all(|(_, text)| text.contains("TRACE"))
}

/// A run of the private key's PEM body long enough to be unmistakable.
fn key_body(pem: &str) -> String {
    pem.lines().nth(1).expect("a PEM body").to_owned()
}

/// The lines around `secret` in `text`.
fn context(text: &str, secret: &str) -> String {
    text.lines()
        .filter(|l| l.contains(secret))
        .take(5)
        .collect::<Vec<_>>()
        .join("\n")
}
