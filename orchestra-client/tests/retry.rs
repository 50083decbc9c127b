//! Retries as client-go does them, against a server of the test's own that fails on purpose:
//! reads are retried through 503s and 429s, writes only when the server says `Retry-After`,
//! `Retry-After` is waited out, the budget is finite, and an error body that is not a Status
//! still becomes one.

mod support;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::core::v1::ConfigMap;
use orchestra_api::{Api, Client, PostParams, StatusReason};
use orchestra_client::{HttpClient, RetryPolicy};
use serde_json::json;
use support::{FakeServer, quick_retries};

/// One scripted answer.
#[derive(Clone)]
struct Scripted {
    code: StatusCode,
    retry_after: Option<&'static str>,
    body: String,
}

fn failure(code: u16, retry_after: Option<&'static str>) -> Scripted {
    let status =
        orchestra_api::Status::failure(support_reason(code), format!("scripted failure {code}"))
            .with_code(code);
    Scripted {
        code: StatusCode::from_u16(code).expect("code"),
        retry_after,
        body: serde_json::to_string(&status).expect("status"),
    }
}

fn support_reason(code: u16) -> StatusReason {
    orchestra_client::decode::reason_for_code(code)
}

fn config_map_answer(name: &str) -> Scripted {
    Scripted {
        code: StatusCode::OK,
        retry_after: None,
        body: json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default", "resourceVersion": "5"}})
        .to_string(),
    }
}

/// A server that answers from `script` in order (the last answer repeats), counting requests.
async fn scripted(script: Vec<Scripted>) -> (FakeServer, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let queue = Arc::new(Mutex::new(VecDeque::from(script)));
    let counter = count.clone();
    let router = axum::Router::new().fallback(move |_request: Request| {
        let queue = queue.clone();
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            let next = {
                let mut queue = queue.lock().expect("lock");
                if queue.len() > 1 {
                    queue.pop_front()
                } else {
                    queue.front().cloned()
                }
            }
            .expect("a scripted answer");
            let mut response: Response =
                (next.code, [("content-type", "application/json")], next.body).into_response();
            if let Some(wait) = next.retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", wait.parse().expect("header"));
            }
            response
        }
    });
    (FakeServer::start(router).await, count)
}

fn config_maps(client: HttpClient) -> Api<ConfigMap> {
    Api::namespaced(Arc::new(client) as Arc<dyn Client>, "default")
}

fn new_config_map() -> ConfigMap {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("settings".into());
    cm
}

#[tokio::test]
async fn a_read_is_retried_through_503_and_429_until_it_succeeds() {
    let (server, count) = scripted(vec![
        failure(503, None),
        failure(429, None),
        config_map_answer("settings"),
    ])
    .await;
    let got = config_maps(server.client())
        .get("settings")
        .await
        .expect("third time lucky");
    assert_eq!(got.metadata.name.as_deref(), Some("settings"));
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_write_is_not_repeated_unless_the_server_says_retry_after() {
    let (server, count) = scripted(vec![failure(503, None), config_map_answer("settings")]).await;
    let err = config_maps(server.client())
        .create(&PostParams::default(), &new_config_map())
        .await
        .expect_err("a 503 without Retry-After ends a write");
    assert_eq!(
        (err.code, err.reason),
        (503, StatusReason::ServiceUnavailable)
    );
    assert_eq!(err.message, "scripted failure 503");
    assert_eq!(count.load(Ordering::SeqCst), 1);

    let (server, count) =
        scripted(vec![failure(429, Some("0")), config_map_answer("settings")]).await;
    let created = config_maps(server.client())
        .create(&PostParams::default(), &new_config_map())
        .await
        .expect("a 429 with Retry-After is retried");
    assert_eq!(created.metadata.resource_version.as_deref(), Some("5"));
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn retry_after_is_waited_out() {
    let (server, count) =
        scripted(vec![failure(503, Some("1")), config_map_answer("settings")]).await;
    let started = Instant::now();
    config_maps(server.client())
        .get("settings")
        .await
        .expect("retried");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "answered after {:?}, before Retry-After allowed",
        started.elapsed()
    );
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_retry_budget_ends_with_the_last_answer() {
    let (server, count) = scripted(vec![failure(500, None)]).await;
    let policy = quick_retries();
    let err = config_maps(server.client().with_retry_policy(policy))
        .get("settings")
        .await
        .expect_err("the server never recovers");
    assert_eq!(err.code, 500);
    assert_eq!(
        count.load(Ordering::SeqCst),
        policy.max_retries as usize + 1
    );

    let (server, count) = scripted(vec![failure(503, None)]).await;
    let err = config_maps(server.client().with_retry_policy(RetryPolicy::never()))
        .get("settings")
        .await
        .expect_err("no retries");
    assert_eq!(err.code, 503);
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn client_errors_are_never_retried() {
    let (server, count) = scripted(vec![failure(404, None), config_map_answer("x")]).await;
    let err = config_maps(server.client())
        .get("settings")
        .await
        .expect_err("404");
    assert_eq!(err.code, 404);
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_error_body_that_is_not_a_status_becomes_one_with_the_http_code() {
    let (server, _) = scripted(vec![Scripted {
        code: StatusCode::BAD_GATEWAY,
        retry_after: None,
        body: "upstream unavailable".to_owned(),
    }])
    .await;
    let err = config_maps(server.client().with_retry_policy(RetryPolicy::never()))
        .get("settings")
        .await
        .expect_err("502");
    assert_eq!(err.code, 502);
    assert!(
        err.message.contains("upstream unavailable"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn an_unreachable_server_is_a_503_status_naming_it_after_the_retries() {
    // Bind and release a port so that nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let server = FakeServer::start(axum::Router::new()).await;
    let mut config = support::kubeconfig_for(
        &format!("https://127.0.0.1:{port}"),
        Some(server.pki.ca_cert_pem()),
        Default::default(),
    );
    config.users.clear();
    let path = support::write_kubeconfig(server.dir.path(), "dead.kubeconfig", &config);
    let client = HttpClient::from_kubeconfig(&path)
        .expect("client")
        .with_retry_policy(quick_retries());
    let started = Instant::now();
    let err = config_maps(client)
        .create(&PostParams::default(), &new_config_map())
        .await
        .expect_err("nothing listens");
    assert_eq!(
        (err.code, err.reason.clone()),
        (503, StatusReason::ServiceUnavailable)
    );
    assert!(
        err.message.contains(&format!(
            "cannot reach the API server at https://127.0.0.1:{port}"
        )),
        "{}",
        err.message
    );
    // Four retries of 10, 20, 40 and 80 ms: the connection failures were retried.
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );
}
