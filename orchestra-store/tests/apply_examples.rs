//! Server-side apply of every manifest of the Kubernetes documentation
//! (`../shared/k8s-examples`, listed in its INDEX.tsv) that Orchestra serves: each applies
//! (or is refused exactly as a create of it is), re-applies as a no-op, shares its fields
//! with a second manager applying the same values, and sheds a label its applier drops.

use std::path::PathBuf;
use std::sync::Arc;

use orchestra_api::{Client, Patch, PatchParams, PostParams, field_validation, kinds};
use orchestra_store::{LocalClient, MemoryKv, Store, StoreConfig};
use serde::Deserialize;
use serde_json::{Value, json};

fn examples_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ORCHESTRA_K8S_EXAMPLES") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/k8s-examples")
}

/// Every object of every example file that parses as YAML, with its file for messages.
fn manifests() -> Vec<(String, Value)> {
    let dir = examples_dir();
    let index = std::fs::read_to_string(dir.join("INDEX.tsv")).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; the Kubernetes example manifests are expected in shared/ \
             beside the checkout (or set ORCHESTRA_K8S_EXAMPLES)",
            dir.display()
        )
    });
    let mut out = Vec::new();
    'files: for line in index.lines().filter(|l| !l.trim().is_empty()) {
        let file = line.split('\t').next().unwrap_or(line);
        let Ok(text) = std::fs::read_to_string(dir.join(file)) else {
            continue;
        };
        let mut docs = Vec::new();
        for de in serde_yaml_ng::Deserializer::from_str(&text) {
            match Value::deserialize(de) {
                Ok(Value::Null) => {}
                Ok(value) if value["kind"] == "List" => {
                    docs.extend(value["items"].as_array().cloned().unwrap_or_default());
                }
                Ok(value) => docs.push(value),
                // Files kubectl itself cannot read (see orchestra-api's k8s_examples test).
                Err(_) => continue 'files,
            }
        }
        out.extend(docs.into_iter().map(|doc| (file.to_owned(), doc)));
    }
    out
}

/// Manifests whose second applier conflicts, with the conflicting fields, as in Kubernetes,
/// which compares the applied values before decoding and defaulting them: an atomic value the
/// server completed with defaults, an atomic list that admission extended (a pod's
/// `tolerations`, to which `DefaultTolerationSeconds` adds its own), a quantity written as a
/// number and stored as a string, a quantity stored in its canonical form (`1.5` as `1500m`,
/// `1000` as `1k`), or a Secret's write-only `stringData`.
const SECOND_APPLIER_CONFLICTS: &[(&str, &[&str])] = &[
    (
        "admin/resource/cpu-constraints-pod-2.yaml",
        &[".spec.containers[name=\"constraints-cpu-demo-2-ctr\"].resources.limits.cpu"],
    ),
    (
        "admin/resource/cpu-defaults-pod-3.yaml",
        &[".spec.containers[name=\"default-cpu-demo-3-ctr\"].resources.requests.cpu"],
    ),
    (
        "admin/resource/memory-constraints-pod-2.yaml",
        &[".spec.containers[name=\"constraints-mem-demo-2-ctr\"].resources.limits.memory"],
    ),
    (
        "admin/resource/quota-objects-priority.yaml",
        &[".spec.hard.cpu"],
    ),
    (
        "admin/sched/my-scheduler.yaml",
        &[".spec.template.spec.containers[name=\"kube-second-scheduler\"].resources.requests.cpu"],
    ),
    (
        "pods/config/redis-pod.yaml",
        &[".spec.containers[name=\"redis\"].resources.limits.cpu"],
    ),
    ("policy/quota.yaml", &[".spec.hard.cpu"]),
    ("admin/resource/cpu-constraints.yaml", &[".spec.limits"]),
    ("admin/resource/cpu-defaults.yaml", &[".spec.limits"]),
    (
        "admin/resource/limit-memory-ratio-pod.yaml",
        &[".spec.limits"],
    ),
    ("admin/resource/memory-constraints.yaml", &[".spec.limits"]),
    (
        "application/cassandra/cassandra-statefulset.yaml",
        &[
            ".spec.volumeClaimTemplates",
            ".spec.template.spec.containers[name=\"cassandra\"].env[name=\"POD_IP\"].valueFrom.fieldRef",
        ],
    ),
    (
        "application/job/indexed-job-vol.yaml",
        &[".spec.template.spec.volumes[name=\"input\"].downwardAPI.items"],
    ),
    (
        "application/mysql/mysql-statefulset.yaml",
        &[".spec.volumeClaimTemplates"],
    ),
    (
        "application/web/web-parallel.yaml",
        &[".spec.volumeClaimTemplates"],
    ),
    ("application/web/web.yaml", &[".spec.volumeClaimTemplates"]),
    (
        "application/zookeeper/zookeeper.yaml",
        &[
            ".spec.volumeClaimTemplates",
            ".spec.template.spec.containers[name=\"kubernetes-zookeeper\"].resources.requests.cpu",
        ],
    ),
    (
        "controllers/statefulset.yaml",
        &[".spec.volumeClaimTemplates"],
    ),
    (
        "pods/inject/dapi-envars-pod.yaml",
        &[
            ".spec.containers[name=\"test-container\"].env[name=\"MY_NODE_NAME\"].valueFrom.fieldRef",
            ".spec.containers[name=\"test-container\"].env[name=\"MY_POD_IP\"].valueFrom.fieldRef",
            ".spec.containers[name=\"test-container\"].env[name=\"MY_POD_NAME\"].valueFrom.fieldRef",
            ".spec.containers[name=\"test-container\"].env[name=\"MY_POD_NAMESPACE\"].valueFrom.fieldRef",
            ".spec.containers[name=\"test-container\"].env[name=\"MY_POD_SERVICE_ACCOUNT\"].valueFrom.fieldRef",
        ],
    ),
    (
        "pods/inject/dapi-volume.yaml",
        &[".spec.volumes[name=\"podinfo\"].downwardAPI.items"],
    ),
    ("pods/pod-with-toleration.yaml", &[".spec.tolerations"]),
    (
        "pods/resource/extended-resource-pod-2.yaml",
        &[
            ".spec.containers[name=\"extended-resource-demo-2-ctr\"].resources.limits.example.com/dongle",
            ".spec.containers[name=\"extended-resource-demo-2-ctr\"].resources.requests.example.com/dongle",
        ],
    ),
    (
        "pods/resource/extended-resource-pod.yaml",
        &[
            ".spec.containers[name=\"extended-resource-demo-ctr\"].resources.limits.example.com/dongle",
            ".spec.containers[name=\"extended-resource-demo-ctr\"].resources.requests.example.com/dongle",
        ],
    ),
    (
        "pods/storage/projected-secret-downwardapi-configmap.yaml",
        &[".spec.volumes[name=\"all-in-one\"].projected.sources"],
    ),
    (
        "policy/service-cluster-cidr-address-range.yaml",
        &[".spec.matchConstraints.resourceRules"],
    ),
    (
        "secret/basicauth-secret.yaml",
        &[".stringData.password", ".stringData.username"],
    ),
    (
        "secret/bootstrap-token-secret-literal.yaml",
        &[
            ".stringData.auth-extra-groups",
            ".stringData.expiration",
            ".stringData.token-id",
            ".stringData.token-secret",
            ".stringData.usage-bootstrap-authentication",
            ".stringData.usage-bootstrap-signing",
        ],
    ),
    (
        "service/networking/vap-servicecidr-default.yaml",
        &[".spec.matchConstraints.resourceRules"],
    ),
    (
        "service/networking/vap-servicecidr-deny.yaml",
        &[".spec.matchConstraints.resourceRules"],
    ),
];

/// IPv6 Services that are created although this single-stack IPv4 cluster gives them an IPv4
/// cluster IP, which update validation then rejects: any write after the create fails, an
/// apply included. (Kubernetes refuses the create: IPv6 is not configured.)
const IPV6_SERVICES_CREATED_WITH_IPV4_ADDRESSES: &[&str] = &[
    "service/networking/dual-stack-ipfamilies-ipv6.yaml",
    "service/networking/dual-stack-prefer-ipv6-lb-svc.yaml",
    "service/networking/dual-stack-preferred-ipfamilies-svc.yaml",
];

fn params(manager: &str) -> PatchParams {
    PatchParams {
        field_manager: Some(manager.to_owned()),
        ..PatchParams::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_served_example_manifest_applies_server_side() {
    let mut applied = 0;
    let mut refused = 0;
    let mut shared_conflicts: Vec<String> = Vec::new();
    for (file, manifest) in manifests() {
        let api_version = manifest["apiVersion"].as_str().unwrap_or_default();
        let kind_name = manifest["kind"].as_str().unwrap_or_default();
        let Some(kind) = kinds::lookup_kind(api_version, kind_name) else {
            continue;
        };
        let Some(name) = manifest.pointer("/metadata/name").and_then(Value::as_str) else {
            continue;
        };
        let label = format!("{file} ({kind_name} {name})");
        let namespace = kind.is_namespaced().then(|| {
            manifest
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("default")
                .to_owned()
        });
        let ns = namespace.as_deref();
        let store = Store::open(
            Arc::new(MemoryKv::new()),
            kinds::BUILTIN.iter().map(|k| (*k).clone()),
            StoreConfig::default(),
        )
        .await
        .expect("store opens");
        let client = LocalClient::new(store);
        let apply = |manager: &'static str, config: Value| {
            let client = &client;
            async move {
                client
                    .patch(
                        kind,
                        ns,
                        name,
                        None,
                        &Patch::Apply(config),
                        &params(manager),
                    )
                    .await
            }
        };

        let first = match apply("kubectl", manifest.clone()).await {
            Ok(object) => object,
            Err(status) => {
                // Refused only where a create of the same manifest is refused too, or where
                // the manifest does not even decode as its kind.
                let Ok(object) = kind.codec.decode_value(manifest.clone()) else {
                    assert!(matches!(status.code, 400 | 422), "{label}: {status:?}");
                    refused += 1;
                    continue;
                };
                // Fields the kind does not declare (a field of a later Kubernetes version)
                // fail an apply in every validation mode, and kubectl's strict create too.
                let decoded = object.to_value().expect("encodes");
                let unknown = field_validation::unknown_fields(&manifest, &decoded);
                if !unknown.is_empty() {
                    assert_eq!(status.code, 400, "{label}: {status:?}");
                    for field in &unknown {
                        assert!(
                            status
                                .message
                                .contains(&format!(".{field}: field not declared in schema")),
                            "{label}: {status:?}"
                        );
                    }
                    refused += 1;
                    continue;
                }
                let created = client
                    .create(kind, ns, Arc::from(object), &PostParams::default())
                    .await;
                let create_status = created.expect_err(&format!(
                    "{label}: apply failed with {status:?} but create succeeded"
                ));
                assert_eq!(status.code, create_status.code, "{label}");
                refused += 1;
                continue;
            }
        };
        // One Apply entry by kubectl, unless the manifest sets nothing but its identity.
        let entries = first.metadata().managed_fields.clone().unwrap_or_default();
        assert!(entries.len() <= 1, "{label}: {entries:?}");
        for entry in &entries {
            assert_eq!(entry.manager.as_deref(), Some("kubectl"), "{label}");
            assert_eq!(entry.operation.as_deref(), Some("Apply"), "{label}");
        }

        let again = match apply("kubectl", manifest.clone()).await {
            Ok(again) => again,
            Err(status) if IPV6_SERVICES_CREATED_WITH_IPV4_ADDRESSES.contains(&file.as_str()) => {
                assert_eq!(status.code, 422, "{label}");
                continue;
            }
            Err(status) => panic!("{label}: re-apply: {status:?}"),
        };
        assert_eq!(
            again.metadata().resource_version,
            first.metadata().resource_version,
            "{label}: re-applying the same manifest must not write"
        );

        match apply("another-manager", manifest.clone()).await {
            Ok(_) => {}
            Err(status) => {
                // Kubernetes compares the applied values before decoding and defaulting them:
                // some differ from what the first apply stored, and so conflict with it.
                let Some(expected) = SECOND_APPLIER_CONFLICTS
                    .iter()
                    .find(|(known, _)| *known == file)
                else {
                    panic!("{label}: equal values must not conflict: {status:?}");
                };
                assert_eq!(status.code, 409, "{label}");
                let fields: Vec<&str> = status
                    .details
                    .as_ref()
                    .map(|d| d.causes.iter().map(|c| c.field.as_str()).collect())
                    .unwrap_or_default();
                assert_eq!(fields, expected.1, "{label}");
                shared_conflicts.push(file.clone());
            }
        }

        let mut labelled = manifest.clone();
        labelled["metadata"]["labels"]["example.com/applied"] = json!("twice");
        let with_label = apply("kubectl", labelled)
            .await
            .unwrap_or_else(|e| panic!("{label}: modified copy: {e:?}"));
        assert_eq!(
            with_label.metadata().labels.as_ref().unwrap()["example.com/applied"],
            "twice",
            "{label}"
        );
        let without = apply("kubectl", manifest.clone())
            .await
            .unwrap_or_else(|e| panic!("{label}: original again: {e:?}"));
        assert!(
            without
                .metadata()
                .labels
                .as_ref()
                .is_none_or(|labels| !labels.contains_key("example.com/applied")),
            "{label}: the dropped label must be removed"
        );
        applied += 1;
    }
    let unseen: Vec<&str> = SECOND_APPLIER_CONFLICTS
        .iter()
        .map(|(file, _)| *file)
        .filter(|file| !shared_conflicts.iter().any(|seen| seen == file))
        .collect();
    assert!(
        unseen.is_empty(),
        "expected conflicts that did not happen: {unseen:?}"
    );
    assert!(
        applied >= 200,
        "only {applied} example manifests applied ({refused} refused like a create)"
    );
}
