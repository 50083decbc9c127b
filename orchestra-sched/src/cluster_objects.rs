//! `ClusterObjects`: the objects other than nodes and pods that plugins consult.
//!
//! Kubernetes' plugins read these through informer listers: namespaces (for the namespace
//! selectors of pod affinity), PersistentVolumeClaims, PersistentVolumes and StorageClasses
//! (for the volume plugins), PodDisruptionBudgets (for preemption), and the Services,
//! ReplicaSets, StatefulSets and ReplicationControllers that select a pod (for the default
//! topology spreading). Here they are one immutable value that the scheduler replaces when
//! they change and that a simulation fills from its own data; every part is optional.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{
    Namespace, PersistentVolume, PersistentVolumeClaim, ReplicationController, Service,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::StorageClass;

/// The non-node, non-pod objects the plugins consult. See the module docs.
#[derive(Debug, Clone, Default)]
pub struct ClusterObjects {
    /// Namespace labels by namespace name.
    pub namespaces: BTreeMap<String, BTreeMap<String, String>>,
    /// PersistentVolumeClaims by `namespace/name`.
    pub persistent_volume_claims: HashMap<String, Arc<PersistentVolumeClaim>>,
    /// PersistentVolumes by name.
    pub persistent_volumes: HashMap<String, Arc<PersistentVolume>>,
    /// StorageClasses by name.
    pub storage_classes: HashMap<String, Arc<StorageClass>>,
    /// PodDisruptionBudgets.
    pub pod_disruption_budgets: Vec<Arc<PodDisruptionBudget>>,
    /// Services.
    pub services: Vec<Arc<Service>>,
    /// ReplicaSets.
    pub replica_sets: Vec<Arc<ReplicaSet>>,
    /// StatefulSets.
    pub stateful_sets: Vec<Arc<StatefulSet>>,
    /// ReplicationControllers.
    pub replication_controllers: Vec<Arc<ReplicationController>>,
}

fn key(namespace: Option<&str>, name: Option<&str>) -> String {
    format!(
        "{}/{}",
        namespace.unwrap_or("default"),
        name.unwrap_or_default()
    )
}

impl ClusterObjects {
    /// No objects.
    pub fn new() -> ClusterObjects {
        ClusterObjects::default()
    }

    /// Adds a namespace.
    pub fn add_namespace(&mut self, namespace: &Namespace) {
        self.namespaces.insert(
            namespace.metadata.name.clone().unwrap_or_default(),
            namespace.metadata.labels.clone().unwrap_or_default(),
        );
    }

    /// Adds a PersistentVolumeClaim.
    pub fn add_persistent_volume_claim(&mut self, claim: PersistentVolumeClaim) {
        let k = key(
            claim.metadata.namespace.as_deref(),
            claim.metadata.name.as_deref(),
        );
        self.persistent_volume_claims.insert(k, Arc::new(claim));
    }

    /// Adds a PersistentVolume.
    pub fn add_persistent_volume(&mut self, volume: PersistentVolume) {
        let name = volume.metadata.name.clone().unwrap_or_default();
        self.persistent_volumes.insert(name, Arc::new(volume));
    }

    /// Adds a StorageClass.
    pub fn add_storage_class(&mut self, class: StorageClass) {
        let name = class.metadata.name.clone().unwrap_or_default();
        self.storage_classes.insert(name, Arc::new(class));
    }

    /// The labels of a namespace, empty when unknown.
    pub fn namespace_labels(&self, namespace: &str) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.namespaces.get(namespace).unwrap_or(&EMPTY)
    }

    /// A PersistentVolumeClaim by namespace and name.
    pub fn persistent_volume_claim(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<&Arc<PersistentVolumeClaim>> {
        self.persistent_volume_claims
            .get(&format!("{namespace}/{name}"))
    }
}
