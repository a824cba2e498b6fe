//! The worker's accept loop, with the limits that keep one client from
//! taking the worker: a deadline for a request's headers (a client that
//! sends half a request and waits is cut off), a cap on the headers' size
//! (431 beyond it), and a cap on open connections (one past it is closed at
//! once, and counted). On shutdown it stops accepting, lets requests in
//! flight finish (up to 5 s), and closes idle connections. Each connection
//! is served by the crate's own `connection` module: plain reads there,
//! anything else by hyper.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Waker;
use std::time::Duration;

use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

use crate::connection;
use crate::http::WorkerService;
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
    let stop = Arc::new(Stop::default());
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
        let (stop, service, tls, http) = (stop.clone(), service.clone(), tls.clone(), http.clone());
        let stats = stats.clone();
        stats.open.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let mut watch = stop.watch();
            // A connection's end (a client gone, a header deadline missed, a
            // handshake refused) is the client's business, not the worker's.
            match tls {
                None => connection::serve(tcp, &service, &http, &limits, &mut watch).await,
                // The handshake, too, must finish within the header deadline.
                Some(acceptor) => {
                    match timeout(limits.header_timeout, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let service = match stream.get_ref().1.peer_certificates() {
                                Some(_) => service.certified(),
                                None => service,
                            };
                            connection::serve(stream, &service, &http, &limits, &mut watch).await;
                        }
                        Ok(Err(error)) => tracing::debug!(%error, "TLS handshake refused"),
                        Err(_) => tracing::debug!("TLS handshake past the header deadline"),
                    }
                }
            }
            drop(watch);
            stats.open.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
    drop(listener);
    stop.stop();
    // Every connection holds a permit until it ends: all of them back is
    // every connection drained.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(DRAIN_LIMIT, permits.acquire_many(all)).await;
}

/// How connections learn that the server is stopping, so that each
/// finishes the request it is serving and closes. hyper_util's
/// `GracefulShutdown` polls a `watch` receiver's `changed()` on every poll
/// of every connection (200 of the worker's 12,000 instructions per cached
/// 4 KiB read); here a poll reads a flag, and a connection's waker is
/// handed over once.
#[derive(Default)]
pub(crate) struct Stop {
    stopping: AtomicBool,
    next_id: AtomicU64,
    /// The wakers of the connections being served, by connection.
    wakers: Mutex<HashMap<u64, Waker>>,
}

impl Stop {
    /// Tells every connection (now, and any served later) to finish.
    fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let wakers =
            std::mem::take(&mut *self.wakers.lock().unwrap_or_else(PoisonError::into_inner));
        wakers.into_values().for_each(Waker::wake);
    }

    /// One connection's view of the stop.
    pub(crate) fn watch(&self) -> Watch<'_> {
        Watch {
            stop: self,
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            handed: None,
        }
    }
}

/// One connection's view of [`Stop`]: whether the server is stopping, and
/// a wake when it starts to. Its waker is taken out when it is dropped.
pub(crate) struct Watch<'a> {
    stop: &'a Stop,
    id: u64,
    /// The waker handed over to `stop`, if any.
    handed: Option<Waker>,
}

impl Watch<'_> {
    /// Whether the server is stopping; if not, `waker` (unless it is the one
    /// already handed over) is woken when it does.
    pub(crate) fn stopping(&mut self, waker: &Waker) -> bool {
        let stop = self.stop;
        if stop.stopping.load(Ordering::Acquire) {
            return true;
        }
        if self.handed.as_ref().is_some_and(|h| h.will_wake(waker)) {
            return false;
        }
        stop.wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(self.id, waker.clone());
        self.handed = Some(waker.clone());
        // A stop between the first look and the insert took the wakers
        // before this one went in; it has set the flag by then.
        stop.stopping.load(Ordering::SeqCst)
    }

    /// Whether the server is stopping, without asking to be woken.
    pub(crate) fn stopped(&self) -> bool {
        self.stop.stopping.load(Ordering::Acquire)
    }

    /// Runs `connection` to its end; once the server is stopping,
    /// `shutdown` is called on it first (a hyper connection's
    /// `graceful_shutdown`: the request in flight is finished, an idle
    /// connection closed).
    pub(crate) async fn until_served<C: Future>(
        &mut self,
        connection: C,
        shutdown: impl FnOnce(Pin<&mut C>),
    ) -> C::Output {
        let mut connection = std::pin::pin!(connection);
        let mut shutdown = Some(shutdown);
        std::future::poll_fn(|cx| {
            if shutdown.is_some() && self.stopping(cx.waker()) {
                (shutdown.take().expect("checked"))(connection.as_mut());
            }
            connection.as_mut().poll(cx)
        })
        .await
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        if self.handed.is_some() {
            self.stop
                .wakers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&self.id);
        }
    }
}

/// Resolves once `shutdown` turns true (or its sender is gone).
async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
