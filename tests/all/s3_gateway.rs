//! `azimuth gateway` with real, unmodified S3 clients over three zones: the
//! boto3 suite of the API (`tests/s3/test_gateway.py`), and the AWS CLI,
//! s3cmd and rclone (`tests/s3/test_clients.py`), a copy surviving its
//! local zone's death among them.

use crate::s3::{ACCESS_KEY, Gateway, SECRET_KEY, client_site, gateway_lines, pytest};
use crate::zones::Zones;

/// The environment the suites read: the gateways, the UFS, zone a's workers.
fn suite_env(zones: &Zones, signed: &Gateway, anonymous: &Gateway) -> Vec<(&'static str, String)> {
    let zone_a: Vec<String> = ["a1", "a2"]
        .iter()
        .map(|id| {
            zones
                .workers
                .iter()
                .find(|w| w.id == *id)
                .unwrap()
                .pid()
                .to_string()
        })
        .collect();
    vec![
        ("GATEWAY", signed.url()),
        ("GATEWAY_ANONYMOUS", anonymous.url()),
        ("UFS_ROOT", zones.ufs.display().to_string()),
        ("ZONE_A_PIDS", zone_a.join(" ")),
    ]
}

fn gateways(zones: &Zones) -> (Gateway, Gateway) {
    let ufs = zones.ufs.display().to_string();
    let signed = client_site(zones, "gateway", &ufs, &gateway_lines(zones, false));
    let anonymous = client_site(
        zones,
        "gateway-anonymous",
        &ufs,
        &gateway_lines(zones, true),
    );
    (Gateway::start(&signed), Gateway::start(&anonymous))
}

#[test]
fn boto3_reads_lists_and_meets_every_s3_error_through_the_gateway() {
    let zones = Zones::start();
    let ufs = zones.ufs.display().to_string();
    // The signed gateway logs at trace level: whatever the suite does to it
    // (good, wrong and tampered signatures, presigned URLs), the secret key
    // must not reach its log.
    let log = zones.site.write("gateway.log", "");
    let signed = Gateway::start_logging_everything(
        &client_site(&zones, "gateway", &ufs, &gateway_lines(&zones, false)),
        &log,
    );
    let anonymous = Gateway::start(&client_site(
        &zones,
        "gateway-anonymous",
        &ufs,
        &gateway_lines(&zones, true),
    ));
    pytest("test_gateway.py", &suite_env(&zones, &signed, &anonymous));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains(ACCESS_KEY),
        "a trace-level log names the access key of signed requests; the log has {} bytes",
        logged.len()
    );
    assert!(
        !logged.contains(SECRET_KEY),
        "the secret key is in the gateway's log {}",
        log.display()
    );
}

#[test]
fn the_aws_cli_s3cmd_and_rclone_copy_exact_bytes_and_a_copy_outlives_its_local_zone() {
    let zones = Zones::start();
    let (signed, anonymous) = gateways(&zones);
    pytest("test_clients.py", &suite_env(&zones, &signed, &anonymous));
}

#[test]
fn an_s3_ufs_on_moto_is_read_through_workers_and_the_gateway_and_hot_reads_ask_it_nothing() {
    let moto = crate::s3::Moto::start();
    // Ten seconds: long enough for a burst of hot reads, short enough to
    // watch a change arrive.
    let s3_lines = format!(
        "alluxio.underfs.s3.endpoint={}\ns3a.accessKeyId=moto\ns3a.secretKey=moto-secret\n\
         alluxio.underfs.s3.endpoint.region=us-east-1\nalluxio.user.file.metadata.sync.interval=10s\n",
        moto.url
    );
    let root = "s3://lake/root";
    let zones = Zones::start_over(Some(root), &s3_lines);
    let site = client_site(
        &zones,
        "gateway",
        root,
        &format!("{s3_lines}{}", gateway_lines(&zones, false)),
    );
    let gateway = Gateway::start(&site);
    pytest(
        "test_s3_ufs.py",
        &[
            ("GATEWAY", gateway.url()),
            ("MOTO", moto.url.clone()),
            ("MOTO_LOG", moto.log.display().to_string()),
            ("SYNC_INTERVAL", "10".to_owned()),
        ],
    );
}
