//! Three zones for read-path tests: real etcd, real workers (three clusters
//! of two) sharing a local-directory UFS, and clients of the first cluster.

use std::path::{Path, PathBuf};
use std::time::Duration;

use azimuth_client::Client;
use azimuth_client::explain::Explain;
use azimuth_cluster::config::SiteConfig;
use rand::{Rng, SeedableRng};

use crate::processes::{Etcd, Site, Worker, wait_for};

pub const CLUSTERS: [&str; 3] = ["alx-ns-alluxio-a", "alx-ns-alluxio-b", "alx-ns-2-alluxio-c"];

/// Three clusters of two workers sharing one etcd and one UFS directory.
pub struct Zones {
    pub site: Site,
    _etcd: Etcd,
    pub ufs: PathBuf,
    pub topology: PathBuf,
    pub workers: Vec<Worker>,
    pub runtime: tokio::runtime::Runtime,
}

impl Zones {
    pub fn start() -> Self {
        Self::start_over(None, "")
    }

    /// Three zones over the UFS `ufs_root` (`None`: a local directory of
    /// the site's), with `extra` lines in every site file.
    pub fn start_over(ufs_root: Option<&str>, extra: &str) -> Self {
        let site = Site::new();
        let etcd = Etcd::start("reads");
        let ufs = site.dir.path().join("ufs");
        std::fs::create_dir_all(&ufs).unwrap();
        let topology = site.topology(&[(&CLUSTERS, &etcd.url)]);
        let confs = site.multi_az_confs(&CLUSTERS, &topology, extra);
        let ufs_arg = ufs_root.map_or_else(|| ufs.display().to_string(), str::to_owned);
        let workers = confs
            .iter()
            .zip(["a", "b", "c"])
            .flat_map(|(conf, z)| {
                let ufs_arg = ufs_arg.clone();
                [1, 2].map(move |n| Worker::start(conf, &format!("{z}{n}"), &["--ufs", &ufs_arg]))
            })
            .collect();
        let runtime = runtime();
        Zones {
            site,
            _etcd: etcd,
            ufs,
            topology,
            workers,
            runtime,
        }
    }

    /// A UFS file of `len` random bytes; returns them.
    pub fn file(&self, name: &str, len: usize) -> Vec<u8> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(len as u64);
        let data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        std::fs::write(self.ufs.join(name), &data).unwrap();
        data
    }

    /// A client of cluster a with `extra` site lines, once it sees all six
    /// workers.
    pub fn client(&self, name: &str, extra: &str) -> Client {
        let conf = self.client_conf(name, extra);
        let config = SiteConfig::load(Some(&conf), |_| {}).unwrap();
        let client = self.runtime.block_on(Client::connect(&config)).unwrap();
        let seen = wait_for(Duration::from_secs(15), || {
            let (_, explain) = self.read(&client, "absent-probe", 0, Some(0));
            (explain.candidates.len() == 3).then_some(())
        });
        assert!(seen.is_some(), "the client never saw all three clusters");
        client
    }

    /// The site file of a client of cluster a, with `extra` lines.
    pub fn client_conf(&self, name: &str, extra: &str) -> PathBuf {
        self.site.write(
            &format!("client-{name}.properties"),
            &format!(
                "alluxio.cluster.name={}\nalluxio.multi.cluster.enabled=true\n\
                 alluxio.multi.cluster.config.path={}\nalluxio.dora.client.ufs.root={}\n{extra}",
                CLUSTERS[0],
                self.topology.display(),
                self.ufs.display()
            ),
        )
    }

    pub fn read(
        &self,
        client: &Client,
        path: &str,
        offset: u64,
        length: Option<u64>,
    ) -> (Result<Vec<u8>, String>, Explain) {
        let (result, explain) = self.runtime.block_on(client.read_all(path, offset, length));
        (
            result.map(|b| b.to_vec()).map_err(|e| e.to_string()),
            explain,
        )
    }

    pub fn worker_mut(&mut self, id: &str) -> &mut Worker {
        self.workers.iter_mut().find(|w| w.id == id).unwrap()
    }

    pub fn address_of(&self, id: &str) -> String {
        self.workers
            .iter()
            .find(|w| w.id == id)
            .unwrap()
            .address
            .clone()
    }
}

/// A runtime for the test's clients, one thread per core of these machines.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The cluster of the worker that served, or `ufs`.
pub fn served_by_cluster(explain: &Explain) -> String {
    let served = explain.served_by.clone().expect("served");
    let id = served.trim_start_matches("worker ");
    explain
        .candidates
        .iter()
        .find(|c| c.worker == id)
        .map_or_else(|| served.clone(), |c| c.cluster.clone())
}

/// Asks the worker at `address` to cache `path`.
pub fn load(address: &str, path: &Path) {
    let response = reqwest::blocking::Client::new()
        .post(format!("http://{address}/load/{}", path.display()))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}
