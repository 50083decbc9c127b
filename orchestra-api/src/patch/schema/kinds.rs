//! The index from served kind to its [`PatchSchema`].

use k8s_openapi::Resource;
use k8s_openapi::api::{
    admissionregistration, apps, autoscaling, batch, coordination, core, discovery, networking,
    policy, rbac, scheduling, storage,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions;

use super::PatchSchema;
use super::core::{
    METADATA_ONLY, NODE, POD, POD_TEMPLATE, REPLICATION_CONTROLLER, SERVICE, SERVICE_ACCOUNT,
    WITH_STATUS_CONDITIONS,
};
use super::workloads::{CRON_JOB, CSI_NODE, DEPLOYMENT, TEMPLATED_WORKLOAD, WEBHOOK_CONFIGURATION};

/// One row of the index.
pub(super) struct ServedKind {
    pub(super) group: &'static str,
    pub(super) version: &'static str,
    pub(super) kind: &'static str,
    pub(super) schema: &'static PatchSchema,
}

/// A row for a `k8s-openapi` type, so that group, version and kind are spelled once, by the
/// type itself.
macro_rules! served {
    ($($ty:ty => $schema:expr),* $(,)?) => {
        &[$(ServedKind {
            group: <$ty as Resource>::GROUP,
            version: <$ty as Resource>::VERSION,
            kind: <$ty as Resource>::KIND,
            schema: $schema,
        }),*]
    };
}

/// Every kind with a strategic merge patch: the kinds of [`crate::kinds::BUILTIN`] and
/// the `Scale` subresource body.
pub(super) static KINDS: &[ServedKind] = served! {
    core::v1::Namespace => &WITH_STATUS_CONDITIONS,
    core::v1::Node => &NODE,
    core::v1::Pod => &POD,
    core::v1::Service => &SERVICE,
    core::v1::Endpoints => &METADATA_ONLY,
    core::v1::ConfigMap => &METADATA_ONLY,
    core::v1::Secret => &METADATA_ONLY,
    core::v1::ServiceAccount => &SERVICE_ACCOUNT,
    core::v1::PersistentVolume => &METADATA_ONLY,
    core::v1::PersistentVolumeClaim => &WITH_STATUS_CONDITIONS,
    core::v1::Event => &METADATA_ONLY,
    core::v1::LimitRange => &METADATA_ONLY,
    core::v1::ResourceQuota => &METADATA_ONLY,
    core::v1::ReplicationController => &REPLICATION_CONTROLLER,
    core::v1::PodTemplate => &POD_TEMPLATE,
    apps::v1::Deployment => &DEPLOYMENT,
    apps::v1::ReplicaSet => &TEMPLATED_WORKLOAD,
    apps::v1::StatefulSet => &TEMPLATED_WORKLOAD,
    apps::v1::DaemonSet => &TEMPLATED_WORKLOAD,
    apps::v1::ControllerRevision => &METADATA_ONLY,
    batch::v1::Job => &TEMPLATED_WORKLOAD,
    batch::v1::CronJob => &CRON_JOB,
    autoscaling::v2::HorizontalPodAutoscaler => &WITH_STATUS_CONDITIONS,
    autoscaling::v1::Scale => &METADATA_ONLY,
    coordination::v1::Lease => &METADATA_ONLY,
    discovery::v1::EndpointSlice => &METADATA_ONLY,
    networking::v1::Ingress => &METADATA_ONLY,
    networking::v1::IngressClass => &METADATA_ONLY,
    networking::v1::NetworkPolicy => &METADATA_ONLY,
    policy::v1::PodDisruptionBudget => &WITH_STATUS_CONDITIONS,
    rbac::v1::Role => &METADATA_ONLY,
    rbac::v1::RoleBinding => &METADATA_ONLY,
    rbac::v1::ClusterRole => &METADATA_ONLY,
    rbac::v1::ClusterRoleBinding => &METADATA_ONLY,
    scheduling::v1::PriorityClass => &METADATA_ONLY,
    storage::v1::StorageClass => &METADATA_ONLY,
    storage::v1::VolumeAttachment => &METADATA_ONLY,
    storage::v1::CSIDriver => &METADATA_ONLY,
    storage::v1::CSINode => &CSI_NODE,
    storage::v1::CSIStorageCapacity => &METADATA_ONLY,
    admissionregistration::v1::ValidatingAdmissionPolicy => &METADATA_ONLY,
    admissionregistration::v1::ValidatingAdmissionPolicyBinding => &METADATA_ONLY,
    admissionregistration::v1::ValidatingWebhookConfiguration => &WEBHOOK_CONFIGURATION,
    admissionregistration::v1::MutatingWebhookConfiguration => &WEBHOOK_CONFIGURATION,
    apiextensions::v1::CustomResourceDefinition => &METADATA_ONLY,
};
