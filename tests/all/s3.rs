//! The S3 side with real, unmodified clients: an `azimuth gateway` over
//! three zones, read by boto3, the AWS CLI, s3cmd and rclone (the Python
//! suites in `tests/s3/`, run with pytest from the virtual environment
//! `tests/run` makes), and the S3 UFS on moto's server.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::processes::{free_port, wait_for};
use crate::support::repo;
use crate::zones::{CLUSTERS, Zones};

/// The gateway's test key.
pub const ACCESS_KEY: &str = "AKIAAZIMUTHTEST00001";
pub const SECRET_KEY: &str = "azimuth/test/secret+key/0000000000000000";

/// The virtual environment with the Python tools (`tests/python-env`).
pub fn venv() -> PathBuf {
    let path = std::env::var_os("AZIMUTH_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/test-venv"));
    assert!(
        path.join("bin/python").is_file(),
        "no Python environment at {}: run tests/run, or tests/python-env once",
        path.display()
    );
    path
}

/// A process killed when dropped.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `azimuth --conf <conf> gateway`, once it says where it listens.
pub struct Gateway {
    pub address: String,
    _process: Process,
}

impl Gateway {
    /// A gateway logging warnings to the test's stderr.
    pub fn start(conf: &Path) -> Self {
        Self::spawn(conf, "warn", Stdio::inherit())
    }

    /// A gateway logging everything (`trace`, s3s and hyper included) to `log`.
    pub fn start_logging_everything(conf: &Path, log: &Path) -> Self {
        let file = std::fs::File::create(log).unwrap();
        Self::spawn(conf, "trace", file.into())
    }

    fn spawn(conf: &Path, level: &str, stderr: Stdio) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_azimuth"))
            .arg("--conf")
            .arg(conf)
            .args(["gateway", "--listen", "127.0.0.1:0"])
            .env("AZIMUTH_LOG", level)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("azimuth gateway runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line
            .trim()
            .rsplit_once("listening on http://")
            .unwrap_or_else(|| panic!("the gateway printed {line:?}"))
            .1
            .to_owned();
        Gateway {
            address,
            _process: Process(child),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

/// moto's S3 server on loopback, its request log in a file.
pub struct Moto {
    pub url: String,
    pub log: PathBuf,
    _process: Process,
    _dir: tempfile::TempDir,
}

impl Moto {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = dir.path().join("moto.log");
        let child = Command::new(venv().join("bin/moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("moto_server runs");
        let url = format!("http://127.0.0.1:{port}");
        let up = wait_for(Duration::from_secs(30), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        assert!(up.is_some(), "moto did not start; see {}", log.display());
        Moto {
            url,
            log,
            _process: Process(child),
            _dir: dir,
        }
    }
}

/// The site lines of a gateway with the test key, anonymous reads as asked.
pub fn gateway_lines(zones: &Zones, anonymous: bool) -> String {
    let keys = zones.site.write(
        "gateway-keys",
        &format!("# the tests' key\n{ACCESS_KEY} {SECRET_KEY}\n"),
    );
    format!(
        "azimuth.gateway.credentials.file={}\nazimuth.gateway.anonymous.read={anonymous}\n",
        keys.display()
    )
}

/// A site file for a client (or gateway) of the first cluster.
pub fn client_site(zones: &Zones, name: &str, ufs_root: &str, extra: &str) -> PathBuf {
    zones.site.write(
        &format!("{name}.properties"),
        &format!(
            "alluxio.cluster.name={}\nalluxio.multi.cluster.enabled=true\n\
             alluxio.multi.cluster.config.path={}\nalluxio.dora.client.ufs.root={ufs_root}\n{extra}",
            CLUSTERS[0],
            zones.topology.display(),
        ),
    )
}

/// Runs the pytest suite `file` (under `tests/s3/`) with `env`; fails the
/// test with pytest's output when a case fails.
pub fn pytest(file: &str, env: &[(&str, String)]) {
    let venv = venv();
    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap()
    );
    let out = Command::new(venv.join("bin/python"))
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-x",
            "--tb=short",
        ])
        .arg(repo().join("tests/s3").join(file))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("PATH", path)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .current_dir(repo())
        .output()
        .expect("pytest runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tests/s3/{file} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("tests/s3/{file}: {}", stdout.lines().last().unwrap_or(""));
}
