//! The spec/status split of each kind: which part of an object is the user's desired state
//! (`spec`) and which is observed state (`status`).
//!
//! The registry uses it for the lifecycle rules every Kubernetes kind shares: `generation`
//! changes only when the spec does, an update of the main resource keeps the stored status,
//! and an update of the `status` subresource keeps everything but the status.

/// How one kind divides into spec and status.
pub trait SpecStatus {
    /// Whether the kind has a `spec` (and so a `metadata.generation`).
    const HAS_SPEC: bool = false;
    /// Whether the kind has a `status` (and so a `status` subresource).
    const HAS_STATUS: bool = false;

    /// Whether both objects have the same spec (always true for kinds without one).
    fn spec_eq(&self, _other: &Self) -> bool {
        true
    }

    /// Replaces this object's status with a copy of `other`'s.
    fn copy_status_from(&mut self, _other: &Self) {}

    /// Empties the status (what a create does for most kinds).
    fn clear_status(&mut self) {}
}

macro_rules! spec_and_status {
    ($($ty:path),* $(,)?) => {$(
        impl SpecStatus for $ty {
            const HAS_SPEC: bool = true;
            const HAS_STATUS: bool = true;
            fn spec_eq(&self, other: &Self) -> bool {
                self.spec == other.spec
            }
            fn copy_status_from(&mut self, other: &Self) {
                self.status.clone_from(&other.status);
            }
            fn clear_status(&mut self) {
                self.status = Default::default();
            }
        }
    )*};
}

macro_rules! spec_only {
    ($($ty:path),* $(,)?) => {$(
        impl SpecStatus for $ty {
            const HAS_SPEC: bool = true;
            fn spec_eq(&self, other: &Self) -> bool {
                self.spec == other.spec
            }
        }
    )*};
}

macro_rules! neither {
    ($($ty:path),* $(,)?) => {$(
        impl SpecStatus for $ty {}
    )*};
}

use k8s_openapi::api::{
    admissionregistration::v1 as admissionregistration, apps::v1 as apps,
    autoscaling::v2 as autoscaling, batch::v1 as batch, coordination::v1 as coordination,
    core::v1 as core, discovery::v1 as discovery, networking::v1 as networking,
    policy::v1 as policy, rbac::v1 as rbac, scheduling::v1 as scheduling, storage::v1 as storage,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;

spec_and_status!(
    core::Namespace,
    core::Node,
    core::Pod,
    core::Service,
    core::PersistentVolume,
    core::PersistentVolumeClaim,
    core::ResourceQuota,
    core::ReplicationController,
    apps::Deployment,
    apps::ReplicaSet,
    apps::StatefulSet,
    apps::DaemonSet,
    batch::Job,
    batch::CronJob,
    autoscaling::HorizontalPodAutoscaler,
    networking::Ingress,
    policy::PodDisruptionBudget,
    storage::VolumeAttachment,
    admissionregistration::ValidatingAdmissionPolicy,
    apiextensions::CustomResourceDefinition,
    k8s_openapi::api::autoscaling::v1::Scale,
);

spec_only!(
    core::LimitRange,
    coordination::Lease,
    networking::IngressClass,
    networking::NetworkPolicy,
    storage::CSIDriver,
    storage::CSINode,
    admissionregistration::ValidatingAdmissionPolicyBinding,
);

neither!(
    core::Endpoints,
    core::ConfigMap,
    core::Secret,
    core::ServiceAccount,
    core::Event,
    core::PodTemplate,
    core::Binding,
    apps::ControllerRevision,
    discovery::EndpointSlice,
    rbac::Role,
    rbac::RoleBinding,
    rbac::ClusterRole,
    rbac::ClusterRoleBinding,
    scheduling::PriorityClass,
    storage::StorageClass,
    storage::CSIStorageCapacity,
    admissionregistration::ValidatingWebhookConfiguration,
    admissionregistration::MutatingWebhookConfiguration,
    policy::Eviction,
);
