//! An HTTP server whose reads go through the multi-zone read path:
//! `GET /<path>` (with an optional `Range: bytes=A-B` or `bytes=A-`) is
//! served from the replica the policy ranks first, failing over across
//! zones at the exact byte, the UFS last. `GET /metrics` gives the client's
//! counters by source tier.
//!
//! Run: `cargo run -p azimuth-client --example http-reads -- site.properties 127.0.0.1:8080`

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use azimuth_client::{Client, SiteConfig};
use futures::StreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let site = args
        .next()
        .ok_or("usage: http-reads SITE_FILE [LISTEN_ADDRESS]")?;
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let config = SiteConfig::load(Some(std::path::Path::new(&site)), |_| {})?;
    let client = Client::connect(&config).await?;
    let app = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(|State(c): State<Client>| async move { c.metrics() }),
        )
        .route("/{*path}", axum::routing::get(read))
        .with_state(client);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

async fn read(
    State(client): State<Client>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let Some((offset, length)) = range.map_or(Some((0, None)), parse_range) else {
        return (
            StatusCode::RANGE_NOT_SATISFIABLE,
            "only bytes=A-B and bytes=A-\n",
        )
            .into_response();
    };
    let mut stream = client.read(&path, offset, length);
    // Wait for the first chunk: a read that fails before any byte gets an
    // error status; one that fails later can only cut the body short.
    let first = match stream.next().await {
        Some(Err(e)) => return (StatusCode::BAD_GATEWAY, format!("{e}\n")).into_response(),
        first => first,
    };
    let status = if range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let body = futures::stream::iter(first).chain(stream);
    (status, Body::from_stream(body)).into_response()
}

/// `bytes=A-B` as (A, Some(B - A + 1)), `bytes=A-` as (A, None).
fn parse_range(value: &str) -> Option<(u64, Option<u64>)> {
    let (first, last) = value.strip_prefix("bytes=")?.split_once('-')?;
    let first: u64 = first.parse().ok()?;
    match last {
        "" => Some((first, None)),
        last => last
            .parse::<u64>()
            .ok()
            .filter(|&l| l >= first)
            .map(|l| (first, Some(l - first + 1))),
    }
}
