//! Admission: what Kubernetes' built-in admission plugins do to a write after it is decoded
//! and defaulted and before it is validated and stored. They run inside the registry, so every
//! client — the HTTP API server, the in-process [`LocalClient`](crate::LocalClient) — gets
//! them, in Kubernetes' order:
//!
//! | plugin | on | what it does |
//! |---|---|---|
//! | [`namespace_lifecycle`] | creates of namespaced objects; deletes of namespaces | refuses objects in a namespace that does not exist (404) or is terminating (403); refuses to delete `default`, `kube-system` and `kube-public` |
//! | [`service_account`] | pod creates | sets `spec.serviceAccountName` to `default` when empty |
//! | [`priority`] | pod creates and updates; PriorityClass writes | resolves `priorityClassName` (or the global default class) into `spec.priority` and `spec.preemptionPolicy`; one global default at most |
//! | [`default_toleration_seconds`] | pod creates and updates | tolerates `node.kubernetes.io/not-ready` and `unreachable` (NoExecute) for 300 s unless the pod says otherwise |
//!
//! Like Kubernetes' admission chain they run after the request's field ownership is recorded,
//! so what they set (a pod's priority, its default tolerations) is owned by no field manager.
//! Subresources (`status`, `binding`) are not admitted, as in Kubernetes.

pub mod default_toleration_seconds;
pub mod namespace_lifecycle;
pub mod priority;
pub mod service_account;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use orchestra_api::{Object, ResourceKind, Status, kinds};

use crate::store::Store;
use crate::watch_cache::Filter;

/// Settings of the admission plugins, with Kubernetes' defaults. The API server's flags of
/// the same names set them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionConfig {
    /// `--default-not-ready-toleration-seconds`: how long a pod tolerates a not-ready node
    /// unless it says otherwise (300).
    pub default_not_ready_toleration_seconds: i64,
    /// `--default-unreachable-toleration-seconds`: how long a pod tolerates an unreachable
    /// node unless it says otherwise (300).
    pub default_unreachable_toleration_seconds: i64,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        Self {
            default_not_ready_toleration_seconds:
                default_toleration_seconds::DEFAULT_TOLERATION_SECONDS,
            default_unreachable_toleration_seconds:
                default_toleration_seconds::DEFAULT_TOLERATION_SECONDS,
        }
    }
}

/// How long after a namespace's deletion starts its admission checks read it consistently
/// rather than from the cache (Kubernetes' NamespaceLifecycle keeps the same window).
const FORCE_LIVE_LOOKUP: Duration = Duration::from_secs(30);

/// What admission remembers across requests: the namespaces whose deletion this store
/// started recently, which creates look up consistently so that none slips in while the
/// cache lags behind the deletion.
#[derive(Debug, Default)]
pub(crate) struct AdmissionState {
    deleted_namespaces: Mutex<HashMap<String, Instant>>,
}

impl AdmissionState {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.deleted_namespaces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes that the deletion of namespace `name` is being requested.
    pub(crate) fn namespace_deleted(&self, name: &str) {
        let now = Instant::now();
        let mut deleted = self.lock();
        deleted.retain(|_, at| now.duration_since(*at) < FORCE_LIVE_LOOKUP);
        deleted.insert(name.to_owned(), now);
    }

    /// Whether namespace `name` must be read consistently.
    fn needs_live_lookup(&self, name: &str) -> bool {
        self.lock()
            .get(name)
            .is_some_and(|at| at.elapsed() < FORCE_LIVE_LOOKUP)
    }
}

/// The admission chain for writes of one kind, reading what it looks up (namespaces,
/// PriorityClasses) from the store's caches.
pub(crate) struct Admission<'a> {
    store: &'a Store,
    kind: &'a ResourceKind,
}

impl<'a> Admission<'a> {
    /// The chain for writes of `kind` into `store`.
    pub(crate) fn new(store: &'a Store, kind: &'a ResourceKind) -> Self {
        Self { store, kind }
    }

    /// Admits a create: `object` has its name and namespace and may be changed.
    pub(crate) async fn admit_create(&self, object: &mut dyn Object) -> Result<(), Status> {
        let name = object.metadata().name.clone().unwrap_or_default();
        if self.kind.is_namespaced() {
            let namespace = object.metadata().namespace.clone().unwrap_or_default();
            let found = self.namespace(&namespace).await?;
            if let Some(found) = found {
                namespace_lifecycle::check_create(self.kind, &name, &namespace, found.as_deref())?;
            }
        }
        if let Some(pod) = object.as_any_mut().downcast_mut::<Pod>() {
            service_account::admit_create(pod, &name)?;
            let classes = self.priority_classes(pod).await?;
            priority::admit_pod_create(pod, &name, &classes)?;
            default_toleration_seconds::admit(pod, &self.store.config().admission);
        } else if let Some(class) = object.as_any().downcast_ref::<PriorityClass>() {
            let classes = self.priority_classes_for(class).await?;
            priority::validate_priority_class(class, &classes, false)?;
        }
        Ok(())
    }

    /// The PriorityClasses a class being written is checked against: read consistently when
    /// it claims to be the global default, so that two defaults do not pass one after the
    /// other.
    async fn priority_classes_for(
        &self,
        class: &PriorityClass,
    ) -> Result<Vec<Arc<PriorityClass>>, Status> {
        if class.global_default == Some(true) {
            self.store.wait_fresh().await?;
        }
        Ok(self.all_priority_classes())
    }

    /// Admits an update of the object itself (not a subresource): `new` may be changed.
    pub(crate) async fn admit_update(
        &self,
        new: &mut dyn Object,
        old: &dyn Object,
    ) -> Result<(), Status> {
        if let (Some(pod), Some(old_pod)) = (
            new.as_any_mut().downcast_mut::<Pod>(),
            old.as_any().downcast_ref::<Pod>(),
        ) {
            priority::admit_pod_update(pod, old_pod);
            default_toleration_seconds::admit(pod, &self.store.config().admission);
        } else if let Some(class) = new.as_any().downcast_ref::<PriorityClass>() {
            let classes = self.priority_classes_for(class).await?;
            priority::validate_priority_class(class, &classes, true)?;
        }
        Ok(())
    }

    /// Admits a delete of `name`.
    pub(crate) fn admit_delete(&self, name: &str) -> Result<(), Status> {
        namespace_lifecycle::check_delete(self.kind, name)?;
        if *self.kind == kinds::NAMESPACES {
            self.store.admission_state().namespace_deleted(name);
        }
        Ok(())
    }

    /// The namespace `name` as the store knows it: `None` when the store serves no
    /// namespaces (nothing to check), `Some(None)` when it does not exist. A namespace
    /// missing from the cache is looked up again once the cache holds every acknowledged
    /// write, as Kubernetes falls back to a live read.
    async fn namespace(&self, name: &str) -> Result<Option<Option<Arc<Namespace>>>, Status> {
        let Some(cache) = self.store.cache(&kinds::NAMESPACES) else {
            return Ok(None);
        };
        let typed = |obj: orchestra_api::ArcObject| {
            orchestra_api::object::downcast_arc::<Namespace>(obj).ok()
        };
        if !self.store.admission_state().needs_live_lookup(name)
            && let Some(found) = cache.get("", name).and_then(typed)
        {
            return Ok(Some(Some(found)));
        }
        self.store.wait_fresh().await?;
        Ok(Some(cache.get("", name).and_then(typed)))
    }

    /// Every PriorityClass the store's cache holds.
    fn all_priority_classes(&self) -> Vec<Arc<PriorityClass>> {
        let Some(cache) = self.store.cache(&kinds::PRIORITY_CLASSES) else {
            return Vec::new();
        };
        cache
            .list(&Filter::everything(), None, None)
            .items
            .into_iter()
            .filter_map(|obj| orchestra_api::object::downcast_arc::<PriorityClass>(obj).ok())
            .collect()
    }

    /// The PriorityClasses a pod's admission needs, read again after a consistent wait when
    /// the class it names is not cached yet.
    async fn priority_classes(&self, pod: &Pod) -> Result<Vec<Arc<PriorityClass>>, Status> {
        let classes = self.all_priority_classes();
        let named = pod
            .spec
            .as_ref()
            .and_then(|s| s.priority_class_name.as_deref())
            .filter(|n| !n.is_empty());
        match named {
            Some(name)
                if self.store.cache(&kinds::PRIORITY_CLASSES).is_some()
                    && !classes
                        .iter()
                        .any(|c| c.metadata.name.as_deref() == Some(name)) =>
            {
                self.store.wait_fresh().await?;
                Ok(self.all_priority_classes())
            }
            _ => Ok(classes),
        }
    }
}
