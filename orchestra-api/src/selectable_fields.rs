//! Which fields each kind exposes to field selectors, and their values.
//!
//! Kubernetes supports `metadata.name` and `metadata.namespace` on every kind, plus a few
//! fields per kind (`spec.nodeName` on pods, `involvedObject.name` on events, `type` on
//! secrets, …). Each served type implements [`SelectableFields`]; the table of kinds copies
//! [`SelectableFields::FIELDS`] so the API server can reject an unsupported field label before
//! it touches the store.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The field-selector labels of one kind and how to read them.
pub trait SelectableFields {
    /// Field labels beyond `metadata.name` and `metadata.namespace`.
    const FIELDS: &'static [&'static str] = &[];

    /// The value of a kind-specific field label (one of [`Self::FIELDS`]).
    fn kind_field(&self, _field: &str) -> Option<Cow<'_, str>> {
        None
    }

    /// The object's metadata.
    fn meta(&self) -> &ObjectMeta;

    /// The value of any supported field label, `None` for unsupported labels.
    fn field_value(&self, field: &str) -> Option<Cow<'_, str>> {
        match field {
            "metadata.name" => Some(Cow::Borrowed(self.meta().name.as_deref().unwrap_or(""))),
            "metadata.namespace" => Some(Cow::Borrowed(
                self.meta().namespace.as_deref().unwrap_or(""),
            )),
            other => self.kind_field(other),
        }
    }
}

fn text(value: &Option<String>) -> Option<Cow<'_, str>> {
    Some(Cow::Borrowed(value.as_deref().unwrap_or("")))
}

fn boolean(value: Option<bool>) -> Option<Cow<'static, str>> {
    Some(Cow::Borrowed(if value.unwrap_or(false) {
        "true"
    } else {
        "false"
    }))
}

fn number(value: Option<i32>) -> Option<Cow<'static, str>> {
    Some(Cow::Owned(value.unwrap_or(0).to_string()))
}

macro_rules! metadata_only {
    ($($ty:path),* $(,)?) => {$(
        impl SelectableFields for $ty {
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
        }
    )*};
}

macro_rules! with_fields {
    ($ty:path, [$($field:literal),* $(,)?], |$obj:ident, $f:ident| $body:expr) => {
        impl SelectableFields for $ty {
            const FIELDS: &'static [&'static str] = &[$($field),*];
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn kind_field(&self, $f: &str) -> Option<Cow<'_, str>> {
                let $obj = self;
                $body
            }
        }
    };
}

use k8s_openapi::api::{
    admissionregistration::v1 as admissionregistration, apps::v1 as apps,
    autoscaling::v2 as autoscaling, batch::v1 as batch, coordination::v1 as coordination,
    core::v1 as core, discovery::v1 as discovery, networking::v1 as networking,
    policy::v1 as policy, rbac::v1 as rbac, scheduling::v1 as scheduling, storage::v1 as storage,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;

metadata_only!(
    core::Service,
    core::Endpoints,
    core::ConfigMap,
    core::ServiceAccount,
    core::PersistentVolume,
    core::PersistentVolumeClaim,
    core::LimitRange,
    core::ResourceQuota,
    core::PodTemplate,
    apps::Deployment,
    apps::StatefulSet,
    apps::DaemonSet,
    apps::ControllerRevision,
    batch::CronJob,
    autoscaling::HorizontalPodAutoscaler,
    coordination::Lease,
    discovery::EndpointSlice,
    networking::Ingress,
    networking::IngressClass,
    networking::NetworkPolicy,
    policy::PodDisruptionBudget,
    rbac::Role,
    rbac::RoleBinding,
    rbac::ClusterRole,
    rbac::ClusterRoleBinding,
    scheduling::PriorityClass,
    storage::StorageClass,
    storage::VolumeAttachment,
    storage::CSIDriver,
    storage::CSINode,
    storage::CSIStorageCapacity,
    apiextensions::CustomResourceDefinition,
    admissionregistration::ValidatingAdmissionPolicy,
    admissionregistration::ValidatingAdmissionPolicyBinding,
    admissionregistration::ValidatingWebhookConfiguration,
    admissionregistration::MutatingWebhookConfiguration,
    k8s_openapi::api::autoscaling::v1::Scale,
    core::Binding,
    policy::Eviction,
);

with_fields!(core::Namespace, ["status.phase"], |ns, field| match field {
    "status.phase" => text(ns.status.as_ref().map_or(&None, |s| &s.phase)),
    _ => None,
});

with_fields!(
    core::Node,
    ["spec.unschedulable"],
    |node, field| match field {
        "spec.unschedulable" => boolean(node.spec.as_ref().and_then(|s| s.unschedulable)),
        _ => None,
    }
);

with_fields!(
    core::Pod,
    [
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ],
    |pod, field| {
        let spec = pod.spec.as_ref();
        let status = pod.status.as_ref();
        match field {
            "spec.nodeName" => text(spec.map_or(&None, |s| &s.node_name)),
            "spec.restartPolicy" => text(spec.map_or(&None, |s| &s.restart_policy)),
            "spec.schedulerName" => text(spec.map_or(&None, |s| &s.scheduler_name)),
            "spec.serviceAccountName" => text(spec.map_or(&None, |s| &s.service_account_name)),
            "spec.hostNetwork" => boolean(spec.and_then(|s| s.host_network)),
            "status.phase" => text(status.map_or(&None, |s| &s.phase)),
            "status.podIP" => text(status.map_or(&None, |s| &s.pod_ip)),
            "status.nominatedNodeName" => text(status.map_or(&None, |s| &s.nominated_node_name)),
            _ => None,
        }
    }
);

with_fields!(core::Secret, ["type"], |secret, field| match field {
    "type" => text(&secret.type_),
    _ => None,
});

with_fields!(
    core::Event,
    [
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ],
    |event, field| {
        let involved = &event.involved_object;
        match field {
            "involvedObject.kind" => text(&involved.kind),
            "involvedObject.namespace" => text(&involved.namespace),
            "involvedObject.name" => text(&involved.name),
            "involvedObject.uid" => text(&involved.uid),
            "involvedObject.apiVersion" => text(&involved.api_version),
            "involvedObject.resourceVersion" => text(&involved.resource_version),
            "involvedObject.fieldPath" => text(&involved.field_path),
            "reason" => text(&event.reason),
            "reportingComponent" => text(&event.reporting_component),
            "source" => text(event.source.as_ref().map_or(&None, |s| &s.component)),
            "type" => text(&event.type_),
            _ => None,
        }
    }
);

with_fields!(
    core::ReplicationController,
    ["status.replicas"],
    |rc, field| match field {
        "status.replicas" => number(rc.status.as_ref().map(|s| s.replicas)),
        _ => None,
    }
);

with_fields!(
    apps::ReplicaSet,
    ["status.replicas"],
    |rs, field| match field {
        "status.replicas" => number(rs.status.as_ref().map(|s| s.replicas)),
        _ => None,
    }
);

with_fields!(
    batch::Job,
    ["status.successful"],
    |job, field| match field {
        "status.successful" => number(job.status.as_ref().and_then(|s| s.succeeded)),
        _ => None,
    }
);

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Pod, PodSpec};

    #[test]
    fn pods_expose_node_name_and_metadata() {
        let pod = Pod {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("prod".into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some("node-1".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(pod.field_value("spec.nodeName").as_deref(), Some("node-1"));
        assert_eq!(
            pod.field_value("metadata.namespace").as_deref(),
            Some("prod")
        );
        assert_eq!(pod.field_value("status.phase").as_deref(), Some(""));
        assert_eq!(pod.field_value("spec.containers"), None);
    }
}
