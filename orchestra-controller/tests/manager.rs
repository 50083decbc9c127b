//! The controller manager against the real in-process server: what an operator sees on its
//! HTTP endpoints, how it contains and restarts a panicking controller, and — with leader
//! election — that of two managers exactly one reconciles at any time, as the store's write
//! history shows.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use orchestra_api::k8s_openapi::api::core::v1::{ConfigMap, Event, Secret};
use orchestra_api::{
    Api, Client, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use orchestra_controller::controller::{Action, Controller, Retry, backoff_on_error};
use orchestra_controller::leader_election::{LeaderElectionConfig, LeaseLock};
use orchestra_controller::manager::{METRICS_CONTENT_TYPE, Manager, TaskState};
use orchestra_store::LocalClient;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use self::support::{Link, LinkState, WriteLog, lock, server};

const WAIT: Duration = Duration::from_secs(600);
const LEASE: Duration = Duration::from_secs(15);
const RENEW_DEADLINE: Duration = Duration::from_secs(10);
const RETRY: Duration = Duration::from_secs(2);
const MAX_RETRY: Duration = Duration::from_millis(4_400);

async fn create_config_map(client: &Arc<dyn Client>, name: &str) {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.into());
    Api::<ConfigMap>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &cm)
        .await
        .expect("the config map is created");
}

/// One HTTP/1.1 GET over a fresh connection: status, content type and body.
async fn http_get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).await.expect("the server accepts");
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8(response).expect("a text response");
    let (head, body) = response.split_once("\r\n\r\n").expect("headers end");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let content_type = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-type")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default();
    (status, content_type, body.to_owned())
}

/// Waits until `condition` holds, checking after each yield.
async fn until(what: &str, condition: impl Fn() -> bool) {
    let waited = tokio::time::timeout(WAIT, async {
        while !condition() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(waited.is_ok(), "timed out waiting for {what}");
}

/// Waits until `condition` holds, checking after each change `signal` announces (for paused
/// time, where a busy loop would keep the clock from advancing).
async fn until_signalled(what: &str, signal: &watch::Sender<u64>, condition: impl Fn() -> bool) {
    let mut changed = signal.subscribe();
    let waited = tokio::time::timeout(WAIT, async {
        while !condition() {
            if changed.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    })
    .await;
    assert!(waited.is_ok(), "timed out waiting for {what}");
}

/// Counts reconciles per object; `broken` objects fail and wait for a change.
#[derive(Default)]
struct Counts {
    calls: Mutex<BTreeMap<String, u32>>,
}

async fn count(cm: Arc<ConfigMap>, counts: Arc<Counts>) -> Result<Action, String> {
    let name = cm.metadata.name.clone().unwrap_or_default();
    *lock(&counts.calls).entry(name.clone()).or_default() += 1;
    if name.starts_with("broken") {
        return Err(format!("{name} cannot be reconciled"));
    }
    Ok(Action::await_change())
}

fn await_change_on_error(_cm: Arc<ConfigMap>, _error: &String, _ctx: Arc<Counts>) -> Retry {
    Retry::AwaitChange
}

#[tokio::test]
async fn health_readiness_and_metrics_of_every_controller_are_served_over_http() {
    let server = server().await;
    let client: Arc<dyn Client> = server;
    create_config_map(&client, "fine").await;
    create_config_map(&client, "broken").await;
    let manager = Manager::builder(client.clone()).build().unwrap();
    let counts = Arc::new(Counts::default());
    manager.add(
        Controller::<ConfigMap>::new(manager.factory()),
        count,
        await_change_on_error,
        counts.clone(),
    );

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = watch::channel(false);
    let serving = tokio::spawn({
        let manager = manager.clone();
        let mut stopped = stopped.clone();
        async move {
            manager
                .serve(listener, async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await
        }
    });
    let (status, _, body) = http_get(addr, "/readyz?verbose").await;
    assert_eq!(status, 500, "not ready before the manager runs: {body}");
    assert!(body.contains("[-]manager failed: not running"), "{body}");

    let running = tokio::spawn({
        let manager = manager.clone();
        let mut stopped = stopped.clone();
        async move {
            manager
                .run(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await
        }
    });
    until("both reconciles", || lock(&counts.calls).len() == 2).await;

    assert_eq!(http_get(addr, "/healthz").await.0, 200);
    let (status, _, body) = http_get(addr, "/readyz").await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    let (status, _, body) = http_get(addr, "/readyz?verbose").await;
    assert_eq!(status, 200);
    assert!(body.contains("[+]informer-sync ok"), "{body}");
    assert!(body.ends_with("readyz check passed\n"), "{body}");

    let (status, content_type, metrics) = http_get(addr, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(content_type, METRICS_CONTENT_TYPE);
    for line in [
        r#"controller_runtime_reconcile_total{controller="configmaps",result="success"} 1"#,
        r#"controller_runtime_reconcile_total{controller="configmaps",result="error"} 1"#,
        r#"controller_runtime_reconcile_errors_total{controller="configmaps"} 1"#,
        r#"controller_runtime_reconcile_panics_total{controller="configmaps"} 0"#,
        r#"controller_runtime_reconcile_time_seconds_count{controller="configmaps"} 2"#,
        r#"controller_runtime_max_concurrent_reconciles{controller="configmaps"} 1"#,
        r#"controller_runtime_active_workers{controller="configmaps"} 0"#,
        r#"workqueue_depth{name="configmaps"} 0"#,
        r#"workqueue_adds_total{name="configmaps"} 2"#,
        r#"workqueue_retries_total{name="configmaps"} 0"#,
        r#"workqueue_work_duration_seconds_count{name="configmaps"} 2"#,
        r#"orchestra_manager_task_restarts_total{task="configmaps"} 0"#,
        r#"orchestra_manager_task_running{task="configmaps"} 1"#,
        "# EOF",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "missing {line:?} in\n{metrics}"
        );
    }
    assert!(
        metrics.contains(r#"controller_runtime_reconcile_time_seconds_bucket{le="+Inf",controller="configmaps"} 2"#)
            || metrics.contains(r#"controller_runtime_reconcile_time_seconds_bucket{controller="configmaps",le="+Inf"} 2"#),
        "{metrics}"
    );

    stop.send_replace(true);
    running.await.unwrap();
    serving.await.unwrap().unwrap();
    assert!(!manager.is_running());
    assert_eq!(manager.status()[0].state, TaskState::Idle);
}

#[tokio::test]
async fn a_task_that_ends_by_itself_fails_the_health_check() {
    let server = server().await;
    let client: Arc<dyn Client> = server;
    let manager = Manager::builder(client).build().unwrap();
    manager.add_task("one-shot", || async {});
    let running = tokio::spawn({
        let manager = manager.clone();
        async move { manager.run(std::future::pending()).await }
    });
    until("the task to end", || {
        manager.status()[0].state == TaskState::Finished
    })
    .await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = tokio::spawn({
        let manager = manager.clone();
        async move { manager.serve(listener, std::future::pending()).await }
    });
    let (status, _, body) = http_get(addr, "/healthz").await;
    assert_eq!(status, 500);
    assert!(
        body.contains("[-]tasks failed: ended while the manager runs: one-shot"),
        "{body}"
    );
    assert!(body.contains("[+]ping ok"));
    running.abort();
    serving.abort();
}

#[tokio::test(start_paused = true)]
async fn a_panicking_controller_is_restarted_with_back_off_reported_and_contained() {
    let server = server().await;
    let client: Arc<dyn Client> = server.clone();
    create_config_map(&client, "poison").await;
    let mut secret = Secret::default();
    secret.metadata.name = Some("unrelated".into());
    Api::<Secret>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let manager = Manager::builder(client.clone())
        .name("test-manager")
        .build()
        .unwrap();

    // The config map controller panics on its first three runs; recovery is off, so each
    // panic ends the controller's task.
    let runs: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let ran = Arc::new(watch::channel(0u64).0);
    let reconcile = {
        let (runs, ran) = (runs.clone(), ran.clone());
        move |_cm: Arc<ConfigMap>, _ctx: Arc<()>| {
            let (runs, ran) = (runs.clone(), ran.clone());
            async move {
                let run = {
                    let mut runs = lock(&runs);
                    runs.push(Instant::now());
                    runs.len()
                };
                ran.send_modify(|n| *n += 1);
                if run <= 3 {
                    panic!("run {run} cannot cope");
                }
                Ok::<_, String>(Action::await_change())
            }
        }
    };
    manager.add(
        Controller::<ConfigMap>::new(manager.factory()).recover_panics(false),
        reconcile,
        backoff_on_error,
        Arc::new(()),
    );
    // The secrets controller is unaffected.
    let secrets_seen = Arc::new(AtomicU32::new(0));
    manager.add(
        Controller::<Secret>::new(manager.factory()),
        |_secret: Arc<Secret>, seen: Arc<AtomicU32>| async move {
            seen.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(Action::requeue(Duration::from_secs(1)))
        },
        backoff_on_error,
        secrets_seen.clone(),
    );
    let running = tokio::spawn({
        let manager = manager.clone();
        async move { manager.run(std::future::pending()).await }
    });

    until_signalled("the fourth run", &ran, || lock(&runs).len() == 4).await;
    let runs = lock(&runs).clone();
    let gaps: Vec<Duration> = runs.windows(2).map(|w| w[1] - w[0]).collect();
    for (gap, base) in gaps.iter().zip([1u64, 2, 4]) {
        let base = Duration::from_secs(base);
        assert!(
            *gap >= base && *gap <= base.mul_f64(1.1) + Duration::from_millis(50),
            "restart gaps {gaps:?}"
        );
    }
    let status = manager.status();
    assert_eq!(status[0].name, "configmaps");
    assert_eq!(status[0].restarts, 3);
    assert_eq!(status[0].state, TaskState::Running);
    assert_eq!(status[1].restarts, 0);
    assert!(
        secrets_seen.load(Ordering::SeqCst) >= 7,
        "the other controller kept reconciling during the restarts"
    );
    let metrics = manager.metrics_text();
    assert!(
        metrics
            .lines()
            .any(|l| l == r#"orchestra_manager_task_restarts_total{task="configmaps"} 3"#),
        "{metrics}"
    );

    let events = Api::<Event>::namespaced(client.clone(), "kube-system")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let panics: Vec<_> = events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("TaskPanicked"))
        .collect();
    assert_eq!(panics.len(), 3, "{events:?}");
    assert!(panics.iter().all(|e| e.type_.as_deref() == Some("Warning")));
    assert!(
        panics
            .iter()
            .all(|e| e.involved_object.name.as_deref() == Some("test-manager"))
    );
    assert!(
        panics
            .iter()
            .any(|e| e.message.as_deref().unwrap().contains("run 2 cannot cope"))
    );
    running.abort();
}

/// The writes to one config map, in store order: when, and which manager wrote.
#[derive(Default)]
struct Writes {
    writes: Mutex<Vec<(Instant, String)>>,
    changed: watch::Sender<u64>,
}

type History = Arc<Writes>;

/// Follows the store's history of `default/shared`.
async fn record_history(server: &Arc<LocalClient>) -> History {
    let history = History::default();
    let config_maps = Api::<ConfigMap>::namespaced(server.clone(), "default");
    // Every change from now on (the store has written its system objects before).
    let now = config_maps.list(&Default::default()).await.unwrap();
    let mut events = config_maps
        .watch(&WatchParams {
            resource_version: Some(now.resource_version),
            ..WatchParams::default()
        })
        .await
        .unwrap();
    tokio::spawn({
        let history = history.clone();
        async move {
            while let Some(event) = events.next().await {
                if let WatchEvent::Modified(cm) = event
                    && let Some(writer) = cm
                        .metadata
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get("example.com/writer"))
                {
                    lock(&history.writes).push((Instant::now(), writer.clone()));
                    history.changed.send_modify(|n| *n += 1);
                }
            }
        }
    });
    history
}

/// A manager `id` over its own link, leading through the shared Lease, with a controller
/// that stamps `default/shared` with its identity every second.
fn stamping_manager(link: &Arc<Link>, id: &str) -> Manager {
    let client: Arc<dyn Client> = link.clone();
    let manager = Manager::builder(client.clone())
        .identity(id)
        .leader_election(
            LeaseLock::new("kube-system", "stampers"),
            LeaderElectionConfig::default(),
        )
        .build()
        .unwrap();
    let reconcile = move |cm: Arc<ConfigMap>, ctx: Arc<(Arc<dyn Client>, String)>| async move {
        let (client, id) = &*ctx;
        Api::<ConfigMap>::namespaced(client.clone(), "default")
            .patch(
                cm.metadata.name.as_deref().unwrap(),
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {
                    "example.com/writer": id,
                    "example.com/at": format!("{:?}", Instant::now()),
                }}})),
            )
            .await
            .map_err(|status| status.to_string())?;
        Ok::<_, String>(Action::requeue(Duration::from_secs(1)))
    };
    manager.add(
        Controller::<ConfigMap>::new(manager.factory()),
        reconcile,
        backoff_on_error,
        Arc::new((client, id.to_owned())),
    );
    manager
}

/// The writers in order, runs merged: `[("a", n), ("b", m)]`.
fn writers(history: &History) -> Vec<(String, usize)> {
    let mut runs: Vec<(String, usize)> = Vec::new();
    for (_, writer) in lock(&history.writes).iter() {
        match runs.last_mut() {
            Some((last, n)) if last == writer => *n += 1,
            _ => runs.push((writer.clone(), 1)),
        }
    }
    runs
}

fn last_write_of(history: &History, id: &str) -> Option<Instant> {
    lock(&history.writes)
        .iter()
        .filter(|(_, w)| w == id)
        .map(|(at, _)| *at)
        .max()
}

fn first_write_of(history: &History, id: &str) -> Option<Instant> {
    lock(&history.writes)
        .iter()
        .filter(|(_, w)| w == id)
        .map(|(at, _)| *at)
        .min()
}

#[tokio::test(start_paused = true)]
async fn of_two_managers_exactly_one_reconciles_and_the_other_takes_over_when_it_dies() {
    let server = server().await;
    let writes = WriteLog::default();
    let client: Arc<dyn Client> = server.clone();
    create_config_map(&client, "shared").await;
    let history = record_history(&server).await;
    let a = stamping_manager(&Link::new(&server, &writes), "a");
    let b = stamping_manager(&Link::new(&server, &writes), "b");
    let run_a = tokio::spawn({
        let a = a.clone();
        async move { a.run(std::future::pending()).await }
    });
    until_signalled("a's first write", &history.changed, || {
        first_write_of(&history, "a").is_some()
    })
    .await;
    let run_b = tokio::spawn({
        let b = b.clone();
        async move { b.run(std::future::pending()).await }
    });
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(writers(&history).len(), 1, "only a writes while it leads");
    assert!(writers(&history)[0].1 >= 25, "{:?}", writers(&history));

    // a's process dies: no release, no goodbye.
    let died = Instant::now();
    run_a.abort();
    until_signalled("b's first write", &history.changed, || {
        first_write_of(&history, "b").is_some()
    })
    .await;
    let takeover = first_write_of(&history, "b").unwrap() - died;
    assert!(
        takeover <= LEASE + 2 * MAX_RETRY,
        "b took over {takeover:?} after a died"
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    let runs = writers(&history);
    assert_eq!(runs.len(), 2, "one hand-over, never interleaved: {runs:?}");
    assert_eq!((runs[0].0.as_str(), runs[1].0.as_str()), ("a", "b"));
    assert!(b.leader_elector().unwrap().is_leader());
    run_b.abort();
}

#[tokio::test(start_paused = true)]
async fn a_manager_that_cannot_renew_its_lease_stops_reconciling_within_the_renew_deadline() {
    let server = server().await;
    let writes = WriteLog::default();
    let client: Arc<dyn Client> = server.clone();
    create_config_map(&client, "shared").await;
    let history = record_history(&server).await;
    let link_a = Link::new(&server, &writes);
    let a = stamping_manager(&link_a, "a");
    let b = stamping_manager(&Link::new(&server, &writes), "b");
    let run_a = tokio::spawn({
        let a = a.clone();
        async move { a.run(std::future::pending()).await }
    });
    until_signalled("a's first write", &history.changed, || {
        first_write_of(&history, "a").is_some()
    })
    .await;
    let run_b = tokio::spawn({
        let b = b.clone();
        async move { b.run(std::future::pending()).await }
    });
    tokio::time::sleep(Duration::from_secs(9)).await;

    // Only a's Lease requests fail: its controller could still write, and must not.
    link_a.set_for("leases", LinkState::Failing);
    let cut = Instant::now();
    until_signalled("b's first write", &history.changed, || {
        first_write_of(&history, "b").is_some()
    })
    .await;
    let a_last = last_write_of(&history, "a").unwrap();
    let last_renewal = lock(&writes)
        .iter()
        .filter(|(_, holder)| holder == "a")
        .map(|(at, _)| *at)
        .max()
        .unwrap();
    assert!(last_renewal <= cut);
    assert!(
        a_last - last_renewal <= RETRY + RENEW_DEADLINE,
        "a kept reconciling {:?} after its last renewal",
        a_last - last_renewal
    );
    let b_first = first_write_of(&history, "b").unwrap();
    assert!(b_first > a_last, "no overlap");
    assert!(b_first - last_renewal >= LEASE);
    assert!(!a.leader_elector().unwrap().is_leader());
    assert_eq!(a.status()[0].state, TaskState::Idle);

    // a's link heals; it stays a candidate while b renews.
    link_a.set(LinkState::Up);
    tokio::time::sleep(Duration::from_secs(30)).await;
    let runs = writers(&history);
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[1].0, "b");
    run_a.abort();
    run_b.abort();
}

#[tokio::test]
async fn shutting_down_releases_the_lease_when_configured() {
    let server = server().await;
    let client: Arc<dyn Client> = server.clone();
    let manager = Manager::builder(client.clone())
        .identity("solo")
        .leader_election(
            LeaseLock::new("kube-system", "solo-manager"),
            LeaderElectionConfig {
                release_on_cancel: true,
                ..LeaderElectionConfig::default()
            },
        )
        .build()
        .unwrap();
    let started = Arc::new(AtomicU32::new(0));
    manager.add_task("worker", {
        let started = started.clone();
        move || {
            started.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<()>()
        }
    });
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn({
        let manager = manager.clone();
        async move {
            manager
                .run(async {
                    let _ = stopped.await;
                })
                .await
        }
    });
    until("the task to start", || started.load(Ordering::SeqCst) == 1).await;
    assert_eq!(manager.status()[0].state, TaskState::Running);
    stop.send(()).unwrap();
    running.await.unwrap();
    assert_eq!(manager.status()[0].state, TaskState::Idle);
    let lease = Api::<orchestra_api::k8s_openapi::api::coordination::v1::Lease>::namespaced(
        client,
        "kube-system",
    )
    .get("solo-manager")
    .await
    .unwrap();
    assert_eq!(
        lease.spec.as_ref().unwrap().holder_identity,
        None,
        "released"
    );
}
