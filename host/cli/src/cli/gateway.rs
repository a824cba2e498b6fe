//! `azimuth gateway`: serve the S3 API over the read path until SIGTERM or Ctrl-C.

use anyhow::Context;
use azimuth_client::Client;
use azimuth_cluster::config;
use azimuth_gateway::Gateway;
use clap::Args;

use super::{Outcome, SiteArgs};

/// Gateway flags; each overrides a site-file key.
#[derive(Debug, Args)]
pub struct GatewayArgs {
    /// HTTP listen address; port 0 picks a free one (azimuth.gateway.listen)
    /// [default: 127.0.0.1:0].
    #[arg(long)]
    listen: Option<String>,
    /// Read as a client of this cluster (alluxio.cluster.name).
    #[arg(long)]
    cluster: Option<String>,
    /// Threads serving requests (azimuth.gateway.threads) [default: 0, one per core].
    #[arg(long)]
    threads: Option<String>,
}

/// Starts the gateway, prints its address, and serves until asked to stop.
pub fn run(site: &SiteArgs, args: GatewayArgs) -> anyhow::Result<Outcome> {
    let config = site.load(|raw| {
        raw.set_flag("--listen", config::GATEWAY_LISTEN, args.listen);
        raw.set_flag("--cluster", config::CLUSTER_NAME, args.cluster);
        raw.set_flag("--threads", config::GATEWAY_THREADS, args.threads);
    })?;
    // One thread: tokio's single-threaded scheduler, which has no other
    // thread to steal from or to wake, and so no atomics or queues for
    // them (a few per cent more requests/s at `--threads 1`, BENCHMARKS.md).
    let mut runtime = match config.gateway.threads {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        threads => {
            let mut runtime = tokio::runtime::Builder::new_multi_thread();
            if let Some(threads) = threads {
                runtime.worker_threads(threads);
            }
            runtime
        }
    };
    runtime.enable_all();
    let runtime = runtime.build()?;
    runtime.block_on(async {
        let client = Client::connect(&config).await?;
        let cluster = client.cluster().to_owned();
        let gateway = Gateway::new(client, &config)?;
        let listen = &config.gateway.listen;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen} ({})", config::GATEWAY_LISTEN))?;
        let address = listener.local_addr()?;
        if config.gateway.keys.is_none() && !config.gateway.anonymous_read {
            tracing::warn!(
                "neither {} nor {}=true is set: every request will be refused",
                config::GATEWAY_CREDENTIALS_FILE,
                config::GATEWAY_ANONYMOUS_READ
            );
        }
        // The worker's accept loop and limits (azimuth.worker.http.*): S3
        // clients must not hold the gateway either. Plain HTTP: the site's
        // TLS settings are for its own processes, not for S3 clients.
        let limits = azimuth_worker::serve::Limits {
            header_timeout: config.worker.header_timeout,
            max_header_bytes: config.worker.max_header_bytes,
            max_connections: config.worker.max_connections,
        };
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let stats = std::sync::Arc::new(azimuth_worker::serve::ServerStats::default());
        // The hot path is asked before the router (`Gateway::answer_directly`).
        let service = azimuth_worker::WorkerService::from_router(gateway.router())
            .with_front(std::sync::Arc::new(gateway.clone()));
        let server = tokio::spawn(azimuth_worker::serve::serve(
            listener, service, None, limits, stats, stopped,
        ));
        // Scripts and tests read this line to find the gateway.
        println!("gateway of cluster {cluster} listening on http://{address}");
        super::worker::shutdown_signal().await;
        let _ = stop.send(true);
        let _ = server.await;
        anyhow::Ok(Outcome::Success)
    })
}
