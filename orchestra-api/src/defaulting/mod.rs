//! Defaulting: the values the API server fills in for fields a client left unset, exactly as
//! Kubernetes v1.33 does it.
//!
//! Kubernetes runs defaulting right after decoding a request body (and again after decoding
//! from storage), before admission and validation. A Deployment posted with only a selector
//! and a pod template comes back with `replicas: 1`, a `RollingUpdate` strategy of 25%/25%,
//! `revisionHistoryLimit: 10`, `progressDeadlineSeconds: 600`, and a pod template whose
//! containers have an `imagePullPolicy`, a termination message path and policy, and so on.
//! Clients rely on those values being there, and `kubectl diff`/`apply` compare against them.
//!
//! [`default_object`] dispatches on the concrete type behind a `dyn Object`; each kind also has
//! a typed function ([`default_pod`], [`default_deployment`], …), and the nested structures
//! that several kinds share have theirs ([`default_pod_spec`], [`default_container`],
//! [`default_probe`], [`default_volume`], [`default_persistent_volume_claim_spec`], …).
//!
//! # Rules shared by every function here
//!
//! * **Only unset fields change.** "Unset" follows the Go type of the field in Kubernetes: for
//!   a Go pointer (`*int32`, `*string`) only an absent value is unset; for a plain Go string or
//!   integer the zero value (`""`, `0`) is unset too, because Go cannot tell it from absent.
//! * **Idempotent.** Running defaulting twice gives the same object as running it once.
//! * **Total.** No input panics, however inconsistent; rejecting bad objects is validation's
//!   job, and it runs after defaulting.
//! * **Go structs that are not pointers exist even when empty.** Where Kubernetes writes a
//!   default into a non-pointer struct (a Deployment's `spec.strategy`, a Pod's `spec`), the
//!   corresponding `Option` is created; where nothing would be written, nothing is created.
//!
//! # Feature gates
//!
//! Behaviour follows the default feature gates of v1.33: `JobPodReplacementPolicy`,
//! `StatefulSetAutoDeletePVC`, `LoadBalancerIPMode` and `SELinuxMountReadWriteOncePod` are on
//! and their defaults are applied; `PodLevelResources` is off, so pod-level requests and
//! limits are only rounded, never derived from the containers. The one exception is
//! `ImageVolume` (off by default in v1.33): Orchestra stores fields it does not act on rather
//! than dropping them, so an `image` volume's `pullPolicy` is defaulted as it would be with
//! the gate on.
//!
//! # Not defaulting
//!
//! Some values that appear on created objects are set by other stages of the Kubernetes API
//! server, and so are deliberately absent here:
//!
//! * `spec.priority` and `spec.preemptionPolicy` of a Pod come from the `Priority` admission
//!   plugin (the PriorityClass named by `priorityClassName`, else the global default, else 0);
//!   `serviceAccountName: default` and the token volume from the `ServiceAccount` plugin; the
//!   `not-ready`/`unreachable` tolerations from `DefaultTolerationSeconds`.
//! * A Service's `ipFamilies` and `ipFamilyPolicy` are chosen by the Service registry together
//!   with its ClusterIP; the registry calls [`default_service_ip_families`] for that.
//! * A Namespace's `spec.finalizers: [kubernetes]` is set by the Namespace registry on create,
//!   and a Job's selector and `batch.kubernetes.io/job-tracking` finalizer by the Job registry.
//! * A create clears `status` in most registries; Kubernetes still shows `phase: Pending` on a
//!   new PersistentVolumeClaim because it re-applies defaults when it decodes from storage. A
//!   registry that stores decoded objects should run defaulting after clearing the status.
//!
//! Kinds served by Orchestra for which Kubernetes v1.33 has no defaults at all: ConfigMap (its
//! `data: {}` default is invisible on the wire), ServiceAccount, Event, ControllerRevision,
//! Lease, Ingress, PodDisruptionBudget, Role, ClusterRole, CSINode, CSIStorageCapacity.

mod admissionregistration;
mod apiextensions;
mod autoscaling;
mod batch;
mod image_reference;
mod namespace;
mod networking;
mod node;
mod pod;
mod rbac;
mod resources;
mod scheduling;
mod secret;
mod service;
mod storage;
mod volume;
mod workloads;

pub use admissionregistration::{
    default_mutating_webhook_configuration, default_validating_admission_policy,
    default_validating_admission_policy_binding, default_validating_webhook_configuration,
};
pub use apiextensions::default_custom_resource_definition;
pub use autoscaling::default_horizontal_pod_autoscaler;
pub use batch::{default_cron_job, default_job};
pub use image_reference::default_image_pull_policy;
pub use namespace::{NAMESPACE_NAME_LABEL, default_namespace};
pub use networking::{default_ingress_class, default_network_policy};
pub use node::default_node;
pub use pod::{
    default_container, default_ephemeral_container, default_pod, default_pod_spec,
    default_pod_template, default_pod_template_spec, default_probe,
};
pub use rbac::{default_cluster_role_binding, default_role_binding};
pub use resources::{
    canonical_resource_quantity, default_limit_range, default_resource_list,
    default_resource_quota, round_up_to_milli,
};
pub use scheduling::default_priority_class;
pub use secret::default_secret;
pub use service::{
    IpFamily, default_endpoint_slice, default_endpoints, default_service,
    default_service_ip_families, drop_service_type_dependent_fields,
};
pub use storage::{
    default_csi_driver, default_persistent_volume, default_persistent_volume_claim,
    default_persistent_volume_claim_spec, default_storage_class, default_volume_attachment,
};
pub use volume::default_volume;
pub use workloads::{
    default_daemon_set, default_deployment, default_replica_set, default_replication_controller,
    default_stateful_set,
};

use k8s_openapi::api::{
    admissionregistration::v1 as admissionregistration_v1, apps::v1 as apps_v1,
    autoscaling::v2 as autoscaling_v2, batch::v1 as batch_v1, core::v1 as core_v1,
    discovery::v1 as discovery_v1, networking::v1 as networking_v1, rbac::v1 as rbac_v1,
    scheduling::v1 as scheduling_v1, storage::v1 as storage_v1,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions_v1;

/// Fills in the defaults of any served object, whatever its kind.
///
/// Dispatches on the concrete `k8s-openapi` type behind the trait object to the typed function
/// of that kind. Kinds without defaults, and [`crate::DynamicObject`] (custom resources, whose
/// defaults come from their CRD's schema), are left unchanged.
///
/// ```
/// use orchestra_api::defaulting::default_object;
/// use orchestra_api::k8s_openapi::api::core::v1::Secret;
/// let mut secret = Secret::default();
/// default_object(&mut secret);
/// assert_eq!(secret.type_.as_deref(), Some("Opaque"));
/// ```
pub fn default_object(object: &mut dyn crate::Object) {
    let any = object.as_any_mut();
    macro_rules! dispatch {
        ($($ty:ty => $default:path),* $(,)?) => {$(
            if let Some(typed) = any.downcast_mut::<$ty>() {
                $default(typed);
                return;
            }
        )*};
    }
    dispatch! {
        core_v1::Pod => default_pod,
        core_v1::PodTemplate => default_pod_template,
        core_v1::ReplicationController => default_replication_controller,
        core_v1::Service => default_service,
        core_v1::Endpoints => default_endpoints,
        core_v1::Namespace => default_namespace,
        core_v1::Node => default_node,
        core_v1::Secret => default_secret,
        core_v1::PersistentVolume => default_persistent_volume,
        core_v1::PersistentVolumeClaim => default_persistent_volume_claim,
        core_v1::LimitRange => default_limit_range,
        core_v1::ResourceQuota => default_resource_quota,
        apps_v1::Deployment => default_deployment,
        apps_v1::ReplicaSet => default_replica_set,
        apps_v1::StatefulSet => default_stateful_set,
        apps_v1::DaemonSet => default_daemon_set,
        batch_v1::Job => default_job,
        batch_v1::CronJob => default_cron_job,
        autoscaling_v2::HorizontalPodAutoscaler => default_horizontal_pod_autoscaler,
        discovery_v1::EndpointSlice => default_endpoint_slice,
        networking_v1::NetworkPolicy => default_network_policy,
        networking_v1::IngressClass => default_ingress_class,
        rbac_v1::RoleBinding => default_role_binding,
        rbac_v1::ClusterRoleBinding => default_cluster_role_binding,
        scheduling_v1::PriorityClass => default_priority_class,
        storage_v1::StorageClass => default_storage_class,
        storage_v1::CSIDriver => default_csi_driver,
        storage_v1::VolumeAttachment => default_volume_attachment,
        admissionregistration_v1::ValidatingWebhookConfiguration =>
            default_validating_webhook_configuration,
        admissionregistration_v1::MutatingWebhookConfiguration =>
            default_mutating_webhook_configuration,
        admissionregistration_v1::ValidatingAdmissionPolicy => default_validating_admission_policy,
        admissionregistration_v1::ValidatingAdmissionPolicyBinding =>
            default_validating_admission_policy_binding,
        apiextensions_v1::CustomResourceDefinition => default_custom_resource_definition,
    }
}

/// Sets a field that is a plain string in Go (where `""` cannot be told from absent) when it
/// is absent or empty.
fn default_string(field: &mut Option<String>, value: &str) {
    if field.as_deref().is_none_or(str::is_empty) {
        *field = Some(value.to_owned());
    }
}

/// Sets a field that is a pointer in Go (where only absent is unset) when it is absent.
fn default_value<T>(field: &mut Option<T>, value: impl FnOnce() -> T) {
    if field.is_none() {
        *field = Some(value());
    }
}

/// Sets a field that is a plain integer in Go (where `0` cannot be told from absent) when it
/// is absent or zero.
fn default_nonzero<T: Default + PartialEq>(field: &mut Option<T>, value: T) {
    if field.as_ref().is_none_or(|v| *v == T::default()) {
        *field = Some(value);
    }
}

/// The elements of an optional list, to change in place (none when the list is absent).
fn each_mut<T>(list: &mut Option<Vec<T>>) -> std::slice::IterMut<'_, T> {
    list.as_deref_mut().unwrap_or_default().iter_mut()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DynamicObject;

    #[test]
    fn go_plain_strings_treat_empty_as_unset_but_pointers_do_not() {
        let mut plain = Some(String::new());
        default_string(&mut plain, "TCP");
        assert_eq!(plain.as_deref(), Some("TCP"));

        let mut pointer = Some(String::new());
        default_value(&mut pointer, || "TCP".to_owned());
        assert_eq!(pointer.as_deref(), Some(""));

        let mut zero = Some(0);
        default_nonzero(&mut zero, 10);
        assert_eq!(zero, Some(10));
        let mut set = Some(5);
        default_nonzero(&mut set, 10);
        assert_eq!(set, Some(5));
    }

    #[test]
    fn default_object_dispatches_on_the_concrete_type() {
        let mut deployment = apps_v1::Deployment::default();
        default_object(&mut deployment);
        assert_eq!(deployment.spec.and_then(|s| s.replicas), Some(1));

        let mut crd_instance = DynamicObject {
            api_version: "stable.example.com/v1".into(),
            kind: "CronTab".into(),
            ..Default::default()
        };
        let before = crd_instance.clone();
        default_object(&mut crd_instance);
        assert_eq!(crd_instance, before);

        let mut lease = k8s_openapi::api::coordination::v1::Lease::default();
        default_object(&mut lease);
        assert_eq!(lease, Default::default());
    }
}
