//! `HttpClient` against the real API server: the verbs through the typed `Api<K>`, every patch
//! type, answers decoded into the kinds' Rust types, errors decoded into the server's `Status`,
//! and the HTTP it speaks (HTTP/2 over one reused connection).

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, Request};
use axum::response::IntoResponse;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::api::rbac::v1::ClusterRole;
use orchestra_api::object::downcast_arc;
use orchestra_api::{
    Api, Client, DeleteParams, FieldValidation, ListParams, Patch, PatchParams, PostParams,
    StatusReason,
};
use serde_json::json;
use support::{FakeServer, TestServer};

fn pod(name: &str, app: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {"containers": [
            {"name": "app", "image": "nginx:1.27", "env": [{"name": "MODE", "value": "a"}]},
            {"name": "sidecar", "image": "busybox:1.36"}
        ]}
    }))
    .expect("valid pod")
}

fn deployment(name: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"team": "a"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}
            }
        }
    }))
    .expect("valid deployment")
}

#[tokio::test]
async fn pods_and_deployments_go_through_their_whole_lifecycle() {
    let server = TestServer::start().await;
    let client = server.http.clone() as Arc<dyn Client>;
    let pods = Api::<Pod>::namespaced(client.clone(), "default");
    let created = pods
        .create(&PostParams::default(), &pod("web", "web"))
        .await
        .expect("create");
    assert_eq!(created.metadata.namespace.as_deref(), Some("default"));
    // Defaulting happened on the server and came back typed.
    let spec = created.spec.as_ref().expect("spec");
    assert_eq!(spec.restart_policy.as_deref(), Some("Always"));
    assert_eq!(
        spec.containers[0].termination_message_path.as_deref(),
        Some("/dev/termination-log")
    );

    let mut changed = (*pods.get("web").await.expect("get")).clone();
    changed
        .metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert("note".into(), "replaced".into());
    let replaced = pods
        .replace("web", &PostParams::default(), &changed)
        .await
        .expect("replace");
    assert_ne!(
        replaced.metadata.resource_version,
        created.metadata.resource_version
    );
    assert_eq!(
        replaced.metadata.annotations.as_ref().expect("annotations")["note"],
        "replaced"
    );

    let deployments = Api::<Deployment>::namespaced(client.clone(), "default");
    deployments
        .create(&PostParams::default(), &deployment("api", 2))
        .await
        .expect("create deployment");
    let got = deployments.get("api").await.expect("get deployment");
    assert_eq!(got.spec.as_ref().expect("spec").replicas, Some(2));
    assert_eq!(
        got.spec
            .as_ref()
            .and_then(|s| s.strategy.as_ref())
            .and_then(|s| s.type_.as_deref()),
        Some("RollingUpdate")
    );

    assert!(matches!(
        pods.delete("web", &DeleteParams::default())
            .await
            .expect("delete"),
        orchestra_api::Deleted::Gone(_)
    ));
    assert!(pods.get_opt("web").await.expect("get_opt").is_none());
    deployments
        .delete("api", &DeleteParams::default())
        .await
        .expect("delete deployment");
    assert_eq!(deployments.get("api").await.unwrap_err().code, 404);
}

#[tokio::test]
async fn lists_span_namespaces_and_cluster_scope_and_other_groups() {
    let server = TestServer::start().await;
    server.namespace("team-a").await;
    server.namespace("team-b").await;
    let client = server.http.clone() as Arc<dyn Client>;
    for ns in ["team-a", "team-b"] {
        Api::<Pod>::namespaced(client.clone(), ns)
            .create(&PostParams::default(), &pod("p", ns))
            .await
            .expect("create");
    }
    let everywhere = Api::<Pod>::all(client.clone())
        .list(&ListParams::default())
        .await
        .expect("list across namespaces");
    let places: BTreeSet<_> = everywhere
        .items
        .iter()
        .map(|p| p.metadata.namespace.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        places,
        BTreeSet::from(["team-a".to_owned(), "team-b".to_owned()])
    );
    let only_b = Api::<Pod>::all(client.clone())
        .list(&ListParams::default().fields("metadata.namespace=team-b"))
        .await
        .expect("field selector");
    assert_eq!(only_b.items.len(), 1);

    let role: ClusterRole = serde_json::from_value(json!({
        "metadata": {"name": "reader"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
    }))
    .expect("role");
    let roles = Api::<ClusterRole>::all(client.clone());
    roles
        .create(&PostParams::default(), &role)
        .await
        .expect("create cluster role");
    assert_eq!(
        roles
            .get("reader")
            .await
            .expect("get")
            .rules
            .as_ref()
            .map(Vec::len),
        Some(1)
    );

    let job: Job = serde_json::from_value(json!({
        "metadata": {"name": "once"},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox:1.36"}]}}}
    }))
    .expect("job");
    let jobs = Api::<Job>::namespaced(client, "team-a");
    let created = jobs
        .create(&PostParams::default(), &job)
        .await
        .expect("create job");
    assert_eq!(created.spec.as_ref().and_then(|s| s.backoff_limit), Some(6));
}

#[tokio::test]
async fn merge_json_and_strategic_patches_apply_as_kubernetes_defines_them() {
    let server = TestServer::start().await;
    let pods = Api::<Pod>::namespaced(server.http.clone() as Arc<dyn Client>, "default");
    pods.create(&PostParams::default(), &pod("web", "web"))
        .await
        .expect("create");

    let merged = pods
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"tier": "front", "app": null}}})),
        )
        .await
        .expect("merge patch");
    let labels = merged.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("tier").map(String::as_str), Some("front"));
    assert!(!labels.contains_key("app"));

    let jsonpatched = pods
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Json(json!([
                {"op": "test", "path": "/spec/containers/1/name", "value": "sidecar"},
                {"op": "replace", "path": "/spec/containers/1/image", "value": "busybox:1.37"},
                {"op": "add", "path": "/metadata/annotations", "value": {"by": "json-patch"}}
            ])),
        )
        .await
        .expect("JSON patch");
    let spec = jsonpatched.spec.as_ref().expect("spec");
    assert_eq!(spec.containers[1].image.as_deref(), Some("busybox:1.37"));
    let failed_test = pods
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Json(json!([{"op": "test", "path": "/spec/containers/0/name", "value": "x"}])),
        )
        .await
        .expect_err("a failed test operation");
    assert!(
        matches!(failed_test.code, 409 | 422),
        "{}: {}",
        failed_test.code,
        failed_test.message
    );

    // Strategic merge on a Deployment's template (a pod's containers are immutable but for
    // their images): containers merge by name, env by name; nothing else is lost.
    let deployments =
        Api::<Deployment>::namespaced(server.http.clone() as Arc<dyn Client>, "default");
    let mut with_env = deployment("api", 1);
    let template = with_env.spec.as_mut().expect("spec");
    template
        .template
        .spec
        .as_mut()
        .expect("pod spec")
        .containers[0]
        .env = Some(vec![
        serde_json::from_value(json!({"name": "MODE", "value": "a"})).expect("env"),
    ]);
    deployments
        .create(&PostParams::default(), &with_env)
        .await
        .expect("create deployment");
    let strategic = deployments
        .patch(
            "api",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "web", "env": [{"name": "EXTRA", "value": "1"}]},
                {"name": "sidecar", "image": "busybox:1.36"}
            ]}}}})),
        )
        .await
        .expect("strategic merge patch");
    let containers = &strategic
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod spec")
        .containers;
    let names: Vec<_> = containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["web", "sidecar"]);
    assert_eq!(containers[0].image.as_deref(), Some("nginx:1.27"));
    let env: BTreeSet<_> = containers[0]
        .env
        .as_ref()
        .expect("env")
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(env, BTreeSet::from(["EXTRA", "MODE"]));
}

#[tokio::test]
async fn errors_arrive_as_the_servers_status_with_their_causes() {
    let server = TestServer::start().await;
    let client = server.http.clone() as Arc<dyn Client>;
    let cms = Api::<ConfigMap>::namespaced(client.clone(), "default");

    let missing = cms.get("nothing").await.unwrap_err();
    assert_eq!(missing.code, 404);
    assert_eq!(missing.reason, StatusReason::NotFound);
    assert_eq!(missing.message, "configmaps \"nothing\" not found");
    let details = missing.details.as_ref().expect("details");
    assert_eq!(
        (details.name.as_str(), details.kind.as_str()),
        ("nothing", "configmaps")
    );

    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("settings".into());
    cms.create(&PostParams::default(), &cm)
        .await
        .expect("create");
    let exists = cms.create(&PostParams::default(), &cm).await.unwrap_err();
    assert_eq!(
        (exists.code, exists.reason.clone()),
        (409, StatusReason::AlreadyExists)
    );

    let mut invalid = ConfigMap::default();
    invalid.metadata.name = Some("Bad_Name".into());
    invalid.data = Some([("not a key!".to_owned(), "v".to_owned())].into());
    let rejected = cms
        .create(&PostParams::default(), &invalid)
        .await
        .unwrap_err();
    assert_eq!(
        (rejected.code, rejected.reason.clone()),
        (422, StatusReason::Invalid)
    );
    let causes = &rejected.details.as_ref().expect("details").causes;
    let fields: BTreeSet<_> = causes.iter().map(|c| c.field.as_str()).collect();
    assert!(fields.contains("metadata.name"), "{causes:?}");
    assert!(fields.iter().any(|f| f.starts_with("data")), "{causes:?}");

    // An empty name would address the collection: refused before anything is sent.
    assert_eq!(cms.get("").await.unwrap_err().code, 400);
    // A namespace that does not exist.
    let nowhere = Api::<ConfigMap>::namespaced(client.clone(), "nowhere")
        .create(&PostParams::default(), &cm)
        .await
        .unwrap_err();
    assert_eq!(nowhere.code, 404, "{}", nowhere.message);
    // A subresource the kind does not have.
    let no_scale = Api::<ConfigMap>::namespaced(client, "default")
        .get_scale("settings")
        .await
        .unwrap_err();
    assert_eq!(no_scale.code, 404, "{}", no_scale.message);
}

#[tokio::test]
async fn field_validation_strict_names_the_unknown_field() {
    let server = TestServer::start().await;
    let client = server.http.clone() as Arc<dyn Client>;
    // A DynamicObject keeps the unknown field, which a typed ConfigMap would drop.
    let kind = orchestra_api::kinds::CONFIGMAPS.clone();
    let cms = Api::<orchestra_api::DynamicObject>::namespaced_with(client, "default", kind);
    let object: orchestra_api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "strict"}, "dataa": {"a": "1"}
    }))
    .expect("object");
    let strict = PostParams {
        field_validation: Some(FieldValidation::Strict),
        ..PostParams::default()
    };
    let err = cms.create(&strict, &object).await.unwrap_err();
    assert_eq!(err.code, 400, "{}", err.message);
    assert!(err.message.contains("dataa"), "{}", err.message);
    let ignore = PostParams {
        field_validation: Some(FieldValidation::Ignore),
        ..PostParams::default()
    };
    let created = cms.create(&ignore, &object).await.expect("ignored");
    assert!(!created.data.contains_key("dataa"));
}

#[tokio::test]
async fn requests_share_one_http2_connection() {
    let seen: Arc<Mutex<Vec<(SocketAddr, String)>>> = Arc::default();
    let record = seen.clone();
    let router = axum::Router::new().fallback(
        move |ConnectInfo(peer): ConnectInfo<SocketAddr>, request: Request| {
            let record = record.clone();
            async move {
                let version = format!("{:?}", request.version());
                record.lock().expect("lock").push((peer, version.clone()));
                let name = request
                    .uri()
                    .path()
                    .rsplit('/')
                    .next()
                    .unwrap_or("")
                    .to_owned();
                let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": name, "namespace": "default"},
                    "data": {"version": version}});
                ([("content-type", "application/json")], body.to_string()).into_response()
            }
        },
    );
    let fake = FakeServer::start(router).await;
    let client = Arc::new(fake.client()) as Arc<dyn Client>;
    let cms = Api::<ConfigMap>::namespaced(client, "default");
    // The first request opens the connection and learns (ALPN) that it speaks HTTP/2; the
    // concurrent ones after it are multiplexed on it.
    cms.get("cm-first").await.expect("first answer");
    let answers = futures::future::join_all((0..20).map(|i| {
        let cms = cms.clone();
        async move { cms.get(&format!("cm-{i}")).await }
    }))
    .await;
    for (i, answer) in answers.into_iter().enumerate() {
        let cm = answer.expect("answer");
        assert_eq!(
            cm.metadata.name.as_deref(),
            Some(format!("cm-{i}").as_str())
        );
        assert_eq!(cm.data.as_ref().expect("data")["version"], "HTTP/2.0");
    }
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.len(), 21);
    let connections: BTreeSet<_> = seen.iter().map(|(peer, _)| *peer).collect();
    assert_eq!(
        connections.len(),
        1,
        "one connection for every request: {seen:?}"
    );
}

#[tokio::test]
async fn patch_outcome_reports_an_apply_that_created_and_the_warnings_of_the_answer() {
    let server = TestServer::start().await;
    let kind = &orchestra_api::kinds::CONFIGMAPS;
    let apply = |value: &str| {
        Patch::Apply(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "settings"}, "data": {"key": value}
        }))
    };
    let params = PatchParams {
        field_manager: Some("tester".to_owned()),
        ..PatchParams::default()
    };
    let patch = |patch: Patch, params: PatchParams| {
        let http = server.http.clone();
        async move {
            http.patch_outcome(kind, Some("default"), "settings", None, &patch, &params)
                .await
        }
    };

    // An apply of a new name creates the object: 201, and the object as stored.
    let created = patch(apply("one"), params.clone()).await.expect("apply");
    assert!(created.created);
    assert!(created.warnings.is_empty(), "{:?}", created.warnings);
    let object = downcast_arc::<ConfigMap>(created.object).expect("a ConfigMap");
    assert_eq!(
        object
            .data
            .as_ref()
            .and_then(|d| d.get("key"))
            .map(String::as_str),
        Some("one")
    );
    assert!(object.metadata.uid.is_some());

    // Applying again updates it: 200.
    let updated = patch(apply("two"), params.clone()).await.expect("apply");
    assert!(!updated.created);
    let object = downcast_arc::<ConfigMap>(updated.object).expect("a ConfigMap");
    assert_eq!(
        object
            .data
            .as_ref()
            .and_then(|d| d.get("key"))
            .map(String::as_str),
        Some("two")
    );

    // Unknown fields under fieldValidation=Warn come back as the Warning headers' texts,
    // unquoted, and the patch still applies.
    let warned = patch(
        Patch::Merge(json!({"data": {"key": "three"}, "bogus": {"nested \"quoted\"": 1}})),
        PatchParams {
            field_validation: Some(FieldValidation::Warn),
            ..PatchParams::default()
        },
    )
    .await
    .expect("merge patch");
    assert!(!warned.created);
    assert_eq!(warned.warnings, [r#"unknown field "bogus""#]);
    let object = downcast_arc::<ConfigMap>(warned.object).expect("a ConfigMap");
    assert_eq!(
        object
            .data
            .as_ref()
            .and_then(|d| d.get("key"))
            .map(String::as_str),
        Some("three")
    );

    // The merge patch's manager owns `data.key` now: an apply conflicts, unless forced.
    let conflict = patch(apply("four"), params.clone())
        .await
        .expect_err("a conflict");
    assert_eq!(conflict.code, 409, "{conflict:?}");
    // The plain `patch` answers the object too.
    let forced = PatchParams {
        force: true,
        ..params
    };
    let plain = server
        .http
        .patch(
            kind,
            Some("default"),
            "settings",
            None,
            &apply("four"),
            &forced,
        )
        .await
        .expect("forced apply");
    let object = downcast_arc::<ConfigMap>(plain).expect("a ConfigMap");
    assert_eq!(
        object
            .data
            .as_ref()
            .and_then(|d| d.get("key"))
            .map(String::as_str),
        Some("four")
    );
}
