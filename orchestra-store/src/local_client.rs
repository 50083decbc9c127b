//! `LocalClient`: [`orchestra_api::Client`] served in-process from a [`Store`]'s registries.
//!
//! Objects cross it as `Arc`s: a get or list hands out the watch cache's own objects, and a
//! create or update encodes the object once for the key-value store. Every write passes the
//! same defaulting, validation and optimistic concurrency as a write through the API server.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::sync::Arc;
//! use orchestra_api::{kinds, Api, ListParams, PostParams, k8s_openapi::api::core::v1::Namespace};
//! use orchestra_store::{LocalClient, MemoryKv, Store, StoreConfig};
//!
//! let store = Store::open(Arc::new(MemoryKv::new()), kinds::BUILTIN.iter().map(|k| (*k).clone()), StoreConfig::default())
//!     .await
//!     .unwrap();
//! let client = Arc::new(LocalClient::new(store));
//! let namespaces = Api::<Namespace>::all(client);
//! let mut ns = Namespace::default();
//! ns.metadata.name = Some("team-a".into());
//! namespaces.create(&PostParams::default(), &ns).await.unwrap();
//! let listed = namespaces.list(&ListParams::default()).await.unwrap();
//! assert_eq!(listed.items[0].status.as_ref().unwrap().phase.as_deref(), Some("Active"));
//! # }
//! ```

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Binding, Pod, PodCondition};
use k8s_openapi::api::policy::v1::{Eviction, PodDisruptionBudget};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use orchestra_api::object::downcast_arc;
use orchestra_api::status::{StatusCause, StatusDetails};
use orchestra_api::{
    ArcObject, Client, DeleteOutcome, DeleteParams, GetParams, LabelSelector, ListParams,
    ObjectList, Patch, PatchParams, Patched, PostParams, ResourceKind, Status, Subresource,
    WatchParams, WatchStream, kinds,
};

use crate::registry::lifecycle::UpdateTarget;
use crate::registry::{Registry, registry_for};
use crate::store::Store;

/// The in-process [`Client`] over a [`Store`].
#[derive(Clone, Debug)]
pub struct LocalClient {
    store: Store,
}

impl LocalClient {
    /// A client over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// The store this client serves.
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn registry(&self, kind: &ResourceKind) -> Result<Registry, Status> {
        registry_for(&self.store, kind)
    }

    /// `pods/binding`: assigns a pending pod to a node, once.
    async fn bind(
        &self,
        namespace: Option<&str>,
        name: &str,
        object: ArcObject,
        params: &PostParams,
    ) -> Result<ArcObject, Status> {
        let binding =
            downcast_arc::<Binding>(object).map_err(|e| Status::bad_request(e.to_string()))?;
        let node = binding.target.name.clone().unwrap_or_default();
        if node.is_empty() {
            return Err(Status::invalid(
                "",
                "Binding",
                name,
                &[orchestra_api::validation::FieldError::required(
                    orchestra_api::validation::FieldPath::new("target").child("name"),
                    "",
                )],
            ));
        }
        let pods = self.registry(&kinds::PODS)?;
        pods.update_with(namespace, name, false, params.dry_run, |old| {
            let pod = old
                .as_any()
                .downcast_ref::<Pod>()
                .ok_or_else(|| Status::internal("the pods registry holds a non-pod"))?;
            if pod.metadata.deletion_timestamp.is_some() {
                return Err(Status::conflict(
                    "",
                    "pods",
                    name,
                    "pod is being deleted, cannot be assigned to a host",
                ));
            }
            let mut pod = pod.clone();
            let spec = pod.spec.get_or_insert_with(Default::default);
            if let Some(current) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
                return Err(Status::conflict(
                    "",
                    "pods",
                    name,
                    format!("pod {name} is already assigned to node {current:?}"),
                ));
            }
            spec.node_name = Some(node.clone());
            let status = pod.status.get_or_insert_with(Default::default);
            let conditions = status.conditions.get_or_insert_with(Vec::new);
            conditions.retain(|c| c.type_ != "PodScheduled");
            conditions.push(PodCondition {
                type_: "PodScheduled".to_owned(),
                status: "True".to_owned(),
                last_transition_time: Some(Time(jiff::Timestamp::now())),
                ..PodCondition::default()
            });
            Ok((
                Box::new(pod) as Box<dyn orchestra_api::Object>,
                UpdateTarget::Internal,
            ))
        })
        .await?;
        Ok(binding as ArcObject)
    }

    /// `pods/eviction`: deletes a pod unless a PodDisruptionBudget that selects it allows no
    /// disruption (429); a budget that allows one is decremented first, as Kubernetes does.
    async fn evict(
        &self,
        namespace: Option<&str>,
        name: &str,
        object: ArcObject,
    ) -> Result<ArcObject, Status> {
        let eviction =
            downcast_arc::<Eviction>(object).map_err(|e| Status::bad_request(e.to_string()))?;
        let pods = self.registry(&kinds::PODS)?;
        let pod = pods.get(namespace, name, &GetParams::default()).await?;
        let labels = pod.metadata().labels.clone().unwrap_or_default();
        let budgets = self.registry(&kinds::POD_DISRUPTION_BUDGETS)?;
        let listed = budgets.list(namespace, &ListParams::default()).await?;
        for budget in listed.items {
            let Some(pdb) = budget.as_any().downcast_ref::<PodDisruptionBudget>() else {
                continue;
            };
            let selects = pdb
                .spec
                .as_ref()
                .and_then(|s| s.selector.as_ref())
                .and_then(|s| LabelSelector::try_from(s).ok())
                .is_some_and(|s| !s.is_everything() && s.matches(&labels));
            if !selects {
                continue;
            }
            let pdb_name = pdb.metadata.name.clone().unwrap_or_default();
            budgets
                .update_with(namespace, &pdb_name, false, false, |old| {
                    let mut pdb = old
                        .as_any()
                        .downcast_ref::<PodDisruptionBudget>()
                        .cloned()
                        .ok_or_else(|| Status::internal("not a PodDisruptionBudget"))?;
                    let status = pdb.status.get_or_insert_with(Default::default);
                    if status.disruptions_allowed < 1 {
                        return Err(Status::too_many_requests(
                            "Cannot evict pod as it would violate the pod's disruption budget.",
                            0,
                        )
                        .with_details(StatusDetails {
                            causes: vec![StatusCause {
                                reason: "DisruptionBudget".to_owned(),
                                message: format!(
                                    "The disruption budget {pdb_name} needs {} healthy pods and has {} currently",
                                    status.desired_healthy, status.current_healthy
                                ),
                                field: String::new(),
                            }],
                            ..StatusDetails::default()
                        }));
                    }
                    status.disruptions_allowed -= 1;
                    Ok((Box::new(pdb) as Box<dyn orchestra_api::Object>, UpdateTarget::Status))
                })
                .await?;
        }
        let options = eviction.delete_options.as_ref();
        let params = DeleteParams {
            grace_period_seconds: options.and_then(|o| o.grace_period_seconds),
            dry_run: options
                .and_then(|o| o.dry_run.as_ref())
                .is_some_and(|d| !d.is_empty()),
            ..DeleteParams::default()
        };
        pods.delete(namespace, name, &params).await?;
        Ok(eviction as ArcObject)
    }
}

#[async_trait]
impl Client for LocalClient {
    async fn get(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        params: &GetParams,
    ) -> Result<ArcObject, Status> {
        self.registry(kind)?.get(namespace, name, params).await
    }

    async fn list(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        params: &ListParams,
    ) -> Result<ObjectList, Status> {
        self.registry(kind)?.list(namespace, params).await
    }

    async fn watch(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        params: &WatchParams,
    ) -> Result<WatchStream, Status> {
        self.registry(kind)?.watch(namespace, params).await
    }

    async fn create(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        object: ArcObject,
        params: &PostParams,
    ) -> Result<ArcObject, Status> {
        self.registry(kind)?.create(namespace, object, params).await
    }

    async fn create_subresource(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        subresource: Subresource,
        object: ArcObject,
        params: &PostParams,
    ) -> Result<ArcObject, Status> {
        match (kind == &kinds::PODS, subresource) {
            (true, Subresource::Binding) => self.bind(namespace, name, object, params).await,
            (true, Subresource::Eviction) => self.evict(namespace, name, object).await,
            _ => Err(Status::method_not_allowed()),
        }
    }

    async fn replace(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<Subresource>,
        object: ArcObject,
        params: &PostParams,
    ) -> Result<ArcObject, Status> {
        self.registry(kind)?
            .replace(namespace, name, subresource, object, params)
            .await
    }

    async fn patch(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<Subresource>,
        patch: &Patch,
        params: &PatchParams,
    ) -> Result<ArcObject, Status> {
        self.registry(kind)?
            .patch(namespace, name, subresource, patch, params)
            .await
    }

    async fn patch_outcome(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<Subresource>,
        patch: &Patch,
        params: &PatchParams,
    ) -> Result<Patched, Status> {
        self.registry(kind)?
            .patch_outcome(namespace, name, subresource, patch, params)
            .await
    }

    async fn get_subresource(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        subresource: Subresource,
    ) -> Result<ArcObject, Status> {
        self.registry(kind)?
            .get_subresource(namespace, name, subresource)
            .await
    }

    async fn delete(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        params: &DeleteParams,
    ) -> Result<DeleteOutcome, Status> {
        self.registry(kind)?.delete(namespace, name, params).await
    }

    async fn delete_collection(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        list: &ListParams,
        params: &DeleteParams,
    ) -> Result<ObjectList, Status> {
        self.registry(kind)?
            .delete_collection(namespace, list, params)
            .await
    }
}
