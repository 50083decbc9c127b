//! Server-side apply and `managedFields` through the registry, as `kubectl apply
//! --server-side` and controllers observe them.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
use orchestra_api::{Api, Patch, PatchParams, PostParams, kinds};
use orchestra_store::{LocalClient, MemoryKv, Store, StoreConfig};
use serde_json::{Value, json};

async fn client() -> Arc<LocalClient> {
    let store = Store::open(
        Arc::new(MemoryKv::new()),
        kinds::BUILTIN.iter().map(|k| (*k).clone()),
        StoreConfig::default(),
    )
    .await
    .expect("store opens");
    Arc::new(LocalClient::new(store))
}

fn applied_by(manager: &str) -> PatchParams {
    PatchParams {
        field_manager: Some(manager.to_owned()),
        ..PatchParams::default()
    }
}

fn forced_by(manager: &str) -> PatchParams {
    PatchParams {
        force: true,
        ..applied_by(manager)
    }
}

fn deployment(replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{
                    "name": "nginx",
                    "image": image,
                    "ports": [{"containerPort": 80}]
                }]}
            }
        }
    })
}

fn entry<'a>(
    entries: &'a [ManagedFieldsEntry],
    manager: &str,
    operation: &str,
) -> &'a ManagedFieldsEntry {
    entries
        .iter()
        .find(|e| {
            e.manager.as_deref() == Some(manager) && e.operation.as_deref() == Some(operation)
        })
        .unwrap_or_else(|| panic!("no {operation} entry for {manager} in {entries:?}"))
}

fn fields_of(entry: &ManagedFieldsEntry) -> &Value {
    &entry.fields_v1.as_ref().expect("fieldsV1").0
}

#[tokio::test]
async fn apply_creates_an_absent_object_owned_by_the_applier() {
    let client = client().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    let created = api
        .patch(
            "web",
            &applied_by("kubectl"),
            &Patch::Apply(deployment(2, "nginx:1.27")),
        )
        .await
        .expect("apply creates");
    assert_eq!(created.spec.as_ref().unwrap().replicas, Some(2));
    assert!(created.metadata.uid.is_some());
    let entries = created.metadata.managed_fields.clone().unwrap();
    assert_eq!(entries.len(), 1);
    let kubectl = entry(&entries, "kubectl", "Apply");
    assert_eq!(kubectl.api_version.as_deref(), Some("apps/v1"));
    assert_eq!(kubectl.fields_type.as_deref(), Some("FieldsV1"));
    assert!(kubectl.time.is_some());
    assert_eq!(
        fields_of(kubectl),
        &json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {
                        ".": {},
                        "f:image": {},
                        "f:name": {},
                        "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                            ".": {},
                            "f:containerPort": {}
                        }}
                    }}}
                }
            }
        })
    );
    // Defaults are stored but owned by nobody.
    let container = &created
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0];
    assert_eq!(
        container.ports.as_ref().unwrap()[0].protocol.as_deref(),
        Some("TCP")
    );
}

#[tokio::test]
async fn reapplying_the_same_configuration_changes_nothing() {
    let client = client().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    let first = api
        .patch(
            "web",
            &applied_by("kubectl"),
            &Patch::Apply(deployment(2, "nginx")),
        )
        .await
        .unwrap();
    let again = api
        .patch(
            "web",
            &applied_by("kubectl"),
            &Patch::Apply(deployment(2, "nginx")),
        )
        .await
        .unwrap();
    assert_eq!(
        again.metadata.resource_version,
        first.metadata.resource_version
    );
    assert_eq!(again.metadata.managed_fields, first.metadata.managed_fields);
}

#[tokio::test]
async fn two_appliers_share_equal_fields_and_conflict_on_different_ones() {
    let client = client().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    api.patch(
        "web",
        &applied_by("alice"),
        &Patch::Apply(deployment(2, "nginx:1.27")),
    )
    .await
    .unwrap();
    // Bob applies the same values: no conflict, both own them.
    let shared = api
        .patch(
            "web",
            &applied_by("bob"),
            &Patch::Apply(deployment(2, "nginx:1.27")),
        )
        .await
        .expect("equal values do not conflict");
    let entries = shared.metadata.managed_fields.clone().unwrap();
    assert_eq!(
        fields_of(entry(&entries, "alice", "Apply")),
        fields_of(entry(&entries, "bob", "Apply"))
    );

    // Bob changes two of them: 409 listing both, nothing stored.
    let error = api
        .patch(
            "web",
            &applied_by("bob"),
            &Patch::Apply(deployment(5, "nginx:1.28")),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code, 409);
    assert_eq!(error.reason.as_str(), "Conflict");
    assert_eq!(
        error.message,
        "Apply failed with 2 conflicts: conflicts with \"alice\":\n- .spec.replicas\n- .spec.template.spec.containers[name=\"nginx\"].image"
    );
    let causes = &error.details.as_ref().unwrap().causes;
    let fields: Vec<(&str, &str, &str)> = causes
        .iter()
        .map(|c| (c.reason.as_str(), c.message.as_str(), c.field.as_str()))
        .collect();
    assert_eq!(
        fields,
        [
            (
                "FieldManagerConflict",
                "conflict with \"alice\"",
                ".spec.replicas"
            ),
            (
                "FieldManagerConflict",
                "conflict with \"alice\"",
                ".spec.template.spec.containers[name=\"nginx\"].image"
            ),
        ]
    );
    let unchanged = api.get("web").await.unwrap();
    assert_eq!(
        unchanged.metadata.resource_version,
        shared.metadata.resource_version
    );

    // With force, Bob takes the fields: Alice no longer owns them.
    let forced = api
        .patch(
            "web",
            &forced_by("bob"),
            &Patch::Apply(deployment(5, "nginx:1.28")),
        )
        .await
        .expect("force takes ownership");
    assert_eq!(forced.spec.as_ref().unwrap().replicas, Some(5));
    let entries = forced.metadata.managed_fields.clone().unwrap();
    let alice = fields_of(entry(&entries, "alice", "Apply"));
    assert!(alice["f:spec"].get("f:replicas").is_none(), "{alice}");
    let bob = fields_of(entry(&entries, "bob", "Apply"));
    assert!(bob["f:spec"].get("f:replicas").is_some(), "{bob}");
}

#[tokio::test]
async fn a_field_dropped_from_the_configuration_is_removed_unless_someone_else_owns_it() {
    let client = client().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let config = |data: Value| {
        Patch::Apply(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data}),
        )
    };
    api.patch(
        "c",
        &applied_by("alice"),
        &config(json!({"a": "1", "b": "2", "c": "3"})),
    )
    .await
    .unwrap();
    api.patch("c", &applied_by("bob"), &config(json!({"c": "3"})))
        .await
        .unwrap();
    let after = api
        .patch("c", &applied_by("alice"), &config(json!({"a": "1"})))
        .await
        .unwrap();
    let data = after.data.clone().unwrap();
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        ["a", "c"],
        "b is removed, c is Bob's"
    );
}

#[tokio::test]
async fn a_container_dropped_from_the_configuration_is_removed() {
    let client = client().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    let mut two = deployment(1, "nginx");
    two["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "log", "image": "fluentd"}));
    api.patch("web", &applied_by("kubectl"), &Patch::Apply(two))
        .await
        .unwrap();
    let one = api
        .patch(
            "web",
            &applied_by("kubectl"),
            &Patch::Apply(deployment(1, "nginx")),
        )
        .await
        .unwrap();
    let names: Vec<String> = one
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers
        .iter()
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(names, ["nginx"]);
}

#[tokio::test]
async fn dropping_replicas_gives_the_default_back() {
    let client = client().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    api.patch(
        "web",
        &applied_by("kubectl"),
        &Patch::Apply(deployment(4, "nginx")),
    )
    .await
    .unwrap();
    let mut without = deployment(4, "nginx");
    without["spec"].as_object_mut().unwrap().remove("replicas");
    let after = api
        .patch("web", &applied_by("kubectl"), &Patch::Apply(without))
        .await
        .unwrap();
    assert_eq!(after.spec.as_ref().unwrap().replicas, Some(1));
}

#[tokio::test]
async fn creates_updates_and_patches_are_recorded_as_update_operations() {
    let client = client().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "c"}, "data": {"a": "1"}})).unwrap();
    let created = api
        .create(
            &PostParams {
                field_manager: Some("kubectl-create".into()),
                ..PostParams::default()
            },
            &cm,
        )
        .await
        .unwrap();
    let entries = created.metadata.managed_fields.clone().unwrap();
    assert_eq!(
        fields_of(entry(&entries, "kubectl-create", "Update")),
        &json!({"f:data": {".": {}, "f:a": {}}})
    );
    let patched = api
        .patch(
            "c",
            &PatchParams {
                field_manager: Some("kubectl-patch".into()),
                ..PatchParams::default()
            },
            &Patch::Merge(json!({"data": {"a": "2", "b": "3"}})),
        )
        .await
        .unwrap();
    let entries = patched.metadata.managed_fields.clone().unwrap();
    assert_eq!(
        fields_of(entry(&entries, "kubectl-patch", "Update")),
        &json!({"f:data": {"f:a": {}, "f:b": {}}})
    );
    // kubectl-create lost `a` to the patch and owns only the map now.
    assert_eq!(
        fields_of(entry(&entries, "kubectl-create", "Update")),
        &json!({"f:data": {}})
    );
}

#[tokio::test]
async fn an_update_takes_ownership_from_an_applier_without_conflict() {
    let client = client().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    api.patch(
        "web",
        &applied_by("kubectl"),
        &Patch::Apply(deployment(2, "nginx")),
    )
    .await
    .unwrap();
    let scaled = api
        .patch(
            "web",
            &PatchParams {
                field_manager: Some("kubectl-scale".into()),
                ..PatchParams::default()
            },
            &Patch::Merge(json!({"spec": {"replicas": 7}})),
        )
        .await
        .expect("non-apply writes never conflict");
    let entries = scaled.metadata.managed_fields.clone().unwrap();
    assert_eq!(
        fields_of(entry(&entries, "kubectl-scale", "Update")),
        &json!({"f:spec": {"f:replicas": {}}})
    );
    assert!(
        fields_of(entry(&entries, "kubectl", "Apply"))["f:spec"]
            .get("f:replicas")
            .is_none()
    );
    // Applying the old value now conflicts with the scaler.
    let error = api
        .patch(
            "web",
            &applied_by("kubectl"),
            &Patch::Apply(deployment(2, "nginx")),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code, 409);
    assert!(
        error.message.starts_with(
            "Apply failed with 1 conflict: conflict with \"kubectl-scale\" using apps/v1 at "
        ),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn status_writes_are_recorded_with_the_status_subresource() {
    let client = client().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    api.patch(
        "web",
        &applied_by("kubectl"),
        &Patch::Apply(deployment(2, "nginx")),
    )
    .await
    .unwrap();
    let updated = api
        .patch_status(
            "web",
            &PatchParams {
                field_manager: Some("deployment-controller".into()),
                ..PatchParams::default()
            },
            &Patch::Merge(json!({"status": {"replicas": 2, "observedGeneration": 1}})),
        )
        .await
        .unwrap();
    let entries = updated.metadata.managed_fields.clone().unwrap();
    let controller = entry(&entries, "deployment-controller", "Update");
    assert_eq!(controller.subresource.as_deref(), Some("status"));
    assert_eq!(
        fields_of(controller),
        &json!({"f:status": {"f:observedGeneration": {}, "f:replicas": {}}})
    );
}

#[tokio::test]
async fn apply_needs_a_field_manager_and_a_matching_object() {
    let client = client().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    let error = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Apply(deployment(1, "nginx")),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code, 422);
    assert!(
        error.message.contains("fieldManager: Required value"),
        "{}",
        error.message
    );
    let error = api
        .patch(
            "other",
            &applied_by("kubectl"),
            &Patch::Apply(deployment(1, "nginx")),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code, 400);
    let mut wrong_kind = deployment(1, "nginx");
    wrong_kind["kind"] = json!("StatefulSet");
    let error = api
        .patch("web", &applied_by("kubectl"), &Patch::Apply(wrong_kind))
        .await
        .unwrap_err();
    assert_eq!(error.code, 400);
    let mut nameless = deployment(1, "nginx");
    nameless["spec"]["template"]["spec"]["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("name");
    let error = api
        .patch("web", &applied_by("kubectl"), &Patch::Apply(nameless))
        .await
        .unwrap_err();
    assert_eq!(error.code, 400);
    assert!(
        api.get_opt("web").await.unwrap().is_none(),
        "nothing was created"
    );
}

#[tokio::test]
async fn server_side_apply_by_kubectl_takes_over_a_client_side_apply() {
    let client = client().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    let config = deployment(1, "nginx:1.27");
    // `kubectl apply` (client-side) creates with the annotation as kubectl-client-side-apply.
    let mut annotated = config.clone();
    annotated["metadata"]["annotations"] = json!({
        "kubectl.kubernetes.io/last-applied-configuration": config.to_string()
    });
    let object: Deployment = serde_json::from_value(annotated).unwrap();
    api.create(
        &PostParams {
            field_manager: Some("kubectl-client-side-apply".into()),
            ..PostParams::default()
        },
        &object,
    )
    .await
    .unwrap();
    // `kubectl apply --server-side` of a modified copy changes fields the client-side apply
    // owns, without conflict, and keeps the annotation in step.
    let upgraded = api
        .patch(
            "web",
            &applied_by("kubectl"),
            &Patch::Apply(deployment(3, "nginx:1.28")),
        )
        .await
        .expect("the last-applied fields are taken over");
    assert_eq!(upgraded.spec.as_ref().unwrap().replicas, Some(3));
    let annotation = &upgraded.metadata.annotations.as_ref().unwrap()["kubectl.kubernetes.io/last-applied-configuration"];
    let recorded: Value = serde_json::from_str(annotation).unwrap();
    assert_eq!(recorded["spec"]["replicas"], 3);
    // Another manager gets no such upgrade.
    let error = api
        .patch(
            "web",
            &applied_by("helm"),
            &Patch::Apply(deployment(4, "nginx:1.28")),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code, 409);
}

#[tokio::test]
async fn a_field_ref_defaulted_by_the_server_is_owned_whole_and_conflicts_like_kubernetes() {
    let client = client().await;
    let api: Api<Pod> = Api::namespaced(client, "default");
    let config = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "dapi"},
        "spec": {"containers": [{
            "name": "c",
            "image": "busybox",
            "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]
        }]}
    });
    // Client-side apply creates the pod; the server defaults `fieldRef.apiVersion` to `v1`.
    let mut annotated = config.clone();
    annotated["metadata"]["annotations"] = json!({
        "kubectl.kubernetes.io/last-applied-configuration": config.to_string()
    });
    let created = api
        .create(
            &PostParams {
                field_manager: Some("kubectl-client-side-apply".into()),
                ..PostParams::default()
            },
            &serde_json::from_value(annotated).unwrap(),
        )
        .await
        .unwrap();
    let field_ref = json!({"apiVersion": "v1", "fieldPath": "spec.nodeName"});
    let env = &created.spec.as_ref().unwrap().containers[0]
        .env
        .as_ref()
        .unwrap()[0];
    assert_eq!(
        serde_json::to_value(env).unwrap()["valueFrom"]["fieldRef"],
        field_ref
    );
    // `ObjectFieldSelector` is `structType=atomic`: owned as one field, not field by field.
    let entries = created.metadata.managed_fields.clone().unwrap_or_default();
    let owned = &fields_of(entry(&entries, "kubectl-client-side-apply", "Update"))["f:spec"]["f:containers"]
        ["k:{\"name\":\"c\"}"]["f:env"]["k:{\"name\":\"NODE\"}"]["f:valueFrom"];
    assert_eq!(owned["f:fieldRef"], json!({}), "{owned}");
    // The applied selector lacks the default, so it differs from the live one as a whole:
    // even kubectl's upgrade from client-side apply cannot take it over (the annotation does
    // not hold the live value either), exactly as Kubernetes answers.
    let error = api
        .patch(
            "dapi",
            &applied_by("kubectl"),
            &Patch::Apply(config.clone()),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code, 409, "{error:?}");
    assert!(
        error
            .message
            .contains(r#".spec.containers[name="c"].env[name="NODE"].valueFrom.fieldRef"#),
        "{}",
        error.message
    );
    // Forced, kubectl owns it; a configuration with the default applies without force.
    api.patch("dapi", &forced_by("kubectl"), &Patch::Apply(config.clone()))
        .await
        .expect("forced");
    let mut explicit = config;
    explicit["spec"]["containers"][0]["env"][0]["valueFrom"]["fieldRef"] = field_ref;
    api.patch("dapi", &applied_by("other"), &Patch::Apply(explicit))
        .await
        .expect("the same value is shared without conflict");
}

#[tokio::test]
async fn a_request_can_reset_managed_fields() {
    let client = client().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.patch(
        "c",
        &applied_by("alice"),
        &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}})),
    )
    .await
    .unwrap();
    let reset = api
        .patch(
            "c",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"managedFields": [{}]}})),
        )
        .await
        .unwrap();
    assert_eq!(reset.metadata.managed_fields, None);
}

#[tokio::test]
async fn dry_run_apply_stores_nothing() {
    let client = client().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    let params = PatchParams {
        dry_run: true,
        ..applied_by("kubectl")
    };
    let answered = api
        .patch("web", &params, &Patch::Apply(deployment(1, "nginx")))
        .await
        .unwrap();
    assert_eq!(answered.spec.as_ref().unwrap().replicas, Some(1));
    assert!(api.get_opt("web").await.unwrap().is_none());
}

#[tokio::test]
async fn patch_outcome_tells_an_apply_that_created_from_one_that_updated() {
    use orchestra_api::Client;
    let client = client().await;
    let apply = |image: &str| Patch::Apply(deployment(1, image));
    let first = client
        .patch_outcome(
            &kinds::DEPLOYMENTS,
            Some("default"),
            "web",
            None,
            &apply("nginx:1.27"),
            &applied_by("kubectl"),
        )
        .await
        .expect("apply creates");
    assert!(first.created);
    assert!(first.warnings.is_empty());
    let second = client
        .patch_outcome(
            &kinds::DEPLOYMENTS,
            Some("default"),
            "web",
            None,
            &apply("nginx:1.28"),
            &applied_by("kubectl"),
        )
        .await
        .expect("apply updates");
    assert!(!second.created);
    assert_eq!(
        second.object.metadata().uid,
        first.object.metadata().uid,
        "the same object"
    );
}
