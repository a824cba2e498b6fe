//! The command line: clap structures mirroring the arguments, and dispatch.
//! Errors reach `main` as `anyhow` chains and print with every cause.

mod demo;
mod gateway;
mod info;
mod load;
pub mod logging;
mod mount;
mod policy;
mod read;
mod rollout;
mod worker;

use std::process::ExitCode;

use azimuth_client::Client;
use azimuth_cluster::config::{self, ConfigError, RawSettings, SiteConfig};
use clap::{Parser, Subcommand};

/// Azimuth: a multi-zone read cache whose routing is decided by WebAssembly policies.
///
/// Policies are components built from Rust crates (see `policies/` for
/// examples). Build one with `azimuth policy build`, check it with `azimuth
/// policy check`, and see what it decides with `azimuth policy eval` and
/// `azimuth policy test` before any host runs it; roll one out with `azimuth
/// policy publish` and watch it land with `azimuth policy status`.
///
/// Workers run with `azimuth worker` and register in their cluster's etcd;
/// `azimuth info nodes` lists the workers of every cluster. Clients read with
/// `azimuth read` (ranked by the policy, failing over across zones) and
/// preload with `azimuth load`. Settings come
/// from a site file in Java properties syntax (`--conf` or AZIMUTH_CONF;
/// `alluxio.*` keys as users know them, `azimuth.*` keys of our own; the
/// README lists them all), with flags on top.
#[derive(Debug, Parser)]
#[command(name = "azimuth", version, propagate_version = true)]
pub struct Args {
    /// Log filter (`error`, `warn`, `info`, `debug`, `trace`, or a tracing
    /// directive). The policy compiler (cranelift) logs at `info` at most
    /// unless the filter names it, e.g. `trace,cranelift=trace`.
    #[arg(long, global = true, env = "AZIMUTH_LOG", default_value = "warn")]
    pub log: String,

    /// The site file, for every command.
    #[command(flatten)]
    pub site: SiteArgs,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start three zones on this machine and watch the read path work: a
    /// zone dies and reads fail over, passive caching refills it, a policy
    /// swap changes the ranking; then a report, and everything stopped.
    /// Example: `azimuth demo` (or `azimuth demo --keep-running`)
    Demo(demo::DemoArgs),
    /// Build, check, try, publish and follow routing policies.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Run a worker: serve its HTTP API and register it in its cluster.
    ///
    /// Prints `worker <id> of cluster <name> listening on http://<addr>` (`https://` with
    /// `azimuth.security.tls.*`) once
    /// it serves; deregisters and exits on SIGTERM or Ctrl-C. Example:
    /// `azimuth --conf site.properties worker --cluster alx-ns-alluxio-a`
    Worker(worker::WorkerArgs),
    /// Read a file through the read path: the policy ranks the file's
    /// replicas in every visible cluster, failures fail over, the UFS comes
    /// last. Example: `azimuth --conf site.properties read datasets/part-0001
    /// --explain -o part-0001`
    Read(read::ReadArgs),
    /// Preload files (or every file under a directory) into the caller's
    /// cluster, on the workers its reads of them are placed on; shows
    /// progress and prints a summary. Example: `azimuth --conf
    /// site.properties load datasets/ --cluster alx-ns-alluxio-a`
    Load(load::LoadArgs),
    /// Serve the S3 API over the read path: any S3 client (the AWS CLI,
    /// boto3, rclone, Spark) reads through the multi-zone cache.
    ///
    /// Buckets are the top-level directories of the UFS root, keys the
    /// rest of the path; reads only. Requests are signed with a key of
    /// azimuth.gateway.credentials.file (`ACCESS_KEY SECRET_KEY` a line);
    /// unsigned ones are served only with azimuth.gateway.anonymous.read=true.
    /// Prints `gateway of cluster <name> listening on http://<addr>` once it
    /// serves; `/metrics` and `/healthz` are beside the S3 API. Example:
    /// `azimuth --conf site.properties gateway --listen 127.0.0.1:9000`
    Gateway(gateway::GatewayArgs),
    /// Mount the UFS root's tree as a read-only file system (FUSE) whose
    /// every read goes through the read path: `cat`, `cp`, `open()` and
    /// `mmap` read through the multi-zone cache, and a zone's death is
    /// invisible to them.
    ///
    /// MOUNT_POINT must be an empty directory. Prints `mounted <ufs> on
    /// <mount point> ...` once mounted, then detaches (unless
    /// --foreground); SIGTERM or Ctrl-C unmounts (lazily if files are still
    /// open), as does `fusermount3 -u MOUNT_POINT`, which also clears a mount
    /// whose process crashed. Writes answer EROFS, a missing path ENOENT, a
    /// read every source failed EIO (the log names the sources tried).
    /// Attributes and listings are trusted for
    /// alluxio.user.metadata.cache.expiration.time (1min); sequential
    /// readers read ahead up to azimuth.mount.readahead.max (8MB). Needs
    /// fusermount3 (Debian's fuse3). Example: `azimuth --conf
    /// site.properties mount /mnt/azimuth --cluster alx-ns-alluxio-a
    /// --metrics-listen 127.0.0.1:9100`
    Mount(mount::MountArgs),
    /// Show what the cluster(s) look like.
    #[command(subcommand)]
    Info(info::InfoCommand),
}

/// The site configuration, shared by every command.
#[derive(Debug, clap::Args)]
pub struct SiteArgs {
    /// The site file (Java properties, `alluxio-site.properties` style); flags override it.
    #[arg(long, global = true, env = "AZIMUTH_CONF")]
    pub conf: Option<std::path::PathBuf>,
}

impl SiteArgs {
    /// Reads and validates the site configuration with `flags` applied on top.
    pub fn load(&self, flags: impl FnOnce(&mut RawSettings)) -> Result<SiteConfig, ConfigError> {
        SiteConfig::load(self.conf.as_deref(), flags)
    }
}

/// Runs `work` on a new runtime with a client of `cluster` (the `--cluster`
/// flag, else the site file's `alluxio.cluster.name`).
fn with_client<Work, Done>(
    site: &SiteArgs,
    cluster: Option<String>,
    work: Work,
) -> anyhow::Result<Outcome>
where
    Work: FnOnce(Client) -> Done,
    Done: std::future::Future<Output = anyhow::Result<Outcome>>,
{
    let config = site.load(|raw| {
        raw.set_flag("--cluster", config::CLUSTER_NAME, cluster);
    })?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let client = Client::connect(&config).await?;
        work(client).await
    })
}

/// What a command concluded, beyond success.
pub enum Outcome {
    /// Everything the command checked holds.
    Success,
    /// The command ran, and what it checked does not hold (a failing scenario).
    Failed,
}

/// Parses the process arguments, runs the command, and maps the result to an
/// exit status: 0 success, 1 a check failed or an error occurred, 2 bad usage.
pub fn main() -> ExitCode {
    let args = Args::parse();
    // The demo sends library logs to its own log file (see `logging`).
    if !matches!(args.command, Command::Demo(_)) {
        logging::to_stderr(&args.log);
    }
    match run(args) {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {}", render_chain(&e));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes joined by `: `, skipping a cause whose text the
/// message before it already includes (library errors carry their source's
/// text, so that they read whole in logs too).
fn render_chain(error: &anyhow::Error) -> String {
    azimuth_client::error_chain(error.as_ref())
}

/// Runs one parsed command.
pub fn run(args: Args) -> anyhow::Result<Outcome> {
    match args.command {
        Command::Demo(demo) => demo::run(demo, &args.log),
        Command::Policy(command) => policy::run(&args.site, command),
        Command::Worker(worker) => worker::run(&args.site, worker),
        Command::Info(command) => info::run(&args.site, command),
        Command::Read(read) => read::run(&args.site, read),
        Command::Load(load) => load::run(&args.site, load),
        Command::Gateway(gateway) => gateway::run(&args.site, gateway),
        Command::Mount(mount) => mount::run(&args.site, mount),
    }
}
