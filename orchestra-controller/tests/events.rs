//! The Events recorder against the real in-process server: what `kubectl get events` would
//! show after a controller reported the same things again and again.

use std::sync::Arc;
use std::time::Duration;

use orchestra_api::k8s_openapi::api::core::v1::{ConfigMap, Event, Node};
use orchestra_api::{Api, Client, DeleteParams, ListParams, PostParams, kinds};
use orchestra_controller::controller::{Action, Controller, backoff_on_error};
use orchestra_controller::events::{
    AGGREGATE_MESSAGE_PREFIX, EventType, Published, Recorder, Reporter,
};
use orchestra_controller::informer::SharedInformerFactory;
use orchestra_store::{LocalClient, MemoryKv, Store, StoreConfig};

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

async fn config_map(client: &Arc<dyn Client>, name: &str) -> Arc<ConfigMap> {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.into());
    Api::<ConfigMap>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &cm)
        .await
        .expect("the config map is created")
}

async fn events_in(client: &Arc<dyn Client>, namespace: &str) -> Vec<Arc<Event>> {
    Api::<Event>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
        .expect("events list")
        .items
}

fn recorder(client: &Arc<dyn Client>) -> Recorder {
    Recorder::new(
        client.clone(),
        Reporter::new("test-controller").instance("host-1"),
    )
}

#[tokio::test]
async fn an_event_names_its_object_and_its_reporter() {
    let client = local_client().await;
    let cm = config_map(&client, "web").await;
    let published = recorder(&client)
        .publish_about(&*cm, EventType::Normal, "Synced", "web is in sync")
        .await
        .unwrap();
    assert!(matches!(published, Published::Created(_)));
    let events = events_in(&client, "default").await;
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.involved_object.kind.as_deref(), Some("ConfigMap"));
    assert_eq!(event.involved_object.name.as_deref(), Some("web"));
    assert_eq!(event.involved_object.uid, cm.metadata.uid);
    assert_eq!(event.type_.as_deref(), Some("Normal"));
    assert_eq!(event.reason.as_deref(), Some("Synced"));
    assert_eq!(event.count, Some(1));
    let source = event.source.as_ref().unwrap();
    assert_eq!(source.component.as_deref(), Some("test-controller"));
    assert_eq!(source.host.as_deref(), Some("host-1"));
    assert_eq!(
        event.reporting_component.as_deref(),
        Some("test-controller")
    );
    assert!(event.metadata.name.as_deref().unwrap().starts_with("web."));
}

#[tokio::test]
async fn the_same_event_again_raises_the_count_of_the_first() {
    let client = local_client().await;
    let cm = config_map(&client, "web").await;
    let recorder = recorder(&client);
    for _ in 0..3 {
        recorder
            .publish_about(&*cm, EventType::Warning, "BadKey", "key 'a b' is invalid")
            .await
            .unwrap();
    }
    let events = events_in(&client, "default").await;
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.count, Some(3));
    assert!(event.last_timestamp.as_ref().unwrap().0 >= event.first_timestamp.as_ref().unwrap().0);

    // A different message about the same object is a different Event.
    recorder
        .publish_about(&*cm, EventType::Warning, "BadKey", "key 'c d' is invalid")
        .await
        .unwrap();
    assert_eq!(events_in(&client, "default").await.len(), 2);
}

#[tokio::test]
async fn ten_similar_events_are_aggregated_into_one_that_keeps_counting() {
    let client = local_client().await;
    let cm = config_map(&client, "web").await;
    let recorder = recorder(&client);
    for attempt in 0..12 {
        recorder
            .publish_about(
                &*cm,
                EventType::Warning,
                "FailedSync",
                &format!("attempt {attempt} failed"),
            )
            .await
            .unwrap();
    }
    let events = events_in(&client, "default").await;
    assert_eq!(events.len(), 10, "nine single Events and one aggregate");
    let aggregates: Vec<_> = events
        .iter()
        .filter(|e| {
            e.message
                .as_deref()
                .unwrap()
                .starts_with(AGGREGATE_MESSAGE_PREFIX)
        })
        .collect();
    assert_eq!(aggregates.len(), 1);
    assert_eq!(aggregates[0].count, Some(3));
    assert_eq!(
        aggregates[0].message.as_deref(),
        Some("(combined from similar events): attempt 11 failed")
    );
}

#[tokio::test(start_paused = true)]
async fn a_reporter_gets_25_events_about_one_object_then_one_every_five_minutes() {
    let client = local_client().await;
    let noisy = config_map(&client, "noisy").await;
    let quiet = config_map(&client, "quiet").await;
    let recorder = recorder(&client);
    let mut dropped = 0;
    for i in 0..30 {
        let published = recorder
            .publish_about(&*noisy, EventType::Normal, &format!("Step{i}"), "done")
            .await
            .unwrap();
        dropped += usize::from(matches!(published, Published::Dropped));
    }
    assert_eq!(dropped, 5);
    assert_eq!(events_in(&client, "default").await.len(), 25);
    let other_object = recorder
        .publish_about(&*quiet, EventType::Normal, "Step", "done")
        .await
        .unwrap();
    assert!(
        matches!(other_object, Published::Created(_)),
        "the budget is per object"
    );

    tokio::time::advance(Duration::from_secs(300)).await;
    let refilled = recorder
        .publish_about(&*noisy, EventType::Normal, "Later", "done")
        .await
        .unwrap();
    assert!(matches!(refilled, Published::Created(_)));
}

#[tokio::test]
async fn events_about_cluster_scoped_objects_live_in_default() {
    let client = local_client().await;
    let mut node = Node::default();
    node.metadata.name = Some("node-1".into());
    let node = Api::<Node>::all(client.clone())
        .create(&PostParams::default(), &node)
        .await
        .unwrap();
    recorder(&client)
        .publish_about(
            &*node,
            EventType::Warning,
            "NodeNotReady",
            "node-1 is not ready",
        )
        .await
        .unwrap();
    let events = events_in(&client, "default").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].involved_object.namespace, None);
}

#[tokio::test]
async fn a_repeat_of_a_deleted_event_creates_it_again_with_its_count() {
    let client = local_client().await;
    let cm = config_map(&client, "web").await;
    let recorder = recorder(&client);
    let Published::Created(first) = recorder
        .publish_about(&*cm, EventType::Normal, "Synced", "in sync")
        .await
        .unwrap()
    else {
        panic!("the first is created");
    };
    Api::<Event>::namespaced(client.clone(), "default")
        .delete(
            first.metadata.name.as_deref().unwrap(),
            &DeleteParams::default(),
        )
        .await
        .unwrap();
    let again = recorder
        .publish_about(&*cm, EventType::Normal, "Synced", "in sync")
        .await
        .unwrap();
    let Published::Created(again) = again else {
        panic!("recreated: {again:?}");
    };
    assert_eq!(again.count, Some(2));
    assert_eq!(events_in(&client, "default").await.len(), 1);
}

#[tokio::test]
async fn a_panicking_reconcile_is_reported_as_a_warning_on_its_object() {
    let client = local_client().await;
    config_map(&client, "poison").await;
    let factory = SharedInformerFactory::new(client.clone());
    let reconcile = |_cm: Arc<ConfigMap>, _ctx: Arc<()>| async move {
        if true {
            panic!("index out of bounds");
        }
        Ok::<_, String>(Action::await_change())
    };
    let run = tokio::spawn(
        Controller::<ConfigMap>::new(&factory)
            .recorder(recorder(&client))
            .run(reconcile, backoff_on_error, Arc::new(())),
    );
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let events = events_in(&client, "default").await;
            if let Some(event) = events.first() {
                return event.clone();
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the panic is reported");
    assert_eq!(found.type_.as_deref(), Some("Warning"));
    assert_eq!(found.reason.as_deref(), Some("ReconcilePanic"));
    assert_eq!(found.involved_object.name.as_deref(), Some("poison"));
    assert!(
        found
            .message
            .as_deref()
            .unwrap()
            .contains("index out of bounds")
    );
    run.abort();
}
