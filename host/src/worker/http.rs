//! The worker's HTTP API. For now: `/healthz` and `/metrics`; the file routes
//! come with the page cache.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use tokio::sync::watch;

use super::is_registered;
use crate::membership::RegistrationState;
use crate::policy::PolicyEngine;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The policy engine, if this worker runs a policy.
    pub engine: Option<PolicyEngine>,
    /// Registration state, if this worker registers in etcd.
    pub registered: Option<watch::Receiver<RegistrationState>>,
}

/// The worker's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// 200 while the worker can serve. Registration trouble is reported in the
/// body, not the status: a worker whose etcd is down still serves reads.
async fn healthz(State(state): State<AppState>) -> (StatusCode, String) {
    let registration = match &state.registered {
        None => "static".to_owned(),
        Some(rx) => format!("{:?}", *rx.borrow()),
    };
    (
        StatusCode::OK,
        format!("ok\nregistration: {registration}\n"),
    )
}

async fn metrics(State(state): State<AppState>) -> String {
    let mut out = String::new();
    if let Some(rx) = &state.registered {
        out.push_str("# HELP azimuth_worker_registered 1 while this worker's membership key is registered in etcd.\n");
        out.push_str("# TYPE azimuth_worker_registered gauge\n");
        out.push_str(&format!(
            "azimuth_worker_registered {}\n",
            u8::from(is_registered(&rx.borrow()))
        ));
    }
    if let Some(engine) = &state.engine {
        out.push_str(&engine.render_metrics());
    }
    out
}
