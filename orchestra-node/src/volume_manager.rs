//! The volume manager: publishes a pod's inline CSI volumes before its containers start and
//! unpublishes them when the pod is gone.
//!
//! For a `csi` volume in a pod spec (a CSI ephemeral volume), Kubernetes' kubelet calls the
//! driver's `NodePublishVolume` directly (no stage, no controller): the volume handle is
//! derived from the pod uid and the volume name, the volume context is the volume's
//! attributes plus the pod's identity and `csi.storage.k8s.io/ephemeral: "true"`. A pod
//! whose driver is not registered on the node waits in `ContainerCreating`.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use orchestra_api::k8s_openapi::api::core::v1::Pod;

use crate::csi::{NodePublishVolumeRequest, VolumeCapability};
use crate::kubelet::Kubelet;
use crate::pod_manager::PodWork;

fn volume_handle(pod_uid: &str, volume: &str) -> String {
    let mut hasher = DefaultHasher::new();
    pod_uid.hash(&mut hasher);
    volume.hash(&mut hasher);
    format!("csi-{:016x}", hasher.finish())
}

/// Publishes every inline CSI volume of `pod` that is not published yet; the error says
/// which volume could not be mounted and why.
pub async fn publish_volumes(
    kubelet: &Kubelet,
    pod: &Pod,
    work: &mut PodWork,
) -> Result<(), String> {
    let Some(spec) = pod.spec.as_ref() else {
        return Ok(());
    };
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    for volume in spec.volumes.iter().flatten() {
        let Some(csi) = &volume.csi else {
            continue;
        };
        let volume_id = volume_handle(&uid, &volume.name);
        let target = format!(
            "/var/lib/kubelet/pods/{uid}/volumes/kubernetes.io~csi/{}/mount",
            volume.name
        );
        if work
            .published_volumes
            .iter()
            .any(|(_, id, path)| id == &volume_id && path == &target)
        {
            continue;
        }
        let Some(plugin) = kubelet.volume_plugins.get(&csi.driver) else {
            return Err(format!(
                "MountVolume.SetUp failed for volume \"{}\" : kubernetes.io/csi: mounter.SetUpAt failed to get CSI client: driver name {} not found in the list of registered CSI drivers",
                volume.name, csi.driver
            ));
        };
        let mut context: BTreeMap<String, String> =
            csi.volume_attributes.clone().unwrap_or_default();
        context.insert(
            "csi.storage.k8s.io/pod.name".to_owned(),
            pod.metadata.name.clone().unwrap_or_default(),
        );
        context.insert(
            "csi.storage.k8s.io/pod.namespace".to_owned(),
            pod.metadata.namespace.clone().unwrap_or_default(),
        );
        context.insert("csi.storage.k8s.io/pod.uid".to_owned(), uid.clone());
        context.insert(
            "csi.storage.k8s.io/serviceAccount.name".to_owned(),
            spec.service_account_name.clone().unwrap_or_default(),
        );
        context.insert("csi.storage.k8s.io/ephemeral".to_owned(), "true".to_owned());
        let request = NodePublishVolumeRequest {
            volume_id: volume_id.clone(),
            target_path: target.clone(),
            volume_capability: VolumeCapability::Mount {
                fs_type: csi.fs_type.clone().unwrap_or_default(),
                mount_flags: Vec::new(),
            },
            readonly: csi.read_only.unwrap_or(false),
            volume_context: context,
            ..NodePublishVolumeRequest::default()
        };
        plugin.node_publish_volume(&request).await.map_err(|e| {
            format!(
                "MountVolume.SetUp failed for volume \"{}\" : {e}",
                volume.name
            )
        })?;
        work.published_volumes
            .push((csi.driver.clone(), volume_id, target));
    }
    Ok(())
}

/// Unpublishes every volume published for the pod.
pub async fn unpublish_volumes(kubelet: &Kubelet, work: &mut PodWork) {
    for (driver, volume_id, target) in std::mem::take(&mut work.published_volumes) {
        if let Some(plugin) = kubelet.volume_plugins.get(&driver)
            && let Err(error) = plugin.node_unpublish_volume(&volume_id, &target).await
        {
            tracing::warn!(%driver, %volume_id, %error, "unpublishing a volume failed");
        }
    }
}
