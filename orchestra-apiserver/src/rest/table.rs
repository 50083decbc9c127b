//! `meta.k8s.io/v1` `Table` output: what `kubectl get` asks for and prints, with the columns
//! Kubernetes' printers give each kind (`READY`, `STATUS`, `RESTARTS`, `AGE` for pods, …).

use jiff::Timestamp;
use orchestra_api::{ArcObject, ResourceKind};
use serde_json::{Value, json};

/// One column: name, JSON type, and priority (0 = always shown, 1 = with `-o wide`).
struct Column {
    name: &'static str,
    kind: &'static str,
    priority: u8,
    description: &'static str,
}

const fn col(
    name: &'static str,
    kind: &'static str,
    priority: u8,
    description: &'static str,
) -> Column {
    Column {
        name,
        kind,
        priority,
        description,
    }
}

const NAME: Column = col(
    "Name",
    "string",
    0,
    "Name must be unique within a namespace.",
);
const AGE: Column = col("Age", "string", 0, "Time since the object was created.");

/// Kubernetes' `HumanDuration`: `45s`, `3m20s`, `5h10m`, `3d4h`, `2y30d`.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".to_owned();
    }
    if seconds < 0 {
        return "0s".to_owned();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

fn age(value: &Value, now: Timestamp) -> Value {
    let created = value["metadata"]["creationTimestamp"]
        .as_str()
        .and_then(|t| t.parse::<Timestamp>().ok());
    Value::from(match created {
        Some(created) => human_duration(now.duration_since(created).as_secs()),
        None => "<unknown>".to_owned(),
    })
}

fn text(value: &Value, pointer: &str) -> String {
    match value.pointer(pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

fn or_none(s: String) -> String {
    if s.is_empty() { "<none>".to_owned() } else { s }
}

fn int(value: &Value, pointer: &str) -> i64 {
    value.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn count(value: &Value, pointer: &str) -> usize {
    match value.pointer(pointer) {
        Some(Value::Object(m)) => m.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    }
}

/// The `STATUS` column of a pod, as `kubectl get pods` computes it.
fn pod_status(pod: &Value) -> String {
    if pod["metadata"]
        .get("deletionTimestamp")
        .is_some_and(|t| !t.is_null())
    {
        return "Terminating".to_owned();
    }
    let mut reason = text(pod, "/status/reason");
    if reason.is_empty() {
        reason = or_none(text(pod, "/status/phase"));
    }
    let statuses = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array);
    for status in statuses.into_iter().flatten().rev() {
        let waiting = text(status, "/state/waiting/reason");
        let terminated = text(status, "/state/terminated/reason");
        if !waiting.is_empty() {
            reason = waiting;
        } else if !terminated.is_empty() {
            reason = terminated;
        }
    }
    reason
}

fn pod_cells(pod: &Value) -> Vec<Value> {
    let statuses = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array);
    let total = count(pod, "/spec/containers");
    let ready = statuses
        .into_iter()
        .flatten()
        .filter(|s| s["ready"].as_bool() == Some(true))
        .count();
    let restarts: i64 = statuses
        .into_iter()
        .flatten()
        .map(|s| s["restartCount"].as_i64().unwrap_or(0))
        .sum();
    // The newest restart, from the containers' last terminations.
    let last_restart = statuses
        .into_iter()
        .flatten()
        .filter_map(|s| s.pointer("/lastState/terminated/finishedAt"))
        .filter_map(Value::as_str)
        .filter_map(|t| t.parse::<Timestamp>().ok())
        .max();
    let restarts = match last_restart {
        Some(at) if restarts > 0 => format!(
            "{restarts} ({} ago)",
            human_duration(Timestamp::now().as_second() - at.as_second())
        ),
        _ => restarts.to_string(),
    };
    let gates = count(pod, "/spec/readinessGates");
    let gates = if gates == 0 {
        "<none>".to_owned()
    } else {
        let conditions = pod.pointer("/status/conditions").and_then(Value::as_array);
        let passed = pod
            .pointer("/spec/readinessGates")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|gate| {
                conditions
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == gate["conditionType"] && c["status"] == "True")
            })
            .count();
        format!("{passed}/{gates}")
    };
    vec![
        Value::from(format!("{ready}/{total}")),
        Value::from(pod_status(pod)),
        Value::from(restarts),
        Value::from(or_none(text(pod, "/status/podIP"))),
        Value::from(or_none(text(pod, "/spec/nodeName"))),
        Value::from(or_none(text(pod, "/status/nominatedNodeName"))),
        Value::from(gates),
    ]
}

fn service_ports(svc: &Value) -> String {
    let ports = svc.pointer("/spec/ports").and_then(Value::as_array);
    let parts: Vec<String> = ports
        .into_iter()
        .flatten()
        .map(|p| {
            let node = p["nodePort"]
                .as_i64()
                .map(|n| format!(":{n}"))
                .unwrap_or_default();
            format!(
                "{}{node}/{}",
                p["port"].as_i64().unwrap_or(0),
                p["protocol"].as_str().unwrap_or("TCP")
            )
        })
        .collect();
    or_none(parts.join(","))
}

fn node_status(node: &Value) -> String {
    let conditions = node.pointer("/status/conditions").and_then(Value::as_array);
    let ready = conditions
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
        .map(|c| {
            if c["status"] == "True" {
                "Ready"
            } else {
                "NotReady"
            }
        })
        .unwrap_or("Unknown");
    if node.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        format!("{ready},SchedulingDisabled")
    } else {
        ready.to_owned()
    }
}

fn node_roles(node: &Value) -> String {
    let labels = node.pointer("/metadata/labels").and_then(Value::as_object);
    let roles: Vec<&str> = labels
        .into_iter()
        .flatten()
        .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/"))
        .collect();
    or_none(roles.join(","))
}

const CONTAINERS: Column = col(
    "Containers",
    "string",
    1,
    "Names of each container in the template.",
);
const IMAGES: Column = col(
    "Images",
    "string",
    1,
    "Images referenced by each container in the template.",
);
const SELECTOR: Column = col(
    "Selector",
    "string",
    1,
    "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.",
);

fn replica_columns() -> Vec<Column> {
    vec![
        col("Desired", "integer", 0, "Number of desired pods."),
        col("Current", "integer", 0, "Number of actual replicas."),
        col("Ready", "integer", 0, "The number of ready replicas."),
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ]
}

/// DESIRED, CURRENT, READY, CONTAINERS and IMAGES of a ReplicaSet or ReplicationController.
fn replica_cells(r: &Value) -> Vec<Value> {
    let mut cells = vec![
        Value::from(int(r, "/spec/replicas")),
        Value::from(int(r, "/status/replicas")),
        Value::from(int(r, "/status/readyReplicas")),
    ];
    cells.extend(template_cells(r));
    cells
}

/// The CONTAINERS and IMAGES cells of a workload's pod template.
fn template_cells(workload: &Value) -> [Value; 2] {
    let containers = workload
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array);
    let field = |name: &str| {
        containers
            .into_iter()
            .flatten()
            .filter_map(|c| c[name].as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    [Value::from(field("name")), Value::from(field("image"))]
}

/// A `LabelSelector` as kubectl prints it (`app=web,tier in (front)`), or `<none>`.
fn label_selector_text(selector: &Value) -> String {
    serde_json::from_value::<
        orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    >(selector.clone())
    .ok()
    .and_then(|s| orchestra_api::LabelSelector::try_from(&s).ok())
    .map(|s| s.to_string())
    .filter(|s| !s.is_empty())
    .unwrap_or_else(|| "<none>".to_owned())
}

/// A map selector (`{app: web}`) as `app=web`, or `<none>`.
fn map_selector_text(selector: &Value) -> String {
    let pairs: Vec<String> = selector
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    or_none(pairs.join(","))
}

/// A Job's STATUS: its terminal or suspended condition, else Running.
fn job_status(job: &Value) -> String {
    let conditions = job.pointer("/status/conditions").and_then(Value::as_array);
    let holds = |kind: &str| {
        conditions
            .into_iter()
            .flatten()
            .any(|c| c["type"] == kind && c["status"] == "True")
    };
    for (condition, status) in [
        ("Complete", "Complete"),
        ("Failed", "Failed"),
        ("FailureTarget", "FailureTarget"),
        ("SuccessCriteriaMet", "SuccessCriteriaMet"),
        ("Suspended", "Suspended"),
    ] {
        if holds(condition) {
            return status.to_owned();
        }
    }
    "Running".to_owned()
}

/// A Job's DURATION: from its start to completion, or to now while it runs.
fn job_duration(job: &Value) -> String {
    let time = |pointer: &str| {
        job.pointer(pointer)
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<Timestamp>().ok())
    };
    let Some(start) = time("/status/startTime") else {
        return String::new();
    };
    let end = time("/status/completionTime").unwrap_or_else(Timestamp::now);
    human_duration(end.as_second() - start.as_second())
}

/// Computes a row's kind-specific cells from the object.
type CellsOf = fn(&Value) -> Vec<Value>;

/// The columns (besides NAME and AGE) and their cells, per kind.
fn kind_columns(kind: &ResourceKind) -> (Vec<Column>, CellsOf) {
    match (kind.group.as_ref(), kind.plural.as_ref()) {
        ("", "pods") => (
            vec![
                col(
                    "Ready",
                    "string",
                    0,
                    "The aggregate readiness state of this pod for accepting traffic.",
                ),
                col(
                    "Status",
                    "string",
                    0,
                    "The aggregate status of the containers in this pod.",
                ),
                col(
                    "Restarts",
                    "string",
                    0,
                    "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
                ),
                col(
                    "IP",
                    "string",
                    1,
                    "IP address allocated to the pod. Routable at least within the cluster.",
                ),
                col(
                    "Node",
                    "string",
                    1,
                    "NodeName is a request to schedule this pod onto a specific node.",
                ),
                col(
                    "Nominated Node",
                    "string",
                    1,
                    "nominatedNodeName is set when this pod preempts other pods on the node.",
                ),
                col(
                    "Readiness Gates",
                    "string",
                    1,
                    "If specified, all readiness gates will be evaluated for pod readiness.",
                ),
            ],
            pod_cells,
        ),
        ("apps", "deployments") => (
            vec![
                col("Ready", "string", 0, "Number of the pod with ready state"),
                col(
                    "Up-to-date",
                    "string",
                    0,
                    "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
                ),
                col(
                    "Available",
                    "string",
                    0,
                    "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
                ),
                CONTAINERS,
                IMAGES,
                SELECTOR,
            ],
            |d| {
                let mut cells = vec![
                    Value::from(format!(
                        "{}/{}",
                        int(d, "/status/readyReplicas"),
                        int(d, "/spec/replicas")
                    )),
                    Value::from(int(d, "/status/updatedReplicas")),
                    Value::from(int(d, "/status/availableReplicas")),
                ];
                cells.extend(template_cells(d));
                cells.push(Value::from(label_selector_text(&d["spec"]["selector"])));
                cells
            },
        ),
        ("apps", "replicasets") => (replica_columns(), |r| {
            let mut cells = replica_cells(r);
            cells.push(Value::from(label_selector_text(&r["spec"]["selector"])));
            cells
        }),
        ("", "replicationcontrollers") => (replica_columns(), |r| {
            let mut cells = replica_cells(r);
            cells.push(Value::from(map_selector_text(&r["spec"]["selector"])));
            cells
        }),
        ("apps", "statefulsets") => (
            vec![
                col("Ready", "string", 0, "Number of the pod with ready state"),
                CONTAINERS,
                IMAGES,
            ],
            |s| {
                let mut cells = vec![Value::from(format!(
                    "{}/{}",
                    int(s, "/status/readyReplicas"),
                    int(s, "/spec/replicas")
                ))];
                cells.extend(template_cells(s));
                cells
            },
        ),
        ("apps", "daemonsets") => (
            vec![
                col(
                    "Desired",
                    "integer",
                    0,
                    "The desired number of nodes that should be running the daemon pod.",
                ),
                col(
                    "Current",
                    "integer",
                    0,
                    "The number of nodes that are running at least one daemon pod and are supposed to run it.",
                ),
                col(
                    "Ready",
                    "integer",
                    0,
                    "The number of nodes that should be running the daemon pod and have one or more of it running and ready.",
                ),
                col(
                    "Up-to-date",
                    "integer",
                    0,
                    "The total number of nodes that are running the updated daemon pod.",
                ),
                col(
                    "Available",
                    "integer",
                    0,
                    "The number of nodes that should be running the daemon pod and have one or more of it running and available.",
                ),
                col(
                    "Node Selector",
                    "string",
                    0,
                    "NodeSelector is a selector which must be true for the pod to fit on a node.",
                ),
                CONTAINERS,
                IMAGES,
                SELECTOR,
            ],
            |d| {
                let node_selector =
                    map_selector_text(&d["spec"]["template"]["spec"]["nodeSelector"]);
                let mut cells = vec![
                    Value::from(int(d, "/status/desiredNumberScheduled")),
                    Value::from(int(d, "/status/currentNumberScheduled")),
                    Value::from(int(d, "/status/numberReady")),
                    Value::from(int(d, "/status/updatedNumberScheduled")),
                    Value::from(int(d, "/status/numberAvailable")),
                    Value::from(node_selector),
                ];
                cells.extend(template_cells(d));
                cells.push(Value::from(label_selector_text(&d["spec"]["selector"])));
                cells
            },
        ),
        ("", "services") => (
            vec![
                col("Type", "string", 0, "The type of the service."),
                col("Cluster-IP", "string", 0, "The cluster IP of the service."),
                col(
                    "External-IP",
                    "string",
                    0,
                    "The external IPs of the service.",
                ),
                col("Port(s)", "string", 0, "The ports of the service."),
                col("Selector", "string", 1, "The selector of the service."),
            ],
            |s| {
                let external = s
                    .pointer("/spec/externalIPs")
                    .and_then(Value::as_array)
                    .map(|ips| {
                        ips.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default();
                vec![
                    Value::from(text(s, "/spec/type")),
                    Value::from(or_none(text(s, "/spec/clusterIP"))),
                    Value::from(or_none(external)),
                    Value::from(service_ports(s)),
                    Value::from(map_selector_text(&s["spec"]["selector"])),
                ]
            },
        ),
        ("", "nodes") => (
            vec![
                col("Status", "string", 0, "The status of the node"),
                col("Roles", "string", 0, "The roles of the node"),
                col(
                    "Version",
                    "string",
                    0,
                    "Kubelet Version reported by the node.",
                ),
                col(
                    "Internal-IP",
                    "string",
                    1,
                    "List of addresses reachable to the node.",
                ),
                col(
                    "External-IP",
                    "string",
                    1,
                    "List of addresses reachable to the node.",
                ),
                col(
                    "OS-Image",
                    "string",
                    1,
                    "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
                ),
                col(
                    "Kernel-Version",
                    "string",
                    1,
                    "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
                ),
                col(
                    "Container-Runtime",
                    "string",
                    1,
                    "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
                ),
            ],
            |n| {
                let address = |kind: &str| {
                    n.pointer("/status/addresses")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .find(|a| a["type"] == kind)
                        .and_then(|a| a["address"].as_str())
                        .unwrap_or("<none>")
                        .to_owned()
                };
                vec![
                    Value::from(node_status(n)),
                    Value::from(node_roles(n)),
                    Value::from(text(n, "/status/nodeInfo/kubeletVersion")),
                    Value::from(address("InternalIP")),
                    Value::from(address("ExternalIP")),
                    Value::from(text(n, "/status/nodeInfo/osImage")),
                    Value::from(text(n, "/status/nodeInfo/kernelVersion")),
                    Value::from(text(n, "/status/nodeInfo/containerRuntimeVersion")),
                ]
            },
        ),
        ("", "namespaces") => (
            vec![col("Status", "string", 0, "The status of the namespace")],
            |n| vec![Value::from(text(n, "/status/phase"))],
        ),
        ("", "configmaps") => (
            vec![col(
                "Data",
                "integer",
                0,
                "Number of keys in the config map",
            )],
            |c| vec![Value::from(count(c, "/data") + count(c, "/binaryData"))],
        ),
        ("", "secrets") => (
            vec![
                col("Type", "string", 0, "The type of the secret"),
                col("Data", "integer", 0, "Number of keys in the secret"),
            ],
            |s| {
                vec![
                    Value::from(text(s, "/type")),
                    Value::from(count(s, "/data")),
                ]
            },
        ),
        ("batch", "jobs") => (
            vec![
                col("Status", "string", 0, "Status of the job."),
                col(
                    "Completions",
                    "string",
                    0,
                    "The desired number of successfully finished pods the job should be run with.",
                ),
                col(
                    "Duration",
                    "string",
                    0,
                    "Time required to complete the job.",
                ),
                CONTAINERS,
                IMAGES,
                SELECTOR,
            ],
            |j| {
                let completions = j.pointer("/spec/completions").and_then(Value::as_i64);
                let succeeded = int(j, "/status/succeeded");
                let mut cells = vec![
                    Value::from(job_status(j)),
                    Value::from(match completions {
                        Some(c) => format!("{succeeded}/{c}"),
                        None => format!("{succeeded}/1 of {}", int(j, "/spec/parallelism")),
                    }),
                    Value::from(job_duration(j)),
                ];
                cells.extend(template_cells(j));
                cells.push(Value::from(label_selector_text(&j["spec"]["selector"])));
                cells
            },
        ),
        _ => (Vec::new(), |_| Vec::new()),
    }
}

/// The metadata a row carries (`PartialObjectMetadata`), as `includeObject=Metadata` gives.
fn partial_metadata(value: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": value["metadata"].clone(),
    })
}

/// How much of each object a row carries (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// No object.
    None,
    /// `PartialObjectMetadata` (the default).
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

/// Where AGE goes among a kind's columns: after the columns kubectl always shows, before the
/// `-o wide` ones; nodes show their version after it.
fn age_position(kind: &ResourceKind, columns: &[Column]) -> usize {
    if kind.group.is_empty() && kind.plural == "nodes" {
        return 2;
    }
    columns.iter().take_while(|c| c.priority == 0).count()
}

/// A `Table` of `objects` of `kind`.
pub fn table(
    kind: &ResourceKind,
    objects: &[ArcObject],
    resource_version: &str,
    continue_token: Option<&str>,
    include: IncludeObject,
) -> Value {
    let now = Timestamp::now();
    let (columns, cells) = kind_columns(kind);
    let age_at = age_position(kind, &columns);
    let mut ordered: Vec<&Column> = columns.iter().collect();
    ordered.insert(age_at, &AGE);
    let definitions: Vec<Value> = std::iter::once(&NAME)
        .chain(ordered)
        .map(|c| {
            json!({
                "name": c.name,
                "type": c.kind,
                "format": if c.name == "Name" { "name" } else { "" },
                "description": c.description,
                "priority": c.priority,
            })
        })
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .filter_map(|obj| obj.to_value().ok())
        .map(|value| {
            let mut kind_cells = cells(&value);
            kind_cells.insert(age_at.min(kind_cells.len()), age(&value, now));
            let mut row_cells = vec![value["metadata"]["name"].clone()];
            row_cells.extend(kind_cells);
            let object = match include {
                IncludeObject::None => Value::Null,
                IncludeObject::Metadata => partial_metadata(&value),
                IncludeObject::Object => value,
            };
            let mut row = json!({ "cells": row_cells });
            if !object.is_null() {
                row["object"] = object;
            }
            row
        })
        .collect();
    let mut metadata = json!({ "resourceVersion": resource_version });
    if let Some(token) = continue_token {
        metadata["continue"] = Value::from(token);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn durations_read_as_kubectl_prints_them() {
        for (secs, text) in [
            (5, "5s"),
            (119, "119s"),
            (200, "3m20s"),
            (600, "10m"),
            (3 * 3600 + 600, "3h10m"),
            (30 * 3600, "30h"),
            (3 * 86400 + 4 * 3600, "3d4h"),
            (400 * 86400, "400d"),
            (3 * 365 * 86400 + 86400 * 10, "3y10d"),
        ] {
            assert_eq!(human_duration(secs), text, "{secs}s");
        }
    }

    #[test]
    fn pods_have_ready_status_and_restart_columns() {
        let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(json!({
            "metadata": {"name": "web", "creationTimestamp": "2020-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 2, "image": "", "imageID": "", "state": {"running": {}}},
                {"name": "b", "ready": false, "restartCount": 1, "image": "", "imageID": "", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
            ]}
        }))
        .unwrap();
        let t = table(
            &orchestra_api::kinds::PODS,
            &[Arc::new(pod)],
            "9",
            None,
            IncludeObject::Metadata,
        );
        let names: Vec<&str> = t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "Name",
                "Ready",
                "Status",
                "Restarts",
                "Age",
                "IP",
                "Node",
                "Nominated Node",
                "Readiness Gates"
            ]
        );
        // Only the columns after AGE are `-o wide` ones.
        let priorities: Vec<u64> = t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["priority"].as_u64().unwrap())
            .collect();
        assert_eq!(priorities, [0, 0, 0, 0, 0, 1, 1, 1, 1]);
        let cells = &t["rows"][0]["cells"];
        assert_eq!(cells[0], "web");
        assert_eq!(cells[1], "1/2");
        assert_eq!(cells[2], "CrashLoopBackOff");
        assert_eq!(cells[3], "3");
        assert_eq!(cells[5], "<none>");
        assert_eq!(cells[6], "<none>");
        assert_eq!(cells[8], "<none>");
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    }
}
