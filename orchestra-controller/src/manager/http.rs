//! The manager's HTTP endpoints, in the shape of Kubernetes components' own:
//!
//! - `/healthz` (and `/livez`): `ok` while no supervised task has ended by itself while the
//!   manager runs;
//! - `/readyz`: `ok` once the manager runs and every started informer has synced, and while
//!   no task is waiting to be restarted after a panic;
//! - `/metrics`: the Prometheus text of [`Manager::metrics_text`].
//!
//! A failing check answers 500 with one `[+]name ok` or `[-]name failed: reason` line per
//! check; `?verbose` lists them on success too.

use std::fmt::Write as _;
use std::future::Future;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{Manager, TaskState};

/// The media type of `/metrics` (what `prometheus-client` writes).
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One named check and why it failed, if it did.
struct Check {
    name: &'static str,
    failure: Option<String>,
}

impl Manager {
    /// The routes `/healthz`, `/livez`, `/readyz` and `/metrics`, to serve alone
    /// ([`serve`](Self::serve)) or to merge into a larger router.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/healthz", get(healthz))
            .route("/livez", get(healthz))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics))
            .with_state(self.clone())
    }

    /// Serves [`router`](Self::router) on `listener` until `shutdown` completes.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }

    /// The text `/metrics` answers: every controller's and task's metrics in the Prometheus
    /// (OpenMetrics) text format.
    pub fn metrics_text(&self) -> String {
        match super::metrics::encode(&self.inner) {
            Ok(text) => text,
            Err(error) => {
                tracing::error!(%error, "could not encode the metrics");
                String::new()
            }
        }
    }

    fn health_checks(&self) -> Vec<Check> {
        let running = self.is_running();
        let ended: Vec<String> = self
            .status()
            .into_iter()
            .filter(|task| running && task.state == TaskState::Finished)
            .map(|task| task.name)
            .collect();
        vec![
            Check {
                name: "ping",
                failure: None,
            },
            Check {
                name: "tasks",
                failure: (!ended.is_empty())
                    .then(|| format!("ended while the manager runs: {}", ended.join(", "))),
            },
        ]
    }

    fn readiness_checks(&self) -> Vec<Check> {
        let restarting: Vec<String> = self
            .status()
            .into_iter()
            .filter(|task| task.state == TaskState::BackingOff)
            .map(|task| format!("{} ({} restarts)", task.name, task.restarts))
            .collect();
        vec![
            Check {
                name: "manager",
                failure: (!self.is_running()).then(|| "not running".to_owned()),
            },
            Check {
                name: "informer-sync",
                failure: (!self.factory().has_synced())
                    .then(|| "not every informer has synced".to_owned()),
            },
            Check {
                name: "tasks",
                failure: (!restarting.is_empty())
                    .then(|| format!("restarting after a panic: {}", restarting.join(", "))),
            },
        ]
    }
}

/// Answers a list of checks as Kubernetes' health endpoints do.
fn answer(checks: &[Check], verbose: bool, what: &str) -> Response {
    let failed = checks.iter().any(|check| check.failure.is_some());
    if !failed && !verbose {
        return (StatusCode::OK, "ok").into_response();
    }
    let mut body = String::new();
    for check in checks {
        // Writing to a String cannot fail.
        let _ = match &check.failure {
            None => writeln!(body, "[+]{} ok", check.name),
            Some(reason) => writeln!(body, "[-]{} failed: {reason}", check.name),
        };
    }
    let (status, verdict) = if failed {
        (StatusCode::INTERNAL_SERVER_ERROR, "failed")
    } else {
        (StatusCode::OK, "passed")
    };
    let _ = writeln!(body, "{what} check {verdict}");
    (status, body).into_response()
}

fn verbose(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&')
            .any(|pair| pair.split('=').next() == Some("verbose"))
    })
}

async fn healthz(State(manager): State<Manager>, RawQuery(query): RawQuery) -> Response {
    answer(
        &manager.health_checks(),
        verbose(query.as_deref()),
        "healthz",
    )
}

async fn readyz(State(manager): State<Manager>, RawQuery(query): RawQuery) -> Response {
    answer(
        &manager.readiness_checks(),
        verbose(query.as_deref()),
        "readyz",
    )
}

async fn metrics(State(manager): State<Manager>) -> Response {
    (
        [(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)],
        manager.metrics_text(),
    )
        .into_response()
}
