//! An informer over the real HTTP client, against a test server whose pods include one that
//! does not decode (`spec.containers` is a string, as a newer client might write some field):
//! the informer caches the good pods, keeps watching, never re-lists in a loop, and reports
//! the bad pod once per resourceVersion with a `FailedToDecode` Warning Event, which the
//! recorder posts to the same server.

mod support;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use orchestra_api::k8s_openapi::api::core::v1::Pod;
use orchestra_api::{Client, Status};
use orchestra_client::{HttpClient, Kubeconfig};
use orchestra_controller::events::{Recorder, Reporter};
use orchestra_controller::informer::{
    Backoff, FAILED_TO_DECODE, InformerConfig, SharedInformerFactory, WatcherConfig,
};
use serde_json::{Value, json};
use support::{eventually_within, lock};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(20);

fn good_pod(name: &str, rv: &str) -> Value {
    json!({"metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}"), "resourceVersion": rv},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}})
}

/// A pod a newer client wrote: `spec.containers` is a string.
fn bad_pod(rv: &str) -> Value {
    json!({"metadata": {"name": "bad", "namespace": "shop", "uid": "uid-bad", "resourceVersion": rv},
        "spec": {"containers": "nginx:1.27"}})
}

fn pod_list(rv: &str, items: Vec<Value>) -> String {
    json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": rv}, "items": items})
        .to_string()
}

fn watch_line(event_type: &str, mut object: Value) -> String {
    object["apiVersion"] = json!("v1");
    object["kind"] = json!("Pod");
    json!({"type": event_type, "object": object}).to_string() + "\n"
}

fn expired_line() -> String {
    json!({"type": "ERROR", "object": Status::expired("too old resource version: 12 (20)")})
        .to_string()
        + "\n"
}

/// One scripted watch answer: lines sent at once, then, if given, lines the test sends later
/// on the same connection (which stays open until the test ends).
struct WatchAnswer {
    lines: Vec<String>,
    later: Option<mpsc::UnboundedReceiver<String>>,
}

/// What the test server answers and what it was asked.
#[derive(Default)]
struct Script {
    lists: VecDeque<String>,
    watches: VecDeque<WatchAnswer>,
    /// Each request as `METHOD path?query`.
    requests: Vec<String>,
    /// The Events posted to it.
    events: Vec<Value>,
}

fn json_answer(code: StatusCode, body: &Value) -> Response {
    (
        code,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn answer(script: &Mutex<Script>, method: &Method, uri: &str, body: Bytes) -> Response {
    let mut script = lock(script);
    script.requests.push(format!("{method} {uri}"));
    if let Some(name) = uri.strip_prefix("/api/v1/namespaces/shop/events") {
        return match (method, name) {
            (&Method::POST, "") => {
                let mut event: Value = serde_json::from_slice(&body).expect("an Event");
                event["metadata"]["resourceVersion"] = json!("900");
                script.events.push(event.clone());
                json_answer(StatusCode::CREATED, &event)
            }
            _ => (StatusCode::METHOD_NOT_ALLOWED, "not scripted").into_response(),
        };
    }
    if *method != Method::GET || !uri.starts_with("/api/v1/pods") {
        return (StatusCode::NOT_FOUND, "not scripted").into_response();
    }
    if !uri.contains("watch=true") {
        return match script.lists.pop_front() {
            Some(list) => ([("content-type", "application/json")], list).into_response(),
            None => (StatusCode::INTERNAL_SERVER_ERROR, "no more lists").into_response(),
        };
    }
    let Some(WatchAnswer { lines, later }) = script.watches.pop_front() else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "no more watches").into_response();
    };
    let first = futures::stream::iter(lines);
    let body = match later {
        Some(receiver) => {
            let later = futures::stream::unfold(receiver, |mut receiver| async move {
                let line = receiver.recv().await?;
                Some((line, receiver))
            });
            Body::from_stream(first.chain(later).map(Ok::<_, std::convert::Infallible>))
        }
        None => Body::from_stream(first.map(Ok::<_, std::convert::Infallible>)),
    };
    ([("content-type", "application/json")], body).into_response()
}

/// Serves `script` on a loopback port; returns a client of it.
async fn serve(script: Arc<Mutex<Script>>) -> Arc<HttpClient> {
    let router = axum::Router::new().fallback(move |request: Request| {
        let script = script.clone();
        async move {
            let method = request.method().clone();
            let uri = request.uri().to_string();
            let body = axum::body::to_bytes(request.into_body(), 1 << 20)
                .await
                .unwrap_or_default();
            answer(&script, &method, &uri, body)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: test\n\
         clusters: [{{name: test, cluster: {{server: 'http://{addr}'}}}}]\n\
         users: [{{name: test, user: {{}}}}]\n\
         contexts: [{{name: test, context: {{cluster: test, user: test}}}}]\n"
    );
    let context = Kubeconfig::from_yaml(&kubeconfig)
        .expect("kubeconfig")
        .current()
        .expect("context");
    Arc::new(HttpClient::from_context(&context).expect("client"))
}

fn requests(script: &Mutex<Script>, watch: bool) -> usize {
    lock(script)
        .requests
        .iter()
        .filter(|r| r.starts_with("GET /api/v1/pods") && r.contains("watch=true") == watch)
        .count()
}

fn decode_events(script: &Mutex<Script>) -> Vec<Value> {
    lock(script)
        .events
        .iter()
        .filter(|e| e["reason"] == FAILED_TO_DECODE)
        .cloned()
        .collect()
}

#[tokio::test]
async fn an_undecodable_pod_is_skipped_reported_once_and_the_watch_goes_on() {
    let (more, later) = mpsc::unbounded_channel();
    let script = Arc::new(Mutex::new(Script {
        lists: VecDeque::from([
            pod_list("10", vec![good_pod("good-1", "5"), bad_pod("6")]),
            // The re-list after the 410: the bad pod, unchanged, comes again.
            pod_list(
                "12",
                vec![
                    good_pod("good-1", "5"),
                    bad_pod("6"),
                    good_pod("good-2", "11"),
                ],
            ),
        ]),
        watches: VecDeque::from([
            WatchAnswer {
                lines: vec![
                    watch_line("ADDED", good_pod("good-2", "11")),
                    expired_line(),
                ],
                later: None,
            },
            WatchAnswer {
                lines: vec![watch_line("ADDED", good_pod("good-3", "13"))],
                later: Some(later),
            },
        ]),
        ..Script::default()
    }));
    let client = serve(script.clone()).await;
    let quick = Backoff {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(50),
        ..Backoff::default()
    };
    let factory = SharedInformerFactory::with_config(
        client.clone() as Arc<dyn Client>,
        None,
        InformerConfig::default().watcher(WatcherConfig::default().backoff(quick)),
    );
    let pods = factory.informer::<Pod>();
    // Given after the informer was handed out: the factory passes it on.
    factory.set_recorder(Recorder::new(
        client.clone() as Arc<dyn Client>,
        Reporter::new("test-controller-manager"),
    ));
    let cache = pods.cache();
    let cached = || {
        let mut names: Vec<(String, String)> = cache
            .list()
            .iter()
            .map(|p| {
                (
                    p.metadata.name.clone().unwrap_or_default(),
                    p.metadata.resource_version.clone().unwrap_or_default(),
                )
            })
            .collect();
        names.sort();
        names
    };
    factory.start();
    tokio::time::timeout(WAIT, factory.wait_for_cache_sync())
        .await
        .expect("the informer syncs despite the bad pod")
        .expect("synced");

    // After the 410 and the re-list, the good pod of the second watch arrives.
    eventually_within("good-3 in the cache", WAIT, || async {
        cache.get(Some("shop"), "good-3").map(|_| ())
    })
    .await;
    // A good change on the same connection arrives too; when it is cached, everything sent
    // before it on that connection has been handled, without a new request.
    more.send(watch_line("MODIFIED", good_pod("good-1", "14")))
        .expect("the watch is open");
    eventually_within("good-1 at resourceVersion 14", WAIT, || async {
        cache
            .get(Some("shop"), "good-1")
            .filter(|p| p.metadata.resource_version.as_deref() == Some("14"))
            .map(|_| ())
    })
    .await;
    assert_eq!(
        cached(),
        [
            ("good-1".to_owned(), "14".to_owned()),
            ("good-2".to_owned(), "11".to_owned()),
            ("good-3".to_owned(), "13".to_owned()),
        ],
        "exactly the good pods are cached"
    );
    assert_eq!(
        (requests(&script, false), requests(&script, true)),
        (2, 2),
        "one list and one watch, and one of each after the 410 — no loop: {:?}",
        lock(&script).requests
    );

    let events = eventually_within("the FailedToDecode Event", WAIT, || async {
        Some(decode_events(&script)).filter(|events| !events.is_empty())
    })
    .await;
    let [event] = &events[..] else {
        panic!("expected exactly one Event for the bad pod at resourceVersion 6: {events:#?}");
    };
    assert_eq!(event["type"], "Warning");
    assert_eq!(event["reason"], FAILED_TO_DECODE);
    assert_eq!(event["metadata"]["namespace"], "shop");
    assert_eq!(
        event["involvedObject"],
        json!({"apiVersion": "v1", "kind": "Pod", "namespace": "shop", "name": "bad",
            "uid": "uid-bad", "resourceVersion": "6"})
    );
    let message = event["message"].as_str().expect("a message");
    assert!(
        message.contains("invalid type: string \"nginx:1.27\", expected a sequence"),
        "the message names the decode error: {message}"
    );
    assert_eq!(event["source"]["component"], "test-controller-manager");
    assert_eq!(event["count"], 1);

    // The bad pod changes and is still unreadable: its new resourceVersion is reported again;
    // it never reaches the cache, and the good change after it does.
    more.send(watch_line("MODIFIED", bad_pod("15")))
        .expect("open");
    more.send(watch_line("MODIFIED", good_pod("good-2", "16")))
        .expect("open");
    eventually_within("good-2 at resourceVersion 16", WAIT, || async {
        cache
            .get(Some("shop"), "good-2")
            .filter(|p| p.metadata.resource_version.as_deref() == Some("16"))
            .map(|_| ())
    })
    .await;
    let events = eventually_within("the second FailedToDecode Event", WAIT, || async {
        Some(decode_events(&script)).filter(|events| events.len() >= 2)
    })
    .await;
    let versions: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e["involvedObject"]["resourceVersion"].clone(),
                e["count"].clone(),
            )
        })
        .collect();
    assert_eq!(versions, [(json!("6"), json!(1)), (json!("15"), json!(1))]);
    assert!(cache.get(Some("shop"), "bad").is_none());
    assert_eq!((requests(&script, false), requests(&script, true)), (2, 2));
    factory.shutdown();
}
