//! Invalid objects across the served kinds, each a small valid object with one thing broken,
//! and the exact field path and reason Kubernetes v1.33 reports for it. Create cases must be
//! reported by `validate_create`; update cases (what may not change) by `validate_update`
//! only, while the changed object on its own is valid.

use orchestra_api::validation::{FieldErrors, validate_create, validate_update};
use orchestra_api::{DynamicObject, Object, Status, kinds};
use serde_json::{Value, json};

/// The pod spec every workload below uses: valid after defaulting.
fn pod_spec() -> Value {
    json!({
        "restartPolicy": "Always",
        "dnsPolicy": "ClusterFirst",
        "terminationGracePeriodSeconds": 30,
        "containers": [{
            "name": "app",
            "image": "nginx:1.27",
            "imagePullPolicy": "IfNotPresent",
            "terminationMessagePolicy": "File",
            "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
            "env": [{"name": "MODE", "value": "production"}],
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                          "limits": {"cpu": "500m", "memory": "128Mi"}},
            "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
            "livenessProbe": {
                "httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
                "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1,
                "failureThreshold": 3
            }
        }],
        "volumes": [{"name": "cache", "emptyDir": {}}]
    })
}

fn meta(name: &str) -> Value {
    json!({"name": name, "namespace": "default", "resourceVersion": "7", "labels": {"app": "web"}})
}

fn cluster_meta(name: &str) -> Value {
    json!({"name": name, "resourceVersion": "7"})
}

fn template() -> Value {
    json!({"metadata": {"labels": {"app": "web"}}, "spec": pod_spec()})
}

fn base(kind: Base) -> Value {
    match kind {
        Base::Pod => {
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta("web"), "spec": pod_spec()})
        }
        Base::Deployment => json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("web"),
            "spec": {
                "replicas": 3, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"type": "RollingUpdate",
                             "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                "template": template()
            }
        }),
        Base::ReplicaSet => json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta("web"),
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": template()}
        }),
        Base::StatefulSet => json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta("db"),
            "spec": {
                "replicas": 1, "serviceName": "db", "podManagementPolicy": "OrderedReady",
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                "selector": {"matchLabels": {"app": "web"}},
                "template": template(),
                "volumeClaimTemplates": [{
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"],
                             "resources": {"requests": {"storage": "1Gi"}}}
                }]
            }
        }),
        Base::DaemonSet => json!({
            "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": meta("agent"),
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "updateStrategy": {"type": "RollingUpdate",
                                   "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                "template": template()
            }
        }),
        Base::ReplicationController => json!({
            "apiVersion": "v1", "kind": "ReplicationController", "metadata": meta("web"),
            "spec": {"replicas": 1, "selector": {"app": "web"}, "template": template()}
        }),
        Base::Job => {
            let mut job_template = template();
            job_template["spec"]["restartPolicy"] = json!("Never");
            json!({
                "apiVersion": "batch/v1", "kind": "Job", "metadata": meta("pi"),
                "spec": {"backoffLimit": 6, "completions": 1, "parallelism": 1,
                         "completionMode": "NonIndexed", "template": job_template}
            })
        }
        Base::CronJob => {
            let mut job_template = template();
            job_template["spec"]["restartPolicy"] = json!("OnFailure");
            json!({
                "apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta("report"),
                "spec": {"schedule": "*/5 * * * *", "concurrencyPolicy": "Allow",
                         "timeZone": "UTC",
                         "jobTemplate": {"spec": {"template": job_template}}}
            })
        }
        Base::Service => json!({
            "apiVersion": "v1", "kind": "Service", "metadata": meta("web"),
            "spec": {
                "type": "ClusterIP", "sessionAffinity": "None",
                "internalTrafficPolicy": "Cluster",
                "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                "selector": {"app": "web"},
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
            }
        }),
        Base::ConfigMap => json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("settings"),
            "data": {"app.properties": "mode=production"}
        }),
        Base::ImmutableConfigMap => json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("settings"),
            "immutable": true, "data": {"app.properties": "mode=production"}
        }),
        Base::TlsSecret => json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": meta("cert"),
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": "Y2VydA==", "tls.key": "a2V5"}
        }),
        Base::Namespace => {
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": cluster_meta("team-a")})
        }
        Base::Node => json!({
            "apiVersion": "v1", "kind": "Node", "metadata": cluster_meta("node-1"),
            "spec": {"podCIDRs": ["10.244.1.0/24"],
                     "taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}
        }),
        Base::PersistentVolumeClaim => json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta("data"),
            "spec": {"accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem",
                     "resources": {"requests": {"storage": "1Gi"}}}
        }),
        Base::PersistentVolume => json!({
            "apiVersion": "v1", "kind": "PersistentVolume", "metadata": cluster_meta("pv-1"),
            "spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "10Gi"},
                     "persistentVolumeReclaimPolicy": "Retain", "volumeMode": "Filesystem",
                     "hostPath": {"path": "/data/pv-1"}}
        }),
        Base::Role => json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta("reader"),
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
        }),
        Base::RoleBinding => json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta("read-pods"),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
            "subjects": [{"kind": "User", "name": "jane", "apiGroup": "rbac.authorization.k8s.io"}]
        }),
        Base::ClusterRoleBinding => json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": cluster_meta("system:read"),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "ServiceAccount", "name": "agent", "namespace": "kube-system"}]
        }),
        Base::Ingress => json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta("web"),
            "spec": {"ingressClassName": "nginx", "rules": [{"host": "shop.example.com", "http": {"paths": [
                {"path": "/api", "pathType": "Prefix",
                 "backend": {"service": {"name": "web", "port": {"number": 80}}}}
            ]}}]}
        }),
        Base::NetworkPolicy => json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta("allow-web"),
            "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"],
                     "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                                  "ports": [{"protocol": "TCP", "port": 8000, "endPort": 8080}]}]}
        }),
        Base::PodDisruptionBudget => json!({
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta("web"),
            "spec": {"minAvailable": "50%", "selector": {"matchLabels": {"app": "web"}}}
        }),
        Base::PriorityClass => json!({
            "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": cluster_meta("high"), "value": 100000, "preemptionPolicy": "PreemptLowerPriority"
        }),
        Base::Lease => json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta("leader"),
            "spec": {"holderIdentity": "controller-0", "leaseDurationSeconds": 15, "leaseTransitions": 0}
        }),
        Base::LimitRange => json!({
            "apiVersion": "v1", "kind": "LimitRange", "metadata": meta("limits"),
            "spec": {"limits": [{"type": "Container", "min": {"cpu": "100m"}, "max": {"cpu": "2"},
                                 "default": {"cpu": "500m"}, "defaultRequest": {"cpu": "200m"}}]}
        }),
        Base::ResourceQuota => json!({
            "apiVersion": "v1", "kind": "ResourceQuota", "metadata": meta("quota"),
            "spec": {"hard": {"pods": "10", "requests.cpu": "4", "limits.memory": "8Gi"}}
        }),
        Base::HorizontalPodAutoscaler => json!({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta("web"),
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 2, "maxReplicas": 10,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 70}}}]
            }
        }),
        Base::StorageClass => json!({
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": cluster_meta("fast"),
            "provisioner": "csi.example.com", "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer"
        }),
        Base::EndpointSlice => json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": meta("web-abc"),
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.244.1.7"], "conditions": {"ready": true}, "nodeName": "node-1"}],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
        }),
        Base::CustomResourceDefinition => json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": cluster_meta("crontabs.stable.example.com"),
            "spec": {
                "group": "stable.example.com", "scope": "Namespaced",
                "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "listKind": "CronTabList"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                              "schema": {"openAPIV3Schema": {"type": "object"}}}]
            }
        }),
        Base::CustomResource => json!({
            "apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": meta("nightly"),
            "spec": {"cronSpec": "0 3 * * *"}
        }),
    }
}

/// The valid objects the cases start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    Pod,
    Deployment,
    ReplicaSet,
    StatefulSet,
    DaemonSet,
    ReplicationController,
    Job,
    CronJob,
    Service,
    ConfigMap,
    ImmutableConfigMap,
    TlsSecret,
    Namespace,
    Node,
    PersistentVolumeClaim,
    PersistentVolume,
    Role,
    RoleBinding,
    ClusterRoleBinding,
    Ingress,
    NetworkPolicy,
    PodDisruptionBudget,
    PriorityClass,
    Lease,
    LimitRange,
    ResourceQuota,
    HorizontalPodAutoscaler,
    StorageClass,
    EndpointSlice,
    CustomResourceDefinition,
    CustomResource,
}

const BASES: [Base; 31] = [
    Base::Pod,
    Base::Deployment,
    Base::ReplicaSet,
    Base::StatefulSet,
    Base::DaemonSet,
    Base::ReplicationController,
    Base::Job,
    Base::CronJob,
    Base::Service,
    Base::ConfigMap,
    Base::ImmutableConfigMap,
    Base::TlsSecret,
    Base::Namespace,
    Base::Node,
    Base::PersistentVolumeClaim,
    Base::PersistentVolume,
    Base::Role,
    Base::RoleBinding,
    Base::ClusterRoleBinding,
    Base::Ingress,
    Base::NetworkPolicy,
    Base::PodDisruptionBudget,
    Base::PriorityClass,
    Base::Lease,
    Base::LimitRange,
    Base::ResourceQuota,
    Base::HorizontalPodAutoscaler,
    Base::StorageClass,
    Base::EndpointSlice,
    Base::CustomResourceDefinition,
    Base::CustomResource,
];

/// Which check must report the broken field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    /// `validate_create` of the broken object.
    Create,
    /// `validate_update` of the broken object over the base (and not `validate_create`).
    Update,
}

struct Case {
    name: &'static str,
    base: Base,
    when: When,
    change: fn(&mut Value),
    /// Every error expected, as (field path, `StatusCause.reason`).
    expected: &'static [(&'static str, &'static str)],
}

/// Sets the value at a JSON pointer, creating the last key.
fn set(object: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer has a parent");
    let key = key.replace("~1", "/").replace("~0", "~");
    let parent = object.pointer_mut(parent).expect("parent exists");
    match parent {
        Value::Object(map) => {
            map.insert(key, value);
        }
        Value::Array(list) => {
            let index: usize = key.parse().expect("array index");
            if index == list.len() {
                list.push(value);
            } else {
                list[index] = value;
            }
        }
        other => panic!("cannot set {key} in {other}"),
    }
}

/// Removes the value at a JSON pointer.
fn remove(object: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer has a parent");
    match object.pointer_mut(parent).expect("parent exists") {
        Value::Object(map) => {
            map.remove(key);
        }
        Value::Array(list) => {
            list.remove(key.parse().expect("array index"));
        }
        other => panic!("cannot remove {key} from {other}"),
    }
}

const FIELD_VALUE_REQUIRED: &str = "FieldValueRequired";
const FIELD_VALUE_INVALID: &str = "FieldValueInvalid";
const FIELD_VALUE_NOT_SUPPORTED: &str = "FieldValueNotSupported";
const FIELD_VALUE_DUPLICATE: &str = "FieldValueDuplicate";
const FIELD_VALUE_FORBIDDEN: &str = "FieldValueForbidden";
const FIELD_VALUE_NOT_FOUND: &str = "FieldValueNotFound";
const FIELD_VALUE_TOO_LONG: &str = "FieldValueTooLong";

const CASES: &[Case] = &[
    // Pods: metadata.
    Case {
        name: "pod_name_must_be_a_dns_subdomain",
        base: Base::Pod,
        when: When::Create,
        change: |o| set(o, "/metadata/name", json!("Web")),
        expected: &[("metadata.name", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "generate_name_must_be_a_valid_name_prefix",
        base: Base::Pod,
        when: When::Create,
        change: |o| set(o, "/metadata/generateName", json!("Web-")),
        expected: &[("metadata.generateName", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "label_values_must_be_valid_label_values",
        base: Base::Pod,
        when: When::Create,
        change: |o| set(o, "/metadata/labels/app", json!("-web")),
        expected: &[("metadata.labels", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "annotation_keys_must_be_qualified_names",
        base: Base::Pod,
        when: When::Create,
        change: |o| set(o, "/metadata/annotations", json!({"example.com/a/b": "x"})),
        expected: &[("metadata.annotations", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "annotations_may_take_at_most_256_kib_in_total",
        base: Base::Pod,
        when: When::Create,
        change: |o| {
            set(
                o,
                "/metadata/annotations",
                json!({"big": "x".repeat(256 * 1024)}),
            )
        },
        expected: &[("metadata.annotations", FIELD_VALUE_TOO_LONG)],
    },
    Case {
        name: "only_one_owner_reference_may_be_the_controller",
        base: Base::Pod,
        when: When::Create,
        change: |o| {
            set(
                o,
                "/metadata/ownerReferences",
                json!([
                    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "a", "uid": "1", "controller": true},
                    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "b", "uid": "2", "controller": true}
                ]),
            )
        },
        expected: &[("metadata.ownerReferences", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "object_name_is_immutable",
        base: Base::Pod,
        when: When::Update,
        change: |o| set(o, "/metadata/name", json!("web-2")),
        expected: &[("metadata.name", FIELD_VALUE_INVALID)],
    },
    // Pods: containers.
    Case {
        name: "pod_container_image_is_required",
        base: Base::Pod,
        when: When::Create,
        change: |o| remove(o, "/spec/containers/0/image"),
        expected: &[("spec.containers[0].image", FIELD_VALUE_REQUIRED)],
    },
    Case {
        name: "pod_container_names_are_dns_labels",
        base: Base::Pod,
        when: When::Create,
        change: |o| set(o, "/spec/containers/0/name", json!("App_1")),
        expected: &[("spec.containers[0].name", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "pod_container_names_are_unique_across_init_and_app_containers",
        base: Base::Pod,
        when: When::Create,
        change: |o| {
            set(
                o,
                "/spec/initContainers",
                json!([{"name": "app", "image": "busybox", "imagePullPolicy": "Always",
                        "terminationMessagePolicy": "File"}]),
            )
        },
        expected: &[("spec.initContainers[0].name", FIELD_VALUE_DUPLICATE)],
    },
    Case {
        name: "pod_container_ports_are_between_1_and_65535",
        base: Base::Pod,
        when: When::Create,
        change: |o| set(o, "/spec/containers/0/ports/0/containerPort", json!(70000)),
        expected: &[(
            "spec.containers[0].ports[0].containerPort",
            FIELD_VALUE_INVALID,
        )],
    },
    Case {
        name: "pod_port_protocol_must_be_tcp_udp_or_sctp",
        base: Base::Pod,
        when: When::Create,
        change: |o| set(o, "/spec/containers/0/ports/0/protocol", json!("HTTP")),
        expected: &[(
            "spec.containers[0].ports[0].protocol",
            FIELD_VALUE_NOT_SUPPORTED,
        )],
    },
    Case {
        name: "pod_port_names_are_at_most_15_characters",
        base: Base::Pod,
        when: When::Create,
        change: |o| {
            set(
                o,
                "/spec/containers/0/ports/0/name",
                json!("a-very-long-port-name"),
            )
        },
        expected: &[("spec.containers[0].ports[0].name", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "pod_port_names_are_unique_in_a_container",
        base: Base::Pod,
        when: When::Create,
        change: |o| {
            set(
                o,
                "/spec/containers/0/ports/1",
                json!({"name": "http", "containerPort": 81, "protocol": "TCP"}),
            )
        },
        expected: &[("spec.containers[0].ports[1].name", FIELD_VALUE_DUPLICATE)],
    },
    Case {
        name: "pod_env_var_names_may_not_contain_equals",
        base: Base::Pod,
        when: When::Create,
        change: |o| set(o, "/spec/containers/0/env/0/name", json!("MODE=1")),
        expected: &[("spec.containers[0].env[0].name", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "pod_volume_mounts_must_name_a_volume",
        base: Base::Pod,
        when: When::Create,
        change: |o| {
            set(
                o,
                "/spec/containers/0/volumeMounts/0/name",
                json!("missing"),
            )
        },
        expected: &[(
            "spec.containers[0].volumeMounts[0].name",
            FIELD_VALUE_NOT_FOUND,
        )],
    },
    Case {
        name: "pod_volume_names_are_unique",
        base: Base::Pod,
        when: When::Create,
        change: |o| {
            set(
                o,
                "/spec/volumes/1",
                json!({"name": "cache", "emptyDir": {}}),
            )
        },
        expected: &[("spec.volumes[1].name", FIELD_VALUE_DUPLICATE)],
    },
    Case {
        name: "pod_volumes_have_exactly_one_source",
        base: Base::Pod,
        when: When::Create,
        change: |o| set(o, "/spec/volumes/0/configMap", json!({"name": "settings"})),
        // As in Kubernetes, an invalid volume is not a mount target either.
        expected: &[
            ("spec.volumes[0].configMap", FIELD_VALUE_FORBIDDEN),
            (
                "spec.containers[0].volumeMounts[0].name",
                FIELD_VALUE_NOT_FOUND,
            ),
        ],
    },
    Case {
        name: "pod_resource_requests_may_not_exceed_limits",
        base: Base::Pod,
        when: When::Create,
        change: |o| set(o, "/spec/containers/0/resources/requests/cpu", json!("2")),
        expected: &[("spec.containers[0].resources.requests", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "pod_resource_quantities_may_not_be_negative",
        base: Base::Pod,
        when: When::Create,
        change: |o| {
            set(
                o,
                "/spec/containers/0/resources/limits/memory",
                json!("-128Mi"),
            )
        },
        expected: &[
            (
                "spec.containers[0].resources.limits[memory]",
                FIELD_VALUE_INVALID,
            ),
            ("spec.containers[0].resources.requests", FIELD_VALUE_INVALID),
        ],
    },
    Case {
        name: "pod_resource_quantities_must_parse",
        base: Base::Pod,
        when: When::Create,
        change: |o| set(o, "/spec/containers/0/resources/limits/cpu", json!("lots")),
        expected: &[(
            "spec.containers[0].resources.limits[cpu]",
            FIELD_VALUE_INVALID,
        )],
    },
    Case {
        name: "pod_image_pull_policy_must_be_known",
        base: Base::Pod,
        when: When::Create,
        change: |o| set(o, "/spec/containers/0/imagePullPolicy", json!("Sometimes")),
        expected: &[(
            "spec.containers[0].imagePullPolicy",
            FIELD_VALUE_NOT_SUPPORTED,
        )],
    },
    Case {
        name: "pod_liveness_probe_needs_a_handler",
        base: Base::Pod,
        when: When::Create,
        change: |o| remove(o, "/spec/containers/0/livenessProbe/httpGet"),
        expected: &[("spec.containers[0].livenessProbe", FIELD_VALUE_REQUIRED)],
    },
    Case {
        name: "pod_liveness_probe_success_threshold_must_be_1",
        base: Base::Pod,
        when: When::Create,
        change: |o| {
            set(
                o,
                "/spec/containers/0/livenessProbe/successThreshold",
                json!(2),
            )
        },
        expected: &[(
            "spec.containers[0].livenessProbe.successThreshold",
            FIELD_VALUE_INVALID,
        )],
    },
    // Pods: spec.
    Case {
        name: "pod_restart_policy_must_be_always_on_failure_or_never",
        base: Base::Pod,
        when: When::Create,
        change: |o| set(o, "/spec/restartPolicy", json!("Sometimes")),
        expected: &[("spec.restartPolicy", FIELD_VALUE_NOT_SUPPORTED)],
    },
    Case {
        name: "pod_dns_policy_is_required",
        base: Base::Pod,
        when: When::Create,
        change: |o| remove(o, "/spec/dnsPolicy"),
        expected: &[("spec.dnsPolicy", FIELD_VALUE_REQUIRED)],
    },
    Case {
        name: "pod_termination_grace_period_may_not_be_negative",
        base: Base::Pod,
        when: When::Create,
        change: |o| set(o, "/spec/terminationGracePeriodSeconds", json!(-1)),
        expected: &[("spec.terminationGracePeriodSeconds", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "pod_toleration_operator_must_be_equal_or_exists",
        base: Base::Pod,
        when: When::Create,
        change: |o| {
            set(
                o,
                "/spec/tolerations",
                json!([{"key": "gpu", "operator": "Gt", "value": "1"}]),
            )
        },
        expected: &[("spec.tolerations[0].operator", FIELD_VALUE_NOT_SUPPORTED)],
    },
    Case {
        name: "pod_toleration_effect_must_be_known",
        base: Base::Pod,
        when: When::Create,
        change: |o| {
            set(
                o,
                "/spec/tolerations",
                json!([{"key": "gpu", "operator": "Exists", "effect": "NoRun"}]),
            )
        },
        expected: &[("spec.tolerations[0].effect", FIELD_VALUE_NOT_SUPPORTED)],
    },
    Case {
        name: "pod_node_selector_keys_are_label_keys",
        base: Base::Pod,
        when: When::Create,
        change: |o| set(o, "/spec/nodeSelector", json!({"disk type": "ssd"})),
        expected: &[("spec.nodeSelector", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "pod_node_affinity_in_operator_needs_values",
        base: Base::Pod,
        when: When::Create,
        change: |o| {
            set(
                o,
                "/spec/affinity",
                json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In"}]}]
                }}}),
            )
        },
        expected: &[(
            "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values",
            FIELD_VALUE_REQUIRED,
        )],
    },
    Case {
        name: "pod_update_may_only_change_images_and_a_few_fields",
        base: Base::Pod,
        when: When::Update,
        change: |o| set(o, "/spec/dnsPolicy", json!("Default")),
        expected: &[("spec", FIELD_VALUE_FORBIDDEN)],
    },
    Case {
        name: "pod_update_may_not_add_containers",
        base: Base::Pod,
        when: When::Update,
        change: |o| {
            set(
                o,
                "/spec/containers/1",
                json!({"name": "sidecar", "image": "busybox", "imagePullPolicy": "Always",
                       "terminationMessagePolicy": "File"}),
            )
        },
        expected: &[("spec.containers", FIELD_VALUE_FORBIDDEN)],
    },
    // Workloads.
    Case {
        name: "deployment_selector_must_match_template_labels",
        base: Base::Deployment,
        when: When::Create,
        change: |o| set(o, "/spec/selector/matchLabels/app", json!("db")),
        expected: &[("spec.template.metadata.labels", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "deployment_selector_is_required",
        base: Base::Deployment,
        when: When::Create,
        change: |o| remove(o, "/spec/selector"),
        expected: &[
            ("spec.selector", FIELD_VALUE_REQUIRED),
            ("spec.template.metadata.labels", FIELD_VALUE_INVALID),
        ],
    },
    Case {
        name: "deployment_replicas_may_not_be_negative",
        base: Base::Deployment,
        when: When::Create,
        change: |o| set(o, "/spec/replicas", json!(-1)),
        expected: &[("spec.replicas", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "deployment_template_restart_policy_must_be_always",
        base: Base::Deployment,
        when: When::Create,
        change: |o| set(o, "/spec/template/spec/restartPolicy", json!("OnFailure")),
        expected: &[(
            "spec.template.spec.restartPolicy",
            FIELD_VALUE_NOT_SUPPORTED,
        )],
    },
    Case {
        name: "deployment_rolling_update_may_not_have_zero_surge_and_zero_unavailable",
        base: Base::Deployment,
        when: When::Create,
        change: |o| {
            set(
                o,
                "/spec/strategy/rollingUpdate",
                json!({"maxUnavailable": 0, "maxSurge": "0%"}),
            )
        },
        expected: &[(
            "spec.strategy.rollingUpdate.maxUnavailable",
            FIELD_VALUE_INVALID,
        )],
    },
    Case {
        name: "deployment_max_unavailable_may_not_exceed_100_percent",
        base: Base::Deployment,
        when: When::Create,
        change: |o| {
            set(
                o,
                "/spec/strategy/rollingUpdate/maxUnavailable",
                json!("120%"),
            )
        },
        expected: &[(
            "spec.strategy.rollingUpdate.maxUnavailable",
            FIELD_VALUE_INVALID,
        )],
    },
    Case {
        name: "deployment_strategy_type_must_be_recreate_or_rolling_update",
        base: Base::Deployment,
        when: When::Create,
        change: |o| set(o, "/spec/strategy", json!({"type": "BlueGreen"})),
        expected: &[("spec.strategy.type", FIELD_VALUE_NOT_SUPPORTED)],
    },
    Case {
        name: "deployment_revision_history_limit_may_not_be_negative",
        base: Base::Deployment,
        when: When::Create,
        change: |o| set(o, "/spec/revisionHistoryLimit", json!(-2)),
        expected: &[("spec.revisionHistoryLimit", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "deployment_selector_is_immutable",
        base: Base::Deployment,
        when: When::Update,
        change: |o| {
            set(o, "/spec/selector/matchLabels/tier", json!("frontend"));
            set(o, "/spec/template/metadata/labels/tier", json!("frontend"));
        },
        expected: &[("spec.selector", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "replica_set_selector_may_not_be_empty",
        base: Base::ReplicaSet,
        when: When::Create,
        change: |o| set(o, "/spec/selector", json!({"matchLabels": {}})),
        expected: &[("spec.selector", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "replica_set_selector_is_immutable",
        base: Base::ReplicaSet,
        when: When::Update,
        change: |o| {
            set(
                o,
                "/spec/selector",
                json!({"matchExpressions": [{"key": "app", "operator": "Exists"}]}),
            )
        },
        expected: &[("spec.selector", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "stateful_set_pod_management_policy_must_be_known",
        base: Base::StatefulSet,
        when: When::Create,
        change: |o| set(o, "/spec/podManagementPolicy", json!("Random")),
        expected: &[("spec.podManagementPolicy", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "stateful_set_template_may_mount_its_claim_templates_but_not_unknown_volumes",
        base: Base::StatefulSet,
        when: When::Create,
        change: |o| {
            set(
                o,
                "/spec/template/spec/containers/0/volumeMounts/1",
                json!({"name": "logs", "mountPath": "/logs"}),
            )
        },
        expected: &[(
            "spec.template.spec.containers[0].volumeMounts[1].name",
            FIELD_VALUE_NOT_FOUND,
        )],
    },
    Case {
        name: "stateful_set_spec_is_immutable_except_replicas_template_and_strategy",
        base: Base::StatefulSet,
        when: When::Update,
        change: |o| set(o, "/spec/serviceName", json!("db-headless")),
        expected: &[("spec", FIELD_VALUE_FORBIDDEN)],
    },
    Case {
        name: "daemon_set_rolling_update_needs_max_unavailable_or_max_surge",
        base: Base::DaemonSet,
        when: When::Create,
        change: |o| {
            set(
                o,
                "/spec/updateStrategy/rollingUpdate/maxUnavailable",
                json!(0),
            )
        },
        expected: &[(
            "spec.updateStrategy.rollingUpdate.maxUnavailable",
            FIELD_VALUE_REQUIRED,
        )],
    },
    Case {
        name: "daemon_set_selector_is_immutable",
        base: Base::DaemonSet,
        when: When::Update,
        change: |o| {
            set(o, "/spec/selector/matchLabels/tier", json!("node"));
            set(o, "/spec/template/metadata/labels/tier", json!("node"));
        },
        expected: &[("spec.selector", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "replication_controller_selector_is_required",
        base: Base::ReplicationController,
        when: When::Create,
        change: |o| remove(o, "/spec/selector"),
        expected: &[("spec.selector", FIELD_VALUE_REQUIRED)],
    },
    // Batch.
    Case {
        name: "job_restart_policy_must_be_on_failure_or_never",
        base: Base::Job,
        when: When::Create,
        change: |o| set(o, "/spec/template/spec/restartPolicy", json!("Always")),
        expected: &[("spec.template.spec.restartPolicy", FIELD_VALUE_REQUIRED)],
    },
    Case {
        name: "job_backoff_limit_may_not_be_negative",
        base: Base::Job,
        when: When::Create,
        change: |o| set(o, "/spec/backoffLimit", json!(-1)),
        expected: &[("spec.backoffLimit", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "job_parallelism_may_not_be_negative",
        base: Base::Job,
        when: When::Create,
        change: |o| set(o, "/spec/parallelism", json!(-3)),
        expected: &[("spec.parallelism", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "job_manual_selector_requires_a_selector",
        base: Base::Job,
        when: When::Create,
        change: |o| set(o, "/spec/manualSelector", json!(true)),
        expected: &[("spec.selector", FIELD_VALUE_REQUIRED)],
    },
    Case {
        name: "job_template_is_immutable",
        base: Base::Job,
        when: When::Update,
        change: |o| {
            set(
                o,
                "/spec/template/spec/containers/0/image",
                json!("nginx:1.28"),
            )
        },
        expected: &[("spec.template", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "job_completions_are_immutable",
        base: Base::Job,
        when: When::Update,
        change: |o| set(o, "/spec/completions", json!(5)),
        expected: &[("spec.completions", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "cron_job_schedule_has_five_fields",
        base: Base::CronJob,
        when: When::Create,
        change: |o| set(o, "/spec/schedule", json!("*/5 * *")),
        expected: &[("spec.schedule", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "cron_job_schedule_minutes_are_0_to_59",
        base: Base::CronJob,
        when: When::Create,
        change: |o| set(o, "/spec/schedule", json!("61 * * * *")),
        expected: &[("spec.schedule", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "cron_job_time_zone_must_exist",
        base: Base::CronJob,
        when: When::Create,
        change: |o| set(o, "/spec/timeZone", json!("Mars/Olympus")),
        expected: &[("spec.timeZone", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "cron_job_concurrency_policy_must_be_known",
        base: Base::CronJob,
        when: When::Create,
        change: |o| set(o, "/spec/concurrencyPolicy", json!("Sometimes")),
        expected: &[("spec.concurrencyPolicy", FIELD_VALUE_NOT_SUPPORTED)],
    },
    Case {
        name: "cron_job_names_are_at_most_52_characters",
        base: Base::CronJob,
        when: When::Create,
        change: |o| set(o, "/metadata/name", json!("a".repeat(53))),
        expected: &[("metadata.name", FIELD_VALUE_INVALID)],
    },
    // Services and endpoints.
    Case {
        name: "service_names_are_dns_1035_labels",
        base: Base::Service,
        when: When::Create,
        change: |o| set(o, "/metadata/name", json!("1web")),
        expected: &[("metadata.name", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "service_ports_are_required",
        base: Base::Service,
        when: When::Create,
        change: |o| remove(o, "/spec/ports"),
        expected: &[("spec.ports", FIELD_VALUE_REQUIRED)],
    },
    Case {
        name: "service_ports_are_between_1_and_65535",
        base: Base::Service,
        when: When::Create,
        change: |o| set(o, "/spec/ports/0/port", json!(0)),
        expected: &[("spec.ports[0].port", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "service_port_names_are_required_when_there_are_several",
        base: Base::Service,
        when: When::Create,
        change: |o| {
            set(
                o,
                "/spec/ports/1",
                json!({"port": 443, "targetPort": 8443, "protocol": "TCP"}),
            )
        },
        expected: &[("spec.ports[1].name", FIELD_VALUE_REQUIRED)],
    },
    Case {
        name: "service_type_must_be_known",
        base: Base::Service,
        when: When::Create,
        change: |o| set(o, "/spec/type", json!("Internal")),
        expected: &[("spec.type", FIELD_VALUE_NOT_SUPPORTED)],
    },
    Case {
        name: "service_cluster_ip_must_be_none_empty_or_an_ip",
        base: Base::Service,
        when: When::Create,
        change: |o| {
            set(o, "/spec/clusterIP", json!("10.96.0"));
            remove(o, "/spec/clusterIPs");
        },
        expected: &[("spec.clusterIP", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "service_target_port_names_are_port_names",
        base: Base::Service,
        when: When::Create,
        change: |o| set(o, "/spec/ports/0/targetPort", json!("http_port")),
        expected: &[("spec.ports[0].targetPort", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "service_node_ports_are_forbidden_for_cluster_ip_services",
        base: Base::Service,
        when: When::Create,
        change: |o| set(o, "/spec/ports/0/nodePort", json!(30080)),
        expected: &[("spec.ports[0].nodePort", FIELD_VALUE_FORBIDDEN)],
    },
    Case {
        name: "service_external_name_must_be_a_dns_name",
        base: Base::Service,
        when: When::Create,
        change: |o| {
            for field in [
                "clusterIP",
                "clusterIPs",
                "ipFamilies",
                "ipFamilyPolicy",
                "internalTrafficPolicy",
            ] {
                remove(o, &format!("/spec/{field}"));
            }
            set(o, "/spec/type", json!("ExternalName"));
            set(o, "/spec/externalName", json!("db_primary.example.com"));
        },
        expected: &[("spec.externalName", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "service_cluster_ip_is_immutable",
        base: Base::Service,
        when: When::Update,
        change: |o| {
            set(o, "/spec/clusterIP", json!("10.96.0.11"));
            set(o, "/spec/clusterIPs", json!(["10.96.0.11"]));
        },
        expected: &[("spec.clusterIPs[0]", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "endpoint_slice_address_type_must_be_known",
        base: Base::EndpointSlice,
        when: When::Create,
        change: |o| set(o, "/addressType", json!("IPv5")),
        expected: &[("addressType", FIELD_VALUE_NOT_SUPPORTED)],
    },
    Case {
        name: "endpoint_slice_addresses_match_the_address_type",
        base: Base::EndpointSlice,
        when: When::Create,
        change: |o| set(o, "/endpoints/0/addresses/0", json!("fd00::7")),
        expected: &[("endpoints[0].addresses[0]", FIELD_VALUE_INVALID)],
    },
    // Configuration.
    Case {
        name: "config_map_keys_are_alphanumerics_dashes_underscores_and_dots",
        base: Base::ConfigMap,
        when: When::Create,
        change: |o| set(o, "/data/conf~1app", json!("x")),
        expected: &[("data[conf/app]", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "config_map_data_is_at_most_1_mib",
        base: Base::ConfigMap,
        when: When::Create,
        change: |o| set(o, "/data/big", json!("x".repeat(1024 * 1024 + 1))),
        expected: &[("", FIELD_VALUE_TOO_LONG)],
    },
    Case {
        name: "immutable_config_map_data_may_not_change",
        base: Base::ImmutableConfigMap,
        when: When::Update,
        change: |o| set(o, "/data/app.properties", json!("mode=debug")),
        expected: &[("data", FIELD_VALUE_FORBIDDEN)],
    },
    Case {
        name: "tls_secret_needs_a_key",
        base: Base::TlsSecret,
        when: When::Create,
        change: |o| remove(o, "/data/tls.key"),
        expected: &[("data[tls.key]", FIELD_VALUE_REQUIRED)],
    },
    Case {
        name: "secret_type_is_immutable",
        base: Base::TlsSecret,
        when: When::Update,
        change: |o| set(o, "/type", json!("Opaque")),
        expected: &[("type", FIELD_VALUE_INVALID)],
    },
    // Cluster objects.
    Case {
        name: "namespace_names_are_dns_labels",
        base: Base::Namespace,
        when: When::Create,
        change: |o| set(o, "/metadata/name", json!("team.a")),
        expected: &[("metadata.name", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "cluster_scoped_objects_have_no_namespace",
        base: Base::Namespace,
        when: When::Create,
        change: |o| set(o, "/metadata/namespace", json!("default")),
        expected: &[("metadata.namespace", FIELD_VALUE_FORBIDDEN)],
    },
    Case {
        name: "node_taint_effect_is_required",
        base: Base::Node,
        when: When::Create,
        change: |o| set(o, "/spec/taints/0/effect", json!("")),
        expected: &[("spec.taints[0].effect", FIELD_VALUE_REQUIRED)],
    },
    Case {
        name: "node_pod_cidrs_may_only_be_set_once",
        base: Base::Node,
        when: When::Update,
        change: |o| set(o, "/spec/podCIDRs", json!(["10.244.2.0/24"])),
        expected: &[("spec.podCIDRs", FIELD_VALUE_FORBIDDEN)],
    },
    Case {
        name: "priority_class_value_may_not_exceed_one_billion",
        base: Base::PriorityClass,
        when: When::Create,
        change: |o| set(o, "/value", json!(1_000_000_001)),
        expected: &[("value", FIELD_VALUE_FORBIDDEN)],
    },
    Case {
        name: "priority_class_value_is_immutable",
        base: Base::PriorityClass,
        when: When::Update,
        change: |o| set(o, "/value", json!(200_000)),
        expected: &[("value", FIELD_VALUE_FORBIDDEN)],
    },
    Case {
        name: "custom_resource_definition_name_is_plural_dot_group",
        base: Base::CustomResourceDefinition,
        when: When::Create,
        change: |o| set(o, "/metadata/name", json!("crontab.stable.example.com")),
        expected: &[("metadata.name", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "custom_resource_names_are_dns_subdomains",
        base: Base::CustomResource,
        when: When::Create,
        change: |o| set(o, "/metadata/name", json!("Nightly")),
        expected: &[("metadata.name", FIELD_VALUE_INVALID)],
    },
    // Storage.
    Case {
        name: "pvc_storage_request_is_required",
        base: Base::PersistentVolumeClaim,
        when: When::Create,
        change: |o| remove(o, "/spec/resources/requests/storage"),
        expected: &[("spec.resources[storage]", FIELD_VALUE_REQUIRED)],
    },
    Case {
        name: "pvc_access_modes_must_be_known",
        base: Base::PersistentVolumeClaim,
        when: When::Create,
        change: |o| set(o, "/spec/accessModes/0", json!("ReadWriteSometimes")),
        expected: &[("spec.accessModes", FIELD_VALUE_NOT_SUPPORTED)],
    },
    Case {
        name: "pvc_spec_is_immutable_except_storage_requests",
        base: Base::PersistentVolumeClaim,
        when: When::Update,
        change: |o| set(o, "/spec/accessModes/0", json!("ReadWriteMany")),
        expected: &[("spec", FIELD_VALUE_FORBIDDEN)],
    },
    Case {
        name: "persistent_volume_needs_a_source",
        base: Base::PersistentVolume,
        when: When::Create,
        change: |o| remove(o, "/spec/hostPath"),
        expected: &[("spec", FIELD_VALUE_REQUIRED)],
    },
    Case {
        name: "storage_class_reclaim_policy_may_not_be_recycle",
        base: Base::StorageClass,
        when: When::Create,
        change: |o| set(o, "/reclaimPolicy", json!("Recycle")),
        expected: &[("reclaimPolicy", FIELD_VALUE_NOT_SUPPORTED)],
    },
    Case {
        name: "storage_class_parameters_are_immutable",
        base: Base::StorageClass,
        when: When::Update,
        change: |o| set(o, "/parameters", json!({"type": "ssd"})),
        expected: &[("parameters", FIELD_VALUE_FORBIDDEN)],
    },
    // RBAC.
    Case {
        name: "role_rules_need_verbs",
        base: Base::Role,
        when: When::Create,
        change: |o| set(o, "/rules/0/verbs", json!([])),
        expected: &[("rules[0].verbs", FIELD_VALUE_REQUIRED)],
    },
    Case {
        name: "role_names_only_need_to_be_path_segments",
        base: Base::Role,
        when: When::Create,
        change: |o| set(o, "/metadata/name", json!("team/reader")),
        expected: &[("metadata.name", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "role_binding_role_ref_is_immutable",
        base: Base::RoleBinding,
        when: When::Update,
        change: |o| set(o, "/roleRef/name", json!("writer")),
        expected: &[("roleRef", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "cluster_role_binding_may_only_reference_cluster_roles",
        base: Base::ClusterRoleBinding,
        when: When::Create,
        change: |o| set(o, "/roleRef/kind", json!("Role")),
        expected: &[("roleRef.kind", FIELD_VALUE_NOT_SUPPORTED)],
    },
    Case {
        name: "cluster_role_binding_service_account_subjects_need_a_namespace",
        base: Base::ClusterRoleBinding,
        when: When::Create,
        change: |o| remove(o, "/subjects/0/namespace"),
        expected: &[("subjects[0].namespace", FIELD_VALUE_REQUIRED)],
    },
    // Networking and policy.
    Case {
        name: "ingress_prefix_paths_must_be_absolute",
        base: Base::Ingress,
        when: When::Create,
        change: |o| set(o, "/spec/rules/0/http/paths/0/path", json!("api")),
        expected: &[("spec.rules[0].http.paths[0].path", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "ingress_hosts_may_not_be_ip_addresses",
        base: Base::Ingress,
        when: When::Create,
        change: |o| set(o, "/spec/rules/0/host", json!("10.0.0.1")),
        expected: &[("spec.rules[0].host", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "network_policy_end_port_may_not_be_below_port",
        base: Base::NetworkPolicy,
        when: When::Create,
        change: |o| set(o, "/spec/ingress/0/ports/0/endPort", json!(7000)),
        expected: &[("spec.ingress[0].ports[0].endPort", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "network_policy_except_blocks_lie_inside_the_cidr",
        base: Base::NetworkPolicy,
        when: When::Create,
        change: |o| {
            set(
                o,
                "/spec/ingress/0/from/0/ipBlock/except/0",
                json!("192.168.0.0/16"),
            )
        },
        expected: &[(
            "spec.ingress[0].from[0].ipBlock.except[0]",
            FIELD_VALUE_INVALID,
        )],
    },
    Case {
        name: "pod_disruption_budget_may_not_set_both_min_available_and_max_unavailable",
        base: Base::PodDisruptionBudget,
        when: When::Create,
        change: |o| set(o, "/spec/maxUnavailable", json!(1)),
        expected: &[("spec", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "lease_duration_must_be_positive",
        base: Base::Lease,
        when: When::Create,
        change: |o| set(o, "/spec/leaseDurationSeconds", json!(0)),
        expected: &[("spec.leaseDurationSeconds", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "limit_range_min_may_not_exceed_max",
        base: Base::LimitRange,
        when: When::Create,
        change: |o| set(o, "/spec/limits/0/min/cpu", json!("3")),
        expected: &[
            ("spec.limits[0].min[cpu]", FIELD_VALUE_INVALID),
            ("spec.limits[0].defaultRequest[cpu]", FIELD_VALUE_INVALID),
            ("spec.limits[0].default[cpu]", FIELD_VALUE_INVALID),
        ],
    },
    Case {
        name: "resource_quota_counts_are_whole_numbers",
        base: Base::ResourceQuota,
        when: When::Create,
        change: |o| set(o, "/spec/hard/pods", json!("1500m")),
        expected: &[("spec.hard[pods]", FIELD_VALUE_INVALID)],
    },
    Case {
        name: "horizontal_pod_autoscaler_max_replicas_must_be_at_least_min_replicas",
        base: Base::HorizontalPodAutoscaler,
        when: When::Create,
        change: |o| set(o, "/spec/maxReplicas", json!(1)),
        expected: &[("spec.maxReplicas", FIELD_VALUE_INVALID)],
    },
];

fn decode(value: Value) -> Box<dyn Object> {
    let api_version = value["apiVersion"].as_str().unwrap_or_default().to_owned();
    let kind = value["kind"].as_str().unwrap_or_default().to_owned();
    match kinds::lookup_kind(&api_version, &kind) {
        Some(served) => served
            .codec
            .decode_value(value)
            .unwrap_or_else(|e| panic!("{api_version} {kind} does not decode: {e}")),
        None => Box::new(
            serde_json::from_value::<DynamicObject>(value).expect("custom resource decodes"),
        ),
    }
}

fn reported(errors: &FieldErrors) -> Vec<(String, String)> {
    errors
        .iter()
        .map(|e| (e.field.to_string(), e.kind.cause_reason().to_owned()))
        .collect()
}

fn expected(case: &Case) -> Vec<(String, String)> {
    case.expected
        .iter()
        .map(|(field, reason)| ((*field).to_owned(), (*reason).to_owned()))
        .collect()
}

#[test]
fn valid_base_objects_have_no_errors_on_create_or_unchanged_update() {
    for kind in BASES {
        let object = decode(base(kind));
        assert_eq!(validate_create(&*object), FieldErrors::new(), "{kind:?}");
        let again = decode(base(kind));
        assert_eq!(
            validate_update(&*again, &*object),
            FieldErrors::new(),
            "{kind:?} updated to itself"
        );
    }
}

#[test]
fn each_invalid_object_reports_exactly_its_field_and_reason() {
    assert!(CASES.len() >= 40);
    let mut failures = Vec::new();
    for case in CASES {
        let mut value = base(case.base);
        (case.change)(&mut value);
        let new = decode(value);
        let (create, update) = match case.when {
            When::Create => (reported(&validate_create(&*new)), None),
            When::Update => {
                let old = decode(base(case.base));
                (
                    reported(&validate_create(&*new)),
                    Some(reported(&validate_update(&*new, &*old))),
                )
            }
        };
        let want = expected(case);
        match (case.when, update) {
            (When::Create, _) if create != want => {
                failures.push(format!(
                    "{}: validate_create reported {create:?}, want {want:?}",
                    case.name
                ));
            }
            (When::Update, Some(update)) if !create.is_empty() || update != want => {
                failures.push(format!(
                    "{}: validate_create reported {create:?} (want none), validate_update reported {update:?}, want {want:?}",
                    case.name
                ));
            }
            _ => {}
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn case_names_are_unique() {
    let mut names: Vec<&str> = CASES.iter().map(|c| c.name).collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(before, names.len());
}

#[test]
fn deployment_selector_mismatch_becomes_a_422_naming_the_field() {
    let mut value = base(Base::Deployment);
    set(&mut value, "/spec/selector/matchLabels/app", json!("db"));
    let errors = validate_create(&*decode(value));
    let status = Status::invalid("apps", "Deployment", "web", &errors);
    assert_eq!(status.code, 422);
    assert_eq!(
        status.message,
        "Deployment.apps \"web\" is invalid: spec.template.metadata.labels: Invalid value: {\"app\":\"web\"}: `selector` does not match template `labels`"
    );
    let causes = &status.details.expect("details").causes;
    assert_eq!(causes[0].reason, "FieldValueInvalid");
    assert_eq!(causes[0].field, "spec.template.metadata.labels");
}

#[test]
fn missing_image_reads_as_kubernetes_writes_it() {
    let mut value = base(Base::Pod);
    remove(&mut value, "/spec/containers/0/image");
    let errors = validate_create(&*decode(value));
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].to_string(),
        "spec.containers[0].image: Required value"
    );
}

#[test]
fn update_checks_need_a_resource_version() {
    let old = decode(base(Base::ConfigMap));
    let mut value = base(Base::ConfigMap);
    remove(&mut value, "/metadata/resourceVersion");
    let errors = validate_update(&*decode(value), &*old);
    assert_eq!(
        reported(&errors),
        [(
            "metadata.resourceVersion".to_owned(),
            "FieldValueInvalid".to_owned()
        )]
    );
}

#[test]
fn validation_never_panics_on_hostile_values() {
    let hostile = [
        json!(null),
        json!(""),
        json!("ä-\u{0}\u{202e}"),
        json!(-9_223_372_036_854_775_807_i64),
        json!("9999999999999999999999999999999999999999Ei"),
        json!("1e999999999"),
        json!("-"),
        json!("."),
        json!({}),
        json!([]),
    ];
    for kind in BASES {
        for value in &hostile {
            let mut object = base(kind);
            let keys: Vec<String> = object
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            for key in keys.iter().filter(|k| *k != "apiVersion" && *k != "kind") {
                let mut broken = object.clone();
                broken[key.as_str()] = value.clone();
                if let Some(served) = kinds::lookup_kind(
                    object["apiVersion"].as_str().unwrap_or(""),
                    object["kind"].as_str().unwrap_or(""),
                ) {
                    if let Ok(decoded) = served.codec.decode_value(broken) {
                        let _ = validate_create(&*decoded);
                    }
                }
            }
            let spec = object.get_mut("spec").and_then(Value::as_object_mut);
            if let Some(spec) = spec {
                let keys: Vec<String> = spec.keys().cloned().collect();
                for key in keys {
                    let mut broken = base(kind);
                    broken["spec"][key.as_str()] = value.clone();
                    if let Some(served) = kinds::lookup_kind(
                        broken["apiVersion"].as_str().unwrap_or(""),
                        broken["kind"].as_str().unwrap_or(""),
                    ) {
                        if let Ok(decoded) = served.codec.decode_value(broken) {
                            let old = decode(base(kind));
                            let _ = validate_create(&*decoded);
                            let _ = validate_update(&*decoded, &*old);
                        }
                    }
                }
            }
        }
    }
}
