//! VolumeBinding: a pod's PersistentVolumeClaims must be usable on the node.
//!
//! - A bound claim's PersistentVolume must accept the node (its `spec.nodeAffinity`):
//!   `node(s) had volume node affinity conflict`; a claim bound to a volume that does not exist:
//!   `node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)`.
//! - An unbound claim of a class with `volumeBindingMode: Immediate` must be bound first:
//!   `pod has unbound immediate PersistentVolumeClaims` (unresolvable).
//! - An unbound claim of a `WaitForFirstConsumer` class needs an available volume that fits it
//!   (class, capacity, access modes, node affinity) or a class that can provision one there:
//!   `node(s) didn't find available persistent volumes to bind`.
//!
//! Reserve remembers which volumes the pod's claims will take, so later pods do not count on
//! them; PreBind writes the claim's `spec.volumeName` when there is an API client.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, TopologySelectorTerm};
use orchestra_api::{Patch, PatchParams, kinds};

use crate::config::ConfigError;
use crate::config::args::{PluginArgs, VolumeBindingArgs};
use crate::framework::{
    ActionType, ClusterEventWithHint, Code, CycleState, EnqueueExtensions, EventResource,
    FilterPlugin, Handle, Plugin, PluginInstance, PreBindPlugin, PreFilterPlugin, PreFilterResult,
    ReservePlugin, Status,
};
use crate::node_info::NodeInfo;
use crate::node_selector::CompiledNodeSelector;
use crate::pod_info::PodInfo;
use crate::resources::Resource;
use crate::snapshot::Snapshot;

/// The plugin's name.
pub const NAME: &str = "VolumeBinding";
/// Rejection: a bound volume does not accept the node.
pub const REASON_NODE_CONFLICT: &str = "node(s) had volume node affinity conflict";
/// Rejection: no volume to bind.
pub const REASON_BIND_CONFLICT: &str = "node(s) didn't find available persistent volumes to bind";
/// Rejection: a bound volume is missing.
pub const REASON_PV_NOT_EXIST: &str =
    "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)";
/// PreFilter rejection: immediate claims not bound yet.
pub const REASON_UNBOUND_IMMEDIATE: &str = "pod has unbound immediate PersistentVolumeClaims";

/// Volume binding.
pub struct VolumeBinding {
    handle: Arc<Handle>,
    /// Volumes promised to claims by pods in Reserve: volume name → claim key.
    assumed: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for VolumeBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VolumeBinding").finish()
    }
}

/// A StorageClass's provisioner and allowed topologies.
type ClassInfo = (String, Option<Vec<TopologySelectorTerm>>);

#[derive(Clone)]
struct PreFilterState {
    bound: Arc<Vec<Arc<PersistentVolumeClaim>>>,
    to_bind: Arc<Vec<Arc<PersistentVolumeClaim>>>,
    volumes: Arc<Vec<Arc<PersistentVolume>>>,
    classes: Arc<BTreeMap<String, ClassInfo>>,
    assumed: Arc<HashMap<String, String>>,
}

/// The volumes chosen for a pod's claims on its node, from Filter's matching, kept for PreBind.
#[derive(Clone, Default)]
struct Chosen(Vec<(String, String)>);

fn claim_key(claim: &PersistentVolumeClaim) -> String {
    format!(
        "{}/{}",
        claim.metadata.namespace.as_deref().unwrap_or("default"),
        claim.metadata.name.as_deref().unwrap_or_default()
    )
}

fn volume_accepts(volume: &PersistentVolume, node: &NodeInfo) -> bool {
    match volume
        .spec
        .as_ref()
        .and_then(|s| s.node_affinity.as_ref())
        .and_then(|a| a.required.as_ref())
    {
        Some(selector) => {
            CompiledNodeSelector::compile(selector).matches(node.name(), node.labels())
        }
        None => true,
    }
}

fn requested_storage(claim: &PersistentVolumeClaim) -> i64 {
    claim
        .spec
        .as_ref()
        .and_then(|s| s.resources.as_ref())
        .and_then(|r| r.requests.as_ref())
        .map(|r| Resource::from_k8s(r).scalar.get("storage"))
        .unwrap_or(0)
}

fn capacity(volume: &PersistentVolume) -> i64 {
    volume
        .spec
        .as_ref()
        .and_then(|s| s.capacity.as_ref())
        .map(|c| Resource::from_k8s(c).scalar.get("storage"))
        .unwrap_or(0)
}

fn class_of_claim(claim: &PersistentVolumeClaim) -> String {
    claim
        .spec
        .as_ref()
        .and_then(|s| s.storage_class_name.clone())
        .unwrap_or_default()
}

/// Whether `volume` can satisfy `claim` on `node` (not counting who else wants it).
fn volume_fits(volume: &PersistentVolume, claim: &PersistentVolumeClaim, node: &NodeInfo) -> bool {
    let Some(spec) = volume.spec.as_ref() else {
        return false;
    };
    if let Some(claim_ref) = spec.claim_ref.as_ref() {
        let same = claim_ref.name.as_deref() == claim.metadata.name.as_deref()
            && claim_ref.namespace.as_deref().unwrap_or("default")
                == claim.metadata.namespace.as_deref().unwrap_or("default");
        if !same {
            return false;
        }
    }
    if spec.storage_class_name.clone().unwrap_or_default() != class_of_claim(claim) {
        return false;
    }
    let claim_modes = claim
        .spec
        .as_ref()
        .and_then(|s| s.access_modes.clone())
        .unwrap_or_default();
    let volume_modes = spec.access_modes.clone().unwrap_or_default();
    if !claim_modes.iter().all(|m| volume_modes.contains(m)) {
        return false;
    }
    let claim_mode = claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_mode.clone())
        .unwrap_or_else(|| "Filesystem".into());
    let volume_mode = spec
        .volume_mode
        .clone()
        .unwrap_or_else(|| "Filesystem".into());
    if claim_mode != volume_mode {
        return false;
    }
    capacity(volume) >= requested_storage(claim) && volume_accepts(volume, node)
}

fn topology_allows(
    terms: &Option<Vec<k8s_openapi::api::core::v1::TopologySelectorTerm>>,
    node: &NodeInfo,
) -> bool {
    let Some(terms) = terms.as_ref().filter(|t| !t.is_empty()) else {
        return true;
    };
    terms.iter().any(|term| {
        term.match_label_expressions.iter().flatten().all(|e| {
            node.labels()
                .get(&e.key)
                .is_some_and(|v| e.values.contains(v))
        })
    })
}

impl Plugin for VolumeBinding {
    fn name(&self) -> &str {
        NAME
    }
}

impl PreFilterPlugin for VolumeBinding {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> (PreFilterResult, Status) {
        if pod.pvc_names.is_empty() {
            return (PreFilterResult::all_nodes(), Status::skip());
        }
        let objects = snapshot.objects();
        if objects.persistent_volume_claims.is_empty() && objects.persistent_volumes.is_empty() {
            // A simulation without volume objects: nothing to check.
            return (PreFilterResult::all_nodes(), Status::skip());
        }
        let mut bound = Vec::new();
        let mut to_bind = Vec::new();
        let mut immediate = false;
        for name in &pod.pvc_names {
            let Some(claim) = objects.persistent_volume_claim(pod.namespace(), name) else {
                return (
                    PreFilterResult::all_nodes(),
                    Status::unresolvable(format!("persistentvolumeclaim \"{name}\" not found")),
                );
            };
            if claim.metadata.deletion_timestamp.is_some() {
                return (
                    PreFilterResult::all_nodes(),
                    Status::unresolvable(format!(
                        "persistentvolumeclaim \"{name}\" is being deleted"
                    )),
                );
            }
            let volume_name = claim
                .spec
                .as_ref()
                .and_then(|s| s.volume_name.as_deref())
                .unwrap_or("");
            if !volume_name.is_empty() {
                bound.push(claim.clone());
                continue;
            }
            let class = class_of_claim(claim);
            let wait = objects
                .storage_classes
                .get(&class)
                .and_then(|c| c.volume_binding_mode.as_deref())
                == Some("WaitForFirstConsumer");
            if wait {
                to_bind.push(claim.clone());
            } else {
                immediate = true;
            }
        }
        if immediate {
            return (
                PreFilterResult::all_nodes(),
                Status::unresolvable(REASON_UNBOUND_IMMEDIATE),
            );
        }
        let classes = objects
            .storage_classes
            .iter()
            .map(|(name, c)| {
                (
                    name.clone(),
                    (c.provisioner.clone(), c.allowed_topologies.clone()),
                )
            })
            .collect();
        let assumed = self
            .assumed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        state.write(PreFilterState {
            bound: Arc::new(bound),
            to_bind: Arc::new(to_bind),
            volumes: Arc::new(objects.persistent_volumes.values().cloned().collect()),
            classes: Arc::new(classes),
            assumed: Arc::new(assumed),
        });
        (PreFilterResult::all_nodes(), Status::success())
    }
}

impl VolumeBinding {
    /// The volumes the claims to bind would take on `node`, or `None` if some claim finds none
    /// and cannot be provisioned there.
    fn match_volumes(s: &PreFilterState, node: &NodeInfo) -> Option<Vec<(String, String)>> {
        let mut chosen: Vec<(String, String)> = Vec::new();
        for claim in s.to_bind.iter() {
            let key = claim_key(claim);
            let best = s
                .volumes
                .iter()
                .filter(|v| {
                    let name = v.metadata.name.as_deref().unwrap_or_default();
                    let taken = s.assumed.get(name).is_some_and(|k| *k != key)
                        || chosen.iter().any(|(n, _)| n == name);
                    !taken && volume_fits(v, claim, node)
                })
                .min_by_key(|v| capacity(v));
            match best {
                Some(volume) => {
                    chosen.push((volume.metadata.name.clone().unwrap_or_default(), key))
                }
                None => {
                    let (provisioner, topologies) = s.classes.get(&class_of_claim(claim))?;
                    if provisioner == "kubernetes.io/no-provisioner"
                        || !topology_allows(topologies, node)
                    {
                        return None;
                    }
                }
            }
        }
        Some(chosen)
    }
}

impl FilterPlugin for VolumeBinding {
    fn filter(&self, state: &CycleState, _: &PodInfo, node: &NodeInfo) -> Status {
        let Some(s) = state.read::<PreFilterState>() else {
            return Status::success();
        };
        let mut reasons = Vec::new();
        for claim in s.bound.iter() {
            let volume_name = claim
                .spec
                .as_ref()
                .and_then(|s| s.volume_name.as_deref())
                .unwrap_or("");
            match s
                .volumes
                .iter()
                .find(|v| v.metadata.name.as_deref() == Some(volume_name))
            {
                None => {
                    reasons.push(REASON_PV_NOT_EXIST.into());
                    break;
                }
                Some(volume) if !volume_accepts(volume, node) => {
                    reasons.push(REASON_NODE_CONFLICT.into());
                    break;
                }
                Some(_) => {}
            }
        }
        if !s.to_bind.is_empty() && Self::match_volumes(s, node).is_none() {
            reasons.push(REASON_BIND_CONFLICT.into());
        }
        if reasons.is_empty() {
            Status::success()
        } else {
            Status::with_reasons(Code::UnschedulableAndUnresolvable, reasons)
        }
    }
}

impl ReservePlugin for VolumeBinding {
    fn reserve(
        &self,
        state: &mut CycleState,
        _: &Arc<PodInfo>,
        node_name: &str,
        snapshot: &Snapshot,
    ) -> Status {
        let Some(s) = state.read::<PreFilterState>() else {
            return Status::success();
        };
        if s.to_bind.is_empty() {
            return Status::success();
        }
        let Some(node) = snapshot.get(node_name) else {
            return Status::error(format!("node {node_name:?} not in the snapshot"));
        };
        let Some(chosen) = Self::match_volumes(s, node) else {
            return Status::unschedulable(REASON_BIND_CONFLICT);
        };
        {
            let mut assumed = self.assumed.lock().unwrap_or_else(|e| e.into_inner());
            for (volume, claim) in &chosen {
                assumed.insert(volume.clone(), claim.clone());
            }
        }
        state.write(Chosen(chosen));
        Status::success()
    }

    fn unreserve(&self, state: &mut CycleState, _: &Arc<PodInfo>, _: &str) {
        if let Some(chosen) = state.read::<Chosen>() {
            let mut assumed = self.assumed.lock().unwrap_or_else(|e| e.into_inner());
            for (volume, _) in &chosen.0 {
                assumed.remove(volume);
            }
        }
    }
}

#[async_trait]
impl PreBindPlugin for VolumeBinding {
    async fn pre_bind(&self, state: &CycleState, _: &Arc<PodInfo>, _: &str) -> Status {
        let Some(chosen) = state.read::<Chosen>() else {
            return Status::skip();
        };
        let Some(client) = self.handle.client() else {
            return Status::success();
        };
        for (volume, claim) in &chosen.0 {
            let Some((namespace, name)) = claim.split_once('/') else {
                continue;
            };
            let patch = Patch::Merge(serde_json::json!({"spec": {"volumeName": volume}}));
            if let Err(status) = client
                .patch(
                    &kinds::PERSISTENT_VOLUME_CLAIMS,
                    Some(namespace),
                    name,
                    None,
                    &patch,
                    &PatchParams::default(),
                )
                .await
            {
                return Status::error(format!(
                    "binding volume {volume} to claim {claim}: {}",
                    status.message
                ));
            }
        }
        Status::success()
    }
}

impl EnqueueExtensions for VolumeBinding {
    fn events_to_register(&self) -> Vec<ClusterEventWithHint> {
        vec![
            ClusterEventWithHint::new(
                EventResource::StorageClass,
                ActionType::ADD | ActionType::UPDATE,
            ),
            ClusterEventWithHint::new(
                EventResource::PersistentVolumeClaim,
                ActionType::ADD | ActionType::UPDATE,
            ),
            ClusterEventWithHint::new(
                EventResource::PersistentVolume,
                ActionType::ADD | ActionType::UPDATE,
            ),
            ClusterEventWithHint::new(
                EventResource::Node,
                ActionType::ADD | ActionType::UPDATE_NODE_LABEL | ActionType::UPDATE_NODE_TAINT,
            ),
        ]
    }
}

/// The factory.
pub fn factory(args: &PluginArgs<'_>, handle: &Arc<Handle>) -> Result<PluginInstance, ConfigError> {
    let _: VolumeBindingArgs = args.decode()?;
    let plugin = VolumeBinding {
        handle: handle.clone(),
        assumed: Mutex::new(HashMap::new()),
    };
    Ok(PluginInstance::builder(Arc::new(plugin))
        .pre_filter()
        .filter()
        .reserve()
        .pre_bind()
        .enqueue_extensions()
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster_objects::ClusterObjects;
    use crate::plugins::testing::{node_object_labeled, pod};
    use serde_json::json;

    fn objects() -> ClusterObjects {
        let mut objects = ClusterObjects::new();
        objects.add_persistent_volume_claim(
            serde_json::from_value(json!({
            "metadata": {"name": "bound", "namespace": "default"},
            "spec": {"volumeName": "pv-zone-a", "accessModes": ["ReadWriteOnce"]}}))
            .expect("pvc"),
        );
        objects.add_persistent_volume(serde_json::from_value(json!({
            "metadata": {"name": "pv-zone-a"},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a"]}]}]}}}})).expect("pv"));
        objects.add_persistent_volume_claim(
            serde_json::from_value(json!({
            "metadata": {"name": "immediate", "namespace": "default"},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "fast"}}))
            .expect("pvc"),
        );
        objects.add_persistent_volume_claim(
            serde_json::from_value(json!({
            "metadata": {"name": "late", "namespace": "default"},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "local",
                "resources": {"requests": {"storage": "500Mi"}}}}))
            .expect("pvc"),
        );
        objects.add_storage_class(
            serde_json::from_value(json!({
            "metadata": {"name": "local"}, "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "WaitForFirstConsumer"}))
            .expect("class"),
        );
        objects.add_persistent_volume(serde_json::from_value(json!({
            "metadata": {"name": "local-b"},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "local",
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["b"]}]}]}}}})).expect("pv"));
        objects
    }

    fn snapshot() -> Snapshot {
        let zone = |name: &str, z: &str| {
            NodeInfo::new(node_object_labeled(
                name,
                json!({"topology.kubernetes.io/zone": z}),
                json!({}),
                json!({}),
            ))
        };
        Snapshot::from_node_infos([zone("a1", "a"), zone("b1", "b")], objects())
    }

    fn plugin() -> VolumeBinding {
        VolumeBinding {
            handle: Arc::new(Handle::new(None, 1)),
            assumed: Mutex::new(HashMap::new()),
        }
    }

    fn with_claim(claim: &str) -> PodInfo {
        pod(json!({"volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": claim}}]}))
    }

    #[test]
    fn bound_claims_follow_their_volume_node_affinity() {
        let snap = snapshot();
        let p = with_claim("bound");
        let mut state = CycleState::new();
        let (_, status) = plugin().pre_filter(&mut state, &p, &snap);
        assert!(status.is_success());
        assert!(
            plugin()
                .filter(&state, &p, snap.get("a1").expect("a1"))
                .is_success()
        );
        let status = plugin().filter(&state, &p, snap.get("b1").expect("b1"));
        assert_eq!(status.code(), Code::UnschedulableAndUnresolvable);
        assert_eq!(status.message(), REASON_NODE_CONFLICT);
    }

    #[test]
    fn unbound_immediate_claims_are_unresolvable() {
        let (_, status) = plugin().pre_filter(
            &mut CycleState::new(),
            &with_claim("immediate"),
            &snapshot(),
        );
        assert_eq!(status.message(), REASON_UNBOUND_IMMEDIATE);
        let (_, status) =
            plugin().pre_filter(&mut CycleState::new(), &with_claim("missing"), &snapshot());
        assert_eq!(
            status.message(),
            "persistentvolumeclaim \"missing\" not found"
        );
    }

    #[test]
    fn delayed_binding_finds_a_local_volume_on_the_node() {
        let snap = snapshot();
        let p = with_claim("late");
        let mut state = CycleState::new();
        let (_, status) = plugin().pre_filter(&mut state, &p, &snap);
        assert!(status.is_success());
        assert_eq!(
            plugin()
                .filter(&state, &p, snap.get("a1").expect("a1"))
                .message(),
            REASON_BIND_CONFLICT
        );
        assert!(
            plugin()
                .filter(&state, &p, snap.get("b1").expect("b1"))
                .is_success()
        );
    }
}
