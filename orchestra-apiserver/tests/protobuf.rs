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
    if object["kind"] == "Service" {
        // Allocated at random for each object.
        if let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) {
            spec.remove("clusterIP");
            spec.remove("clusterIPs");
            spec.remove("healthCheckNodePort");
            for port in spec
                .get_mut("ports")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                port.as_object_mut().map(|p| p.remove("nodePort"));
            }
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
        .current_dir(kubeconfig.parent().expect("kubeconfig dir"))
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
        &["create", "service", "nodeport", "np", "--tcp=80:8080"],
        "services/np",
    ),
    (
        &["create", "service", "loadbalancer", "lb", "--tcp=443:8443"],
        "services/lb",
    ),
    (
        // Files kubectl reads from its working directory: bytes that are not UTF-8 go to
        // binaryData.
        &[
            "create",
            "configmap",
            "blobs",
            "--from-file=blob.bin",
            "--from-file=notes.txt",
        ],
        "configmaps/blobs",
    ),
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
    std::fs::write(dir.path().join("blob.bin"), [0x00, 0x9f, 0x92, 0x96, 0xff]).expect("written");
    std::fs::write(dir.path().join("notes.txt"), "hello\n").expect("written");

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
            let expected = without_server_fields(through_json);
            let actual = without_server_fields(through_protobuf);
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
    drain_evicts_through_protobuf(&app, &kubeconfig).await;
    server.abort();
}

/// `kubectl drain`, which the issue lists with the typed commands: it cordons the node, lists
/// its pods and evicts them (kubectl 1.32 sends the `Eviction` as JSON; the protobuf form is
/// covered by `evictions_and_delete_options_arrive_in_protobuf`).
async fn drain_evicts_through_protobuf(app: &axum::Router, kubeconfig: &Path) {
    let node = post_json(
        app,
        "/api/v1/nodes",
        &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "drained"}}),
    )
    .await;
    assert_eq!(node.code, StatusCode::CREATED, "{}", node.json());
    let pod = post_json(
        app,
        "/api/v1/namespaces/default/pods",
        &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "on-drained"},
                "spec": {"nodeName": "drained", "containers": [{"name": "c", "image": "busybox"}]}}),
    )
    .await;
    assert_eq!(pod.code, StatusCode::CREATED, "{}", pod.json());
    let binary = &kubectls()[0];
    let output = kubectl(
        binary,
        kubeconfig,
        &[
            "drain",
            "drained",
            "--force",
            "--grace-period=0",
            "--timeout=30s",
        ],
    )
    .await;
    let printed = succeeded(&output, "drain");
    assert!(printed.contains("pod/on-drained evicted"), "{printed}");
    let node = get_json(app, "/api/v1/nodes/drained").await;
    assert_eq!(node["spec"]["unschedulable"], true);
    let gone = send(
        app,
        "GET",
        "/api/v1/namespaces/default/pods/on-drained",
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(gone.code, StatusCode::NOT_FOUND, "{}", gone.json());
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

#[tokio::test]
async fn a_protobuf_patch_is_an_unsupported_media_type() {
    let app = app().await;
    let created = post_json(
        &app,
        "/api/v1/namespaces/default/configmaps",
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}}),
    )
    .await;
    assert_eq!(created.code, StatusCode::CREATED);
    let body = protobuf::encode(&json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings"}, "data": {"mode": "fast"}}))
    .expect("encodes");
    let answer = send(
        &app,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/settings",
        &[("content-type", PROTOBUF)],
        body,
    )
    .await;
    assert_eq!(
        answer.code,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "{}",
        answer.json()
    );
    let stored = get_json(&app, "/api/v1/namespaces/default/configmaps/settings").await;
    assert_eq!(stored.get("data"), None);
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
    let decoded = protobuf::decode(&answer.body).expect("decodes");
    assert_equal_but_go_zeros(&as_json, &decoded, "", "the protobuf GET");
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
    assert_equal_but_go_zeros(&item, &list["items"][0], "", "the protobuf list");
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

// ---------------------------------------------------------------------------------------
// Every served kind: the documentation's manifests and objects of the kinds they lack
// ---------------------------------------------------------------------------------------

/// prost's decoding of a served kind's message, encoded again: the same object back means
/// every field the codec wrote has the number and wire type k8s-pb gives it.
macro_rules! prost_round_trip {
    ($($api_version:literal $kind:literal => $ty:ty;)*) => {
        fn prost_round_trip(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
            match (api_version, kind) {
                $(($api_version, $kind) => <$ty>::decode(raw)
                    .unwrap_or_else(|e| panic!("prost decodes {kind}: {e}"))
                    .encode_to_vec(),)*
                other => panic!("no k8s-pb type for {other:?}"),
            }
        }
    };
}

prost_round_trip! {
    "v1" "Namespace" => pb::core::Namespace;
    "v1" "Node" => pb::core::Node;
    "v1" "Pod" => pb::core::Pod;
    "v1" "Service" => pb::core::Service;
    "v1" "Endpoints" => pb::core::Endpoints;
    "v1" "ConfigMap" => pb::core::ConfigMap;
    "v1" "Secret" => pb::core::Secret;
    "v1" "ServiceAccount" => pb::core::ServiceAccount;
    "v1" "PersistentVolume" => pb::core::PersistentVolume;
    "v1" "PersistentVolumeClaim" => pb::core::PersistentVolumeClaim;
    "v1" "Event" => pb::core::Event;
    "v1" "LimitRange" => pb::core::LimitRange;
    "v1" "ResourceQuota" => pb::core::ResourceQuota;
    "v1" "ReplicationController" => pb::core::ReplicationController;
    "v1" "PodTemplate" => pb::core::PodTemplate;
    "apps/v1" "Deployment" => pb::apps::Deployment;
    "apps/v1" "ReplicaSet" => pb::apps::ReplicaSet;
    "apps/v1" "StatefulSet" => pb::apps::StatefulSet;
    "apps/v1" "DaemonSet" => pb::apps::DaemonSet;
    "apps/v1" "ControllerRevision" => pb::apps::ControllerRevision;
    "batch/v1" "Job" => k8s_pb::api::batch::v1::Job;
    "batch/v1" "CronJob" => k8s_pb::api::batch::v1::CronJob;
    "autoscaling/v2" "HorizontalPodAutoscaler" => k8s_pb::api::autoscaling::v2::HorizontalPodAutoscaler;
    "coordination.k8s.io/v1" "Lease" => pb::coordination::Lease;
    "discovery.k8s.io/v1" "EndpointSlice" => k8s_pb::api::discovery::v1::EndpointSlice;
    "networking.k8s.io/v1" "Ingress" => k8s_pb::api::networking::v1::Ingress;
    "networking.k8s.io/v1" "IngressClass" => k8s_pb::api::networking::v1::IngressClass;
    "networking.k8s.io/v1" "NetworkPolicy" => k8s_pb::api::networking::v1::NetworkPolicy;
    "policy/v1" "PodDisruptionBudget" => pb::k8s_policy::PodDisruptionBudget;
    "rbac.authorization.k8s.io/v1" "Role" => k8s_pb::api::rbac::v1::Role;
    "rbac.authorization.k8s.io/v1" "RoleBinding" => k8s_pb::api::rbac::v1::RoleBinding;
    "rbac.authorization.k8s.io/v1" "ClusterRole" => k8s_pb::api::rbac::v1::ClusterRole;
    "rbac.authorization.k8s.io/v1" "ClusterRoleBinding" => k8s_pb::api::rbac::v1::ClusterRoleBinding;
    "scheduling.k8s.io/v1" "PriorityClass" => k8s_pb::api::scheduling::v1::PriorityClass;
    "storage.k8s.io/v1" "StorageClass" => k8s_pb::api::storage::v1::StorageClass;
    "storage.k8s.io/v1" "VolumeAttachment" => k8s_pb::api::storage::v1::VolumeAttachment;
    "storage.k8s.io/v1" "CSIDriver" => k8s_pb::api::storage::v1::CSIDriver;
    "storage.k8s.io/v1" "CSINode" => k8s_pb::api::storage::v1::CSINode;
    "storage.k8s.io/v1" "CSIStorageCapacity" => k8s_pb::api::storage::v1::CSIStorageCapacity;
    "admissionregistration.k8s.io/v1" "ValidatingAdmissionPolicy" => pb::admission::ValidatingAdmissionPolicy;
    "admissionregistration.k8s.io/v1" "ValidatingAdmissionPolicyBinding" => pb::admission::ValidatingAdmissionPolicyBinding;
    "admissionregistration.k8s.io/v1" "ValidatingWebhookConfiguration" => pb::admission::ValidatingWebhookConfiguration;
    "admissionregistration.k8s.io/v1" "MutatingWebhookConfiguration" => pb::admission::MutatingWebhookConfiguration;
    "apiextensions.k8s.io/v1" "CustomResourceDefinition" => pb::apiextensions::CustomResourceDefinition;
}

/// Whether a JSON value is a Go zero value, which the protobuf decoder leaves out (protobuf
/// has no empty list or map, as Go's JSON encoder writes none).
fn is_go_zero(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(members) => members.is_empty(),
    }
}

/// `actual` is `expected` with at most some Go zero values left out.
fn assert_equal_but_go_zeros(expected: &Value, actual: &Value, path: &str, what: &str) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (key, value) in e {
                match a.get(key) {
                    Some(other) => {
                        assert_equal_but_go_zeros(value, other, &format!("{path}.{key}"), what)
                    }
                    None => assert!(is_go_zero(value), "{what}: {path}.{key} = {value} was lost"),
                }
            }
            for key in a.keys() {
                assert!(e.contains_key(key), "{what}: {path}.{key} appeared");
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            assert_eq!(e.len(), a.len(), "{what}: {path}");
            for (i, (x, y)) in e.iter().zip(a).enumerate() {
                assert_equal_but_go_zeros(x, y, &format!("{path}[{i}]"), what);
            }
        }
        _ => assert_eq!(expected, actual, "{what}: {path}"),
    }
}

/// Encodes an object, checks the bytes against prost and decodes them again, asserting only
/// Go zero values were left out; POSTs it to one server as JSON and to another as protobuf
/// and asserts they store the same object. The status both answered.
async fn check_both_encodings(
    object: &Value,
    through_json: &axum::Router,
    through_protobuf: &axum::Router,
    what: &str,
) -> StatusCode {
    let kind = kind_of(object);
    let typed = |value: Value| {
        kind.codec
            .decode_value(value)
            .unwrap_or_else(|e| panic!("{what}: {e}"))
            .to_value()
            .expect("encodes")
    };
    let Ok(canonical) = kind.codec.decode_value(object.clone()) else {
        // Not an object of its kind (a few documentation manifests): nothing to encode.
        return StatusCode::BAD_REQUEST;
    };
    let canonical = canonical.to_value().expect("encodes");
    let body = protobuf::encode(&canonical).unwrap_or_else(|e| panic!("{what}: {e}"));

    let unknown = pb::Unknown::decode(&body[4..]).expect("a runtime.Unknown envelope");
    let raw = unknown.raw.as_deref().unwrap_or_default();
    // prost keeps only the fields k8s-pb declares, with their types: what it writes back
    // must decode to the same object (the bytes may differ: prost leaves empty map values out).
    let mut prost_body = body[..4].to_vec();
    prost_body.extend(
        pb::Unknown {
            raw: Some(prost_round_trip(
                kind.api_version().as_str(),
                &kind.kind,
                raw,
            )),
            ..unknown.clone()
        }
        .encode_to_vec(),
    );
    assert_eq!(
        protobuf::decode(&prost_body).expect("prost's bytes decode"),
        protobuf::decode(&body).expect("decodes"),
        "{what}: prost reads different fields than were written"
    );
    let decoded = typed(protobuf::decode(&body).unwrap_or_else(|e| panic!("{what}: {e}")));
    assert_equal_but_go_zeros(&canonical, &decoded, "", what);

    let path = collection(kind, "default");
    let expected = post_json(through_json, &path, &canonical).await;
    let actual = post_protobuf(through_protobuf, &path, body).await;
    assert_eq!(actual.code, expected.code, "{what}: {}", actual.json());
    if expected.code == StatusCode::CREATED {
        assert_equal_but_go_zeros(
            &without_server_fields(expected.json()),
            &without_server_fields(actual.json()),
            "",
            what,
        );
    }
    expected.code
}

fn examples_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ORCHESTRA_K8S_EXAMPLES") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/k8s-examples")
}

/// The served objects of every documentation manifest, file by file.
fn example_objects() -> Vec<(String, Vec<Value>)> {
    let dir = examples_dir();
    let index = std::fs::read_to_string(dir.join("INDEX.tsv"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files = Vec::new();
    for line in index.lines() {
        let file = line.split('\t').next().unwrap_or_default();
        let Ok(text) = std::fs::read_to_string(dir.join(file)) else {
            continue;
        };
        let mut objects = Vec::new();
        for document in serde_yaml_ng::Deserializer::from_str(&text) {
            // A document that is not YAML ends the file (the iterator would repeat the error).
            let Ok(mut value) = <Value as serde::Deserialize>::deserialize(document) else {
                break;
            };
            let served = value["apiVersion"]
                .as_str()
                .zip(value["kind"].as_str())
                .is_some_and(|(v, k)| kinds::lookup_kind(v, k).is_some());
            if served {
                // Created in `default` of a fresh server.
                if let Some(metadata) = value["metadata"].as_object_mut() {
                    metadata.remove("namespace");
                }
                objects.push(value);
            }
        }
        files.push((file.to_owned(), objects));
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_served_kind_is_stored_alike_from_protobuf_and_json() {
    let mut created = std::collections::BTreeSet::new();
    for (file, objects) in example_objects() {
        let (through_json, through_protobuf) = (app().await, app().await);
        for (i, object) in objects.iter().enumerate() {
            let what = format!("{file}#{i}");
            if check_both_encodings(object, &through_json, &through_protobuf, &what).await
                == StatusCode::CREATED
            {
                created.insert(kind_of(object).kind.to_string());
            }
        }
    }
    let (through_json, through_protobuf) = (app().await, app().await);
    for object in objects_of_kinds_without_examples() {
        let what = format!("{} fixture", object["kind"]);
        let code = check_both_encodings(&object, &through_json, &through_protobuf, &what).await;
        assert_eq!(code, StatusCode::CREATED, "{what}");
        created.insert(kind_of(&object).kind.to_string());
    }
    let missing: Vec<&str> = kinds::BUILTIN
        .iter()
        .map(|k| k.kind.as_ref())
        .filter(|k| !created.contains(*k))
        .collect();
    assert!(missing.is_empty(), "no object of {missing:?} was created");
}

/// Realistic objects of the kinds the documentation's manifests do not create.
fn objects_of_kinds_without_examples() -> Vec<Value> {
    let container = json!({"name": "app", "image": "example/app:1.4", "args": ["--verbose"],
        "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}});
    vec![
        json!({"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": "team-a", "labels": {"team": "a"}, "annotations": {"owner": ""}},
               "spec": {"finalizers": ["kubernetes"]}}),
        json!({"apiVersion": "v1", "kind": "Node",
               "metadata": {"name": "node-1", "labels": {"kubernetes.io/hostname": "node-1"}},
               "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"], "unschedulable": true,
                        "taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]},
               "status": {
                   "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                   "allocatable": {"cpu": "3800m", "memory": "15Gi", "pods": "110"},
                   "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                   "message": "kubelet is posting ready status",
                                   "lastHeartbeatTime": "2024-05-01T10:00:00Z",
                                   "lastTransitionTime": "2024-05-01T09:00:00Z"}],
                   "addresses": [{"type": "InternalIP", "address": "192.168.1.10"},
                                 {"type": "Hostname", "address": "node-1"}],
                   "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                   "nodeInfo": {"machineID": "m", "systemUUID": "u", "bootID": "b", "kernelVersion": "6.1.0",
                                "osImage": "Debian GNU/Linux 12", "containerRuntimeVersion": "containerd://1.7.0",
                                "kubeletVersion": "v1.33.0", "kubeProxyVersion": "v1.33.0",
                                "operatingSystem": "linux", "architecture": "amd64"},
                   "images": [{"names": ["example/app:1.4"], "sizeBytes": 12_345_678}]}}),
        json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web"},
               "subsets": [{"addresses": [{"ip": "10.244.1.5", "nodeName": "node-1",
                                           "targetRef": {"kind": "Pod", "name": "web-1", "namespace": "default"}}],
                            "notReadyAddresses": [{"ip": "10.244.2.7"}],
                            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]}),
        json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "web-1.17c"},
               "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "default", "fieldPath": "spec.containers{app}"},
               "reason": "Pulled", "message": "Successfully pulled image", "type": "Normal", "count": 2,
               "source": {"component": "kubelet", "host": "node-1"},
               "firstTimestamp": "2024-05-01T10:00:00Z", "lastTimestamp": "2024-05-01T10:05:00Z",
               "eventTime": "2024-05-01T10:05:00.250000Z", "reportingComponent": "kubelet",
               "reportingInstance": "node-1", "action": "Pull",
               "series": {"count": 2, "lastObservedTime": "2024-05-01T10:05:00.250000Z"}}),
        json!({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "worker"},
               "template": {"metadata": {"labels": {"app": "worker"}},
                            "spec": {"initContainers": [{"name": "init", "image": "busybox:1.36", "command": ["true"]}],
                                     "containers": [container]}}}),
        json!({"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "web-7c9d"},
               "data": {"spec": {"template": {"$patch": "replace", "spec": {"containers": [container]}}}},
               "revision": 3}),
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "report"},
               "spec": {"schedule": "30 2 * * 1-5", "timeZone": "Etc/UTC", "concurrencyPolicy": "Forbid",
                        "startingDeadlineSeconds": 300, "successfulJobsHistoryLimit": 0, "suspend": false,
                        "jobTemplate": {"spec": {"backoffLimit": 0, "template": {"spec": {
                            "restartPolicy": "OnFailure", "containers": [container]}}}}}}),
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "scheduler"},
               "spec": {"holderIdentity": "scheduler-1", "leaseDurationSeconds": 15, "leaseTransitions": 4,
                        "acquireTime": "2024-05-01T10:00:00.000000Z", "renewTime": "2024-05-01T10:00:12.345678Z"}}),
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
               "metadata": {"name": "web-abc12", "labels": {"kubernetes.io/service-name": "web"}},
               "addressType": "IPv4",
               "endpoints": [{"addresses": ["10.244.1.5"], "nodeName": "node-1", "zone": "zone-a",
                              "conditions": {"ready": true, "serving": true, "terminating": false},
                              "targetRef": {"kind": "Pod", "name": "web-1", "namespace": "default"}}],
               "ports": [{"name": "http", "port": 8080, "protocol": "TCP", "appProtocol": "http"},
                         {"name": "", "port": 9090, "protocol": "TCP"}]}),
        json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "batch-low"},
               "value": -10, "globalDefault": false, "preemptionPolicy": "Never",
               "description": "Batch work that never preempts"}),
        json!({"apiVersion": "storage.k8s.io/v1", "kind": "VolumeAttachment", "metadata": {"name": "csi-1a2b"},
               "spec": {"attacher": "csi.example.com", "nodeName": "node-1",
                        "source": {"persistentVolumeName": "pv-data"}}}),
        json!({"apiVersion": "storage.k8s.io/v1", "kind": "CSIDriver", "metadata": {"name": "csi.example.com"},
               "spec": {"attachRequired": false, "podInfoOnMount": true, "fsGroupPolicy": "File",
                        "volumeLifecycleModes": ["Persistent", "Ephemeral"], "storageCapacity": true,
                        "requiresRepublish": false,
                        "tokenRequests": [{"audience": "vault", "expirationSeconds": 3600}]}}),
        json!({"apiVersion": "storage.k8s.io/v1", "kind": "CSINode", "metadata": {"name": "node-1"},
               "spec": {"drivers": [{"name": "csi.example.com", "nodeID": "node-1-id",
                                     "topologyKeys": ["topology.kubernetes.io/zone"],
                                     "allocatable": {"count": 0}}]}}),
        json!({"apiVersion": "storage.k8s.io/v1", "kind": "CSIStorageCapacity", "metadata": {"name": "fast-zone-a"},
               "storageClassName": "fast", "capacity": "100Gi", "maximumVolumeSize": "10Gi",
               "nodeTopology": {"matchLabels": {"topology.kubernetes.io/zone": "zone-a"}}}),
        json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
               "metadata": {"name": "pod-policy"},
               "webhooks": [{"name": "pods.policy.example.com",
                   "clientConfig": {"service": {"namespace": "policy", "name": "webhook", "path": "/validate", "port": 443},
                                    "caBundle": "LS0tLS1CRUdJTg=="},
                   "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": [""], "apiVersions": ["v1"],
                              "resources": ["pods"], "scope": "Namespaced"}],
                   "namespaceSelector": {"matchExpressions": [{"key": "policy", "operator": "NotIn", "values": ["off"]}]},
                   "matchConditions": [{"name": "not-system", "expression": "!request.userInfo.username.startsWith('system:')"}],
                   "failurePolicy": "Fail", "sideEffects": "None", "timeoutSeconds": 5,
                   "admissionReviewVersions": ["v1"]}]}),
        json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
               "metadata": {"name": "sidecar-injector"},
               "webhooks": [{"name": "inject.example.com",
                   "clientConfig": {"url": "https://injector.example.com/mutate"},
                   "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
                   "reinvocationPolicy": "IfNeeded", "matchPolicy": "Equivalent", "sideEffects": "NoneOnDryRun",
                   "failurePolicy": "Ignore", "timeoutSeconds": 3, "admissionReviewVersions": ["v1", "v1beta1"]}]}),
        custom_resource_definition().1,
    ]
}

#[tokio::test]
async fn watches_accepting_only_protobuf_stream_length_prefixed_watch_events() {
    let app = app().await;
    let created = post_json(
        &app,
        "/api/v1/namespaces/default/configmaps",
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "watched"},
                "data": {"mode": "fast"}}),
    )
    .await;
    assert_eq!(created.code, StatusCode::CREATED);
    let request = Request::builder()
        .uri("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=0&timeoutSeconds=1")
        .header("accept", PROTOBUF)
        .body(Body::empty())
        .expect("request");
    // The router (and the store behind it) stays alive while the watch streams.
    let response = app.clone().oneshot(request).await.expect("response");
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.kubernetes.protobuf;stream=watch"
    );
    let body = tokio::time::timeout(Duration::from_secs(10), response.into_body().collect())
        .await
        .expect("the watch ends after timeoutSeconds")
        .expect("body")
        .to_bytes();
    // The first frame: the existing ConfigMap, ADDED.
    let length = u32::from_be_bytes(body[..4].try_into().expect("a length")) as usize;
    let event = pb::meta::WatchEvent::decode(&body[4..4 + length]).expect("a WatchEvent");
    assert_eq!(event.r#type.as_deref(), Some("ADDED"));
    let object = event
        .object
        .and_then(|raw| raw.raw)
        .expect("the object's body");
    let decoded = protobuf::decode(&object).expect("decodes");
    assert_eq!(decoded["metadata"]["name"], "watched");
    assert_eq!(decoded["data"], json!({"mode": "fast"}));
}
