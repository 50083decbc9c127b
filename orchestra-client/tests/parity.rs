//! The store's registry behaviours, observed over HTTPS exactly as over the in-process
//! `LocalClient`: each check runs once over the server's own `LocalClient` and once over an
//! `HttpClient` to the same server, each in a namespace of its own, with the same
//! expectations. What a component sees must not depend on where it runs.

mod support;

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus};
use k8s_openapi::api::core::v1::{Binding, ConfigMap, Namespace, ObjectReference, Pod};
use orchestra_api::{
    Api, ArcObject, Client, DeleteParams, Deleted, GetParams, ListParams, Patch, PatchParams,
    PostParams, Preconditions, Subresource, WatchEvent, WatchParams, kinds,
};
use serde_json::json;
use support::{TestServer, WAIT};

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

fn config_map(name: &str) -> ConfigMap {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.to_owned());
    cm
}

/// Runs `check` over the server's `LocalClient` and over an `HttpClient`, each in its own
/// namespace.
async fn over_both<F, Fut>(name: &str, check: F)
where
    F: Fn(Arc<dyn Client>, String) -> Fut,
    Fut: Future<Output = ()>,
{
    let server = TestServer::start().await;
    for (transport, client) in [
        ("local", server.local.clone() as Arc<dyn Client>),
        ("http", server.http.clone() as Arc<dyn Client>),
    ] {
        let ns = format!("{name}-{transport}");
        server.namespace(&ns).await;
        check(client, ns).await;
    }
}

#[tokio::test]
async fn create_fills_server_fields() {
    over_both("create", |client, ns| async move {
        let pods = Api::<Pod>::namespaced(client, &ns);
        let created = pods
            .create(&PostParams::default(), &pod("web"))
            .await
            .unwrap();
        let meta = &created.metadata;
        assert_eq!(meta.namespace.as_deref(), Some(ns.as_str()));
        assert_eq!(meta.uid.as_ref().map(String::len), Some(36));
        assert!(meta.creation_timestamp.is_some());
        assert!(meta.resource_version.is_some());
        let got = pods.get("web").await.unwrap();
        assert_eq!(got.metadata.uid, meta.uid);
        assert_eq!(
            got.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Pending")
        );
    })
    .await;
}

#[tokio::test]
async fn duplicate_names_are_already_exists_and_generate_name_makes_unique_ones() {
    over_both("dup", |client, ns| async move {
        let api = Api::<Pod>::namespaced(client, &ns);
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
    })
    .await;
}

#[tokio::test]
async fn invalid_objects_get_422_with_field_paths_and_nothing_is_stored() {
    over_both("invalid", |client, ns| async move {
        let api = Api::<Pod>::namespaced(client, &ns);
        let mut bad = pod("web");
        bad.spec.as_mut().unwrap().containers[0].image = None;
        bad.spec.as_mut().unwrap().containers[0].name = "Not_A_Name".into();
        let err = api.create(&PostParams::default(), &bad).await.unwrap_err();
        assert_eq!(err.code, 422);
        assert_eq!(err.reason, orchestra_api::StatusReason::Invalid);
        let causes = err.details.unwrap().causes;
        for field in ["spec.containers[0].image", "spec.containers[0].name"] {
            assert!(
                causes.iter().any(|c| c.field == field),
                "{field}: {causes:?}"
            );
        }
        assert_eq!(api.get("web").await.unwrap_err().code, 404);
    })
    .await;
}

#[tokio::test]
async fn stale_resource_version_conflicts_and_changes_nothing() {
    over_both("stale", |client, ns| async move {
        let cms = Api::<ConfigMap>::namespaced(client, &ns);
        let v1 = cms
            .create(&PostParams::default(), &config_map("settings"))
            .await
            .unwrap();
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
        assert_eq!(
            cms.get("settings").await.unwrap().data.as_ref().unwrap()["a"],
            "1"
        );
    })
    .await;
}

#[tokio::test]
async fn generation_follows_spec_changes_only() {
    over_both("generation", |client, ns| async move {
        let deployments = Api::<Deployment>::namespaced(client, &ns);
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
    })
    .await;
}

#[tokio::test]
async fn status_writes_ignore_spec_and_spec_writes_ignore_status() {
    over_both("status", |client, ns| async move {
        let deployments = Api::<Deployment>::namespaced(client, &ns);
        deployments
            .create(&PostParams::default(), &deployment("web", 1))
            .await
            .unwrap();
        let mut both = (*deployments.get("web").await.unwrap()).clone();
        both.spec.as_mut().unwrap().replicas = Some(5);
        both.status = Some(DeploymentStatus {
            replicas: Some(7),
            ..Default::default()
        });
        let after_status = deployments
            .replace_status("web", &PostParams::default(), &both)
            .await
            .unwrap();
        assert_eq!(after_status.spec.as_ref().unwrap().replicas, Some(1));
        assert_eq!(after_status.status.as_ref().unwrap().replicas, Some(7));
        let patched = deployments
            .patch_status(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"readyReplicas": 2}, "spec": {"replicas": 9}})),
            )
            .await
            .unwrap();
        assert_eq!(patched.status.as_ref().unwrap().ready_replicas, Some(2));
        assert_eq!(patched.spec.as_ref().unwrap().replicas, Some(1));
        let mut spec_only = (*patched).clone();
        spec_only.spec.as_mut().unwrap().replicas = Some(5);
        spec_only.status = None;
        let after_spec = deployments
            .replace("web", &PostParams::default(), &spec_only)
            .await
            .unwrap();
        assert_eq!(after_spec.spec.as_ref().unwrap().replicas, Some(5));
        assert_eq!(after_spec.status.as_ref().unwrap().replicas, Some(7));
    })
    .await;
}

#[tokio::test]
async fn finalizers_hold_an_object_until_they_are_removed() {
    over_both("finalizers", |client, ns| async move {
        let cms = Api::<ConfigMap>::namespaced(client, &ns);
        let mut cm = config_map("held");
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
        assert_eq!(cms.get("held").await.unwrap_err().code, 404);
        let plain = cms
            .create(&PostParams::default(), &config_map("plain"))
            .await
            .unwrap();
        match cms.delete("plain", &DeleteParams::default()).await.unwrap() {
            Deleted::Gone(last) => assert_eq!(last.metadata.uid, plain.metadata.uid),
            Deleted::Pending(_) => panic!("nothing holds this object"),
        }
    })
    .await;
}

#[tokio::test]
async fn bound_pods_are_deleted_gracefully_and_grace_zero_removes_them() {
    over_both("binding", |client, ns| async move {
        let api = Api::<Pod>::namespaced(client.clone(), &ns);
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
        let answered = client
            .create_subresource(
                &kinds::PODS,
                Some(&ns),
                "web",
                Subresource::Binding,
                Arc::new(binding.clone()) as ArcObject,
                &PostParams::default(),
            )
            .await
            .unwrap();
        assert!(answered.as_any().is::<Binding>());
        let bound = api.get("web").await.unwrap();
        assert_eq!(
            bound.spec.as_ref().unwrap().node_name.as_deref(),
            Some("node-1")
        );
        let again = client
            .create_subresource(
                &kinds::PODS,
                Some(&ns),
                "web",
                Subresource::Binding,
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
        // Deleting again with the same grace changes nothing and is still pending.
        assert!(matches!(
            api.delete("web", &DeleteParams::default()).await.unwrap(),
            Deleted::Pending(_)
        ));
        let now = DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        };
        assert!(matches!(
            api.delete("web", &now).await.unwrap(),
            Deleted::Gone(_)
        ));
        assert_eq!(api.get("web").await.unwrap_err().code, 404);
    })
    .await;
}

#[tokio::test]
async fn delete_preconditions_must_hold() {
    over_both("preconditions", |client, ns| async move {
        let api = Api::<Pod>::namespaced(client, &ns);
        let created = api
            .create(&PostParams::default(), &pod("web"))
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
        let right = DeleteParams {
            preconditions: Some(Preconditions {
                uid: created.metadata.uid.clone(),
                resource_version: created.metadata.resource_version.clone(),
            }),
            ..Default::default()
        };
        assert!(matches!(
            api.delete("web", &right).await.unwrap(),
            Deleted::Gone(_)
        ));
    })
    .await;
}

#[tokio::test]
async fn dry_run_validates_but_stores_nothing() {
    over_both("dryrun", |client, ns| async move {
        let api = Api::<Pod>::namespaced(client, &ns);
        let dry = PostParams {
            dry_run: true,
            ..Default::default()
        };
        let answered = api.create(&dry, &pod("web")).await.unwrap();
        assert_eq!(answered.metadata.name.as_deref(), Some("web"));
        assert_eq!(api.get("web").await.unwrap_err().code, 404);
        api.create(&PostParams::default(), &pod("web"))
            .await
            .unwrap();
        let dry_delete = DeleteParams {
            dry_run: true,
            ..Default::default()
        };
        api.delete("web", &dry_delete).await.unwrap();
        assert!(api.get("web").await.is_ok());
    })
    .await;
}

#[tokio::test]
async fn selectors_filter_lists_and_unsupported_field_labels_are_rejected() {
    over_both("selectors", |client, ns| async move {
        let api = Api::<Pod>::namespaced(client, &ns);
        for (name, app) in [("a", "web"), ("b", "db"), ("c", "web")] {
            let mut p = pod(name);
            p.metadata.labels = Some([("app".to_owned(), app.to_owned())].into());
            api.create(&PostParams::default(), &p).await.unwrap();
        }
        let names = |list: orchestra_api::TypedList<Pod>| -> Vec<String> {
            list.items
                .iter()
                .map(|p| p.metadata.name.clone().unwrap())
                .collect()
        };
        let web = api
            .list(&ListParams::default().labels("app=web"))
            .await
            .unwrap();
        assert_eq!(names(web), ["a", "c"]);
        let set = api
            .list(&ListParams::default().labels("app in (db, cache),app!=web"))
            .await
            .unwrap();
        assert_eq!(names(set), ["b"]);
        let by_name = api
            .list(&ListParams::default().fields("metadata.name=b"))
            .await
            .unwrap();
        assert_eq!(names(by_name), ["b"]);
        let err = api
            .list(&ListParams::default().fields("spec.containers=x"))
            .await
            .unwrap_err();
        assert_eq!(err.code, 400);
        assert!(err.message.contains("spec.containers"), "{}", err.message);
    })
    .await;
}

#[tokio::test]
async fn pages_stay_consistent_while_objects_are_written_between_them() {
    over_both("pages", |client, ns| async move {
        let cms = Api::<ConfigMap>::namespaced(client, &ns);
        for i in 0..25 {
            cms.create(&PostParams::default(), &config_map(&format!("cm-{i:02}")))
                .await
                .unwrap();
        }
        let first = cms.list(&ListParams::default().limit(10)).await.unwrap();
        assert_eq!(first.items.len(), 10);
        let token = first.continue_token.clone().expect("more pages");
        cms.create(&PostParams::default(), &config_map("cm-99"))
            .await
            .unwrap();
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
    })
    .await;
}

#[tokio::test]
async fn watch_delivers_changes_in_order_with_their_resource_versions() {
    over_both("watch", |client, ns| async move {
        let api = Api::<Pod>::namespaced(client, &ns);
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
            let event = tokio::time::timeout(WAIT, events.next())
                .await
                .expect("an event in time")
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
    })
    .await;
}

#[tokio::test]
async fn cluster_scoped_kinds_ignore_namespaces_and_get_their_initial_status() {
    over_both("cluster", |client, ns| async move {
        let namespaces = Api::<Namespace>::all(client.clone());
        let mut team = Namespace::default();
        team.metadata.name = Some(format!("{ns}-team"));
        let created = namespaces
            .create(&PostParams::default(), &team)
            .await
            .unwrap();
        assert_eq!(created.metadata.namespace, None);
        assert_eq!(
            created.status.as_ref().unwrap().phase.as_deref(),
            Some("Active")
        );
        let got = client
            .get(
                &kinds::NAMESPACES,
                None,
                &format!("{ns}-team"),
                &GetParams::default(),
            )
            .await
            .unwrap();
        assert_eq!(got.metadata().uid, created.metadata.uid);
        assert!(got.as_any().is::<Namespace>());
    })
    .await;
}

#[tokio::test]
async fn scale_subresource_reads_and_writes_replicas() {
    over_both("scale", |client, ns| async move {
        let deployments = Api::<Deployment>::namespaced(client, &ns);
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
        let now = deployments.get("web").await.unwrap();
        assert_eq!(now.spec.as_ref().unwrap().replicas, Some(4));
    })
    .await;
}

#[tokio::test]
async fn objects_over_the_size_limit_are_refused_before_they_are_written() {
    over_both("size", |client, ns| async move {
        let cms = Api::<ConfigMap>::namespaced(client.clone(), &ns);
        let mut big = config_map("big");
        big.data = Some([("blob".to_owned(), "x".repeat(2 * 1024 * 1024))].into());
        let err = cms.create(&PostParams::default(), &big).await.unwrap_err();
        assert_eq!(err.code, 422, "{}", err.message);
        assert_eq!(cms.get("big").await.unwrap_err().code, 404);
        let pods = Api::<Pod>::namespaced(client, &ns);
        let mut huge = pod("huge");
        huge.spec.as_mut().unwrap().containers[0].args = Some(vec!["y".repeat(2 * 1024 * 1024)]);
        let err = pods
            .create(&PostParams::default(), &huge)
            .await
            .unwrap_err();
        assert_eq!(err.code, 413, "{}", err.message);
        assert_eq!(pods.get("huge").await.unwrap_err().code, 404);
    })
    .await;
}

#[tokio::test]
async fn delete_collection_removes_what_the_selector_selects() {
    over_both("deletecollection", |client, ns| async move {
        let cms = Api::<ConfigMap>::namespaced(client, &ns);
        for (name, tier) in [("a", "cache"), ("b", "db"), ("c", "cache")] {
            let mut cm = config_map(name);
            cm.metadata.labels = Some([("tier".to_owned(), tier.to_owned())].into());
            cms.create(&PostParams::default(), &cm).await.unwrap();
        }
        let deleted = cms
            .delete_collection(
                &ListParams::default().labels("tier=cache"),
                &DeleteParams::default(),
            )
            .await
            .unwrap();
        let mut names: Vec<_> = deleted
            .items
            .iter()
            .map(|c| c.metadata.name.clone().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["a", "c"]);
        let left = cms.list(&ListParams::default()).await.unwrap();
        assert_eq!(left.items.len(), 1);
        assert_eq!(left.items[0].metadata.name.as_deref(), Some("b"));
    })
    .await;
}
