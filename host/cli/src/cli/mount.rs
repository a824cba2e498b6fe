//! `azimuth mount`: the UFS root's tree as a read-only FUSE file system over
//! the read path, until SIGTERM, Ctrl-C or `fusermount3 -u`.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use azimuth_client::Client;
use azimuth_cluster::config::{self, SiteConfig};
use azimuth_mount::{AzimuthFs, MountMetrics, Mounted};
use clap::Args;

use super::{Outcome, SiteArgs};

/// Mount flags.
#[derive(Debug, Args)]
pub struct MountArgs {
    /// An empty directory to mount on.
    mount_point: PathBuf,
    /// Read as a client of this cluster (alluxio.cluster.name).
    #[arg(long)]
    cluster: Option<String>,
    /// Stay in the foreground (logs on stderr) instead of detaching once
    /// mounted.
    #[arg(long)]
    foreground: bool,
    /// Serve `/metrics` (FUSE operations, read-ahead, the read path's
    /// counters by tier) on this address; port 0 picks a free one.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<String>,
}

/// Mounts, prints where, and serves until asked to stop.
pub fn run(site: &SiteArgs, args: MountArgs) -> anyhow::Result<Outcome> {
    let config = site.load(|raw| {
        raw.set_flag("--cluster", config::CLUSTER_NAME, args.cluster.clone());
    })?;
    config.require_ufs("the mount shows the UFS's tree")?;
    // Refused before detaching, so that the error reaches the caller.
    azimuth_mount::check_mount_point(&args.mount_point)?;
    if args.foreground {
        return serve(&config, &args, None);
    }
    // Detach: the child mounts and serves; the parent waits until it is
    // mounted (or failed) and says so. Forked before any runtime thread
    // exists: a fork copies only the calling thread.
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors pipe writes.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error()).context("cannot make a pipe");
    }
    // SAFETY: pipe returned two open descriptors that nothing else owns.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: no other thread runs yet (see above); the child only goes on
    // with this program.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()).context("cannot fork"),
        0 => {
            drop(read_end);
            // SAFETY: setsid has no memory effects; it detaches from the terminal's session.
            unsafe { libc::setsid() };
            serve(&config, &args, Some(std::fs::File::from(write_end)))
        }
        child => {
            drop(write_end);
            let mut said = String::new();
            std::fs::File::from(read_end).read_to_string(&mut said)?;
            match said.strip_prefix("ok\n") {
                Some(lines) => {
                    print!("{lines}");
                    println!("detached: process {child} serves it; stop it with `kill {child}`");
                    Ok(Outcome::Success)
                }
                None if said.is_empty() => {
                    anyhow::bail!("the mount process {child} exited before mounting")
                }
                None => anyhow::bail!("{}", said.trim_end()),
            }
        }
    }
}

/// Mounts and serves until a signal or an unmount; `ready` (a detached
/// child's pipe to its parent) hears `ok` and what to print, or the error.
fn serve(
    config: &SiteConfig,
    args: &MountArgs,
    mut ready: Option<std::fs::File>,
) -> anyhow::Result<Outcome> {
    let result = mount_and_wait(config, args, &mut ready);
    if let (Err(error), Some(pipe)) = (&result, ready.as_mut()) {
        let _ = write!(pipe, "error: {}", super::render_chain(error));
    }
    result
}

fn mount_and_wait(
    config: &SiteConfig,
    args: &MountArgs,
    ready: &mut Option<std::fs::File>,
) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Runtime::new()?;
    let ufs = config
        .require_ufs("the mount shows the UFS's tree")?
        .clone();
    let metrics = Arc::new(MountMetrics::default());
    let client = runtime.block_on(Client::connect(config))?;
    let cluster = client.cluster().to_owned();
    let metrics_address = match &args.metrics_listen {
        None => None,
        Some(listen) => {
            Some(runtime.block_on(serve_metrics(listen, client.clone(), metrics.clone()))?)
        }
    };
    let fs = AzimuthFs::new(
        client,
        ufs.clone(),
        &config.mount,
        runtime.handle().clone(),
        metrics,
    );
    let mounted = azimuth_mount::mount(fs, &args.mount_point, &format!("azimuth:{}", ufs.url()))?;
    // Scripts and tests read these lines.
    let mut lines = format!(
        "mounted {} on {} (cluster {cluster}, read-only)\n",
        ufs.url(),
        args.mount_point.display()
    );
    if let Some(address) = metrics_address {
        lines.push_str(&format!("metrics listening on http://{address}\n"));
    }
    match ready.take() {
        Some(mut pipe) => {
            write!(pipe, "ok\n{lines}")?;
            // The parent has what it prints; nothing more goes to its terminal.
            redirect_stdio_to_null();
        }
        None => {
            print!("{lines}");
            std::io::stdout().flush()?;
        }
    }
    let unmounted_elsewhere = runtime.block_on(wait(&mounted));
    if unmounted_elsewhere {
        tracing::info!("unmounted from outside; exiting");
    }
    mounted.unmount()?;
    Ok(Outcome::Success)
}

/// Resolves on SIGTERM or Ctrl-C (false), or once the mount is gone (true:
/// `fusermount3 -u`).
async fn wait(mounted: &Mounted) -> bool {
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let signal = super::worker::shutdown_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            () = &mut signal => return false,
            _ = tick.tick() => if mounted.is_finished() { return true },
        }
    }
}

/// Serves `/metrics` on `listen`; resolves to the address it took.
async fn serve_metrics(
    listen: &str,
    client: Client,
    metrics: Arc<MountMetrics>,
) -> anyhow::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (--metrics-listen)"))?;
    let address = listener.local_addr()?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let (client, metrics) = (client.clone(), metrics.clone());
            async move {
                let mut out = metrics.render();
                out.push_str(&client.metrics());
                out
            }
        }),
    );
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "the metrics server stopped");
        }
    });
    Ok(address)
}

fn redirect_stdio_to_null() {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        use std::os::fd::AsRawFd;
        // SAFETY: dup2 onto the standard descriptors, which stay open.
        unsafe {
            libc::dup2(null.as_raw_fd(), 0);
            libc::dup2(null.as_raw_fd(), 1);
        }
    }
}
