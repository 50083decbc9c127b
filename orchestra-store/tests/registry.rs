//! The object lifecycle through `LocalClient`: what Kubernetes' generic registry guarantees,
//! observed as a client would observe it.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Binding, ConfigMap, Namespace, ObjectReference, Pod};
use orchestra_api::{
    Api, ArcObject, Client, DeleteParams, Deleted, GetParams, ListParams, Patch, PatchParams,
    PostParams, Preconditions, WatchEvent, WatchParams, kinds,
};
use orchestra_store::{KvStore, LocalClient, MemoryKv, Store, StoreConfig};
use serde_json::json;

/// How long a test waits for an expected event.
const WAIT: Duration = Duration::from_secs(10);

struct Cluster {
    kv: Arc<MemoryKv>,
    client: Arc<LocalClient>,
}

async fn cluster() -> Cluster {
    let kv = Arc::new(MemoryKv::new());
    let store = Store::open(
        kv.clone(),
        kinds::BUILTIN.iter().map(|k| (*k).clone()),
        StoreConfig::default(),
    )
    .await
    .expect("store opens");
    Cluster {
        kv,
        client: Arc::new(LocalClient::new(store)),
    }
}

fn pods(c: &Cluster) -> Api<Pod> {
    Api::namespaced(c.client.clone(), "default")
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}
    }))
    .expect("valid pod")
}

fn deployment(name: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}
            }
        }
    }))
    .expect("valid deployment")
}

#[tokio::test]
async fn create_fills_server_fields_and_resource_version_is_the_store_revision() {
    let c = cluster().await;
    let created = pods(&c)
        .create(&PostParams::default(), &pod("web"))
        .await
        .unwrap();
    let meta = &created.metadata;
    assert_eq!(meta.namespace.as_deref(), Some("default"));
    assert_eq!(meta.uid.as_ref().map(String::len), Some(36));
    assert!(meta.creation_timestamp.is_some());
    let revision = c.kv.current_revision().await.unwrap();
    assert_eq!(
        meta.resource_version.as_deref(),
        Some(revision.to_string().as_str())
    );
    let spec = created.spec.as_ref().unwrap();
    assert_eq!(spec.restart_policy.as_deref(), Some("Always"), "defaulted");
    let status = created.status.as_ref().unwrap();
    assert_eq!(status.phase.as_deref(), Some("Pending"));
    assert_eq!(status.qos_class.as_deref(), Some("BestEffort"));
    // Stored where Kubernetes stores it, without the resourceVersion inside.
    let stored =
        c.kv.get(b"/registry/pods/default/web")
            .await
            .unwrap()
            .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&stored.value).unwrap();
    assert_eq!(value["metadata"]["name"], "web");
    assert!(value["metadata"].get("resourceVersion").is_none());
}

#[tokio::test]
async fn reads_see_every_acknowledged_write() {
    let c = cluster().await;
    let api = pods(&c);
    for i in 0..50 {
        api.create(&PostParams::default(), &pod(&format!("p{i}")))
            .await
            .unwrap();
        let listed = api.list(&ListParams::default()).await.unwrap();
        assert_eq!(listed.items.len(), i + 1);
    }
}

#[tokio::test]
async fn duplicate_names_are_already_exists_and_generate_name_makes_unique_ones() {
    let c = cluster().await;
    let api = pods(&c);
    api.create(&PostParams::default(), &pod("web"))
        .await
        .unwrap();
    let err = api
        .create(&PostParams::default(), &pod("web"))
        .await
        .unwrap_err();
    assert_eq!(err.code, 409);
    assert_eq!(err.message, "pods \"web\" already exists");

    let mut generated = pod("");
    generated.metadata.name = None;
    generated.metadata.generate_name = Some("web-".into());
    let a = api
        .create(&PostParams::default(), &generated)
        .await
        .unwrap();
    let b = api
        .create(&PostParams::default(), &generated)
        .await
        .unwrap();
    let (a, b) = (
        a.metadata.name.clone().unwrap(),
        b.metadata.name.clone().unwrap(),
    );
    assert!(a.starts_with("web-") && a.len() == 9, "{a}");
    assert_ne!(a, b);
}

#[tokio::test]
async fn invalid_objects_get_422_with_field_paths_and_nothing_is_stored() {
    let c = cluster().await;
    let mut bad = pod("web");
    bad.spec.as_mut().unwrap().containers[0].image = None;
    let err = pods(&c)
        .create(&PostParams::default(), &bad)
        .await
        .unwrap_err();
    assert_eq!(err.code, 422);
    let causes = err.details.unwrap().causes;
    assert!(
        causes.iter().any(|c| c.field == "spec.containers[0].image"),
        "{causes:?}"
    );
    assert!(
        c.kv.get(b"/registry/pods/default/web")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn stale_resource_version_conflicts_and_changes_nothing() {
    let c = cluster().await;
    let cms: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("settings".into());
    let v1 = cms.create(&PostParams::default(), &cm).await.unwrap();
    let mut first = (*v1).clone();
    first.data = Some([("a".to_owned(), "1".to_owned())].into());
    cms.replace("settings", &PostParams::default(), &first)
        .await
        .unwrap();
    let mut stale = (*v1).clone();
    stale.data = Some([("a".to_owned(), "2".to_owned())].into());
    let err = cms
        .replace("settings", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert_eq!(err.code, 409);
    assert!(
        err.message.contains("the object has been modified"),
        "{}",
        err.message
    );
    let now = cms.get("settings").await.unwrap();
    assert_eq!(now.data.as_ref().unwrap()["a"], "1");
}

#[tokio::test]
async fn generation_follows_spec_changes_only() {
    let c = cluster().await;
    let deployments: Api<Deployment> = Api::namespaced(c.client.clone(), "default");
    let d = deployments
        .create(&PostParams::default(), &deployment("web", 1))
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(1));
    let labelled = deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"team": "a"}}})),
        )
        .await
        .unwrap();
    assert_eq!(labelled.metadata.generation, Some(1));
    let scaled = deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(scaled.metadata.generation, Some(2));
    assert_eq!(scaled.metadata.uid, d.metadata.uid);
}

#[tokio::test]
async fn status_writes_ignore_spec_and_spec_writes_ignore_status() {
    let c = cluster().await;
    let deployments: Api<Deployment> = Api::namespaced(c.client.clone(), "default");
    deployments
        .create(&PostParams::default(), &deployment("web", 1))
        .await
        .unwrap();
    let mut both = (*deployments.get("web").await.unwrap()).clone();
    both.spec.as_mut().unwrap().replicas = Some(5);
    both.status = Some(k8s_openapi::api::apps::v1::DeploymentStatus {
        replicas: Some(7),
        ..Default::default()
    });
    let after_status = deployments
        .replace_status("web", &PostParams::default(), &both)
        .await
        .unwrap();
    assert_eq!(after_status.spec.as_ref().unwrap().replicas, Some(1));
    assert_eq!(after_status.status.as_ref().unwrap().replicas, Some(7));

    let mut spec_only = (*after_status).clone();
    spec_only.spec.as_mut().unwrap().replicas = Some(5);
    spec_only.status = None;
    let after_spec = deployments
        .replace("web", &PostParams::default(), &spec_only)
        .await
        .unwrap();
    assert_eq!(after_spec.spec.as_ref().unwrap().replicas, Some(5));
    assert_eq!(after_spec.status.as_ref().unwrap().replicas, Some(7));
}

#[tokio::test]
async fn finalizers_hold_an_object_until_they_are_removed() {
    let c = cluster().await;
    let cms: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("held".into());
    cm.metadata.finalizers = Some(vec!["example.com/cleanup".into()]);
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let pending = match cms.delete("held", &DeleteParams::default()).await.unwrap() {
        Deleted::Pending(obj) => obj,
        Deleted::Gone(_) => panic!("an object with finalizers must stay"),
    };
    assert!(pending.metadata.deletion_timestamp.is_some());
    assert!(cms.get("held").await.is_ok());
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    let err = cms.get("held").await.unwrap_err();
    assert_eq!(err.code, 404);
}

#[tokio::test]
async fn bound_pods_are_deleted_gracefully_and_grace_zero_removes_them() {
    let c = cluster().await;
    let api = pods(&c);
    api.create(&PostParams::default(), &pod("web"))
        .await
        .unwrap();
    let binding = Binding {
        metadata: Default::default(),
        target: ObjectReference {
            kind: Some("Node".into()),
            name: Some("node-1".into()),
            ..Default::default()
        },
    };
    c.client
        .create_subresource(
            &kinds::PODS,
            Some("default"),
            "web",
            orchestra_api::Subresource::Binding,
            Arc::new(binding.clone()) as ArcObject,
            &PostParams::default(),
        )
        .await
        .unwrap();
    let bound = api.get("web").await.unwrap();
    assert_eq!(
        bound.spec.as_ref().unwrap().node_name.as_deref(),
        Some("node-1")
    );
    let again = c
        .client
        .create_subresource(
            &kinds::PODS,
            Some("default"),
            "web",
            orchestra_api::Subresource::Binding,
            Arc::new(binding) as ArcObject,
            &PostParams::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(again.code, 409);

    match api.delete("web", &DeleteParams::default()).await.unwrap() {
        Deleted::Pending(p) => assert_eq!(p.metadata.deletion_grace_period_seconds, Some(30)),
        Deleted::Gone(_) => panic!("a bound pod is deleted gracefully"),
    }
    let now = DeleteParams {
        grace_period_seconds: Some(0),
        ..Default::default()
    };
    assert!(matches!(
        api.delete("web", &now).await.unwrap(),
        Deleted::Gone(_)
    ));
    assert_eq!(api.get("web").await.unwrap_err().code, 404);
}

#[tokio::test]
async fn delete_preconditions_must_hold() {
    let c = cluster().await;
    let api = pods(&c);
    api.create(&PostParams::default(), &pod("web"))
        .await
        .unwrap();
    let wrong = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some("not-the-uid".into()),
            resource_version: None,
        }),
        ..Default::default()
    };
    let err = api.delete("web", &wrong).await.unwrap_err();
    assert_eq!(err.code, 409);
    assert!(
        err.message
            .contains("Precondition failed: UID in precondition: not-the-uid")
    );
    assert!(api.get("web").await.is_ok());
}

#[tokio::test]
async fn dry_run_validates_but_stores_nothing() {
    let c = cluster().await;
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let answered = pods(&c).create(&dry, &pod("web")).await.unwrap();
    assert_eq!(answered.metadata.name.as_deref(), Some("web"));
    assert_eq!(pods(&c).get("web").await.unwrap_err().code, 404);
}

#[tokio::test]
async fn selectors_filter_lists_and_unsupported_field_labels_are_rejected() {
    let c = cluster().await;
    let api = pods(&c);
    for (name, app) in [("a", "web"), ("b", "db"), ("c", "web")] {
        let mut p = pod(name);
        p.metadata.labels = Some([("app".to_owned(), app.to_owned())].into());
        api.create(&PostParams::default(), &p).await.unwrap();
    }
    let web = api
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    let names: Vec<_> = web
        .items
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["a", "c"]);
    let by_name = api
        .list(&ListParams::default().fields("metadata.name=b"))
        .await
        .unwrap();
    assert_eq!(by_name.items.len(), 1);
    let err = api
        .list(&ListParams::default().fields("spec.containers=x"))
        .await
        .unwrap_err();
    assert_eq!(err.code, 400);
    assert!(err.message.contains("spec.containers"), "{}", err.message);
}

#[tokio::test]
async fn pages_stay_consistent_while_objects_are_written_between_them() {
    let c = cluster().await;
    let cms: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    for i in 0..25 {
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some(format!("cm-{i:02}"));
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    let first = cms.list(&ListParams::default().limit(10)).await.unwrap();
    assert_eq!(first.items.len(), 10);
    let token = first.continue_token.clone().expect("more pages");
    // A write between pages must not show up in the rest of this list.
    let mut late = ConfigMap::default();
    late.metadata.name = Some("cm-99".into());
    cms.create(&PostParams::default(), &late).await.unwrap();
    let mut names: Vec<String> = first
        .items
        .iter()
        .map(|c| c.metadata.name.clone().unwrap())
        .collect();
    let mut next = Some(token);
    while let Some(token) = next {
        let page = cms
            .list(&ListParams {
                limit: Some(10),
                continue_token: Some(token),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(page.resource_version, first.resource_version);
        names.extend(page.items.iter().map(|c| c.metadata.name.clone().unwrap()));
        next = page.continue_token;
    }
    let expected: Vec<String> = (0..25).map(|i| format!("cm-{i:02}")).collect();
    assert_eq!(names, expected);
}

#[tokio::test]
async fn watch_delivers_changes_in_order_with_their_resource_versions() {
    let c = cluster().await;
    let api = pods(&c);
    api.create(&PostParams::default(), &pod("before"))
        .await
        .unwrap();
    let start = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .resource_version;
    let mut events = api
        .watch(&WatchParams {
            resource_version: Some(start),
            ..Default::default()
        })
        .await
        .unwrap();
    let created = api
        .create(&PostParams::default(), &pod("web"))
        .await
        .unwrap();
    let labelled = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"v": "2"}}})),
        )
        .await
        .unwrap();
    api.delete("web", &DeleteParams::default()).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        let event = tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .expect("event within 5s")
            .expect("stream open");
        seen.push(match event {
            WatchEvent::Added(p) => ("ADDED", p.metadata.resource_version.clone()),
            WatchEvent::Modified(p) => ("MODIFIED", p.metadata.resource_version.clone()),
            WatchEvent::Deleted(p) => ("DELETED", p.metadata.resource_version.clone()),
            other => panic!("unexpected {other:?}"),
        });
    }
    assert_eq!(
        seen[0],
        ("ADDED", created.metadata.resource_version.clone())
    );
    assert_eq!(
        seen[1],
        ("MODIFIED", labelled.metadata.resource_version.clone())
    );
    assert_eq!(seen[2].0, "DELETED");
    let deleted_rv: i64 = seen[2].1.as_deref().unwrap().parse().unwrap();
    assert!(
        deleted_rv
            > labelled
                .metadata
                .resource_version
                .as_deref()
                .unwrap()
                .parse::<i64>()
                .unwrap()
    );
}

#[tokio::test]
async fn cluster_scoped_kinds_ignore_namespaces_and_get_their_initial_status() {
    let c = cluster().await;
    let namespaces: Api<Namespace> = Api::all(c.client.clone());
    let mut ns = Namespace::default();
    ns.metadata.name = Some("team-a".into());
    let created = namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    assert_eq!(created.metadata.namespace, None);
    assert_eq!(
        created.status.as_ref().unwrap().phase.as_deref(),
        Some("Active")
    );
    assert!(
        c.kv.get(b"/registry/namespaces/team-a")
            .await
            .unwrap()
            .is_some()
    );
    let got = c
        .client
        .get(&kinds::NAMESPACES, None, "team-a", &GetParams::default())
        .await
        .unwrap();
    assert_eq!(got.metadata().uid, created.metadata.uid);
}

#[tokio::test]
async fn scale_subresource_reads_and_writes_replicas() {
    let c = cluster().await;
    let deployments: Api<Deployment> = Api::namespaced(c.client.clone(), "default");
    deployments
        .create(&PostParams::default(), &deployment("web", 2))
        .await
        .unwrap();
    let scale = deployments.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.as_ref().unwrap().replicas, Some(2));
    assert_eq!(
        scale.status.as_ref().unwrap().selector.as_deref(),
        Some("app=web")
    );
    let mut more = (*scale).clone();
    more.spec.as_mut().unwrap().replicas = Some(4);
    let scaled = deployments
        .replace_scale("web", &PostParams::default(), &more)
        .await
        .unwrap();
    assert_eq!(scaled.spec.as_ref().unwrap().replicas, Some(4));
    assert_eq!(
        deployments
            .get("web")
            .await
            .unwrap()
            .spec
            .as_ref()
            .unwrap()
            .replicas,
        Some(4)
    );
}

#[tokio::test]
async fn objects_over_the_size_limit_are_refused_before_they_are_written() {
    let c = cluster().await;
    // Validation caps a ConfigMap's data at 1 MiB, as Kubernetes does…
    let cms: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    let mut big = ConfigMap::default();
    big.metadata.name = Some("big".into());
    big.data = Some([("blob".to_owned(), "x".repeat(2 * 1024 * 1024))].into());
    let err = cms.create(&PostParams::default(), &big).await.unwrap_err();
    assert_eq!(err.code, 422, "{}", err.message);
    assert_eq!(cms.get("big").await.unwrap_err().code, 404);
    // …and the store refuses any object whose encoding exceeds its limit, here a pod whose
    // container arguments no validation rule bounds.
    let api = pods(&c);
    let mut huge = pod("huge");
    huge.spec.as_mut().unwrap().containers[0].args = Some(vec!["y".repeat(2 * 1024 * 1024)]);
    let err = api.create(&PostParams::default(), &huge).await.unwrap_err();
    assert_eq!(err.code, 413, "{}", err.message);
    assert_eq!(api.get("huge").await.unwrap_err().code, 404);
}

#[tokio::test]
async fn corrupt_bytes_under_a_key_do_not_break_the_rest_of_the_kind() {
    let c = cluster().await;
    let api = pods(&c);
    let created = api
        .create(&PostParams::default(), &pod("good"))
        .await
        .unwrap();
    let mut watch = api
        .watch(&WatchParams {
            resource_version: created.metadata.resource_version.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    c.kv.put(
        bytes::Bytes::from("/registry/pods/default/foreign"),
        bytes::Bytes::from("\u{0}not json"),
    )
    .await
    .unwrap();
    api.create(&PostParams::default(), &pod("after"))
        .await
        .unwrap();
    let names: Vec<_> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["after", "good"]);
    assert_eq!(api.get("foreign").await.unwrap_err().code, 404);
    // The watcher hears of the undecodable write as an error naming the key, then its
    // stream ends; a new watch from the same resourceVersion carries on past it.
    match tokio::time::timeout(WAIT, watch.next()).await.unwrap() {
        Some(WatchEvent::Error(status)) => {
            assert_eq!(status.code, 500);
            assert!(
                status.message.contains("/registry/pods/default/foreign"),
                "{}",
                status.message
            );
        }
        other => panic!("expected an error event, got {other:?}"),
    }
    assert!(
        tokio::time::timeout(WAIT, watch.next())
            .await
            .unwrap()
            .is_none()
    );
    let mut resumed = api
        .watch(&WatchParams {
            resource_version: created.metadata.resource_version.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    match tokio::time::timeout(WAIT, resumed.next()).await.unwrap() {
        Some(WatchEvent::Added(pod)) => assert_eq!(pod.metadata.name.as_deref(), Some("after")),
        other => panic!("expected the later pod, got {other:?}"),
    }
}
