//! The ceiling of the HTTP stack the worker is built on: a bare hyper 1.x
//! server (tokio multi-thread, `TCP_NODELAY`, HTTP/1 keep-alive) answering
//! `GET /files/NAME` with the bytes of `DIR/NAME`, read into memory at
//! start. No routing, no cache, no checks: what any server on this stack
//! pays at least. `host/cli/benches/worker_vs_nginx.sh` runs it beside
//! nginx and the worker, so that every run shows the ceiling.
//!
//! Run: `cargo run --release -p azimuth-worker --example bare-hyper -- DIR 127.0.0.1:0`
//! (prints `listening on http://ADDR`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(listen)) = (args.next(), args.next()) else {
        eprintln!("usage: bare-hyper DIR LISTEN_ADDR");
        std::process::exit(2);
    };
    let mut files = HashMap::new();
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            let name = format!("/files/{}", entry.file_name().to_string_lossy());
            files.insert(name, Bytes::from(std::fs::read(entry.path())?));
        }
    }
    let files = Arc::new(files);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let listener = tokio::net::TcpListener::bind(&listen).await?;
            println!("listening on http://{}", listener.local_addr()?);
            loop {
                let (tcp, _) = listener.accept().await?;
                tcp.set_nodelay(true)?;
                let files = files.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let body = files.get(request.uri().path()).cloned();
                        async move {
                            Ok::<_, Infallible>(match body {
                                Some(bytes) => Response::new(Full::new(bytes)),
                                None => {
                                    let mut missing = Response::new(Full::new(Bytes::new()));
                                    *missing.status_mut() = StatusCode::NOT_FOUND;
                                    missing
                                }
                            })
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        })
}
