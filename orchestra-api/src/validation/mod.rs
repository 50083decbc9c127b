//! Validation of objects, with field paths, following Kubernetes v1.33.
//!
//! Every served kind has a function that checks an object about to be created
//! (`validate_pod`, `validate_deployment`, …) and, where Kubernetes restricts updates, one that
//! checks an object replacing an older one (`validate_pod_update`, …). Each returns the list of
//! [`FieldError`]s Kubernetes would report — the same field paths (`spec.containers[0].image`),
//! kinds (`FieldValueRequired`, …), values and messages — in a stable order, and an empty list
//! for a valid object. [`validate_create`] and [`validate_update`] dispatch on the concrete type
//! of a type-erased [`Object`](crate::Object); a [`DynamicObject`](crate::DynamicObject) (a
//! custom resource) gets its metadata checked only. [`Status::invalid`](crate::Status::invalid)
//! turns the errors into the 422 response.
//!
//! ```
//! use k8s_openapi::api::core::v1::Pod;
//! use orchestra_api::validation::{validate_create, FieldErrorKind};
//!
//! let pod: Pod = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "web", "namespace": "default"},
//!     "spec": {
//!         "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
//!         "terminationGracePeriodSeconds": 30,
//!         "containers": [{"name": "app", "imagePullPolicy": "Always",
//!                         "terminationMessagePolicy": "File"}]
//!     }
//! })).unwrap();
//! let errors = validate_create(&pod);
//! assert_eq!(errors.len(), 1);
//! assert_eq!(errors[0].field.as_str(), "spec.containers[0].image");
//! assert_eq!(errors[0].kind, FieldErrorKind::Required);
//! ```
//!
//! Validation expects defaulted objects, as Kubernetes' does: defaulting runs first in the
//! registry. Fields that defaulting always fills (`restartPolicy`, `dnsPolicy`, port
//! `protocol`, `imagePullPolicy`, a Service's `type`, a Deployment's `strategy`, …) are
//! reported as required or unsupported when missing, exactly as Kubernetes reports them. Fields
//! the registry sets before validating are required as well: `metadata.name` (generated from
//! `generateName`), `metadata.namespace` of namespaced kinds, `metadata.resourceVersion` on
//! update, a Job's generated `spec.selector`, the allocated ports of a Service.
//!
//! The modules follow the concepts of Kubernetes' validation packages: [`names`] (string
//! formats and name rules), `metadata`, `selector`, `resources`, `pod`, `container`, `volume`,
//! `affinity`, `workloads`, `batch` and `cron`, `service`, `rbac`, `config`, `namespace`,
//! `node`, `storage`, `quota`, `priority`, `disruption`, `lease`, `event`, `networking`,
//! `autoscaling` and `apiextensions`.

mod affinity;
mod apiextensions;
mod autoscaling;
mod batch;
mod config;
mod container;
mod cron;
mod disruption;
mod event;
mod field_error;
mod lease;
mod metadata;
pub mod names;
mod namespace;
mod networking;
mod node;
mod path;
mod pod;
mod priority;
mod quota;
mod rbac;
mod resources;
mod selector;
mod service;
mod storage;
mod volume;
mod workloads;

use std::any::Any;

use k8s_openapi::api::{
    apps::v1 as apps, autoscaling::v2 as autoscaling_v2, batch::v1 as batch_v1,
    coordination::v1 as coordination, core::v1 as core, discovery::v1 as discovery,
    networking::v1 as networking_v1, policy::v1 as policy, rbac::v1 as rbac_v1,
    scheduling::v1 as scheduling, storage::v1 as storage_v1,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions_v1;

pub use apiextensions::{
    validate_custom_resource_definition, validate_custom_resource_definition_update,
};
pub use autoscaling::{
    validate_horizontal_pod_autoscaler, validate_horizontal_pod_autoscaler_update,
};
pub use batch::{validate_cron_job, validate_cron_job_update, validate_job, validate_job_update};
pub use config::{
    MAX_SECRET_SIZE, validate_config_map, validate_config_map_update, validate_secret,
    validate_secret_update, validate_service_account, validate_service_account_update,
};
pub use disruption::{validate_pod_disruption_budget, validate_pod_disruption_budget_update};
pub use event::{validate_event, validate_event_update};
pub use field_error::{FieldError, FieldErrorKind, FieldErrors, FieldPath};
pub use lease::{validate_lease, validate_lease_update};
pub use metadata::{
    NamespaceRule, TOTAL_ANNOTATION_SIZE_LIMIT, validate_object_meta, validate_object_meta_update,
};
pub use names::{
    NameValidator, is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, is_qualified_name,
    is_valid_label_value, name_is_dns_label, name_is_dns_subdomain, name_is_dns1035_label,
    path_segment_name,
};
pub use namespace::{validate_namespace, validate_namespace_update};
pub use networking::{
    validate_ingress, validate_ingress_class, validate_ingress_class_update,
    validate_ingress_update, validate_network_policy, validate_network_policy_update,
};
pub use node::{validate_node, validate_node_update};
pub use pod::{
    validate_pod, validate_pod_template, validate_pod_template_update, validate_pod_update,
};
pub use priority::{
    HIGHEST_USER_DEFINABLE_PRIORITY, validate_priority_class, validate_priority_class_update,
};
pub use quota::{
    validate_limit_range, validate_limit_range_update, validate_resource_quota,
    validate_resource_quota_update,
};
pub use rbac::{
    validate_cluster_role, validate_cluster_role_binding, validate_cluster_role_binding_update,
    validate_cluster_role_update, validate_role, validate_role_binding,
    validate_role_binding_update, validate_role_update,
};
pub use service::{
    validate_endpoint_slice, validate_endpoint_slice_update, validate_endpoints,
    validate_endpoints_update, validate_service, validate_service_update,
};
pub use storage::{
    validate_csi_driver, validate_csi_node, validate_csi_storage_capacity,
    validate_csi_storage_capacity_update, validate_persistent_volume,
    validate_persistent_volume_claim, validate_persistent_volume_claim_update,
    validate_persistent_volume_update, validate_storage_class, validate_storage_class_update,
    validate_volume_attachment, validate_volume_attachment_update,
};
pub use workloads::{
    validate_controller_revision, validate_controller_revision_update, validate_daemon_set,
    validate_daemon_set_update, validate_deployment, validate_deployment_update,
    validate_replica_set, validate_replica_set_update, validate_replication_controller,
    validate_replication_controller_update, validate_stateful_set, validate_stateful_set_update,
};

/// Runs the create validator of the first type in the list that `$object` is.
macro_rules! dispatch_create {
    ($object:expr; $($ty:ty => $validate:path),* $(,)?) => {{
        let any: &dyn Any = $object;
        $(
            if let Some(typed) = any.downcast_ref::<$ty>() {
                return $validate(typed);
            }
        )*
    }};
}

/// Runs the update validator of the first type in the list that both objects are.
macro_rules! dispatch_update {
    ($new:expr, $old:expr; $($ty:ty => $validate:path),* $(,)?) => {{
        let (new_any, old_any): (&dyn Any, &dyn Any) = ($new, $old);
        $(
            if let (Some(new), Some(old)) =
                (new_any.downcast_ref::<$ty>(), old_any.downcast_ref::<$ty>())
            {
                return $validate(new, old);
            }
        )*
    }};
}

/// Validates an object about to be created: the checks of its kind, by its concrete type.
/// Objects of kinds without their own checks, such as custom resources held as
/// [`DynamicObject`](crate::DynamicObject)s, get their metadata checked (with the namespace
/// rule of their kind when the kind is built in).
pub fn validate_create(object: &dyn crate::Object) -> FieldErrors {
    dispatch_create!(object.as_any();
        core::Pod => validate_pod,
        core::Service => validate_service,
        core::ConfigMap => validate_config_map,
        core::Secret => validate_secret,
        core::Namespace => validate_namespace,
        core::Node => validate_node,
        core::Endpoints => validate_endpoints,
        core::ServiceAccount => validate_service_account,
        core::PersistentVolume => validate_persistent_volume,
        core::PersistentVolumeClaim => validate_persistent_volume_claim,
        core::Event => validate_event,
        core::LimitRange => validate_limit_range,
        core::ResourceQuota => validate_resource_quota,
        core::ReplicationController => validate_replication_controller,
        core::PodTemplate => validate_pod_template,
        apps::Deployment => validate_deployment,
        apps::ReplicaSet => validate_replica_set,
        apps::StatefulSet => validate_stateful_set,
        apps::DaemonSet => validate_daemon_set,
        apps::ControllerRevision => validate_controller_revision,
        batch_v1::Job => validate_job,
        batch_v1::CronJob => validate_cron_job,
        autoscaling_v2::HorizontalPodAutoscaler => validate_horizontal_pod_autoscaler,
        coordination::Lease => validate_lease,
        discovery::EndpointSlice => validate_endpoint_slice,
        networking_v1::Ingress => validate_ingress,
        networking_v1::IngressClass => validate_ingress_class,
        networking_v1::NetworkPolicy => validate_network_policy,
        policy::PodDisruptionBudget => validate_pod_disruption_budget,
        rbac_v1::Role => validate_role,
        rbac_v1::RoleBinding => validate_role_binding,
        rbac_v1::ClusterRole => validate_cluster_role,
        rbac_v1::ClusterRoleBinding => validate_cluster_role_binding,
        scheduling::PriorityClass => validate_priority_class,
        storage_v1::StorageClass => validate_storage_class,
        storage_v1::VolumeAttachment => validate_volume_attachment,
        storage_v1::CSIDriver => validate_csi_driver,
        storage_v1::CSINode => validate_csi_node,
        storage_v1::CSIStorageCapacity => validate_csi_storage_capacity,
        apiextensions_v1::CustomResourceDefinition => validate_custom_resource_definition,
    );
    validate_object_meta(
        object.metadata(),
        namespace_rule(object),
        name_is_dns_subdomain,
    )
}

/// Validates an object replacing `old`: the update checks of its kind (what may not change,
/// and the create checks of the new object). Objects of different types, or of kinds without
/// their own checks, get their metadata checked.
pub fn validate_update(new: &dyn crate::Object, old: &dyn crate::Object) -> FieldErrors {
    dispatch_update!(new.as_any(), old.as_any();
        core::Pod => validate_pod_update,
        core::Service => validate_service_update,
        core::ConfigMap => validate_config_map_update,
        core::Secret => validate_secret_update,
        core::Namespace => validate_namespace_update,
        core::Node => validate_node_update,
        core::Endpoints => validate_endpoints_update,
        core::ServiceAccount => validate_service_account_update,
        core::PersistentVolume => validate_persistent_volume_update,
        core::PersistentVolumeClaim => validate_persistent_volume_claim_update,
        core::Event => validate_event_update,
        core::LimitRange => validate_limit_range_update,
        core::ResourceQuota => validate_resource_quota_update,
        core::ReplicationController => validate_replication_controller_update,
        core::PodTemplate => validate_pod_template_update,
        apps::Deployment => validate_deployment_update,
        apps::ReplicaSet => validate_replica_set_update,
        apps::StatefulSet => validate_stateful_set_update,
        apps::DaemonSet => validate_daemon_set_update,
        apps::ControllerRevision => validate_controller_revision_update,
        batch_v1::Job => validate_job_update,
        batch_v1::CronJob => validate_cron_job_update,
        autoscaling_v2::HorizontalPodAutoscaler => validate_horizontal_pod_autoscaler_update,
        coordination::Lease => validate_lease_update,
        discovery::EndpointSlice => validate_endpoint_slice_update,
        networking_v1::Ingress => validate_ingress_update,
        networking_v1::IngressClass => validate_ingress_class_update,
        networking_v1::NetworkPolicy => validate_network_policy_update,
        policy::PodDisruptionBudget => validate_pod_disruption_budget_update,
        rbac_v1::Role => validate_role_update,
        rbac_v1::RoleBinding => validate_role_binding_update,
        rbac_v1::ClusterRole => validate_cluster_role_update,
        rbac_v1::ClusterRoleBinding => validate_cluster_role_binding_update,
        scheduling::PriorityClass => validate_priority_class_update,
        storage_v1::StorageClass => validate_storage_class_update,
        storage_v1::VolumeAttachment => validate_volume_attachment_update,
        storage_v1::CSIStorageCapacity => validate_csi_storage_capacity_update,
        apiextensions_v1::CustomResourceDefinition => validate_custom_resource_definition_update,
    );
    let mut errors =
        validate_object_meta(new.metadata(), namespace_rule(new), name_is_dns_subdomain);
    errors.extend(validate_object_meta_update(new.metadata(), old.metadata()));
    dedup(errors)
}

/// The namespace rule of the object's kind: forbidden for cluster-scoped built-in kinds, left
/// to the caller otherwise.
fn namespace_rule(object: &dyn crate::Object) -> NamespaceRule {
    match crate::kinds::lookup_kind(&object.api_version(), &object.kind()) {
        Some(kind) if !kind.is_namespaced() => NamespaceRule::Forbidden,
        _ => NamespaceRule::Optional,
    }
}

/// Drops repeated errors (the same problem found by two rules), keeping the first of each.
fn dedup(errors: FieldErrors) -> FieldErrors {
    let mut unique = FieldErrors::with_capacity(errors.len());
    for error in errors {
        if !unique.contains(&error) {
            unique.push(error);
        }
    }
    unique
}
