//! Kubernetes protobuf bodies over the REST surface: what kubectl's typed commands send is
//! stored exactly as the same object sent as JSON, and clients that accept only protobuf get
//! protobuf back.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use orchestra_api::kinds;
use orchestra_apiserver::protobuf;
use serde_json::{Value, json};
use support::{Answer, app};
use tower::ServiceExt;

const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

async fn send(
    app: &axum::Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body)).expect("request"))
        .await
        .expect("response");
    let code = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    Answer {
        code,
        headers,
        body,
    }
}

async fn post_json(app: &axum::Router, uri: &str, object: &Value) -> Answer {
    send(
        app,
        "POST",
        uri,
        &[("content-type", "application/json")],
        object.to_string().into_bytes(),
    )
    .await
}

async fn post_protobuf(app: &axum::Router, uri: &str, body: Vec<u8>) -> Answer {
    send(app, "POST", uri, &[("content-type", PROTOBUF)], body).await
}

async fn get_json(app: &axum::Router, uri: &str) -> Value {
    let answer = send(app, "GET", uri, &[], Vec::new()).await;
    assert_eq!(answer.code, StatusCode::OK, "GET {uri}: {}", answer.json());
    answer.json()
}

/// The parts of a stored object that depend on when and where it was created.
fn without_server_fields(mut object: Value) -> Value {
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "managedFields",
            "namespace",
        ] {
            metadata.remove(field);
        }
    }
    object
}

/// A resource's collection path (`/apis/apps/v1/namespaces/ns/deployments`).
fn collection(kind: &kinds::ResourceKind, namespace: &str) -> String {
    let base = if kind.group.is_empty() {
        "/api/v1".to_owned()
    } else {
        format!("/apis/{}/{}", kind.group, kind.version)
    };
    if kind.is_namespaced() {
        format!("{base}/namespaces/{namespace}/{}", kind.plural)
    } else {
        format!("{base}/{}", kind.plural)
    }
}

// ---------------------------------------------------------------------------------------
// Real kubectl
// ---------------------------------------------------------------------------------------

/// kubectl 1.32 (on PATH) and 1.33 (beside it).
fn kubectls() -> Vec<PathBuf> {
    let default = std::fs::canonicalize("/usr/bin/kubectl")
        .expect("kubectl is installed at /usr/bin/kubectl (google-cloud-cli-kubectl)");
    let newer = default.with_file_name("kubectl.1.33");
    assert!(newer.exists(), "{} is missing", newer.display());
    vec![PathBuf::from("/usr/bin/kubectl"), newer]
}

fn write_kubeconfig(dir: &Path, address: std::net::SocketAddr) -> PathBuf {
    let path = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\n\
         clusters:\n- name: plain\n  cluster:\n    server: http://{address}\n\
         users:\n- name: anyone\n  user: {{}}\n\
         contexts:\n- name: plain\n  context:\n    cluster: plain\n    user: anyone\n\
         current-context: plain\n"
    );
    std::fs::write(&path, text).expect("kubeconfig written");
    path
}

async fn kubectl(binary: &Path, kubeconfig: &Path, args: &[&str]) -> Output {
    let run = tokio::process::Command::new(binary)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--request-timeout", "20s"])
        .args(args)
        .env("HOME", kubeconfig.parent().expect("kubeconfig dir"))
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("kubectl finishes within a minute")
        .expect("kubectl runs")
}

fn succeeded(output: &Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "kubectl {what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// kubectl's typed `create` commands and `run`, each with the resource path it creates at.
const KUBECTL_CREATES: &[(&[&str], &str)] = &[
    (
        &[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.27",
            "--replicas=3",
            "--port=80",
        ],
        "deployments/web",
    ),
    (
        &[
            "create",
            "deployment",
            "idle",
            "--image=nginx",
            "--replicas=0",
        ],
        "deployments/idle",
    ),
    (
        &[
            "create",
            "configmap",
            "settings",
            "--from-literal=mode=fast",
            "--from-literal=empty=",
        ],
        "configmaps/settings",
    ),
    (
        &[
            "create",
            "secret",
            "generic",
            "creds",
            "--from-literal=password=s3cr3t",
        ],
        "secrets/creds",
    ),
    (
        &[
            "create",
            "secret",
            "docker-registry",
            "registry",
            "--docker-server=registry.example.com",
            "--docker-username=me",
            "--docker-password=pw",
        ],
        "secrets/registry",
    ),
    (
        &[
            "create",
            "service",
            "clusterip",
            "web",
            "--tcp=80:8080",
            "--tcp=443:https",
        ],
        "services/web",
    ),
    (
        &[
            "create",
            "service",
            "externalname",
            "db",
            "--external-name=db.example.com",
        ],
        "services/db",
    ),
    (
        &[
            "create",
            "job",
            "once",
            "--image=busybox:1.36",
            "--",
            "echo",
            "hi",
        ],
        "jobs/once",
    ),
    (
        &[
            "create",
            "cronjob",
            "nightly",
            "--image=busybox:1.36",
            "--schedule=0 3 * * *",
            "--",
            "date",
        ],
        "cronjobs/nightly",
    ),
    (
        &["create", "serviceaccount", "robot"],
        "serviceaccounts/robot",
    ),
    (
        &[
            "create",
            "role",
            "reader",
            "--verb=get,list,watch",
            "--resource=pods,deployments.apps",
        ],
        "roles/reader",
    ),
    (
        &[
            "create",
            "rolebinding",
            "read",
            "--role=reader",
            "--serviceaccount=default:robot",
        ],
        "rolebindings/read",
    ),
    (
        &[
            "create",
            "quota",
            "limits",
            "--hard=pods=10,requests.cpu=2,requests.memory=1Gi",
        ],
        "resourcequotas/limits",
    ),
    (
        &[
            "create",
            "poddisruptionbudget",
            "web",
            "--selector=app=web",
            "--min-available=50%",
        ],
        "poddisruptionbudgets/web",
    ),
    (
        &[
            "create",
            "ingress",
            "web",
            "--class=nginx",
            "--rule=example.com/api*=web:80",
        ],
        "ingresses/web",
    ),
    (
        &[
            "run",
            "shell",
            "--image=busybox:1.36",
            "--labels=app=shell",
            "--env=MODE=debug",
            "--port=8080",
            "--restart=Never",
            "--",
            "sleep",
            "3600",
        ],
        "pods/shell",
    ),
];

/// kubectl's cluster-scoped typed creates: created once through protobuf and once (under
/// another name) through JSON.
const KUBECTL_CLUSTER_CREATES: &[(&[&str], &str)] = &[
    (&["create", "namespace"], "namespaces"),
    (
        &["create", "clusterrole", "--verb=get", "--resource=nodes"],
        "clusterroles",
    ),
    (
        &[
            "create",
            "clusterrolebinding",
            "--clusterrole=view",
            "--group=auditors",
        ],
        "clusterrolebindings",
    ),
    (
        &[
            "create",
            "priorityclass",
            "--value=1000",
            "--description=important",
        ],
        "priorityclasses",
    ),
];

/// A command with flags added before its `--` (the container command), if any.
fn with_flags<'a>(args: &[&'a str], flags: &[&'a str]) -> Vec<&'a str> {
    let split = args.iter().position(|a| *a == "--").unwrap_or(args.len());
    let mut out = args[..split].to_vec();
    out.extend(flags);
    out.extend(&args[split..]);
    out
}

fn path_of(plural: &str) -> &'static kinds::ResourceKind {
    kinds::BUILTIN
        .iter()
        .copied()
        .find(|k| k.plural == plural)
        .unwrap_or_else(|| panic!("{plural} is served"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_typed_creates_store_what_their_json_stores() {
    let app = app().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let server = tokio::spawn(axum::serve(listener, app.clone()).into_future());
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = write_kubeconfig(dir.path(), address);

    for (index, binary) in kubectls().iter().enumerate() {
        let proto_ns = format!("proto-{index}");
        let json_ns = format!("json-{index}");
        for ns in [&proto_ns, &json_ns] {
            let created = post_json(
                &app,
                "/api/v1/namespaces",
                &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            )
            .await;
            assert_eq!(created.code, StatusCode::CREATED, "{}", created.json());
        }
        for (args, target) in KUBECTL_CREATES {
            let what = args.join(" ");
            // Through the server: kubectl sends protobuf.
            let with_ns = with_flags(args, &["-n", &proto_ns]);
            succeeded(&kubectl(binary, &kubeconfig, &with_ns).await, &what);
            // The same object as kubectl's own JSON, posted as JSON.
            let dry = with_flags(args, &["-n", &json_ns, "--dry-run=client", "-o", "json"]);
            let object: Value =
                serde_json::from_str(&succeeded(&kubectl(binary, &kubeconfig, &dry).await, &what))
                    .expect("kubectl prints JSON");
            let (plural, name) = target.split_once('/').expect("plural/name");
            let kind = path_of(plural);
            let created = post_json(
                &app,
                &format!("{}?fieldValidation=Strict", collection(kind, &json_ns)),
                &object,
            )
            .await;
            assert_eq!(
                created.code,
                StatusCode::CREATED,
                "{what}: {}",
                created.json()
            );

            let through_protobuf =
                get_json(&app, &format!("{}/{name}", collection(kind, &proto_ns))).await;
            let through_json =
                get_json(&app, &format!("{}/{name}", collection(kind, &json_ns))).await;
            let mut expected = without_server_fields(through_json);
            let mut actual = without_server_fields(through_protobuf);
            if plural == "services" {
                // Allocated per object.
                for spec in [&mut expected["spec"], &mut actual["spec"]] {
                    if let Some(spec) = spec.as_object_mut() {
                        spec.remove("clusterIP");
                        spec.remove("clusterIPs");
                    }
                }
            }
            assert_eq!(actual, expected, "{} ({})", what, binary.display());
        }
        for (args, plural) in KUBECTL_CLUSTER_CREATES {
            let what = args.join(" ");
            let kind = path_of(plural);
            let (proto_name, json_name) =
                (format!("p{index}-{plural}"), format!("j{index}-{plural}"));
            let mut create = args.to_vec();
            create.insert(2, &proto_name);
            succeeded(&kubectl(binary, &kubeconfig, &create).await, &what);
            let mut dry = with_flags(args, &["--dry-run=client", "-o", "json"]);
            dry.insert(2, &json_name);
            let object: Value =
                serde_json::from_str(&succeeded(&kubectl(binary, &kubeconfig, &dry).await, &what))
                    .expect("kubectl prints JSON");
            let created = post_json(
                &app,
                &format!("{}?fieldValidation=Strict", collection(kind, "")),
                &object,
            )
            .await;
            assert_eq!(
                created.code,
                StatusCode::CREATED,
                "{what}: {}",
                created.json()
            );
            let mut actual = without_server_fields(
                get_json(&app, &format!("{}/{proto_name}", collection(kind, ""))).await,
            );
            let mut expected = without_server_fields(
                get_json(&app, &format!("{}/{json_name}", collection(kind, ""))).await,
            );
            for object in [&mut actual, &mut expected] {
                object["metadata"]
                    .as_object_mut()
                    .expect("metadata")
                    .remove("name");
                if let Some(labels) = object["metadata"]["labels"].as_object_mut() {
                    labels.remove("kubernetes.io/metadata.name");
                }
            }
            assert_eq!(actual, expected, "{} ({})", what, binary.display());
        }
    }
    server.abort();
}

// ---------------------------------------------------------------------------------------
// Objects encoded by prost (k8s-pb), against their JSON
// ---------------------------------------------------------------------------------------

mod pb {
    pub use k8s_pb::api::admissionregistration::v1 as admission;
    pub use k8s_pb::api::apps::v1 as apps;
    pub use k8s_pb::api::coordination::v1 as coordination;
    pub use k8s_pb::api::core::v1 as core;
    pub use k8s_pb::api::policy::v1 as k8s_policy;
    pub use k8s_pb::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
    pub use k8s_pb::apimachinery::pkg::api::resource::Quantity;
    pub use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
    pub use k8s_pb::apimachinery::pkg::runtime::{RawExtension, TypeMeta, Unknown};
    pub use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
}

use prost::Message as _;

/// A Kubernetes protobuf body for `message`, enveloped by prost.
fn envelope(api_version: &str, kind: &str, message: &impl prost::Message) -> Vec<u8> {
    let unknown = pb::Unknown {
        type_meta: Some(pb::TypeMeta {
            api_version: Some(api_version.to_owned()),
            kind: Some(kind.to_owned()),
        }),
        raw: Some(message.encode_to_vec()),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut body = b"k8s\0".to_vec();
    body.extend(unknown.encode_to_vec());
    body
}

fn s(text: &str) -> Option<String> {
    Some(text.to_owned())
}

fn meta(name: &str, labels: &[(&str, &str)]) -> Option<pb::meta::ObjectMeta> {
    Some(pb::meta::ObjectMeta {
        name: s(name),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        // Go writes its zero values; they are not fields of the object.
        generate_name: s(""),
        namespace: s(""),
        resource_version: s(""),
        generation: Some(0),
        creation_timestamp: Some(pb::meta::Time::default()),
        ..Default::default()
    })
}

fn quantity(text: &str) -> pb::Quantity {
    pb::Quantity { string: s(text) }
}

fn port_name(name: &str) -> Option<pb::IntOrString> {
    Some(pb::IntOrString {
        r#type: Some(1),
        int_val: Some(0),
        str_val: s(name),
    })
}

fn port_number(number: i32) -> Option<pb::IntOrString> {
    Some(pb::IntOrString {
        r#type: Some(0),
        int_val: Some(number),
        str_val: s(""),
    })
}

/// A pod using the inline embeddings (volume sources, probe handlers), quantities,
/// int-or-strings and pointer fields set to zero.
fn pod() -> (Vec<u8>, Value) {
    let container = pb::core::Container {
        name: s("app"),
        image: s("nginx:1.27"),
        ports: vec![pb::core::ContainerPort {
            name: s("http"),
            container_port: Some(80),
            host_port: Some(0),
            ..Default::default()
        }],
        resources: Some(pb::core::ResourceRequirements {
            limits: [("cpu", "500m"), ("memory", "128Mi")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), quantity(v)))
                .collect(),
            ..Default::default()
        }),
        readiness_probe: Some(pb::core::Probe {
            handler: Some(pb::core::ProbeHandler {
                http_get: Some(pb::core::HttpGetAction {
                    path: s("/healthz"),
                    port: port_name("http"),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            period_seconds: Some(5),
            timeout_seconds: Some(0),
            ..Default::default()
        }),
        liveness_probe: Some(pb::core::Probe {
            handler: Some(pb::core::ProbeHandler {
                tcp_socket: Some(pb::core::TcpSocketAction {
                    port: port_number(80),
                    host: s(""),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        security_context: Some(pb::core::SecurityContext {
            run_as_user: Some(0),
            run_as_non_root: Some(false),
            read_only_root_filesystem: Some(true),
            ..Default::default()
        }),
        volume_mounts: vec![pb::core::VolumeMount {
            name: s("data"),
            mount_path: s("/data"),
            read_only: Some(false),
            ..Default::default()
        }],
        stdin: Some(false),
        tty: Some(false),
        ..Default::default()
    };
    let pod = pb::core::Pod {
        metadata: meta("web", &[("app", "web")]),
        spec: Some(pb::core::PodSpec {
            containers: vec![container],
            volumes: vec![
                pb::core::Volume {
                    name: s("data"),
                    volume_source: Some(pb::core::VolumeSource {
                        empty_dir: Some(pb::core::EmptyDirVolumeSource {
                            medium: s(""),
                            size_limit: Some(quantity("1Gi")),
                        }),
                        ..Default::default()
                    }),
                },
                pb::core::Volume {
                    name: s("settings"),
                    volume_source: Some(pb::core::VolumeSource {
                        config_map: Some(pb::core::ConfigMapVolumeSource {
                            local_object_reference: Some(pb::core::LocalObjectReference {
                                name: s("settings"),
                            }),
                            items: vec![pb::core::KeyToPath {
                                key: s("mode"),
                                path: s("mode.txt"),
                                mode: Some(0o600),
                            }],
                            default_mode: Some(0o644),
                            optional: Some(false),
                        }),
                        ..Default::default()
                    }),
                },
            ],
            termination_grace_period_seconds: Some(0),
            automount_service_account_token: Some(false),
            host_network: Some(false),
            node_selector: [("disk".to_owned(), "ssd".to_owned())].into(),
            tolerations: vec![pb::core::Toleration {
                key: s("dedicated"),
                operator: s("Equal"),
                value: s("web"),
                effect: s("NoExecute"),
                toleration_seconds: Some(0),
            }],
            ..Default::default()
        }),
        status: None,
    };
    let json = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "containers": [{
                "name": "app", "image": "nginx:1.27",
                "ports": [{"name": "http", "containerPort": 80}],
                "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}},
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5},
                "livenessProbe": {"tcpSocket": {"port": 80}},
                "securityContext": {"runAsUser": 0, "runAsNonRoot": false, "readOnlyRootFilesystem": true},
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            }],
            "volumes": [
                {"name": "data", "emptyDir": {"sizeLimit": "1Gi"}},
                {"name": "settings", "configMap": {"name": "settings", "defaultMode": 420, "optional": false,
                  "items": [{"key": "mode", "path": "mode.txt", "mode": 384}]}},
            ],
            "terminationGracePeriodSeconds": 0,
            "automountServiceAccountToken": false,
            "nodeSelector": {"disk": "ssd"},
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoExecute",
                             "tolerationSeconds": 0}],
        }
    });
    (envelope("v1", "Pod", &pod), json)
}

/// A secret with binary data (base64 in JSON) and an immutable pointer.
fn secret() -> (Vec<u8>, Value) {
    let secret = pb::core::Secret {
        metadata: meta("tls", &[]),
        data: [
            ("key.bin".to_owned(), vec![0, 1, 2, 254, 255]),
            ("empty".to_owned(), Vec::new()),
        ]
        .into(),
        r#type: s("Opaque"),
        immutable: Some(true),
        string_data: Default::default(),
    };
    let json = json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls"},
        "data": {"key.bin": "AAEC/v8=", "empty": ""}, "type": "Opaque", "immutable": true,
    });
    (envelope("v1", "Secret", &secret), json)
}

/// A deployment scaled to zero that never lets a pod be unavailable.
fn deployment() -> (Vec<u8>, Value) {
    let deployment = pb::apps::Deployment {
        metadata: meta("api", &[]),
        spec: Some(pb::apps::DeploymentSpec {
            replicas: Some(0),
            selector: Some(pb::meta::LabelSelector {
                match_labels: [("app".to_owned(), "api".to_owned())].into(),
                match_expressions: vec![pb::meta::LabelSelectorRequirement {
                    key: s("tier"),
                    operator: s("In"),
                    values: vec!["backend".to_owned(), String::new()],
                }],
            }),
            template: Some(pb::core::PodTemplateSpec {
                metadata: meta("", &[("app", "api"), ("tier", "backend")]),
                spec: Some(pb::core::PodSpec {
                    containers: vec![pb::core::Container {
                        name: s("api"),
                        image: s("example/api:2"),
                        args: vec!["--port=8080".to_owned()],
                        env: vec![pb::core::EnvVar {
                            name: s("NODE"),
                            value: s(""),
                            value_from: Some(pb::core::EnvVarSource {
                                field_ref: Some(pb::core::ObjectFieldSelector {
                                    api_version: s("v1"),
                                    field_path: s("spec.nodeName"),
                                }),
                                ..Default::default()
                            }),
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            }),
            strategy: Some(pb::apps::DeploymentStrategy {
                r#type: s("RollingUpdate"),
                rolling_update: Some(pb::apps::RollingUpdateDeployment {
                    max_unavailable: port_number(0),
                    max_surge: port_name("50%"),
                }),
            }),
            min_ready_seconds: Some(0),
            paused: Some(false),
            progress_deadline_seconds: Some(120),
            ..Default::default()
        }),
        status: Some(pb::apps::DeploymentStatus {
            replicas: Some(0),
            ..Default::default()
        }),
    };
    let json = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "api"},
                         "matchExpressions": [{"key": "tier", "operator": "In", "values": ["backend", ""]}]},
            "template": {
                "metadata": {"labels": {"app": "api", "tier": "backend"}},
                "spec": {"containers": [{"name": "api", "image": "example/api:2", "args": ["--port=8080"],
                    "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}}]}]},
            },
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "50%"}},
            "progressDeadlineSeconds": 120,
        },
        "status": {},
    });
    (envelope("apps/v1", "Deployment", &deployment), json)
}

/// A lease with microsecond times.
fn lease() -> (Vec<u8>, Value) {
    let lease = pb::coordination::Lease {
        metadata: meta("node-1", &[]),
        spec: Some(pb::coordination::LeaseSpec {
            holder_identity: s("node-1"),
            lease_duration_seconds: Some(40),
            acquire_time: Some(pb::meta::MicroTime {
                seconds: Some(1_700_000_000),
                nanos: Some(123_456_000),
            }),
            renew_time: Some(pb::meta::MicroTime {
                seconds: Some(1_700_000_030),
                nanos: Some(0),
            }),
            lease_transitions: Some(0),
            ..Default::default()
        }),
    };
    let json = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "node-1"},
        "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40,
                 "acquireTime": "2023-11-14T22:13:20.123456Z", "renewTime": "2023-11-14T22:13:50.000000Z",
                 "leaseTransitions": 0},
    });
    (envelope("coordination.k8s.io/v1", "Lease", &lease), json)
}

/// An event with second and microsecond times.
fn event() -> (Vec<u8>, Value) {
    let event = pb::core::Event {
        metadata: meta("web.1", &[]),
        involved_object: Some(pb::core::ObjectReference {
            kind: s("Pod"),
            name: s("web"),
            namespace: s("default"),
            ..Default::default()
        }),
        reason: s("BackOff"),
        message: s("Back-off restarting failed container"),
        source: Some(pb::core::EventSource {
            component: s("kubelet"),
            host: s("node-1"),
        }),
        first_timestamp: Some(pb::meta::Time {
            seconds: Some(1_700_000_000),
            nanos: Some(0),
        }),
        last_timestamp: Some(pb::meta::Time {
            seconds: Some(1_700_000_060),
            nanos: Some(0),
        }),
        count: Some(3),
        r#type: s("Warning"),
        event_time: Some(pb::meta::MicroTime::default()),
        ..Default::default()
    };
    let json = json!({
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "web.1"},
        "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
        "reason": "BackOff", "message": "Back-off restarting failed container",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2023-11-14T22:13:20Z", "lastTimestamp": "2023-11-14T22:14:20Z",
        "count": 3, "type": "Warning",
    });
    (envelope("v1", "Event", &event), json)
}

/// A controller revision holding raw JSON.
fn controller_revision() -> (Vec<u8>, Value) {
    let revision = pb::apps::ControllerRevision {
        metadata: meta("web-5d4b", &[]),
        data: Some(pb::RawExtension {
            raw: Some(br#"{"spec":{"template":{"metadata":{"labels":{"app":"web"}}}}}"#.to_vec()),
        }),
        revision: Some(2),
    };
    let json = json!({
        "apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "web-5d4b"},
        "data": {"spec": {"template": {"metadata": {"labels": {"app": "web"}}}}}, "revision": 2,
    });
    (envelope("apps/v1", "ControllerRevision", &revision), json)
}

/// A custom resource definition: recursive schemas, schema-or-bool, schema-or-array and raw
/// JSON defaults.
fn custom_resource_definition() -> (Vec<u8>, Value) {
    use pb::apiextensions as x;
    let typed = |ty: &str| x::JsonSchemaProps {
        r#type: s(ty),
        ..Default::default()
    };
    let spec_schema = x::JsonSchemaProps {
        r#type: s("object"),
        required: vec!["size".to_owned()],
        properties: [
            (
                "size".to_owned(),
                x::JsonSchemaProps {
                    r#type: s("integer"),
                    minimum: Some(1.0),
                    maximum: Some(10.5),
                    default: Some(x::Json {
                        raw: Some(b"3".to_vec()),
                    }),
                    ..Default::default()
                },
            ),
            (
                "tags".to_owned(),
                x::JsonSchemaProps {
                    r#type: s("array"),
                    items: Some(Box::new(x::JsonSchemaPropsOrArray {
                        schema: Some(Box::new(typed("string"))),
                        j_son_schemas: Vec::new(),
                    })),
                    x_kubernetes_list_type: s("set"),
                    ..Default::default()
                },
            ),
            (
                "labels".to_owned(),
                x::JsonSchemaProps {
                    r#type: s("object"),
                    additional_properties: Some(Box::new(x::JsonSchemaPropsOrBool {
                        allows: Some(true),
                        schema: Some(Box::new(typed("string"))),
                    })),
                    ..Default::default()
                },
            ),
            (
                "extra".to_owned(),
                x::JsonSchemaProps {
                    r#type: s("object"),
                    x_kubernetes_preserve_unknown_fields: Some(true),
                    ..Default::default()
                },
            ),
        ]
        .into(),
        ..Default::default()
    };
    let definition = x::CustomResourceDefinition {
        metadata: meta("widgets.example.com", &[]),
        spec: Some(x::CustomResourceDefinitionSpec {
            group: s("example.com"),
            names: Some(x::CustomResourceDefinitionNames {
                plural: s("widgets"),
                singular: s("widget"),
                kind: s("Widget"),
                list_kind: s("WidgetList"),
                short_names: vec!["wd".to_owned()],
                ..Default::default()
            }),
            scope: s("Namespaced"),
            versions: vec![x::CustomResourceDefinitionVersion {
                name: s("v1"),
                served: Some(true),
                storage: Some(true),
                deprecated: Some(false),
                schema: Some(x::CustomResourceValidation {
                    open_apiv3_schema: Some(x::JsonSchemaProps {
                        r#type: s("object"),
                        properties: [("spec".to_owned(), spec_schema)].into(),
                        ..Default::default()
                    }),
                }),
                subresources: Some(x::CustomResourceSubresources {
                    status: Some(x::CustomResourceSubresourceStatus {}),
                    scale: None,
                }),
                ..Default::default()
            }],
            preserve_unknown_fields: Some(false),
            ..Default::default()
        }),
        status: None,
    };
    let json = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList",
                      "shortNames": ["wd"]},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {
                    "type": "object", "required": ["size"],
                    "properties": {
                        "size": {"type": "integer", "minimum": 1.0, "maximum": 10.5, "default": 3},
                        "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    },
                }}}},
                "subresources": {"status": {}},
            }],
        },
    });
    (
        envelope(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            &definition,
        ),
        json,
    )
}

/// A webhook configuration: bytes, pointer integers and a twice-inlined rule.
fn webhook_configuration() -> (Vec<u8>, Value) {
    use pb::admission as a;
    let configuration = a::ValidatingWebhookConfiguration {
        metadata: meta("policy", &[]),
        webhooks: vec![a::ValidatingWebhook {
            name: s("check.example.com"),
            client_config: Some(a::WebhookClientConfig {
                service: Some(a::ServiceReference {
                    namespace: s("default"),
                    name: s("checker"),
                    path: s("/validate"),
                    port: Some(8443),
                }),
                ca_bundle: Some(b"-----BEGIN CERTIFICATE-----".to_vec()),
                url: None,
            }),
            rules: vec![a::RuleWithOperations {
                operations: vec!["CREATE".to_owned(), "UPDATE".to_owned()],
                rule: Some(a::Rule {
                    api_groups: vec![String::new()],
                    api_versions: vec!["v1".to_owned()],
                    resources: vec!["pods".to_owned()],
                    scope: s("Namespaced"),
                }),
            }],
            failure_policy: s("Fail"),
            side_effects: s("None"),
            timeout_seconds: Some(5),
            admission_review_versions: vec!["v1".to_owned()],
            ..Default::default()
        }],
    };
    let json = json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "policy"},
        "webhooks": [{
            "name": "check.example.com",
            "clientConfig": {"service": {"namespace": "default", "name": "checker", "path": "/validate", "port": 8443},
                             "caBundle": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t"},
            "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": [""], "apiVersions": ["v1"],
                       "resources": ["pods"], "scope": "Namespaced"}],
            "failurePolicy": "Fail", "sideEffects": "None", "timeoutSeconds": 5,
            "admissionReviewVersions": ["v1"],
        }],
    });
    (
        envelope(
            "admissionregistration.k8s.io/v1",
            "ValidatingWebhookConfiguration",
            &configuration,
        ),
        json,
    )
}

fn kind_of(object: &Value) -> &'static kinds::ResourceKind {
    kinds::lookup_kind(
        object["apiVersion"].as_str().expect("apiVersion"),
        object["kind"].as_str().expect("kind"),
    )
    .expect("a served kind")
}

#[tokio::test]
async fn prost_encoded_objects_decode_to_their_json() {
    for (body, json) in [
        pod(),
        secret(),
        deployment(),
        lease(),
        event(),
        controller_revision(),
        custom_resource_definition(),
        webhook_configuration(),
    ] {
        let kind = kind_of(&json);
        let decoded = protobuf::decode(&body).expect("decodes");
        let typed = |value: Value| {
            kind.codec
                .decode_value(value)
                .expect("a valid object")
                .to_value()
                .expect("encodes")
        };
        assert_eq!(typed(decoded.clone()), typed(json.clone()), "{}", kind.kind);
        // And the server stores the same object whichever encoding it arrives in.
        let (through_protobuf, through_json) = (app().await, app().await);
        let path = collection(kind, "default");
        let created = post_protobuf(&through_protobuf, &path, body).await;
        assert_eq!(
            created.code,
            StatusCode::CREATED,
            "{}: {}",
            kind.kind,
            created.json()
        );
        let expected = post_json(&through_json, &path, &json).await;
        assert_eq!(
            expected.code,
            StatusCode::CREATED,
            "{}: {}",
            kind.kind,
            expected.json()
        );
        assert_eq!(
            without_server_fields(created.json()),
            without_server_fields(expected.json()),
            "{}",
            kind.kind
        );
    }
}

#[tokio::test]
async fn a_protobuf_body_with_unknown_fields_is_accepted_under_strict_validation() {
    // Field 999 is not in any ConfigMap: a newer client's field, skipped as protobuf does.
    let config_map = pb::core::ConfigMap {
        metadata: meta("settings", &[]),
        data: [("mode".to_owned(), "fast".to_owned())].into(),
        ..Default::default()
    };
    let mut raw = config_map.encode_to_vec();
    raw.extend([0xba, 0x3e, 0x02, b'h', b'i']); // field 999, length-delimited "hi"
    let unknown = pb::Unknown {
        type_meta: Some(pb::TypeMeta {
            api_version: s("v1"),
            kind: s("ConfigMap"),
        }),
        raw: Some(raw),
        ..Default::default()
    };
    let mut body = b"k8s\0".to_vec();
    body.extend(unknown.encode_to_vec());
    let app = app().await;
    let created = post_protobuf(
        &app,
        "/api/v1/namespaces/default/configmaps?fieldValidation=Strict",
        body,
    )
    .await;
    assert_eq!(created.code, StatusCode::CREATED, "{}", created.json());
    assert_eq!(created.header("warning"), None);
    assert_eq!(created.json()["data"], json!({"mode": "fast"}));
}

// ---------------------------------------------------------------------------------------
// Bad bodies
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn malformed_protobuf_is_a_bad_request_that_stores_nothing() {
    let app = app().await;
    let valid = protobuf::encode(&json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings"}, "data": {"mode": "fast"}}))
    .expect("encodes");
    let mut wrong_wire_type = b"k8s\0".to_vec();
    wrong_wire_type.extend(
        pb::Unknown {
            type_meta: Some(pb::TypeMeta {
                api_version: s("v1"),
                kind: s("ConfigMap"),
            }),
            // metadata (field 1) as a varint instead of a message.
            raw: Some(vec![0x08, 0x01]),
            ..Default::default()
        }
        .encode_to_vec(),
    );
    let cases: [(&str, Vec<u8>, &str); 4] = [
        (
            "no magic",
            b"{\"kind\":\"ConfigMap\"}".to_vec(),
            "magic bytes",
        ),
        (
            "truncated",
            valid[..valid.len() - 9].to_vec(),
            "runs past the end",
        ),
        (
            "wrong wire type",
            wrong_wire_type,
            "metadata: has wire type Varint",
        ),
        ("empty", Vec::new(), "magic bytes"),
    ];
    for (case, body, reason) in cases {
        let answer = post_protobuf(&app, "/api/v1/namespaces/default/configmaps", body).await;
        assert_eq!(answer.code, StatusCode::BAD_REQUEST, "{case}");
        let status = answer.json();
        assert_eq!(status["kind"], "Status", "{case}");
        assert_eq!(status["reason"], "BadRequest", "{case}");
        let message = status["message"].as_str().expect("message");
        assert!(
            message.starts_with("the request body is not valid Kubernetes protobuf: ")
                && message.contains(reason),
            "{case}: {message}"
        );
    }
    let list = get_json(&app, "/api/v1/namespaces/default/configmaps").await;
    assert_eq!(list["items"], json!([]));
}

#[tokio::test]
async fn a_protobuf_body_of_another_kind_is_a_bad_request() {
    let app = app().await;
    let config_map = protobuf::encode(&json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "web"}}))
    .expect("encodes");
    let answer = post_protobuf(
        &app,
        "/apis/apps/v1/namespaces/default/deployments",
        config_map,
    )
    .await;
    assert_eq!(answer.code, StatusCode::BAD_REQUEST);
    assert!(
        answer.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("(v1) does not match the expected API version (apps/v1)")),
        "{}",
        answer.json()
    );
    let pod_to_pods_of_wrong_kind = envelope("v1", "Widget", &pb::core::Pod::default());
    let answer = post_protobuf(
        &app,
        "/api/v1/namespaces/default/pods",
        pod_to_pods_of_wrong_kind,
    )
    .await;
    assert_eq!(answer.code, StatusCode::BAD_REQUEST);
    assert!(
        answer.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("\"v1\" \"Widget\" is not a type this server decodes")),
        "{}",
        answer.json()
    );
    let list = get_json(&app, "/apis/apps/v1/namespaces/default/deployments").await;
    assert_eq!(list["items"], json!([]));
}

// ---------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn clients_accepting_only_protobuf_get_protobuf_others_get_json() {
    let app = app().await;
    let created = post_json(
        &app,
        "/api/v1/namespaces/default/configmaps",
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "labels": {"a": "b"}},
                "data": {"mode": "fast"}, "binaryData": {"blob": "AAE="}}),
    )
    .await;
    assert_eq!(created.code, StatusCode::CREATED);
    let as_json = get_json(&app, "/api/v1/namespaces/default/configmaps/settings").await;

    let answer = send(
        &app,
        "GET",
        "/api/v1/namespaces/default/configmaps/settings",
        &[("accept", PROTOBUF)],
        Vec::new(),
    )
    .await;
    assert_eq!(answer.code, StatusCode::OK);
    assert_eq!(answer.header("content-type"), Some(PROTOBUF));
    assert_eq!(protobuf::decode(&answer.body).expect("decodes"), as_json);
    // prost reads the same object.
    let unknown = pb::Unknown::decode(&answer.body[4..]).expect("an envelope");
    assert_eq!(
        unknown.type_meta.as_ref().and_then(|t| t.kind.as_deref()),
        Some("ConfigMap")
    );
    let config_map = pb::core::ConfigMap::decode(unknown.raw.as_deref().unwrap_or_default())
        .expect("a ConfigMap");
    assert_eq!(config_map.data["mode"], "fast");
    assert_eq!(config_map.binary_data["blob"], [0, 1]);
    assert_eq!(
        config_map.metadata.and_then(|m| m.resource_version),
        as_json["metadata"]["resourceVersion"]
            .as_str()
            .map(str::to_owned)
    );

    // A list.
    let answer = send(
        &app,
        "GET",
        "/api/v1/namespaces/default/configmaps",
        &[("accept", "application/vnd.kubernetes.protobuf;q=1")],
        Vec::new(),
    )
    .await;
    assert_eq!(answer.header("content-type"), Some(PROTOBUF));
    let list = protobuf::decode(&answer.body).expect("decodes");
    assert_eq!(list["kind"], "ConfigMapList");
    // Protobuf messages carry no type of their own: list items have none.
    let mut item = as_json.clone();
    item.as_object_mut()
        .map(|o| (o.remove("apiVersion"), o.remove("kind")));
    assert_eq!(list["items"][0], item);
    let unknown = pb::Unknown::decode(&answer.body[4..]).expect("an envelope");
    let prost_list = pb::core::ConfigMapList::decode(unknown.raw.as_deref().unwrap_or_default())
        .expect("a ConfigMapList");
    assert_eq!(prost_list.items.len(), 1);

    // kubectl's typed clients accept protobuf and JSON: they get JSON.
    let answer = send(
        &app,
        "GET",
        "/api/v1/namespaces/default/configmaps/settings",
        &[(
            "accept",
            "application/vnd.kubernetes.protobuf,application/json",
        )],
        Vec::new(),
    )
    .await;
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.json(), as_json);

    // A create answered in protobuf.
    let answer = send(
        &app,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        &[("content-type", PROTOBUF), ("accept", PROTOBUF)],
        protobuf::encode(
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "second"}}),
        )
        .expect("encodes"),
    )
    .await;
    assert_eq!(answer.code, StatusCode::CREATED);
    assert_eq!(
        protobuf::decode(&answer.body).expect("decodes")["metadata"]["name"],
        "second"
    );
}

#[tokio::test]
async fn evictions_and_delete_options_arrive_in_protobuf() {
    let app = app().await;
    for name in ["evicted", "deleted"] {
        let created = post_json(
            &app,
            "/api/v1/namespaces/default/pods",
            &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}}),
        )
        .await;
        assert_eq!(created.code, StatusCode::CREATED, "{}", created.json());
    }
    let eviction = pb::k8s_policy::Eviction {
        metadata: meta("evicted", &[]),
        delete_options: Some(pb::meta::DeleteOptions {
            grace_period_seconds: Some(0),
            ..Default::default()
        }),
    };
    let answer = post_protobuf(
        &app,
        "/api/v1/namespaces/default/pods/evicted/eviction",
        envelope("policy/v1", "Eviction", &eviction),
    )
    .await;
    assert_eq!(answer.code, StatusCode::CREATED, "{}", answer.json());

    let options = pb::meta::DeleteOptions {
        grace_period_seconds: Some(0),
        preconditions: Some(pb::meta::Preconditions {
            uid: s("not-the-uid"),
            resource_version: None,
        }),
        ..Default::default()
    };
    let answer = send(
        &app,
        "DELETE",
        "/api/v1/namespaces/default/pods/deleted",
        &[("content-type", PROTOBUF)],
        envelope("v1", "DeleteOptions", &options),
    )
    .await;
    // The precondition came through: the uid does not match.
    assert_eq!(answer.code, StatusCode::CONFLICT, "{}", answer.json());
}
