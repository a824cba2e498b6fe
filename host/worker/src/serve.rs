//! The worker's accept loop, with the limits that keep one client from
//! taking the worker: a deadline for a request's headers (a client that
//! sends half a request and waits is cut off), a cap on the headers' size
//! (431 beyond it), and a cap on open connections (one past it is closed at
//! once, and counted). On shutdown it stops accepting, lets requests in
//! flight finish (up to 5 s), and closes idle connections.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

use crate::deadline::ConnectionTimer;
use crate::http::WorkerService;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// How long requests in flight may take to finish once shutdown begins.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// The limits of the worker's HTTP server.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Time a request's headers may take to arrive in full.
    pub header_timeout: Duration,
    /// Bytes a request's headers may take.
    pub max_header_bytes: usize,
    /// Connections open at once.
    pub max_connections: usize,
}

/// What the server counts.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Connections open now.
    pub open: AtomicU64,
    /// Connections closed at once because `max_connections` were open.
    pub refused: AtomicU64,
}

/// Serves `service` on `listener` (over TLS with `tls`) within `limits` until
/// `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    service: WorkerService,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    stats: Arc<ServerStats>,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_header_bytes);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(error) => {
                    // Out of file descriptors, usually: wait for some to close.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopping(&mut shutdown) => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            stats.refused.fetch_add(1, Ordering::Relaxed);
            drop(tcp);
            continue;
        };
        // Responses go out as a header write then body writes: without
        // TCP_NODELAY, Nagle holds the body until the client's delayed ACK.
        let _ = tcp.set_nodelay(true);
        // A timer of the connection's own for its header deadline
        // (`deadline`): hyper arms it once per request.
        let mut http = http.clone();
        http.timer(ConnectionTimer::new());
        let (watcher, service, tls) = (graceful.watcher(), service.clone(), tls.clone());
        let stats = stats.clone();
        stats.open.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            // A connection's end (a client gone, a header deadline missed, a
            // handshake refused) is the client's business, not the worker's.
            match tls {
                None => {
                    let _ = watcher
                        .watch(http.serve_connection(TokioIo::new(tcp), service))
                        .await;
                }
                // The handshake, too, must finish within the header deadline.
                Some(acceptor) => {
                    match timeout(limits.header_timeout, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let service = match stream.get_ref().1.peer_certificates() {
                                Some(_) => service.certified(),
                                None => service,
                            };
                            let _ = watcher
                                .watch(http.serve_connection(TokioIo::new(stream), service))
                                .await;
                        }
                        Ok(Err(error)) => tracing::debug!(%error, "TLS handshake refused"),
                        Err(_) => tracing::debug!("TLS handshake past the header deadline"),
                    }
                }
            }
            stats.open.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN_LIMIT, graceful.shutdown()).await;
}

/// Resolves once `shutdown` turns true (or its sender is gone).
async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
