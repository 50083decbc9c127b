//! Monitors: one shared informer per kind the collector watches, each feeding the graph.
//!
//! Built-in kinds are watched through the process's typed informers — the same ones the
//! other controllers use, so the collector adds no list+watch for pods or ReplicaSets and
//! reads the shared `Arc`s without copies; kinds known only at run time (custom resources)
//! through `DynamicObject` informers. A monitor forwards to the graph only the changes the
//! graph cares about: owner references, the deletion timestamp and the collector's
//! finalizers.

use std::sync::Arc;

use orchestra_api::k8s_openapi::api::{
    admissionregistration::v1 as admissionregistration, apps::v1 as apps,
    autoscaling::v2 as autoscaling, batch::v1 as batch, coordination::v1 as coordination,
    core::v1 as core, discovery::v1 as discovery, networking::v1 as networking,
    policy::v1 as policy, rbac::v1 as rbac, scheduling::v1 as scheduling, storage::v1 as storage,
};
use orchestra_api::k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use orchestra_api::{DynamicObject, Object, ResourceKind, Served};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use super::graph::{GraphEvent, ObjectIdentity, ObservedObject};
use crate::informer::{HandlerFns, HandlerRegistration, Informer, SharedInformerFactory};

/// The finalizer of orphan deletion.
pub const ORPHAN_FINALIZER: &str = "orphan";
/// The finalizer of foreground deletion.
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";

/// An informer of one kind, seen by the collector.
pub trait Monitor: Send + Sync {
    /// The kind it watches.
    fn kind(&self) -> &ResourceKind;
    /// Sends the graph every change of the kind's objects (first, every cached object as
    /// added).
    fn attach(&self, graph: mpsc::UnboundedSender<GraphEvent>) -> HandlerRegistration;
    /// Whether the informer has delivered its first list.
    fn has_synced(&self) -> bool;
}

struct InformerMonitor<K> {
    informer: Informer<K>,
    kind: ResourceKind,
}

/// Whether an update changes what the graph keeps of an object.
fn graph_fields_changed(old: &ObjectMeta, new: &ObjectMeta) -> bool {
    let finalizer = |meta: &ObjectMeta, name: &str| {
        meta.finalizers
            .as_ref()
            .is_some_and(|f| f.iter().any(|x| x == name))
    };
    old.owner_references != new.owner_references
        || old.deletion_timestamp.is_some() != new.deletion_timestamp.is_some()
        || finalizer(old, ORPHAN_FINALIZER) != finalizer(new, ORPHAN_FINALIZER)
        || finalizer(old, FOREGROUND_FINALIZER) != finalizer(new, FOREGROUND_FINALIZER)
}

/// What the graph keeps of an object of `kind`.
pub fn observed(kind: &ResourceKind, meta: &ObjectMeta) -> ObservedObject {
    let has = |name: &str| {
        meta.finalizers
            .as_ref()
            .is_some_and(|f| f.iter().any(|x| x == name))
    };
    ObservedObject {
        identity: ObjectIdentity {
            api_version: kind.api_version(),
            kind: kind.kind.to_string(),
            namespace: if kind.is_namespaced() {
                meta.namespace.clone().unwrap_or_default()
            } else {
                String::new()
            },
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone().unwrap_or_default(),
        },
        owners: meta.owner_references.clone().unwrap_or_default(),
        being_deleted: meta.deletion_timestamp.is_some(),
        orphan_finalizer: has(ORPHAN_FINALIZER),
        foreground_finalizer: has(FOREGROUND_FINALIZER),
    }
}

impl<K: Object + DeserializeOwned> Monitor for InformerMonitor<K> {
    fn kind(&self) -> &ResourceKind {
        &self.kind
    }

    fn attach(&self, graph: mpsc::UnboundedSender<GraphEvent>) -> HandlerRegistration {
        let kind = Arc::new(self.kind.clone());
        let (on_add, on_update, on_delete) = (graph.clone(), graph.clone(), graph);
        let (add_kind, update_kind, delete_kind) = (kind.clone(), kind.clone(), kind);
        self.informer.add_handler(
            HandlerFns::new()
                .on_add(move |object: &Arc<K>| {
                    let _ = on_add.send(GraphEvent::Observed {
                        object: observed(&add_kind, object.metadata()),
                        previous: None,
                    });
                })
                .on_update(move |old: &Arc<K>, new: &Arc<K>| {
                    if graph_fields_changed(old.metadata(), new.metadata()) {
                        let _ = on_update.send(GraphEvent::Observed {
                            object: observed(&update_kind, new.metadata()),
                            previous: Some(observed(&update_kind, old.metadata())),
                        });
                    }
                })
                .on_delete(move |object: &Arc<K>| {
                    let _ = on_delete.send(GraphEvent::Deleted(observed(
                        &delete_kind,
                        object.metadata(),
                    )));
                }),
        )
    }

    fn has_synced(&self) -> bool {
        self.informer.has_synced()
    }
}

fn typed<K: Served>(factory: &SharedInformerFactory) -> Box<dyn Monitor> {
    Box::new(InformerMonitor {
        informer: factory.informer::<K>(),
        kind: K::resource_kind().clone(),
    })
}

macro_rules! typed_monitors {
    ($($ty:ty),* $(,)?) => {
        /// The typed monitor of a built-in kind, `None` for other kinds.
        fn typed_monitor(
            factory: &SharedInformerFactory,
            kind: &ResourceKind,
        ) -> Option<Box<dyn Monitor>> {
            $(
                if <$ty as Served>::resource_kind() == kind {
                    return Some(typed::<$ty>(factory));
                }
            )*
            None
        }
    };
}

typed_monitors!(
    core::Namespace,
    core::Node,
    core::Pod,
    core::Service,
    core::Endpoints,
    core::ConfigMap,
    core::Secret,
    core::ServiceAccount,
    core::PersistentVolume,
    core::PersistentVolumeClaim,
    core::Event,
    core::LimitRange,
    core::ResourceQuota,
    core::ReplicationController,
    core::PodTemplate,
    apps::Deployment,
    apps::ReplicaSet,
    apps::StatefulSet,
    apps::DaemonSet,
    apps::ControllerRevision,
    batch::Job,
    batch::CronJob,
    autoscaling::HorizontalPodAutoscaler,
    coordination::Lease,
    discovery::EndpointSlice,
    networking::Ingress,
    networking::IngressClass,
    networking::NetworkPolicy,
    policy::PodDisruptionBudget,
    rbac::Role,
    rbac::RoleBinding,
    rbac::ClusterRole,
    rbac::ClusterRoleBinding,
    scheduling::PriorityClass,
    storage::StorageClass,
    storage::VolumeAttachment,
    storage::CSIDriver,
    storage::CSINode,
    storage::CSIStorageCapacity,
    admissionregistration::ValidatingAdmissionPolicy,
    admissionregistration::ValidatingAdmissionPolicyBinding,
    admissionregistration::ValidatingWebhookConfiguration,
    admissionregistration::MutatingWebhookConfiguration,
    apiextensions::CustomResourceDefinition,
);

/// The monitor of `kind`: a typed informer for a built-in kind, a `DynamicObject` one
/// otherwise.
pub fn monitor_for(factory: &SharedInformerFactory, kind: &ResourceKind) -> Box<dyn Monitor> {
    typed_monitor(factory, kind).unwrap_or_else(|| {
        Box::new(InformerMonitor {
            informer: factory.informer_for::<DynamicObject>(kind, None),
            kind: kind.clone(),
        })
    })
}

#[cfg(test)]
mod tests {
    use orchestra_api::kinds;
    use orchestra_store::{LocalClient, MemoryKv, Store, StoreConfig};

    use super::*;

    #[tokio::test]
    async fn every_built_in_kind_is_watched_through_its_typed_informer() {
        let store = Store::open(
            Arc::new(MemoryKv::new()),
            kinds::BUILTIN.iter().map(|k| (*k).clone()),
            StoreConfig::default(),
        )
        .await
        .unwrap();
        let factory = SharedInformerFactory::new(Arc::new(LocalClient::new(store)));
        for kind in kinds::BUILTIN {
            let monitor = typed_monitor(&factory, kind);
            assert!(
                monitor.is_some_and(|m| m.kind() == *kind),
                "{} has no typed monitor",
                kind.plural
            );
        }
    }

    #[test]
    fn only_owner_references_deletion_and_gc_finalizers_matter_to_the_graph() {
        let base = ObjectMeta::default();
        let mut labelled = base.clone();
        labelled.labels = Some([("a".to_owned(), "b".to_owned())].into());
        assert!(!graph_fields_changed(&base, &labelled));
        let mut finalized = base.clone();
        finalized.finalizers = Some(vec!["example.com/x".into()]);
        assert!(!graph_fields_changed(&base, &finalized));
        finalized.finalizers = Some(vec![ORPHAN_FINALIZER.into()]);
        assert!(graph_fields_changed(&base, &finalized));
        let mut owned = base.clone();
        owned.owner_references = Some(vec![Default::default()]);
        assert!(graph_fields_changed(&base, &owned));
    }
}
