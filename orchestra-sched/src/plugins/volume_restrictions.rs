//! VolumeRestrictions: volumes that cannot be shared between pods on a node.
//!
//! The same GCE persistent disk, AWS EBS volume, iSCSI target or RBD image may be mounted by
//! two pods on one node only when both mount it read-only (AWS EBS: never) — Kubernetes'
//! `NoDiskConflict`, reason `node(s) had no available disk`. A PersistentVolumeClaim with the
//! `ReadWriteOncePod` access mode already used by a pod anywhere makes the pod unschedulable
//! everywhere.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Volume};

use crate::config::ConfigError;
use crate::config::args::PluginArgs;
use crate::framework::{
    ActionType, ClusterEventWithHint, CycleState, EnqueueExtensions, EventResource, FilterPlugin,
    Handle, Plugin, PluginInstance, PreFilterPlugin, PreFilterResult, Status,
};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;
use crate::snapshot::Snapshot;

/// The plugin's name.
pub const NAME: &str = "VolumeRestrictions";
/// Rejection: a conflicting disk.
pub const REASON_DISK_CONFLICT: &str = "node(s) had no available disk";
/// Rejection: a ReadWriteOncePod claim in use.
pub const REASON_READ_WRITE_ONCE_POD_CONFLICT: &str =
    "node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode";

/// Volume sharing restrictions.
#[derive(Debug, Default)]
pub struct VolumeRestrictions;

#[derive(Clone)]
struct PreFilterState {
    conflicting_read_write_once_pod_claims: i64,
}

fn needs_check(volume: &Volume) -> bool {
    volume.gce_persistent_disk.is_some()
        || volume.aws_elastic_block_store.is_some()
        || volume.rbd.is_some()
        || volume.iscsi.is_some()
}

/// Whether `volume` conflicts with a volume of `pod` (Kubernetes' `isVolumeConflict`).
pub fn conflicts(volume: &Volume, pod: &Pod) -> bool {
    let volumes = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_deref())
        .unwrap_or_default();
    volumes.iter().any(|existing| {
        if let (Some(a), Some(b)) = (&volume.gce_persistent_disk, &existing.gce_persistent_disk) {
            if a.pd_name == b.pd_name
                && !(a.read_only.unwrap_or(false) && b.read_only.unwrap_or(false))
            {
                return true;
            }
        }
        if let (Some(a), Some(b)) = (
            &volume.aws_elastic_block_store,
            &existing.aws_elastic_block_store,
        ) {
            if a.volume_id == b.volume_id {
                return true;
            }
        }
        if let (Some(a), Some(b)) = (&volume.iscsi, &existing.iscsi) {
            if a.iqn == b.iqn && !(a.read_only.unwrap_or(false) && b.read_only.unwrap_or(false)) {
                return true;
            }
        }
        if let (Some(a), Some(b)) = (&volume.rbd, &existing.rbd) {
            let pool = |p: &Option<String>| p.clone().unwrap_or_else(|| "rbd".to_owned());
            let overlap = a.monitors.iter().any(|m| b.monitors.contains(m));
            if overlap
                && pool(&a.pool) == pool(&b.pool)
                && a.image == b.image
                && !(a.read_only.unwrap_or(false) && b.read_only.unwrap_or(false))
            {
                return true;
            }
        }
        false
    })
}

impl Plugin for VolumeRestrictions {
    fn name(&self) -> &str {
        NAME
    }
}

impl PreFilterPlugin for VolumeRestrictions {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> (PreFilterResult, Status) {
        let volumes = pod
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.volumes.as_deref())
            .unwrap_or_default();
        let check = volumes.iter().any(needs_check);
        let mut conflicting = 0;
        for claim in &pod.pvc_names {
            let Some(pvc) = snapshot
                .objects()
                .persistent_volume_claim(pod.namespace(), claim)
            else {
                if snapshot.objects().persistent_volume_claims.is_empty()
                    && snapshot.objects().persistent_volumes.is_empty()
                {
                    // A simulation without volume objects: nothing to check.
                    continue;
                }
                return (
                    PreFilterResult::all_nodes(),
                    Status::unresolvable(format!("persistentvolumeclaim \"{claim}\" not found")),
                );
            };
            let rwop = pvc
                .spec
                .as_ref()
                .and_then(|s| s.access_modes.as_ref())
                .is_some_and(|m| m.iter().any(|m| m == "ReadWriteOncePod"));
            if rwop && snapshot.is_pvc_used_by_pods(&format!("{}/{claim}", pod.namespace())) {
                conflicting += 1;
            }
        }
        if !check && conflicting == 0 {
            return (PreFilterResult::all_nodes(), Status::skip());
        }
        state.write(PreFilterState {
            conflicting_read_write_once_pod_claims: conflicting,
        });
        (PreFilterResult::all_nodes(), Status::success())
    }

    fn has_extensions(&self) -> bool {
        true
    }

    fn add_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        added: &Arc<PodInfo>,
        _: &NodeInfo,
    ) -> Status {
        if let Some(s) = state.get_mut::<PreFilterState>() {
            if added.namespace() == pod.namespace() {
                s.conflicting_read_write_once_pod_claims += added
                    .pvc_names
                    .iter()
                    .filter(|c| pod.pvc_names.contains(c))
                    .count() as i64;
            }
        }
        Status::success()
    }

    fn remove_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        removed: &Arc<PodInfo>,
        _: &NodeInfo,
    ) -> Status {
        if let Some(s) = state.get_mut::<PreFilterState>() {
            if removed.namespace() == pod.namespace() {
                s.conflicting_read_write_once_pod_claims -= removed
                    .pvc_names
                    .iter()
                    .filter(|c| pod.pvc_names.contains(c))
                    .count() as i64;
                s.conflicting_read_write_once_pod_claims =
                    s.conflicting_read_write_once_pod_claims.max(0);
            }
        }
        Status::success()
    }
}

impl FilterPlugin for VolumeRestrictions {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let volumes = pod
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.volumes.as_deref())
            .unwrap_or_default();
        for volume in volumes.iter().filter(|v| needs_check(v)) {
            if node
                .pods()
                .iter()
                .any(|existing| conflicts(volume, &existing.pod))
            {
                return Status::unschedulable(REASON_DISK_CONFLICT);
            }
        }
        if state
            .read::<PreFilterState>()
            .is_some_and(|s| s.conflicting_read_write_once_pod_claims > 0)
        {
            return Status::unresolvable(REASON_READ_WRITE_ONCE_POD_CONFLICT);
        }
        Status::success()
    }
}

impl EnqueueExtensions for VolumeRestrictions {
    fn events_to_register(&self) -> Vec<ClusterEventWithHint> {
        vec![
            ClusterEventWithHint::new(EventResource::Pod, ActionType::DELETE),
            ClusterEventWithHint::new(EventResource::Node, ActionType::ADD),
            ClusterEventWithHint::new(
                EventResource::PersistentVolumeClaim,
                ActionType::ADD | ActionType::UPDATE,
            ),
        ]
    }
}

/// The factory.
pub fn factory(_: &PluginArgs<'_>, _: &Arc<Handle>) -> Result<PluginInstance, ConfigError> {
    Ok(PluginInstance::builder(Arc::new(VolumeRestrictions))
        .pre_filter()
        .filter()
        .enqueue_extensions()
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node_with_pods, pod};
    use serde_json::json;

    fn with_disk(volume: serde_json::Value) -> PodInfo {
        pod(json!({"volumes": [volume]}))
    }

    #[test]
    fn kubernetes_disk_conflict_table() {
        let gce = |name: &str, ro: bool| json!({"name": "v", "gcePersistentDisk": {"pdName": name, "readOnly": ro}});
        let ebs = |id: &str| json!({"name": "v", "awsElasticBlockStore": {"volumeID": id}});
        let rbd = |mons: Vec<&str>, image: &str| json!({"name": "v", "rbd": {"monitors": mons, "image": image}});
        let cases = [
            (gce("foo", false), gce("foo", false), false),
            (gce("foo", true), gce("foo", true), true),
            (gce("foo", false), gce("bar", false), true),
            (ebs("foo"), ebs("foo"), false),
            (ebs("foo"), ebs("bar"), true),
            (
                rbd(vec!["a", "b"], "img"),
                rbd(vec!["b", "c"], "img"),
                false,
            ),
            (rbd(vec!["a"], "img"), rbd(vec!["c"], "img"), true),
        ];
        for (existing, incoming, fits) in cases {
            let node = node_with_pods("n", json!({}), vec![with_disk(existing.clone())]);
            let incoming_pod = with_disk(incoming.clone());
            let mut state = CycleState::new();
            let (_, status) =
                VolumeRestrictions.pre_filter(&mut state, &incoming_pod, &Snapshot::new());
            assert!(status.is_success());
            let status = VolumeRestrictions.filter(&state, &incoming_pod, &node);
            assert_eq!(status.is_success(), fits, "{existing} vs {incoming}");
            if !fits {
                assert_eq!(status.message(), REASON_DISK_CONFLICT);
            }
        }
    }
}
