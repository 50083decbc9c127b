//! Storage defaults: PersistentVolumes (reclaim policy `Retain`, volume mode `Filesystem`,
//! phase `Pending`), PersistentVolumeClaims (volume mode `Filesystem`, phase `Pending`),
//! StorageClasses (reclaim policy `Delete`, binding mode `Immediate`), CSIDrivers (attach
//! required, no pod info, no capacity tracking, `ReadWriteOnceWithFSType` fsGroup policy,
//! persistent lifecycle, no republish, no SELinux mount) and the inline volume specs of
//! VolumeAttachments.

use k8s_openapi::api::core::v1::{
    PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeSpec,
};
use k8s_openapi::api::storage::v1::{CSIDriver, StorageClass, VolumeAttachment};

use super::{
    default_string, default_value,
    resources::default_resource_list,
    volume::{default_azure_disk, default_host_path, default_rbd, default_scale_io},
};

/// Defaults a PersistentVolume: reclaim policy `Retain`, volume mode `Filesystem`, phase
/// `Pending`, capacity rounded, and the defaults of its volume source.
pub fn default_persistent_volume(volume: &mut PersistentVolume) {
    let status = volume.status.get_or_insert_default();
    default_string(&mut status.phase, "Pending");
    let spec = volume.spec.get_or_insert_default();
    default_string(&mut spec.persistent_volume_reclaim_policy, "Retain");
    default_value(&mut spec.volume_mode, || "Filesystem".to_owned());
    default_persistent_volume_source(spec);
}

/// The source defaults of a PersistentVolume spec (also used for a VolumeAttachment's inline
/// spec, which gets no reclaim policy or volume mode).
fn default_persistent_volume_source(spec: &mut PersistentVolumeSpec) {
    default_resource_list(&mut spec.capacity);
    if let Some(host_path) = &mut spec.host_path {
        default_host_path(host_path);
    }
    if let Some(rbd) = &mut spec.rbd {
        default_rbd(&mut rbd.pool, &mut rbd.user, &mut rbd.keyring);
    }
    if let Some(iscsi) = &mut spec.iscsi {
        default_string(&mut iscsi.iscsi_interface, "default");
    }
    if let Some(azure_disk) = &mut spec.azure_disk {
        default_azure_disk(azure_disk);
    }
    if let Some(scale_io) = &mut spec.scale_io {
        default_scale_io(&mut scale_io.storage_mode, &mut scale_io.fs_type);
    }
}

/// Defaults a PersistentVolumeClaim: phase `Pending`, the spec defaults, and the amounts of
/// its status rounded.
pub fn default_persistent_volume_claim(claim: &mut PersistentVolumeClaim) {
    let status = claim.status.get_or_insert_default();
    default_string(&mut status.phase, "Pending");
    default_resource_list(&mut status.capacity);
    default_resource_list(&mut status.allocated_resources);
    default_persistent_volume_claim_spec(claim.spec.get_or_insert_default());
}

/// Defaults a claim spec wherever it appears (a claim, a StatefulSet's claim template, an
/// ephemeral volume): volume mode `Filesystem`, requested amounts rounded.
pub fn default_persistent_volume_claim_spec(spec: &mut PersistentVolumeClaimSpec) {
    default_value(&mut spec.volume_mode, || "Filesystem".to_owned());
    if let Some(resources) = &mut spec.resources {
        default_resource_list(&mut resources.limits);
        default_resource_list(&mut resources.requests);
    }
}

/// Defaults a StorageClass: reclaim policy `Delete`, volume binding mode `Immediate`.
pub fn default_storage_class(class: &mut StorageClass) {
    default_value(&mut class.reclaim_policy, || "Delete".to_owned());
    default_value(&mut class.volume_binding_mode, || "Immediate".to_owned());
}

/// Defaults a CSIDriver's spec.
pub fn default_csi_driver(driver: &mut CSIDriver) {
    let spec = &mut driver.spec;
    default_value(&mut spec.attach_required, || true);
    default_value(&mut spec.pod_info_on_mount, || false);
    default_value(&mut spec.storage_capacity, || false);
    default_value(&mut spec.fs_group_policy, || {
        "ReadWriteOnceWithFSType".to_owned()
    });
    if spec
        .volume_lifecycle_modes
        .as_ref()
        .is_none_or(Vec::is_empty)
    {
        spec.volume_lifecycle_modes = Some(vec!["Persistent".to_owned()]);
    }
    default_value(&mut spec.requires_republish, || false);
    default_value(&mut spec.se_linux_mount, || false);
}

/// Defaults a VolumeAttachment: the source defaults of its inline volume spec, if any.
pub fn default_volume_attachment(attachment: &mut VolumeAttachment) {
    if let Some(spec) = &mut attachment.spec.source.inline_volume_spec {
        default_persistent_volume_source(spec);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{HostPathVolumeSource, PersistentVolumeStatus};

    #[test]
    fn persistent_volumes_are_retained_filesystems_pending_binding() {
        let mut pv = PersistentVolume {
            spec: Some(PersistentVolumeSpec {
                host_path: Some(HostPathVolumeSource {
                    path: "/data".into(),
                    type_: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        default_persistent_volume(&mut pv);
        let spec = pv.spec.unwrap_or_default();
        assert_eq!(
            spec.persistent_volume_reclaim_policy.as_deref(),
            Some("Retain")
        );
        assert_eq!(spec.volume_mode.as_deref(), Some("Filesystem"));
        assert_eq!(spec.host_path.and_then(|h| h.type_).as_deref(), Some(""));
        assert_eq!(pv.status.and_then(|s| s.phase).as_deref(), Some("Pending"));
    }

    #[test]
    fn a_bound_volume_keeps_its_phase() {
        let mut pv = PersistentVolume {
            status: Some(PersistentVolumeStatus {
                phase: Some("Bound".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        default_persistent_volume(&mut pv);
        assert_eq!(pv.status.and_then(|s| s.phase).as_deref(), Some("Bound"));
    }

    #[test]
    fn claims_are_filesystems_pending_binding() {
        let mut pvc = PersistentVolumeClaim::default();
        default_persistent_volume_claim(&mut pvc);
        assert_eq!(
            pvc.spec.and_then(|s| s.volume_mode).as_deref(),
            Some("Filesystem")
        );
        assert_eq!(pvc.status.and_then(|s| s.phase).as_deref(), Some("Pending"));
    }

    #[test]
    fn storage_classes_delete_and_bind_immediately() {
        let mut class = StorageClass {
            provisioner: "example.com/nfs".into(),
            volume_binding_mode: Some("WaitForFirstConsumer".into()),
            ..Default::default()
        };
        default_storage_class(&mut class);
        assert_eq!(class.reclaim_policy.as_deref(), Some("Delete"));
        assert_eq!(
            class.volume_binding_mode.as_deref(),
            Some("WaitForFirstConsumer")
        );
    }

    #[test]
    fn csi_drivers_get_every_spec_default() {
        let mut driver = CSIDriver::default();
        default_csi_driver(&mut driver);
        let spec = driver.spec;
        assert_eq!(spec.attach_required, Some(true));
        assert_eq!(spec.pod_info_on_mount, Some(false));
        assert_eq!(spec.storage_capacity, Some(false));
        assert_eq!(
            spec.fs_group_policy.as_deref(),
            Some("ReadWriteOnceWithFSType")
        );
        assert_eq!(spec.volume_lifecycle_modes, Some(vec!["Persistent".into()]));
        assert_eq!(spec.requires_republish, Some(false));
        assert_eq!(spec.se_linux_mount, Some(false));
    }
}
