//! Watches over HTTPS: one unbroken stream of events across the connections under it, resumed
//! from the last revision delivered (an object's or a bookmark's), and `410 Gone` or a lost
//! server reported in-band so that informers re-list.

mod support;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::response::IntoResponse;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use orchestra_api::{
    Api, Client, ListParams, PostParams, WatchEvent, WatchParams, WatchStream, kinds,
};
use serde_json::json;
use support::{FakeServer, TestServer, WAIT};

fn config_map(name: &str) -> ConfigMap {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.to_owned());
    cm
}

fn name_of(event: &WatchEvent<Arc<ConfigMap>>) -> String {
    match event {
        WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => {
            o.metadata.name.clone().unwrap_or_default()
        }
        other => panic!("expected an object event, got {other:?}"),
    }
}

async fn next<T: std::fmt::Debug>(
    stream: &mut futures::stream::BoxStream<'static, WatchEvent<T>>,
) -> Option<WatchEvent<T>> {
    tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("the watch answers in time")
}

#[tokio::test]
async fn a_watch_continues_across_the_servers_timeout() {
    let server = TestServer::start().await;
    let http = Api::<ConfigMap>::namespaced(server.http.clone() as Arc<dyn Client>, "default");
    let start = http
        .list(&ListParams::default())
        .await
        .expect("list")
        .resource_version;
    let params = WatchParams {
        resource_version: Some(start),
        timeout_seconds: Some(1),
        ..WatchParams::default()
    };
    let mut events = http.watch(&params).await.expect("watch");
    // The same watch in-process, opened after the HTTP one: when it ends, the server has ended
    // the HTTP watch's first connection too.
    let mut clock = Api::<ConfigMap>::namespaced(server.local.clone(), "default")
        .watch(&params)
        .await
        .expect("local watch");

    http.create(&PostParams::default(), &config_map("before"))
        .await
        .expect("create");
    let first = next(&mut events).await.expect("an event");
    assert!(matches!(first, WatchEvent::Added(_)));
    assert_eq!(name_of(&first), "before");
    while next(&mut clock).await.is_some() {}

    // The server has closed the first connection; the stream resumes after "before".
    for name in ["after-1", "after-2"] {
        http.create(&PostParams::default(), &config_map(name))
            .await
            .expect("create");
    }
    let resumed: Vec<_> = [
        next(&mut events).await.expect("resumed"),
        next(&mut events).await.expect("resumed"),
    ]
    .iter()
    .map(name_of)
    .collect();
    assert_eq!(
        resumed,
        ["after-1", "after-2"],
        "nothing repeated, nothing lost"
    );
}

#[tokio::test]
async fn a_watch_ends_with_an_error_event_when_the_server_is_gone() {
    let server = TestServer::start().await;
    let pods = Api::<Pod>::namespaced(server.http.clone() as Arc<dyn Client>, "default");
    let start = pods
        .list(&ListParams::default())
        .await
        .expect("list")
        .resource_version;
    let mut events = pods
        .watch(&WatchParams {
            resource_version: Some(start),
            ..WatchParams::default()
        })
        .await
        .expect("watch");
    drop(server);
    match next(&mut events).await {
        Some(WatchEvent::Error(status)) => {
            assert_eq!(status.code, 503, "{}", status.message);
            assert!(
                status.message.contains("cannot reach the API server"),
                "{}",
                status.message
            );
        }
        other => panic!("expected an error event, got {other:?}"),
    }
    assert!(
        next(&mut events).await.is_none(),
        "the stream ends after the error"
    );
}

/// A watch server whose answers are scripted per request; records each request's query.
async fn scripted_watches(answers: Vec<(u16, String)>) -> (FakeServer, Arc<Mutex<Vec<String>>>) {
    let queries: Arc<Mutex<Vec<String>>> = Arc::default();
    let script = Arc::new(Mutex::new(VecDeque::from(answers)));
    let record = queries.clone();
    let router = axum::Router::new().fallback(move |request: Request| {
        let record = record.clone();
        let script = script.clone();
        async move {
            record
                .lock()
                .expect("lock")
                .push(request.uri().query().unwrap_or("").to_owned());
            let (code, body) = script
                .lock()
                .expect("lock")
                .pop_front()
                .unwrap_or((500, "no more answers".to_owned()));
            (
                axum::http::StatusCode::from_u16(code).expect("code"),
                [("content-type", "application/json")],
                body,
            )
                .into_response()
        }
    });
    (FakeServer::start(router).await, queries)
}

fn event(kind: &str, name: &str, rv: &str) -> String {
    json!({"type": kind, "object": {"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default", "resourceVersion": rv}}})
    .to_string()
        + "\n"
}

fn bookmark(rv: &str) -> String {
    json!({"type": "BOOKMARK", "object": {"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"resourceVersion": rv}}})
    .to_string()
        + "\n"
}

fn expired() -> String {
    serde_json::to_string(&orchestra_api::Status::expired(
        "too old resource version: 12 (40)",
    ))
    .expect("status")
}

async fn watch_config_maps(fake: &FakeServer, params: &WatchParams) -> WatchStream {
    fake.client()
        .watch(&kinds::CONFIGMAPS, Some("default"), params)
        .await
        .expect("watch")
}

#[tokio::test]
async fn resumes_from_the_last_bookmark_and_surfaces_410_on_resume() {
    let (fake, queries) = scripted_watches(vec![
        (200, event("ADDED", "a", "7") + &bookmark("12")),
        (410, expired()),
    ])
    .await;
    let mut events = watch_config_maps(
        &fake,
        &WatchParams {
            resource_version: Some("5".into()),
            allow_bookmarks: true,
            label_selector: Some("app=web".into()),
            ..WatchParams::default()
        },
    )
    .await;
    assert!(matches!(
        next(&mut events).await,
        Some(WatchEvent::Added(_))
    ));
    assert!(matches!(
        next(&mut events).await,
        Some(WatchEvent::Bookmark(b)) if b.metadata.resource_version == "12"
    ));
    match next(&mut events).await {
        Some(WatchEvent::Error(status)) => {
            assert_eq!(status.code, 410);
            assert_eq!(status.reason, orchestra_api::StatusReason::Expired);
        }
        other => panic!("expected 410, got {other:?}"),
    }
    assert!(next(&mut events).await.is_none());
    let queries = queries.lock().expect("lock").clone();
    assert_eq!(
        queries,
        [
            "watch=true&labelSelector=app%3Dweb&resourceVersion=5&allowWatchBookmarks=true",
            "watch=true&labelSelector=app%3Dweb&resourceVersion=12&allowWatchBookmarks=true",
        ]
    );
}

#[tokio::test]
async fn an_error_event_ends_the_stream_without_reconnecting() {
    let error = json!({"type": "ERROR", "object": serde_json::from_str::<serde_json::Value>(&expired()).expect("json")})
        .to_string()
        + "\n";
    let (fake, queries) = scripted_watches(vec![
        (
            200,
            event("MODIFIED", "a", "30") + &error + &event("ADDED", "late", "31"),
        ),
        (200, event("ADDED", "never", "32")),
    ])
    .await;
    let mut events = watch_config_maps(
        &fake,
        &WatchParams {
            resource_version: Some("20".into()),
            ..WatchParams::default()
        },
    )
    .await;
    assert!(matches!(
        next(&mut events).await,
        Some(WatchEvent::Modified(_))
    ));
    assert!(matches!(next(&mut events).await, Some(WatchEvent::Error(s)) if s.code == 410));
    assert!(next(&mut events).await.is_none());
    assert_eq!(queries.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn initial_events_are_delivered_again_when_cut_before_their_end_marker() {
    let end_marker = json!({"type": "BOOKMARK", "object": {"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"resourceVersion": "50", "annotations": {"k8s.io/initial-events-end": "true"}}}})
    .to_string()
        + "\n";
    let (fake, queries) = scripted_watches(vec![
        // Cut after the first of two initial objects.
        (200, event("ADDED", "b", "44")),
        (
            200,
            event("ADDED", "b", "44") + &event("ADDED", "a", "41") + &end_marker,
        ),
        (200, event("DELETED", "a", "51")),
        (410, expired()),
    ])
    .await;
    let mut events = watch_config_maps(
        &fake,
        &WatchParams {
            send_initial_events: Some(true),
            allow_bookmarks: true,
            ..WatchParams::default()
        },
    )
    .await;
    let mut seen = Vec::new();
    while let Some(event) = next(&mut events).await {
        seen.push(match event {
            WatchEvent::Added(o) => format!("ADDED {}", o.metadata().name.as_deref().unwrap_or("")),
            WatchEvent::Deleted(o) => {
                format!("DELETED {}", o.metadata().name.as_deref().unwrap_or(""))
            }
            WatchEvent::Bookmark(b) => format!("BOOKMARK {}", b.metadata.resource_version),
            WatchEvent::Modified(_) => "MODIFIED".to_owned(),
            WatchEvent::Error(s) => format!("ERROR {}", s.code),
        });
    }
    assert_eq!(
        seen,
        [
            "ADDED b",
            "ADDED b",
            "ADDED a",
            "BOOKMARK 50",
            "DELETED a",
            "ERROR 410"
        ]
    );
    let queries = queries.lock().expect("lock").clone();
    let initial = "watch=true&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan";
    assert_eq!(
        queries,
        [
            initial,
            initial,
            "watch=true&resourceVersion=50&allowWatchBookmarks=true",
            "watch=true&resourceVersion=51&allowWatchBookmarks=true",
        ]
    );
}

#[tokio::test]
async fn a_watch_that_cannot_start_is_an_error_at_once() {
    let (fake, _) = scripted_watches(vec![(410, expired())]).await;
    let err = fake
        .client()
        .watch(
            &kinds::CONFIGMAPS,
            Some("default"),
            &WatchParams {
                resource_version: Some("1".into()),
                ..WatchParams::default()
            },
        )
        .await
        .err()
        .expect("410");
    assert_eq!(err.code, 410);
}

/// A ConfigMap event whose `data` holds a number where Kubernetes has strings: it does not
/// decode into `ConfigMap`.
fn undecodable_event(kind: &str, name: &str, rv: &str) -> String {
    json!({"type": kind, "object": {"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "resourceVersion": rv},
        "data": {"replicas": 3}}})
    .to_string()
        + "\n"
}

#[tokio::test]
async fn a_watch_goes_on_past_an_object_that_cannot_be_decoded_and_resumes_after_it() {
    let (fake, queries) = scripted_watches(vec![
        (
            200,
            event("ADDED", "a", "21") + &undecodable_event("MODIFIED", "bad", "22"),
        ),
        (200, event("ADDED", "b", "23")),
    ])
    .await;
    let mut events = watch_config_maps(
        &fake,
        &WatchParams {
            resource_version: Some("20".into()),
            ..WatchParams::default()
        },
    )
    .await;
    assert!(matches!(
        next(&mut events).await,
        Some(WatchEvent::Added(_))
    ));
    match next(&mut events).await {
        Some(WatchEvent::Modified(object)) => {
            let bad = orchestra_api::UndecodableObject::of(&*object).expect("undecodable");
            let reference = bad.object_reference();
            assert_eq!(reference.name.as_deref(), Some("bad"));
            assert_eq!(reference.namespace.as_deref(), Some("default"));
            assert_eq!(reference.uid.as_deref(), Some("uid-bad"));
            assert!(
                bad.error().contains("invalid type: integer"),
                "{}",
                bad.error()
            );
        }
        other => panic!("expected the undecodable object, got {other:?}"),
    }
    // The connection ends; the watch resumes past the undecodable object, not before it.
    assert!(
        matches!(next(&mut events).await, Some(WatchEvent::Added(o)) if o.metadata().name.as_deref() == Some("b"))
    );
    let queries = queries.lock().expect("lock").clone();
    assert_eq!(
        queries,
        [
            "watch=true&resourceVersion=20",
            "watch=true&resourceVersion=22"
        ]
    );
}

#[tokio::test]
async fn typed_lists_set_undecodable_items_apart_and_typed_watches_skip_them() {
    let list = json!({"kind": "ConfigMapList", "apiVersion": "v1", "metadata": {"resourceVersion": "30"},
        "items": [
            {"metadata": {"name": "a", "namespace": "default", "resourceVersion": "28"}, "data": {"k": "v"}},
            {"metadata": {"name": "bad", "namespace": "default", "uid": "uid-bad", "resourceVersion": "29"}, "data": {"k": 1}},
        ]})
    .to_string();
    let (fake, _) = scripted_watches(vec![
        (200, list),
        (
            200,
            undecodable_event("ADDED", "bad-2", "31") + &event("ADDED", "c", "32"),
        ),
    ])
    .await;
    let api = Api::<ConfigMap>::namespaced(Arc::new(fake.client()), "default");
    let listed = api
        .list(&ListParams::default())
        .await
        .expect("the list survives");
    let names: Vec<_> = listed
        .items
        .iter()
        .map(|cm| cm.metadata.name.clone().unwrap_or_default())
        .collect();
    assert_eq!(names, ["a"]);
    let [bad] = &listed.undecodable[..] else {
        panic!("expected one undecodable item: {:?}", listed.undecodable);
    };
    assert_eq!(bad.object_reference().uid.as_deref(), Some("uid-bad"));
    let mut events = api
        .watch(&WatchParams {
            resource_version: Some(listed.resource_version),
            ..WatchParams::default()
        })
        .await
        .expect("watch");
    let first = next(&mut events).await.expect("an event");
    assert_eq!(name_of(&first), "c", "the undecodable object is skipped");
}
