//! Volume defaults: a pod volume without any source becomes an `emptyDir`; secret, config map,
//! downward API and projected volumes get file mode `0644` (420); projected service account
//! tokens expire after an hour; `hostPath` gets the empty (unchecked) type; the in-tree network
//! and cloud disk sources (iSCSI, RBD, Azure Disk, ScaleIO) get their documented defaults.
//!
//! The source defaults are shared with PersistentVolumes, whose sources have the same defaults.

use k8s_openapi::api::core::v1::{
    AzureDiskVolumeSource, DownwardAPIVolumeFile, HostPathVolumeSource, ObjectFieldSelector, Volume,
};

use super::{
    default_string, default_value, each_mut, image_reference::default_image_pull_policy,
    storage::default_persistent_volume_claim_spec,
};

/// The file mode of secret, config map, downward API and projected volumes: `0644`.
const DEFAULT_MODE: i32 = 0o644;
/// A projected service account token's lifetime: one hour.
const TOKEN_EXPIRATION_SECONDS: i64 = 3600;

/// Defaults one pod volume and its source (`SetDefaults_Volume` and the source defaults).
pub fn default_volume(volume: &mut Volume) {
    if has_no_source(volume) {
        volume.empty_dir = Some(Default::default());
    }
    if let Some(image) = &mut volume.image {
        let reference = image.reference.as_deref().unwrap_or_default();
        default_string(&mut image.pull_policy, default_image_pull_policy(reference));
    }
    if let Some(host_path) = &mut volume.host_path {
        default_host_path(host_path);
    }
    if let Some(secret) = &mut volume.secret {
        default_value(&mut secret.default_mode, || DEFAULT_MODE);
    }
    if let Some(iscsi) = &mut volume.iscsi {
        default_string(&mut iscsi.iscsi_interface, "default");
    }
    if let Some(rbd) = &mut volume.rbd {
        default_rbd(&mut rbd.pool, &mut rbd.user, &mut rbd.keyring);
    }
    if let Some(downward_api) = &mut volume.downward_api {
        default_value(&mut downward_api.default_mode, || DEFAULT_MODE);
        default_downward_api_files(&mut downward_api.items);
    }
    if let Some(config_map) = &mut volume.config_map {
        default_value(&mut config_map.default_mode, || DEFAULT_MODE);
    }
    if let Some(azure_disk) = &mut volume.azure_disk {
        default_azure_disk(azure_disk);
    }
    if let Some(projected) = &mut volume.projected {
        default_value(&mut projected.default_mode, || DEFAULT_MODE);
        for source in each_mut(&mut projected.sources) {
            if let Some(downward_api) = &mut source.downward_api {
                default_downward_api_files(&mut downward_api.items);
            }
            if let Some(token) = &mut source.service_account_token {
                default_value(&mut token.expiration_seconds, || TOKEN_EXPIRATION_SECONDS);
            }
        }
    }
    if let Some(scale_io) = &mut volume.scale_io {
        default_scale_io(&mut scale_io.storage_mode, &mut scale_io.fs_type);
    }
    if let Some(template) = volume
        .ephemeral
        .as_mut()
        .and_then(|e| e.volume_claim_template.as_mut())
    {
        default_persistent_volume_claim_spec(&mut template.spec);
    }
}

/// Whether no volume source is set at all (Kubernetes then makes the volume an `emptyDir`).
fn has_no_source(volume: &Volume) -> bool {
    // Destructured without `..` so that a source added to `k8s-openapi` breaks the build here.
    let Volume {
        name: _,
        aws_elastic_block_store,
        azure_disk,
        azure_file,
        cephfs,
        cinder,
        config_map,
        csi,
        downward_api,
        empty_dir,
        ephemeral,
        fc,
        flex_volume,
        flocker,
        gce_persistent_disk,
        git_repo,
        glusterfs,
        host_path,
        image,
        iscsi,
        nfs,
        persistent_volume_claim,
        photon_persistent_disk,
        portworx_volume,
        projected,
        quobyte,
        rbd,
        scale_io,
        secret,
        storageos,
        vsphere_volume,
    } = volume;
    [
        aws_elastic_block_store.is_none(),
        azure_disk.is_none(),
        azure_file.is_none(),
        cephfs.is_none(),
        cinder.is_none(),
        config_map.is_none(),
        csi.is_none(),
        downward_api.is_none(),
        empty_dir.is_none(),
        ephemeral.is_none(),
        fc.is_none(),
        flex_volume.is_none(),
        flocker.is_none(),
        gce_persistent_disk.is_none(),
        git_repo.is_none(),
        glusterfs.is_none(),
        host_path.is_none(),
        image.is_none(),
        iscsi.is_none(),
        nfs.is_none(),
        persistent_volume_claim.is_none(),
        photon_persistent_disk.is_none(),
        portworx_volume.is_none(),
        projected.is_none(),
        quobyte.is_none(),
        rbd.is_none(),
        scale_io.is_none(),
        secret.is_none(),
        storageos.is_none(),
        vsphere_volume.is_none(),
    ]
    .into_iter()
    .all(|unset| unset)
}

/// A `fieldRef` without `apiVersion` refers to `v1` (`SetDefaults_ObjectFieldSelector`).
pub(crate) fn default_object_field_selector(selector: &mut ObjectFieldSelector) {
    default_string(&mut selector.api_version, "v1");
}

fn default_downward_api_files(items: &mut Option<Vec<DownwardAPIVolumeFile>>) {
    for item in each_mut(items) {
        if let Some(field_ref) = &mut item.field_ref {
            default_object_field_selector(field_ref);
        }
    }
}

/// A `hostPath` without `type` gets the empty type: no check before mounting.
pub(crate) fn default_host_path(host_path: &mut HostPathVolumeSource) {
    default_value(&mut host_path.type_, String::new);
}

/// Ceph RBD: pool `rbd`, user `admin`, keyring `/etc/ceph/keyring`.
pub(crate) fn default_rbd(
    pool: &mut Option<String>,
    user: &mut Option<String>,
    keyring: &mut Option<String>,
) {
    default_string(pool, "rbd");
    default_string(user, "admin");
    default_string(keyring, "/etc/ceph/keyring");
}

/// Azure Disk: read-write caching, `ext4`, not read-only, a shared blob disk.
pub(crate) fn default_azure_disk(disk: &mut AzureDiskVolumeSource) {
    default_value(&mut disk.caching_mode, || "ReadWrite".to_owned());
    default_value(&mut disk.fs_type, || "ext4".to_owned());
    default_value(&mut disk.read_only, || false);
    default_value(&mut disk.kind, || "Shared".to_owned());
}

/// ScaleIO: thin provisioning, `xfs`.
pub(crate) fn default_scale_io(storage_mode: &mut Option<String>, fs_type: &mut Option<String>) {
    default_string(storage_mode, "ThinProvisioned");
    default_string(fs_type, "xfs");
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ConfigMapVolumeSource, EmptyDirVolumeSource, EphemeralVolumeSource, ISCSIVolumeSource,
        ImageVolumeSource, PersistentVolumeClaimTemplate, ProjectedVolumeSource,
        SecretVolumeSource, ServiceAccountTokenProjection, VolumeProjection,
    };

    fn volume(name: &str) -> Volume {
        Volume {
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_volume_without_source_becomes_an_empty_dir() {
        let mut v = volume("scratch");
        default_volume(&mut v);
        assert_eq!(v.empty_dir, Some(EmptyDirVolumeSource::default()));

        let mut with_source = Volume {
            config_map: Some(ConfigMapVolumeSource {
                name: "cm".into(),
                ..Default::default()
            }),
            ..volume("config")
        };
        default_volume(&mut with_source);
        assert_eq!(with_source.empty_dir, None);
    }

    #[test]
    fn file_backed_sources_get_mode_0644_unless_set() {
        let mut v = Volume {
            secret: Some(SecretVolumeSource {
                default_mode: Some(0o400),
                ..Default::default()
            }),
            projected: Some(ProjectedVolumeSource {
                sources: Some(vec![VolumeProjection {
                    service_account_token: Some(ServiceAccountTokenProjection {
                        path: "token".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..volume("mixed")
        };
        default_volume(&mut v);
        assert_eq!(v.secret.and_then(|s| s.default_mode), Some(0o400));
        let projected = v.projected.unwrap_or_default();
        assert_eq!(projected.default_mode, Some(420));
        let token = projected
            .sources
            .unwrap_or_default()
            .remove(0)
            .service_account_token;
        assert_eq!(token.and_then(|t| t.expiration_seconds), Some(3600));
    }

    #[test]
    fn image_volumes_pull_like_containers() {
        let mut v = Volume {
            image: Some(ImageVolumeSource {
                reference: Some("quay.io/crio/artifact:v1".into()),
                ..Default::default()
            }),
            ..volume("artifact")
        };
        default_volume(&mut v);
        assert_eq!(
            v.image.and_then(|i| i.pull_policy).as_deref(),
            Some("IfNotPresent")
        );
    }

    #[test]
    fn network_disks_get_their_documented_defaults() {
        let mut v = Volume {
            iscsi: Some(ISCSIVolumeSource {
                iscsi_interface: Some(String::new()),
                ..Default::default()
            }),
            azure_disk: Some(AzureDiskVolumeSource::default()),
            ..volume("disks")
        };
        default_volume(&mut v);
        assert_eq!(
            v.iscsi.and_then(|i| i.iscsi_interface).as_deref(),
            Some("default")
        );
        let disk = v.azure_disk.unwrap_or_default();
        assert_eq!(disk.caching_mode.as_deref(), Some("ReadWrite"));
        assert_eq!(disk.fs_type.as_deref(), Some("ext4"));
        assert_eq!(disk.read_only, Some(false));
        assert_eq!(disk.kind.as_deref(), Some("Shared"));
    }

    #[test]
    fn ephemeral_claim_templates_get_claim_spec_defaults() {
        let mut v = Volume {
            ephemeral: Some(EphemeralVolumeSource {
                volume_claim_template: Some(PersistentVolumeClaimTemplate::default()),
            }),
            ..volume("scratch")
        };
        default_volume(&mut v);
        let mode = v
            .ephemeral
            .and_then(|e| e.volume_claim_template)
            .and_then(|t| t.spec.volume_mode);
        assert_eq!(mode.as_deref(), Some("Filesystem"));
    }
}
