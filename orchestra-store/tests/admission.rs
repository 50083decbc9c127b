//! The registry's admission and the lifecycle rules that the namespace controller and the
//! garbage collector rely on, observed through `LocalClient` as a client would observe them:
//! the system objects of a new store, namespaces that terminate and are finalized, the
//! finalizers a delete's propagation policy leaves, and what admission sets on pods.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, NamespaceSpec, Pod, ReplicationController};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use orchestra_api::{
    Api, ArcObject, Client, DeleteParams, Deleted, PostParams, PropagationPolicy, Served,
    Subresource, kinds,
};
use orchestra_store::{AdmissionConfig, LocalClient, MemoryKv, Store, StoreConfig};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

async fn client_with(config: StoreConfig) -> Arc<LocalClient> {
    let store = Store::open(
        Arc::new(MemoryKv::new()),
        kinds::BUILTIN.iter().map(|k| (*k).clone()),
        config,
    )
    .await
    .expect("store opens");
    Arc::new(LocalClient::new(store))
}

async fn client() -> Arc<LocalClient> {
    client_with(StoreConfig::default()).await
}

fn typed<T: DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("valid object")
}

fn namespace(name: &str) -> Namespace {
    typed(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}))
}

fn config_map(name: &str) -> ConfigMap {
    typed(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}))
}

fn pod(name: &str, spec: Value) -> Pod {
    let mut full = json!({"containers": [{"name": "c", "image": "nginx"}]});
    if let (Some(full), Some(extra)) = (full.as_object_mut(), spec.as_object()) {
        full.extend(extra.clone());
    }
    typed(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": full}))
}

fn api<K: Served>(client: &Arc<LocalClient>, namespace: Option<&str>) -> Api<K> {
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

#[tokio::test]
async fn a_new_store_holds_the_system_namespaces_and_priority_classes() {
    let client = client().await;
    let namespaces = api::<Namespace>(&client, None);
    for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let ns = namespaces.get(name).await.expect(name);
        assert_eq!(
            ns.spec.as_ref().and_then(|s| s.finalizers.clone()),
            Some(vec!["kubernetes".to_owned()])
        );
    }
    let classes = api::<PriorityClass>(&client, None);
    assert_eq!(
        classes.get("system-node-critical").await.unwrap().value,
        2_000_001_000
    );
    assert_eq!(
        classes.get("system-cluster-critical").await.unwrap().value,
        2_000_000_000
    );

    let bare = client_with(StoreConfig {
        create_system_objects: false,
        ..StoreConfig::default()
    })
    .await;
    assert!(
        api::<Namespace>(&bare, None)
            .get_opt("default")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_namespace_terminates_refuses_new_content_and_goes_once_finalized() {
    let client = client().await;
    let namespaces = api::<Namespace>(&client, None);
    namespaces
        .create(&PostParams::default(), &namespace("team"))
        .await
        .unwrap();
    let config_maps = api::<ConfigMap>(&client, Some("team"));
    config_maps
        .create(&PostParams::default(), &config_map("settings"))
        .await
        .unwrap();

    let Deleted::Pending(terminating) = namespaces
        .delete("team", &DeleteParams::default())
        .await
        .unwrap()
    else {
        panic!("the namespace stays while its finalizer remains");
    };
    assert!(terminating.metadata.deletion_timestamp.is_some());
    assert_eq!(
        terminating.status.as_ref().unwrap().phase.as_deref(),
        Some("Terminating")
    );

    let refused = config_maps
        .create(&PostParams::default(), &config_map("late"))
        .await
        .unwrap_err();
    assert_eq!(refused.code, 403);
    assert_eq!(
        refused.message,
        "configmaps \"late\" is forbidden: unable to create new content in namespace team because it is being terminated"
    );
    // What is already there can still be changed and deleted.
    let mut settings = (*config_maps.get("settings").await.unwrap()).clone();
    settings.data = Some([("k".to_owned(), "v".to_owned())].into());
    config_maps
        .replace("settings", &PostParams::default(), &settings)
        .await
        .unwrap();
    config_maps
        .delete("settings", &DeleteParams::default())
        .await
        .unwrap();

    // An ordinary update may not drop the finalizer; only `finalize` does.
    let mut without = (*namespaces.get("team").await.unwrap()).clone();
    without.spec = Some(NamespaceSpec::default());
    let kept = namespaces
        .replace("team", &PostParams::default(), &without)
        .await
        .unwrap();
    assert_eq!(
        kept.spec.as_ref().unwrap().finalizers.as_deref(),
        Some(&["kubernetes".to_owned()][..])
    );
    client
        .replace(
            &kinds::NAMESPACES,
            None,
            "team",
            Some(Subresource::Finalize),
            Arc::new(without) as ArcObject,
            &PostParams::default(),
        )
        .await
        .unwrap();
    assert!(namespaces.get_opt("team").await.unwrap().is_none());
}

#[tokio::test]
async fn creates_need_an_existing_namespace_and_system_namespaces_stay() {
    let client = client().await;
    let missing = api::<ConfigMap>(&client, Some("nowhere"))
        .create(&PostParams::default(), &config_map("x"))
        .await
        .unwrap_err();
    assert_eq!(missing.code, 404);
    assert_eq!(missing.message, "namespaces \"nowhere\" not found");

    let namespaces = api::<Namespace>(&client, None);
    for name in ["default", "kube-system", "kube-public"] {
        let refused = namespaces
            .delete(name, &DeleteParams::default())
            .await
            .unwrap_err();
        assert_eq!(refused.code, 403, "{name}");
    }
    assert!(matches!(
        namespaces
            .delete("kube-node-lease", &DeleteParams::default())
            .await,
        Ok(Deleted::Pending(_))
    ));
}

fn workload<K: DeserializeOwned>(kind: &str, api_version: &str, name: &str) -> K {
    let template = json!({
        "metadata": {"labels": {"app": name}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}
    });
    let spec = match kind {
        "Job" => json!({"template": template}),
        "ReplicationController" => {
            let mut template = template;
            template["spec"]["restartPolicy"] = json!("Always");
            json!({"selector": {"app": name}, "template": template})
        }
        _ => {
            let mut template = template;
            template["spec"]["restartPolicy"] = json!("Always");
            json!({"selector": {"matchLabels": {"app": name}}, "template": template})
        }
    };
    typed(
        json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, "spec": spec}),
    )
}

/// The finalizers a delete leaves on an object, or `None` when the delete removed it.
async fn finalizers_after_delete<K: Served>(
    client: &Arc<LocalClient>,
    object: &K,
    params: &DeleteParams,
) -> Option<Vec<String>> {
    let api = api::<K>(client, Some("default"));
    let created = api.create(&PostParams::default(), object).await.unwrap();
    let name = created.metadata().name.clone().unwrap();
    match api.delete(&name, params).await.unwrap() {
        Deleted::Gone(_) => None,
        Deleted::Pending(left) => Some(left.metadata().finalizers.clone().unwrap_or_default()),
    }
}

#[tokio::test]
async fn deletes_leave_the_finalizers_their_propagation_policy_asks_for() {
    let client = client().await;
    let default = DeleteParams::default();
    let policy = |p| DeleteParams {
        propagation_policy: Some(p),
        ..DeleteParams::default()
    };
    let deployment = |name| workload::<Deployment>("Deployment", "apps/v1", name);

    // Background, the default of almost every kind: the owner goes now.
    assert_eq!(
        finalizers_after_delete(&client, &deployment("bg"), &default).await,
        None
    );
    assert_eq!(
        finalizers_after_delete(
            &client,
            &deployment("orphaned"),
            &policy(PropagationPolicy::Orphan)
        )
        .await,
        Some(vec!["orphan".to_owned()])
    );
    assert_eq!(
        finalizers_after_delete(
            &client,
            &deployment("foreground"),
            &policy(PropagationPolicy::Foreground)
        )
        .await,
        Some(vec!["foregroundDeletion".to_owned()])
    );
    // batch/v1 Jobs and v1 ReplicationControllers orphan by default, for old clients' sake.
    let job = workload::<Job>("Job", "batch/v1", "job");
    assert_eq!(
        finalizers_after_delete(&client, &job, &default).await,
        Some(vec!["orphan".to_owned()])
    );
    let rc = workload::<ReplicationController>("ReplicationController", "v1", "rc");
    assert_eq!(
        finalizers_after_delete(&client, &rc, &default).await,
        Some(vec!["orphan".to_owned()])
    );
    let explicit = workload::<Job>("Job", "batch/v1", "job-bg");
    assert_eq!(
        finalizers_after_delete(&client, &explicit, &policy(PropagationPolicy::Background)).await,
        None
    );

    // A later delete with another policy changes the finalizers of an object still held.
    let deployments = api::<Deployment>(&client, Some("default"));
    let Deleted::Gone(_) = deployments
        .delete("orphaned", &policy(PropagationPolicy::Background))
        .await
        .unwrap()
    else {
        panic!("background drops the orphan finalizer, and nothing else holds the object");
    };
}

#[tokio::test]
async fn admission_sets_a_pods_account_priority_and_default_tolerations() {
    let client = client_with(StoreConfig {
        admission: AdmissionConfig {
            default_not_ready_toleration_seconds: 30,
            default_unreachable_toleration_seconds: 40,
        },
        ..StoreConfig::default()
    })
    .await;
    let pods = api::<Pod>(&client, Some("default"));
    let plain = pods
        .create(&PostParams::default(), &pod("plain", json!({})))
        .await
        .unwrap();
    let spec = plain.spec.as_ref().unwrap();
    assert_eq!(spec.service_account_name.as_deref(), Some("default"));
    assert_eq!(
        (spec.priority, spec.preemption_policy.as_deref()),
        (Some(0), Some("PreemptLowerPriority"))
    );
    let tolerations: Vec<_> = spec
        .tolerations
        .iter()
        .flatten()
        .map(|t| (t.key.as_deref().unwrap_or(""), t.toleration_seconds))
        .collect();
    assert_eq!(
        tolerations,
        [
            ("node.kubernetes.io/not-ready", Some(30)),
            ("node.kubernetes.io/unreachable", Some(40))
        ]
    );

    let critical = pods
        .create(
            &PostParams::default(),
            &pod(
                "dns",
                json!({"priorityClassName": "system-cluster-critical"}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        critical.spec.as_ref().unwrap().priority,
        Some(2_000_000_000)
    );

    let unknown = pods
        .create(
            &PostParams::default(),
            &pod("gold", json!({"priorityClassName": "gold"})),
        )
        .await
        .unwrap_err();
    assert_eq!(unknown.code, 403);
    assert_eq!(
        unknown.message,
        "pods \"gold\" is forbidden: no PriorityClass with name gold was found"
    );

    // A replace that leaves out what admission set keeps it.
    let mut replaced = pod("plain", json!({}));
    replaced.spec.as_mut().unwrap().service_account_name = Some("default".into());
    replaced.spec.as_mut().unwrap().service_account = Some("default".into());
    replaced.metadata.labels = Some([("tier".to_owned(), "web".to_owned())].into());
    let updated = pods
        .replace("plain", &PostParams::default(), &replaced)
        .await
        .unwrap();
    assert_eq!(updated.spec, plain.spec);
    assert_eq!(updated.metadata.generation, plain.metadata.generation);

    let classes = api::<PriorityClass>(&client, None);
    let class = |name: &str, value: i32| -> PriorityClass {
        typed(
            json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": name}, "value": value, "globalDefault": true}),
        )
    };
    classes
        .create(&PostParams::default(), &class("standard", 100))
        .await
        .unwrap();
    // Admission reads PriorityClasses from the cache, as Kubernetes' plugin reads its
    // informer; a read of the class waits until the cache holds it.
    classes.get("standard").await.unwrap();
    let second = classes
        .create(&PostParams::default(), &class("other", 200))
        .await
        .unwrap_err();
    assert_eq!(second.code, 403);
    let defaulted = pods
        .create(&PostParams::default(), &pod("later", json!({})))
        .await
        .unwrap();
    let spec = defaulted.spec.as_ref().unwrap();
    assert_eq!(
        (spec.priority_class_name.as_deref(), spec.priority),
        (Some("standard"), Some(100))
    );
}
