//! The `Controller` against the real in-process server (`LocalClient` over a `Store`), as a
//! controller author sees it: which changes reconcile which objects, how failures and
//! requeues are retried, how workers share keys, and how a controller stops.
//!
//! Tests that measure waits run on tokio's paused clock; the others wait on conditions with a
//! timeout. None sleeps to synchronize.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use orchestra_api::k8s_openapi::api::core::v1::{ConfigMap, Secret};
use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use orchestra_api::{Api, Client, DeleteParams, Patch, PatchParams, PostParams, Status, kinds};
use orchestra_controller::controller::{Action, Controller, Retry, backoff_on_error};
use orchestra_controller::informer::{ObjectKey, SharedInformerFactory};
use orchestra_controller::workqueue::ItemExponentialFailureRateLimiter;
use orchestra_store::{LocalClient, MemoryKv, Store, StoreConfig};
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

/// How long a condition may take before a test fails (virtual time in paused tests).
const WAIT: Duration = Duration::from_secs(120);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn local_client() -> Arc<dyn Client> {
    let store = Store::open(
        Arc::new(MemoryKv::new()),
        kinds::BUILTIN.iter().map(|k| (*k).clone()),
        StoreConfig::default(),
    )
    .await
    .expect("the store opens");
    Arc::new(LocalClient::new(store))
}

fn config_maps(client: &Arc<dyn Client>) -> Api<ConfigMap> {
    Api::namespaced(client.clone(), "default")
}

fn secrets(client: &Arc<dyn Client>) -> Api<Secret> {
    Api::namespaced(client.clone(), "default")
}

async fn create_config_map(client: &Arc<dyn Client>, name: &str) -> Arc<ConfigMap> {
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": name},
        "data": {"v": "0"}
    }))
    .unwrap();
    config_maps(client)
        .create(&PostParams::default(), &cm)
        .await
        .expect("the config map is created")
}

async fn set_value(client: &Arc<dyn Client>, name: &str, value: &str) {
    config_maps(client)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"v": value}})),
        )
        .await
        .expect("the config map is patched");
}

fn owner_reference(owner: &ConfigMap, controller: bool) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: owner.metadata.name.clone().unwrap(),
        uid: owner.metadata.uid.clone().unwrap(),
        controller: Some(controller),
        ..OwnerReference::default()
    }
}

async fn create_secret(
    client: &Arc<dyn Client>,
    name: &str,
    labels: BTreeMap<String, String>,
    owners: Vec<OwnerReference>,
) {
    let mut secret = Secret::default();
    secret.metadata.name = Some(name.into());
    secret.metadata.labels = Some(labels);
    secret.metadata.owner_references = Some(owners);
    secrets(client)
        .create(&PostParams::default(), &secret)
        .await
        .expect("the secret is created");
}

async fn touch_secret(client: &Arc<dyn Client>, name: &str, value: &str) {
    secrets(client)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"v": value}})),
        )
        .await
        .expect("the secret is patched");
}

/// What reconciles saw: every call in order, with its time, and the objects in flight.
#[derive(Default)]
struct Log {
    calls: Mutex<Vec<(String, Instant)>>,
    in_flight: Mutex<BTreeSet<String>>,
    overlaps: Mutex<Vec<String>>,
    most_in_flight: Mutex<usize>,
    changed: watch::Sender<u64>,
}

impl Log {
    fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn record(&self, name: &str) {
        lock(&self.calls).push((name.to_owned(), Instant::now()));
        self.changed.send_modify(|n| *n += 1);
    }

    fn calls_of(&self, name: &str) -> Vec<Instant> {
        lock(&self.calls)
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, at)| *at)
            .collect()
    }

    fn names(&self) -> Vec<String> {
        lock(&self.calls).iter().map(|(n, _)| n.clone()).collect()
    }

    fn enter(&self, name: &str) {
        let mut in_flight = lock(&self.in_flight);
        if !in_flight.insert(name.to_owned()) {
            lock(&self.overlaps).push(name.to_owned());
        }
        let mut most = lock(&self.most_in_flight);
        *most = (*most).max(in_flight.len());
    }

    fn leave(&self, name: &str) {
        lock(&self.in_flight).remove(name);
    }

    async fn until(&self, what: &str, condition: impl Fn(&Self) -> bool) {
        let mut changed = self.changed.subscribe();
        let waited = tokio::time::timeout(WAIT, async {
            while !condition(self) {
                // The sender lives as long as `self`.
                let _ = changed.changed().await;
            }
        })
        .await;
        assert!(
            waited.is_ok(),
            "timed out waiting for {what}; calls: {:?}",
            self.names()
        );
    }
}

fn name_of(cm: &ConfigMap) -> String {
    cm.metadata.name.clone().unwrap_or_default()
}

/// A reconcile that records the call and succeeds.
async fn record(cm: Arc<ConfigMap>, log: Arc<Log>) -> Result<Action, String> {
    log.record(&name_of(&cm));
    Ok(Action::await_change())
}

fn started_factory(client: &Arc<dyn Client>) -> SharedInformerFactory {
    SharedInformerFactory::new(client.clone())
}

#[tokio::test]
async fn every_existing_object_is_reconciled_once_the_caches_have_synced() {
    let client = local_client().await;
    for name in ["a", "b", "c"] {
        create_config_map(&client, name).await;
    }
    let factory = started_factory(&client);
    let log = Log::new();
    let controller = Controller::<ConfigMap>::new(&factory);
    let metrics = controller.metrics();
    let run = tokio::spawn(controller.run(record, backoff_on_error, log.clone()));

    log.until("three reconciles", |log| log.names().len() == 3)
        .await;
    let mut names = log.names();
    names.sort();
    assert_eq!(names, ["a", "b", "c"]);

    set_value(&client, "b", "1").await;
    log.until("the change of b", |log| log.calls_of("b").len() == 2)
        .await;
    let snapshot = metrics.snapshot();
    assert_eq!(snapshot.name, "configmaps");
    assert_eq!(snapshot.reconciles.success, 4);
    assert_eq!(snapshot.errors, 0);
    assert_eq!(snapshot.queue.unwrap().adds, 4);
    run.abort();
}

#[tokio::test]
async fn a_change_of_an_owned_object_reconciles_its_controller_only() {
    let client = local_client().await;
    let parent = create_config_map(&client, "parent").await;
    let other = create_config_map(&client, "other").await;
    create_secret(
        &client,
        "controlled",
        BTreeMap::new(),
        vec![owner_reference(&parent, true)],
    )
    .await;
    // Owned but not controlled: the owner is not its controller.
    create_secret(
        &client,
        "merely-owned",
        BTreeMap::new(),
        vec![owner_reference(&other, false)],
    )
    .await;
    let factory = started_factory(&client);
    let log = Log::new();
    let run = tokio::spawn(Controller::<ConfigMap>::new(&factory).owns::<Secret>().run(
        record,
        backoff_on_error,
        log.clone(),
    ));
    log.until("the initial reconciles", |log| log.names().len() >= 2)
        .await;
    let initial_parent = log.calls_of("parent").len();

    touch_secret(&client, "merely-owned", "1").await;
    touch_secret(&client, "controlled", "1").await;
    log.until("the parent's reconcile", |log| {
        log.calls_of("parent").len() > initial_parent
    })
    .await;
    assert_eq!(
        log.calls_of("other").len(),
        1,
        "an owner that is not the controller is not reconciled for its child"
    );

    secrets(&client)
        .delete("controlled", &DeleteParams::default())
        .await
        .unwrap();
    log.until("the parent's reconcile after the delete", |log| {
        log.calls_of("parent").len() > initial_parent + 1
    })
    .await;
    run.abort();
}

#[tokio::test]
async fn watched_objects_reconcile_what_the_mapper_names_before_and_after_a_change() {
    let client = local_client().await;
    for name in ["red", "blue"] {
        create_config_map(&client, name).await;
    }
    let factory = started_factory(&client);
    let log = Log::new();
    let run = tokio::spawn(
        Controller::<ConfigMap>::new(&factory)
            .watches(|secret: &Secret| {
                let target = secret
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|labels| labels.get("for"))
                    .cloned();
                target.map(|name| ObjectKey::new(Some("default"), &name))
            })
            .run(record, backoff_on_error, log.clone()),
    );
    log.until("the initial reconciles", |log| log.names().len() == 2)
        .await;

    create_secret(
        &client,
        "key",
        [("for".to_owned(), "red".to_owned())].into(),
        Vec::new(),
    )
    .await;
    log.until("red's reconcile", |log| log.calls_of("red").len() == 2)
        .await;

    // Relabelled from red to blue: both hear of it.
    secrets(&client)
        .patch(
            "key",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"for": "blue"}}})),
        )
        .await
        .unwrap();
    log.until("both reconciles", |log| {
        log.calls_of("red").len() == 3 && log.calls_of("blue").len() == 2
    })
    .await;
    run.abort();
}

/// The log lines emitted while it is the thread's default subscriber: level and message.
#[derive(Clone, Default)]
struct LogLines(Arc<Mutex<Vec<(tracing::Level, String)>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for LogLines {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        lock(&self.0).push((*event.metadata().level(), message.0));
    }
}

impl LogLines {
    fn levels_of(&self, message: &str) -> Vec<tracing::Level> {
        lock(&self.0)
            .iter()
            .filter(|(_, m)| m == message)
            .map(|(level, _)| *level)
            .collect()
    }
}

#[tokio::test(start_paused = true)]
async fn a_conflict_is_retried_with_back_off_and_logged_at_debug_other_failures_at_warn() {
    use tracing_subscriber::layer::SubscriberExt;
    let logs = LogLines::default();
    let _logging =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(logs.clone()));
    let client = local_client().await;
    create_config_map(&client, "busy").await;
    let factory = started_factory(&client);
    let log = Log::new();
    let reconcile = {
        let client = client.clone();
        move |cm: Arc<ConfigMap>, log: Arc<Log>| {
            let client = client.clone();
            async move {
                log.record(&name_of(&cm));
                match log.calls_of("busy").len() {
                    // A write from a stale cache: the server answers 409 Conflict.
                    1 => {
                        let mut stale = (*cm).clone();
                        stale.metadata.resource_version = Some("1".into());
                        config_maps(&client)
                            .replace("busy", &PostParams::default(), &stale)
                            .await?;
                        unreachable!("a replace from resourceVersion 1 conflicts");
                    }
                    2 => Err(Status::internal("the disk is full")),
                    _ => Ok(Action::await_change()),
                }
            }
        }
    };
    let controller = Controller::<ConfigMap>::new(&factory).rate_limiter(|| {
        ItemExponentialFailureRateLimiter::new(Duration::from_secs(1), Duration::from_secs(60))
    });
    let metrics = controller.metrics();
    let run = tokio::spawn(controller.run(reconcile, backoff_on_error, log.clone()));

    log.until("a conflict, a failure and a success", |log| {
        log.calls_of("busy").len() == 3
    })
    .await;
    let calls = log.calls_of("busy");
    let gaps: Vec<Duration> = calls.windows(2).map(|w| w[1] - w[0]).collect();
    for (gap, expected) in gaps.iter().zip([1, 2]) {
        let expected = Duration::from_secs(expected);
        assert!(
            *gap >= expected && *gap < expected + Duration::from_millis(100),
            "both failures back off: gaps {gaps:?}"
        );
    }
    assert_eq!(
        metrics.snapshot().errors,
        2,
        "a conflict still counts as an error"
    );
    assert_eq!(
        logs.levels_of("reconcile met a conflict; retrying"),
        [tracing::Level::DEBUG]
    );
    assert_eq!(
        logs.levels_of("reconcile failed"),
        [tracing::Level::WARN],
        "only the other failure is a warning"
    );
    run.abort();
}

#[tokio::test(start_paused = true)]
async fn failures_are_retried_with_the_keys_exponential_back_off_and_success_resets_it() {
    let client = local_client().await;
    create_config_map(&client, "flaky").await;
    create_config_map(&client, "healthy").await;
    let factory = started_factory(&client);
    let log = Log::new();
    let failures_left = Arc::new(Mutex::new(3));
    let reconcile = {
        let failures_left = failures_left.clone();
        move |cm: Arc<ConfigMap>, log: Arc<Log>| {
            let failures_left = failures_left.clone();
            async move {
                log.record(&name_of(&cm));
                let mut left = lock(&failures_left);
                if name_of(&cm) == "flaky" && *left > 0 {
                    *left -= 1;
                    return Err(format!("{left} more failures to come"));
                }
                Ok(Action::await_change())
            }
        }
    };
    let controller = Controller::<ConfigMap>::new(&factory).rate_limiter(|| {
        ItemExponentialFailureRateLimiter::new(Duration::from_secs(1), Duration::from_secs(60))
    });
    let metrics = controller.metrics();
    let run = tokio::spawn(controller.run(reconcile, backoff_on_error, log.clone()));

    log.until("three failures and a success", |log| {
        log.calls_of("flaky").len() == 4
    })
    .await;
    let calls = log.calls_of("flaky");
    let gaps: Vec<Duration> = calls.windows(2).map(|w| w[1] - w[0]).collect();
    for (gap, expected) in gaps.iter().zip([1, 2, 4]) {
        let expected = Duration::from_secs(expected);
        assert!(
            *gap >= expected && *gap < expected + Duration::from_millis(100),
            "gaps {gaps:?}"
        );
    }
    assert_eq!(
        log.calls_of("healthy").len(),
        1,
        "other objects are not held up"
    );
    let snapshot = metrics.snapshot();
    assert_eq!(snapshot.errors, 3);
    assert_eq!(snapshot.reconciles.success, 2);
    assert_eq!(snapshot.queue.unwrap().retries, 3);

    // After the success the back-off starts over: the next failure waits one second again.
    *lock(&failures_left) = 1;
    let before = Instant::now();
    set_value(&client, "flaky", "1").await;
    log.until("a failure and its retry", |log| {
        log.calls_of("flaky").len() == 6
    })
    .await;
    let calls = log.calls_of("flaky");
    let retry = calls[5] - calls[4];
    assert!(calls[4] >= before);
    assert!(
        retry >= Duration::from_secs(1) && retry < Duration::from_secs(2),
        "waited {retry:?}"
    );
    run.abort();
}

#[tokio::test(start_paused = true)]
async fn the_error_policy_decides_between_a_fixed_delay_and_waiting_for_a_change() {
    let client = local_client().await;
    create_config_map(&client, "later").await;
    create_config_map(&client, "hopeless").await;
    let factory = started_factory(&client);
    let log = Log::new();
    let reconcile = |cm: Arc<ConfigMap>, log: Arc<Log>| async move {
        log.record(&name_of(&cm));
        Err::<Action, _>(name_of(&cm))
    };
    let error_policy = |_cm: Arc<ConfigMap>, error: &String, _log: Arc<Log>| match error.as_str() {
        "later" => Retry::After(Duration::from_secs(7)),
        _ => Retry::AwaitChange,
    };
    let run = tokio::spawn(Controller::<ConfigMap>::new(&factory).run(
        reconcile,
        error_policy,
        log.clone(),
    ));
    log.until("three tries of later", |log| {
        log.calls_of("later").len() == 3
    })
    .await;
    let calls = log.calls_of("later");
    assert_eq!(calls[1] - calls[0], Duration::from_secs(7));
    assert_eq!(calls[2] - calls[1], Duration::from_secs(7));
    assert_eq!(
        log.calls_of("hopeless").len(),
        1,
        "waits for a change, however long"
    );
    set_value(&client, "hopeless", "fixed").await;
    log.until("the retry after the change", |log| {
        log.calls_of("hopeless").len() == 2
    })
    .await;
    run.abort();
}

#[tokio::test(start_paused = true)]
async fn a_requeue_reconciles_again_after_the_delay_without_any_change() {
    let client = local_client().await;
    create_config_map(&client, "periodic").await;
    let factory = started_factory(&client);
    let log = Log::new();
    let reconcile = |cm: Arc<ConfigMap>, log: Arc<Log>| async move {
        log.record(&name_of(&cm));
        Ok::<_, String>(Action::requeue(Duration::from_secs(30)))
    };
    let controller = Controller::<ConfigMap>::new(&factory);
    let metrics = controller.metrics();
    let run = tokio::spawn(controller.run(reconcile, backoff_on_error, log.clone()));
    log.until("three reconciles", |log| {
        log.calls_of("periodic").len() == 3
    })
    .await;
    let calls = log.calls_of("periodic");
    assert_eq!(calls[1] - calls[0], Duration::from_secs(30));
    assert_eq!(calls[2] - calls[1], Duration::from_secs(30));
    assert_eq!(metrics.snapshot().reconciles.requeue_after, 3);
    run.abort();
}

#[tokio::test]
async fn workers_share_the_load_but_never_reconcile_one_object_twice_at_once() {
    let client = local_client().await;
    let names: Vec<String> = (0..6).map(|i| format!("cm-{i}")).collect();
    for name in &names {
        create_config_map(&client, name).await;
    }
    let factory = started_factory(&client);
    let log = Log::new();
    let reconcile = |cm: Arc<ConfigMap>, log: Arc<Log>| async move {
        let name = name_of(&cm);
        log.enter(&name);
        // Let other workers run while this object is in flight.
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        log.leave(&name);
        let value = cm
            .data
            .as_ref()
            .map(|data| data["v"].clone())
            .unwrap_or_default();
        log.record(&format!("{name}={value}"));
        Ok::<_, String>(Action::await_change())
    };
    let run = tokio::spawn(Controller::<ConfigMap>::new(&factory).workers(4).run(
        reconcile,
        backoff_on_error,
        log.clone(),
    ));
    log.until("the initial reconciles", |log| log.names().len() == 6)
        .await;
    // A burst of changes to every object while workers are busy with them.
    for round in 1..=5 {
        for name in &names {
            set_value(&client, name, &round.to_string()).await;
        }
    }
    log.until("a reconcile of the last state of each object", |log| {
        names
            .iter()
            .all(|name| !log.calls_of(&format!("{name}=5")).is_empty())
    })
    .await;
    assert!(
        lock(&log.overlaps).is_empty(),
        "reconciled twice at once: {:?}",
        lock(&log.overlaps)
    );
    assert!(
        *lock(&log.most_in_flight) > 1,
        "several objects were reconciled at once"
    );
    run.abort();
}

#[tokio::test(start_paused = true)]
async fn a_panicking_reconcile_is_contained_and_retried_with_back_off() {
    let client = local_client().await;
    create_config_map(&client, "poison").await;
    create_config_map(&client, "fine").await;
    let factory = started_factory(&client);
    let log = Log::new();
    let reconcile = |cm: Arc<ConfigMap>, log: Arc<Log>| async move {
        log.record(&name_of(&cm));
        if name_of(&cm) == "poison" && log.calls_of("poison").len() < 3 {
            panic!("cannot handle {}", name_of(&cm));
        }
        Ok::<_, String>(Action::await_change())
    };
    let controller = Controller::<ConfigMap>::new(&factory).rate_limiter(|| {
        ItemExponentialFailureRateLimiter::new(Duration::from_secs(1), Duration::from_secs(60))
    });
    let metrics = controller.metrics();
    let run = tokio::spawn(controller.run(reconcile, backoff_on_error, log.clone()));
    log.until("two panics and a success", |log| {
        log.calls_of("poison").len() == 3
    })
    .await;
    let calls = log.calls_of("poison");
    assert!(calls[1] - calls[0] >= Duration::from_secs(1));
    assert!(calls[2] - calls[1] >= Duration::from_secs(2));
    assert_eq!(log.calls_of("fine").len(), 1);
    let snapshot = metrics.snapshot();
    assert_eq!((snapshot.panics, snapshot.errors), (2, 2));
    assert!(!run.is_finished(), "the controller keeps running");
    run.abort();
}

#[tokio::test]
async fn without_panic_recovery_a_panic_ends_the_controller_with_it() {
    let client = local_client().await;
    create_config_map(&client, "poison").await;
    let factory = started_factory(&client);
    let reconcile = |_cm: Arc<ConfigMap>, _ctx: Arc<()>| async move {
        if true {
            panic!("unrecoverable");
        }
        Ok::<_, String>(Action::await_change())
    };
    let run = tokio::spawn(
        Controller::<ConfigMap>::new(&factory)
            .recover_panics(false)
            .run(reconcile, backoff_on_error, Arc::new(())),
    );
    let ended = tokio::time::timeout(WAIT, run).await.expect("the run ends");
    let error = ended.expect_err("the run panicked");
    assert!(error.is_panic());
}

#[tokio::test]
async fn graceful_shutdown_lets_running_reconciles_finish_and_takes_no_new_keys() {
    let client = local_client().await;
    create_config_map(&client, "slow").await;
    let factory = started_factory(&client);
    let log = Log::new();
    let (release, released) = watch::channel(false);
    let (shutdown, shutdown_signal) = tokio::sync::oneshot::channel::<()>();
    let reconcile = move |cm: Arc<ConfigMap>, log: Arc<Log>| {
        let mut released = released.clone();
        async move {
            log.enter(&name_of(&cm));
            let _ = released.wait_for(|released| *released).await;
            log.leave(&name_of(&cm));
            log.record(&name_of(&cm));
            Ok::<_, String>(Action::await_change())
        }
    };
    let run = tokio::spawn(
        Controller::<ConfigMap>::new(&factory)
            .graceful_shutdown_on(async move {
                let _ = shutdown_signal.await;
            })
            .run(reconcile, backoff_on_error, log.clone()),
    );
    // Wait until the reconcile of "slow" is running.
    tokio::time::timeout(WAIT, async {
        while lock(&log.in_flight).is_empty() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the reconcile starts");
    set_value(&client, "slow", "1").await;
    create_config_map(&client, "queued").await;
    shutdown.send(()).unwrap();
    release.send_replace(true);
    tokio::time::timeout(WAIT, run)
        .await
        .expect("the run ends")
        .expect("without a panic");
    assert_eq!(
        log.names(),
        ["slow"],
        "the running reconcile finished; queued keys were not taken"
    );
}

#[tokio::test]
async fn objects_deleted_before_their_turn_are_not_reconciled() {
    let client = local_client().await;
    let factory = started_factory(&client);
    let log = Log::new();
    let (release, released) = watch::channel(false);
    let reconcile = move |cm: Arc<ConfigMap>, log: Arc<Log>| {
        let mut released = released.clone();
        async move {
            log.enter(&name_of(&cm));
            let _ = released.wait_for(|released| *released).await;
            log.record(&name_of(&cm));
            Ok::<_, String>(Action::await_change())
        }
    };
    let run = tokio::spawn(Controller::<ConfigMap>::new(&factory).run(
        reconcile,
        backoff_on_error,
        log.clone(),
    ));
    let cache = factory.informer::<ConfigMap>().cache();
    let until = |what: &'static str, condition: Box<dyn Fn() -> bool + Send>| async move {
        let waited = tokio::time::timeout(WAIT, async {
            while !condition() {
                tokio::task::yield_now().await;
            }
        })
        .await;
        assert!(waited.is_ok(), "timed out waiting for {what}");
    };
    // The only worker is held by "first" while "doomed" waits and is deleted.
    create_config_map(&client, "first").await;
    let in_flight = log.clone();
    until(
        "the reconcile of first",
        Box::new(move || lock(&in_flight.in_flight).contains("first")),
    )
    .await;
    create_config_map(&client, "doomed").await;
    let seen = cache.clone();
    until(
        "the cache to see doomed",
        Box::new(move || seen.get(Some("default"), "doomed").is_some()),
    )
    .await;
    config_maps(&client)
        .delete("doomed", &DeleteParams::default())
        .await
        .unwrap();
    let seen = cache.clone();
    until(
        "the cache to see the delete",
        Box::new(move || seen.get(Some("default"), "doomed").is_none()),
    )
    .await;
    create_config_map(&client, "last").await;
    release.send_replace(true);
    log.until("the last reconcile", |log| log.calls_of("last").len() == 1)
        .await;
    assert_eq!(log.names(), ["first", "last"]);
    run.abort();
}

#[tokio::test]
async fn a_new_run_reconciles_everything_again_and_metrics_keep_counting() {
    let client = local_client().await;
    create_config_map(&client, "a").await;
    create_config_map(&client, "b").await;
    let factory = started_factory(&client);
    let log = Log::new();
    let controller = Controller::<ConfigMap>::new(&factory).name("mirror");
    let metrics = controller.metrics();

    let first = tokio::spawn(
        controller
            .clone()
            .run(record, backoff_on_error, log.clone()),
    );
    log.until("the first run", |log| log.names().len() == 2)
        .await;
    first.abort();
    let _ = first.await;

    let second = tokio::spawn(controller.run(record, backoff_on_error, log.clone()));
    log.until("the second run", |log| log.names().len() == 4)
        .await;
    set_value(&client, "a", "1").await;
    log.until("the change", |log| log.calls_of("a").len() == 3)
        .await;
    let snapshot = metrics.snapshot();
    assert_eq!(snapshot.name, "mirror");
    assert_eq!(snapshot.reconciles.success, 5);
    assert_eq!(snapshot.queue.unwrap().adds, 5, "adds of both runs' queues");
    second.abort();
    assert_eq!(log.calls_of("a").len(), 3);
}
