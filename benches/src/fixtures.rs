//! Objects the benchmarks share: realistic pods and deployments built as a user would write
//! them.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

/// A realistic pod: three containers with ports, env, resources, probes and volumes, bound
/// to a node, with labels an application would carry.
pub fn realistic_pod(namespace: &str, name: &str, node: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": "8e0a7b2c-4f1d-4d5e-9a55-6d3f2b1c0e9f",
            "labels": {"app": "shop", "tier": "frontend", "pod-template-hash": "7d9f8c6b5", "version": "v3"},
            "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9090"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "shop-7d9f8c6b5",
                                 "uid": "1b7c3e52-3a8e-4e61-8f0b-2c1d6a7e9f10", "controller": true, "blockOwnerDeletion": true}]
        },
        "spec": {
            "nodeName": node,
            "restartPolicy": "Always",
            "dnsPolicy": "ClusterFirst",
            "schedulerName": "default-scheduler",
            "terminationGracePeriodSeconds": 30,
            "serviceAccountName": "shop",
            "containers": [
                {
                    "name": "web", "image": "registry.example.com/shop/web:3.4.1", "imagePullPolicy": "IfNotPresent",
                    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}, {"name": "metrics", "containerPort": 9090, "protocol": "TCP"}],
                    "env": [{"name": "MODE", "value": "production"}, {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}}],
                    "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"}, "periodSeconds": 5, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
                    "livenessProbe": {"tcpSocket": {"port": 8080}, "initialDelaySeconds": 10, "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
                    "volumeMounts": [{"name": "config", "mountPath": "/etc/shop"}, {"name": "cache", "mountPath": "/var/cache/shop"}],
                    "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"
                },
                {
                    "name": "sidecar", "image": "registry.example.com/mesh/proxy:1.21.0", "imagePullPolicy": "IfNotPresent",
                    "ports": [{"containerPort": 15001, "protocol": "TCP"}],
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}},
                    "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"
                },
                {
                    "name": "logs", "image": "registry.example.com/tools/log-shipper:0.9", "imagePullPolicy": "IfNotPresent",
                    "args": ["--path=/var/log/shop", "--target=collector:24224"],
                    "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}},
                    "volumeMounts": [{"name": "cache", "mountPath": "/var/log/shop", "readOnly": true}],
                    "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"
                }
            ],
            "volumes": [
                {"name": "config", "configMap": {"name": "shop-config", "defaultMode": 420}},
                {"name": "cache", "emptyDir": {}}
            ],
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]
        },
        "status": {"phase": "Running", "podIP": "10.244.1.17", "qosClass": "Burstable"}
    }))
    .expect("the fixture pod is valid")
}

/// A realistic deployment of `replicas` pods.
pub fn realistic_deployment(namespace: &str, name: &str, replicas: i32) -> Deployment {
    let mut template = realistic_pod(namespace, name, "");
    if let Some(spec) = template.spec.as_mut() {
        spec.node_name = None;
    }
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "shop"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "shop", "tier": "frontend"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
            "template": {
                "metadata": {"labels": {"app": "shop", "tier": "frontend"}},
                "spec": serde_json::to_value(template.spec).expect("serializable")
            }
        }
    }))
    .expect("the fixture deployment is valid")
}
