//! The finalizer helper against the real in-process server: alone (one call, one answer) and
//! inside a running controller (the whole life of an object, deletion included).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use orchestra_api::k8s_openapi::api::core::v1::ConfigMap;
use orchestra_api::{Api, Client, DeleteParams, Deleted, Patch, PatchParams, PostParams, kinds};
use orchestra_controller::controller::{Action, Controller, backoff_on_error};
use orchestra_controller::finalizer::{self, Event, finalizer};
use orchestra_controller::informer::SharedInformerFactory;
use orchestra_controller::workqueue::ItemExponentialFailureRateLimiter;
use orchestra_store::{LocalClient, MemoryKv, Store, StoreConfig};
use serde_json::json;
use tokio::sync::watch;

const FINALIZER: &str = "example.com/cleanup";
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

async fn create(client: &Arc<dyn Client>, name: &str, finalizers: &[&str]) -> Arc<ConfigMap> {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.into());
    cm.metadata.finalizers = Some(finalizers.iter().map(|f| (*f).to_owned())).map(|f| f.collect());
    config_maps(client)
        .create(&PostParams::default(), &cm)
        .await
        .expect("the config map is created")
}

fn finalizers_of(cm: &ConfigMap) -> Vec<String> {
    cm.metadata.finalizers.clone().unwrap_or_default()
}

/// What the wrapped reconcile was asked to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Apply { finalizers: Vec<String> },
    Cleanup { deleting: bool },
}

async fn apply_or_cleanup(event: Event<ConfigMap>, seen: &Mutex<Vec<Seen>>) {
    lock(seen).push(match event {
        Event::Apply(cm) => Seen::Apply {
            finalizers: finalizers_of(&cm),
        },
        Event::Cleanup(cm) => Seen::Cleanup {
            deleting: cm.metadata.deletion_timestamp.is_some(),
        },
    });
}

#[tokio::test]
async fn a_live_object_gets_the_finalizer_first_and_is_applied_afterwards() {
    let client = local_client().await;
    let cm = create(&client, "web", &["other.example.com/keep"]).await;
    let seen = Mutex::new(Vec::new());

    let action = finalizer(&client, FINALIZER, cm, |event| async {
        apply_or_cleanup(event, &seen).await;
        Ok::<_, String>(Action::requeue(Duration::from_secs(5)))
    })
    .await
    .unwrap();
    assert_eq!(
        action,
        Action::await_change(),
        "adding the finalizer is a change that reconciles again"
    );
    assert!(
        lock(&seen).is_empty(),
        "no apply before the finalizer is on"
    );
    let cm = config_maps(&client).get("web").await.unwrap();
    assert_eq!(
        finalizers_of(&cm),
        ["other.example.com/keep", FINALIZER],
        "other finalizers are kept"
    );

    let action = finalizer(&client, FINALIZER, cm, |event| async {
        apply_or_cleanup(event, &seen).await;
        Ok::<_, String>(Action::requeue(Duration::from_secs(5)))
    })
    .await
    .unwrap();
    assert_eq!(action, Action::requeue(Duration::from_secs(5)));
    assert_eq!(
        *lock(&seen),
        [Seen::Apply {
            finalizers: vec!["other.example.com/keep".into(), FINALIZER.into()]
        }]
    );
}

#[tokio::test]
async fn a_stale_object_gets_a_conflict_and_changes_nothing() {
    let client = local_client().await;
    let stale = create(&client, "web", &[]).await;
    config_maps(&client)
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["other.example.com/new"]}})),
        )
        .await
        .unwrap();

    let error = finalizer(&client, FINALIZER, stale, |_event| async {
        Ok::<_, String>(Action::await_change())
    })
    .await
    .unwrap_err();
    assert!(
        matches!(&error, finalizer::Error::AddFinalizer { status, .. } if status.code == 409),
        "{error}"
    );
    let cm = config_maps(&client).get("web").await.unwrap();
    assert_eq!(
        finalizers_of(&cm),
        ["other.example.com/new"],
        "the other writer's finalizer survives"
    );
}

#[tokio::test]
async fn a_deleted_object_is_cleaned_up_then_released_and_other_finalizers_hold_it() {
    let client = local_client().await;
    create(&client, "web", &["other.example.com/keep", FINALIZER]).await;
    let deleting = match config_maps(&client)
        .delete("web", &DeleteParams::default())
        .await
        .unwrap()
    {
        Deleted::Pending(cm) => cm,
        Deleted::Gone(_) => panic!("finalizers hold the object"),
    };
    let seen = Mutex::new(Vec::new());
    let action = finalizer(&client, FINALIZER, deleting, |event| async {
        apply_or_cleanup(event, &seen).await;
        Ok::<_, String>(Action::await_change())
    })
    .await
    .unwrap();
    assert_eq!(action, Action::await_change());
    assert_eq!(*lock(&seen), [Seen::Cleanup { deleting: true }]);
    let cm = config_maps(&client).get("web").await.unwrap();
    assert_eq!(finalizers_of(&cm), ["other.example.com/keep"]);

    // Without our finalizer, a deleted object needs nothing from us.
    let action = finalizer(&client, FINALIZER, cm, |event| async {
        apply_or_cleanup(event, &seen).await;
        Ok::<_, String>(Action::requeue(Duration::from_secs(1)))
    })
    .await
    .unwrap();
    assert_eq!(action, Action::await_change());
    assert_eq!(lock(&seen).len(), 1);
}

#[tokio::test]
async fn a_failed_cleanup_keeps_the_finalizer_and_the_object() {
    let client = local_client().await;
    create(&client, "web", &[FINALIZER]).await;
    let Deleted::Pending(deleting) = config_maps(&client)
        .delete("web", &DeleteParams::default())
        .await
        .unwrap()
    else {
        panic!("the finalizer holds the object");
    };
    let error = finalizer(&client, FINALIZER, deleting, |_event| async {
        Err::<Action, _>("the DNS provider is down".to_owned())
    })
    .await
    .unwrap_err();
    assert!(matches!(error, finalizer::Error::Cleanup(ref e) if e.contains("DNS")));
    let cm = config_maps(&client).get("web").await.unwrap();
    assert_eq!(finalizers_of(&cm), [FINALIZER]);
}

#[tokio::test]
async fn an_empty_finalizer_name_is_refused() {
    let client = local_client().await;
    let cm = create(&client, "web", &[]).await;
    let error = finalizer(&client, "", cm, |_event| async {
        Ok::<_, String>(Action::await_change())
    })
    .await
    .unwrap_err();
    assert!(matches!(error, finalizer::Error::Unusable(_)));
}

/// A condition on what a controller's reconciles saw.
type SeenCondition = dyn Fn(&[(String, Seen)]) -> bool;

/// A controller's context: what it saw, and how many clean-ups fail before one succeeds.
struct Context {
    client: Arc<dyn Client>,
    seen: Mutex<Vec<(String, Seen)>>,
    failing_cleanups: Mutex<u32>,
    changed: watch::Sender<u64>,
}

async fn reconcile(
    cm: Arc<ConfigMap>,
    ctx: Arc<Context>,
) -> Result<Action, finalizer::Error<String>> {
    let name = cm.metadata.name.clone().unwrap_or_default();
    let result = finalizer(&ctx.client, FINALIZER, cm, |event| async {
        let cleanup = matches!(event, Event::Cleanup(_));
        let seen = Mutex::new(Vec::new());
        apply_or_cleanup(event, &seen).await;
        lock(&ctx.seen).extend(
            seen.into_inner()
                .unwrap()
                .into_iter()
                .map(|s| (name.clone(), s)),
        );
        let mut failing = lock(&ctx.failing_cleanups);
        if cleanup && *failing > 0 {
            *failing -= 1;
            return Err("clean-up failed".to_owned());
        }
        Ok(Action::await_change())
    })
    .await;
    ctx.changed.send_modify(|n| *n += 1);
    result
}

#[tokio::test(start_paused = true)]
async fn a_controller_with_a_finalizer_cleans_up_before_the_object_disappears() {
    let client = local_client().await;
    let factory = SharedInformerFactory::new(client.clone());
    let ctx = Arc::new(Context {
        client: client.clone(),
        seen: Mutex::new(Vec::new()),
        failing_cleanups: Mutex::new(2),
        changed: watch::channel(0).0,
    });
    let controller = Controller::<ConfigMap>::new(&factory).rate_limiter(|| {
        ItemExponentialFailureRateLimiter::new(Duration::from_secs(1), Duration::from_secs(60))
    });
    let metrics = controller.metrics();
    let run = tokio::spawn(controller.run(reconcile, backoff_on_error, ctx.clone()));
    let until = |what: &'static str, condition: Box<SeenCondition>| {
        let ctx = ctx.clone();
        async move {
            let mut changed = ctx.changed.subscribe();
            let waited = tokio::time::timeout(WAIT, async {
                while !condition(&lock(&ctx.seen)) {
                    let _ = changed.changed().await;
                }
            })
            .await;
            assert!(
                waited.is_ok(),
                "timed out waiting for {what}: {:?}",
                lock(&ctx.seen)
            );
        }
    };

    create(&client, "web", &[]).await;
    until(
        "the apply",
        Box::new(|seen| seen.iter().any(|(_, s)| matches!(s, Seen::Apply { .. }))),
    )
    .await;
    assert_eq!(
        lock(&ctx.seen)[0].1,
        Seen::Apply {
            finalizers: vec![FINALIZER.into()]
        },
        "applied only once the finalizer was on"
    );

    config_maps(&client)
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    until(
        "three clean-ups",
        Box::new(|seen| {
            seen.iter()
                .filter(|(_, s)| matches!(s, Seen::Cleanup { .. }))
                .count()
                == 3
        }),
    )
    .await;
    let informer = factory.informer::<ConfigMap>();
    let gone = tokio::time::timeout(WAIT, async {
        while config_maps(&client).get_opt("web").await.unwrap().is_some()
            || informer.cache().get(Some("default"), "web").is_some()
        {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(gone.is_ok(), "the object is deleted after the clean-up");
    assert_eq!(metrics.snapshot().errors, 2, "two failed clean-ups");
    run.abort();
}
