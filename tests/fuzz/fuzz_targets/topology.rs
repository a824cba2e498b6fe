//! The topology file (`multi-az-clusters.json`): any text is checked or
//! refused, never a panic; what is accepted has clusters and URLs.
#![no_main]

use std::path::Path;

use azimuth_cluster::topology::Topology;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Topology::parse(text, Path::new("multi-az-clusters.json")) {
        Ok(topology) => {
            for group in &topology.groups {
                for endpoint in &group.endpoints {
                    assert!(
                        endpoint.starts_with("http://") || endpoint.starts_with("https://"),
                        "{endpoint}"
                    );
                    assert!(!endpoint.ends_with('/'), "{endpoint}");
                }
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
