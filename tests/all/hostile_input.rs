//! Requests that fail because of their own input are the request's fault:
//! the worker answers 4xx with the reason, the client ends the read without
//! blaming anyone, and a flood of them leaves every worker healthy — in a
//! long-lived client (the S3 gateway) as in the library.

use reqwest::blocking::Client as Http;
use reqwest::header::RANGE;

use crate::s3::{Gateway, client_site, gateway_lines};
use crate::zones::{CLUSTERS, Zones, served_by_cluster};

/// A name longer than any file system's 255-byte limit.
fn too_long() -> String {
    "n".repeat(300)
}

#[test]
fn a_flood_of_names_too_long_leaves_every_worker_healthy() {
    let zones = Zones::start();
    let data = zones.file("good.bin", 100_000);
    let http = Http::new();

    // The worker says it is the request's fault, and why.
    let worker = zones.address_of("a1");
    let answer = http
        .get(format!("http://{worker}/files/{}", too_long()))
        .send()
        .unwrap();
    assert_eq!(answer.status().as_u16(), 400);
    let why = answer.text().unwrap();
    assert!(why.contains("name too long"), "{why}");

    // The library's client: each read ends at its first source, refused.
    let client = zones.client("flooded", "");
    for _ in 0..50 {
        let (read, explain) = zones.read(&client, &too_long(), 0, None);
        let error = read.unwrap_err();
        assert!(
            error.contains("the request was refused") && error.contains("400"),
            "{error}"
        );
        assert_eq!(explain.attempts.len(), 1, "{explain}");
    }
    let (read, explain) = zones.read(&client, "good.bin", 0, None);
    assert_eq!(read.unwrap(), data);
    assert!(explain.candidates.iter().all(|c| c.healthy), "{explain}");
    assert_eq!(served_by_cluster(&explain), CLUSTERS[0], "{explain}");

    // The gateway: InvalidArgument to the S3 client, and its workers stay
    // healthy: the next read is served by its own zone, with no failover.
    let ufs = zones.ufs.display().to_string();
    std::fs::create_dir_all(zones.ufs.join("bucket")).unwrap();
    std::fs::write(zones.ufs.join("bucket/good.bin"), &data).unwrap();
    let gateway = Gateway::start(&client_site(
        &zones,
        "gateway",
        &ufs,
        &gateway_lines(&zones, true),
    ));
    for _ in 0..50 {
        let refused = http
            .get(format!("{}/bucket/{}", gateway.url(), too_long()))
            .send()
            .unwrap();
        assert_eq!(refused.status().as_u16(), 400);
        assert!(
            refused
                .text()
                .unwrap()
                .contains("<Code>InvalidArgument</Code>")
        );
    }
    let served = http
        .get(format!("{}/bucket/good.bin", gateway.url()))
        .send()
        .unwrap();
    assert_eq!(served.status().as_u16(), 200);
    assert_eq!(served.bytes().unwrap().as_ref(), &data[..]);
    let metrics = http
        .get(format!("{}/metrics", gateway.url()))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let sample = |name: &str| -> f64 {
        metrics
            .lines()
            .filter(|l| l.starts_with(name))
            .map(|l| l.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap())
            .sum()
    };
    assert_eq!(sample("azimuth_client_failovers_total"), 0.0, "{metrics}");
    assert_eq!(
        sample("azimuth_client_reads_total{cluster=\"alx-ns-alluxio-a\",tier=\"ufs\"}"),
        0.0,
        "{metrics}"
    );
}

#[test]
fn a_range_in_an_unknown_unit_is_ignored_and_the_whole_file_served() {
    let zones = Zones::start();
    let data = zones.file("ranged.bin", 5_000);
    let worker = zones.address_of("b1");
    let http = Http::new();
    for unit in ["items=0-9", "lines=1-2", "0-9"] {
        let answer = http
            .get(format!("http://{worker}/files/ranged.bin"))
            .header(RANGE, unit)
            .send()
            .unwrap();
        assert_eq!(answer.status().as_u16(), 200, "Range: {unit}");
        assert_eq!(answer.bytes().unwrap().as_ref(), &data[..], "Range: {unit}");
    }
    let part = http
        .get(format!("http://{worker}/files/ranged.bin"))
        .header(RANGE, "Bytes=10-19")
        .send()
        .unwrap();
    assert_eq!(part.status().as_u16(), 206);
    assert_eq!(part.bytes().unwrap().as_ref(), &data[10..20]);
}
