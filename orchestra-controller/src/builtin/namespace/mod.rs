//! The namespace controller: empties a namespace that is being deleted, then lets it go, as
//! Kubernetes' does.
//!
//! Deleting a namespace does not remove it: the API server marks it (`deletionTimestamp`,
//! phase `Terminating`), refuses new objects in it, and keeps it while its `spec.finalizers`
//! hold the `kubernetes` finalizer. This controller then, for a terminating namespace:
//!
//! 1. deletes every namespaced object of every served kind in it ([`deleter`]:
//!    `deletecollection` with background propagation where the kind has it, one delete per
//!    object otherwise);
//! 2. records what happened in the namespace's [`conditions`] (`NamespaceContentRemaining`,
//!    `NamespaceFinalizersRemaining`, `NamespaceDeletionContentFailure`, …);
//! 3. when something is still expected to go — pods within their grace period, objects held
//!    by finalizers — looks again after half the estimate plus a second, and also as soon as a
//!    pod of the namespace changes (the kubelet ending it), which Kubernetes' controller does
//!    not watch;
//! 4. once the namespace is empty, removes the `kubernetes` finalizer through the
//!    `namespaces/{name}/finalize` subresource, and the API server removes the namespace.
//!
//! Failures (something left that nothing explains, a refused delete) are retried with the
//! queue's back-off.
//!
//! ```no_run
//! # fn wire(manager: &orchestra_controller::manager::Manager) {
//! use orchestra_controller::builtin::namespace::{self, NamespaceConfig};
//! namespace::add_to(manager, NamespaceConfig::default());
//! # }
//! ```

pub mod conditions;
pub mod deleter;

use std::sync::Arc;
use std::time::Duration;

use orchestra_api::k8s_openapi::api::core::v1::{Namespace, NamespaceSpec, Pod};
use orchestra_api::k8s_openapi::jiff::Timestamp;
use orchestra_api::object::downcast_arc;
use orchestra_api::{Client, GetParams, PostParams, ResourceKind, Status, Subresource, kinds};

use self::conditions::update_conditions;
use self::deleter::ContentDeleter;
use crate::controller::{Action, Controller, ReconcileError, Retry};
use crate::informer::{Cache, ObjectKey};
use crate::manager::Manager;

/// The controller's name, as kube-controller-manager knows it.
pub const CONTROLLER_NAME: &str = "namespace-controller";

/// The finalizer this controller removes once a namespace is empty.
pub const KUBERNETES_FINALIZER: &str = "kubernetes";

/// How many times a namespace update is retried after losing a race.
const CONFLICT_RETRIES: usize = 5;

/// How the namespace controller runs.
#[derive(Debug, Clone)]
pub struct NamespaceConfig {
    /// `--concurrent-namespace-syncs`: namespaces emptied at once (10).
    pub workers: usize,
    /// The kinds whose objects a terminating namespace is emptied of: every built-in kind by
    /// default (only the namespaced ones that can be deleted are used). Add custom resources'
    /// kinds to delete them too.
    pub kinds: Vec<ResourceKind>,
    /// How long objects held by finalizers are expected to take before they go: the controller
    /// looks again after half of it plus a second (Kubernetes' fixed 15 s).
    pub finalizer_estimate: Duration,
}

impl Default for NamespaceConfig {
    fn default() -> Self {
        Self {
            workers: 10,
            kinds: kinds::BUILTIN.iter().map(|k| (*k).clone()).collect(),
            finalizer_estimate: Duration::from_secs(deleter::FINALIZER_ESTIMATE_SECONDS as u64),
        }
    }
}

/// What the controller's reconciles share.
struct Context {
    client: Arc<dyn Client>,
    kinds: Vec<ResourceKind>,
    finalizer_estimate_seconds: i64,
}

/// Why emptying a namespace failed this time.
#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    /// A request failed.
    #[error(transparent)]
    Server(#[from] Status),
    /// Some content could not be deleted, or is left without a reason.
    #[error("{0}")]
    Content(String),
}

impl ReconcileError for NamespaceError {
    fn status(&self) -> Option<&Status> {
        match self {
            Self::Server(status) => Some(status),
            _ => None,
        }
    }
}

/// Registers the namespace controller with `manager`.
pub fn add_to(manager: &Manager, config: NamespaceConfig) {
    let factory = manager.factory();
    let namespaces: Cache<Namespace> = factory.informer::<Namespace>().cache();
    let controller = Controller::<Namespace>::new(factory)
        .name(CONTROLLER_NAME)
        .workers(config.workers)
        // A pod of a terminating namespace that changes (typically: the kubelet finished it)
        // may be what the namespace waits for.
        .watches::<Pod, _>(move |pod: &Pod| {
            let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
            let terminating = namespaces
                .get(None, namespace)
                .is_some_and(|ns| ns.metadata.deletion_timestamp.is_some());
            terminating.then(|| ObjectKey::new(None, namespace))
        });
    let ctx = Arc::new(Context {
        client: Arc::clone(manager.client()),
        kinds: config.kinds,
        finalizer_estimate_seconds: i64::try_from(config.finalizer_estimate.as_secs())
            .unwrap_or(i64::MAX),
    });
    manager.add(controller, reconcile, error_policy, ctx);
}

fn error_policy(_namespace: Arc<Namespace>, _error: &NamespaceError, _ctx: Arc<Context>) -> Retry {
    Retry::Backoff
}

async fn reconcile(cached: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action, NamespaceError> {
    if cached.metadata.deletion_timestamp.is_none() {
        return Ok(Action::await_change());
    }
    let name = cached.metadata.name.clone().unwrap_or_default();
    // Other controllers edit a terminating namespace too: work from its latest state.
    let Some(namespace) = get_namespace(&ctx.client, &name).await? else {
        return Ok(Action::await_change());
    };
    let Some(deleted_at) = namespace.metadata.deletion_timestamp.clone() else {
        return Ok(Action::await_change());
    };
    let Some(namespace) = ensure_terminating(&ctx.client, namespace).await? else {
        return Ok(Action::await_change());
    };
    if finalizers(&namespace).is_empty() {
        return Ok(Action::await_change());
    }

    let now = Timestamp::now();
    let (estimate, report) = ContentDeleter {
        client: &ctx.client,
        kinds: &ctx.kinds,
        namespace: &name,
        deleted_at: deleted_at.0,
        now,
        finalizer_estimate_seconds: ctx.finalizer_estimate_seconds,
    }
    .delete_all_content()
    .await;
    let mut with_conditions = (*namespace).clone();
    let status = with_conditions.status.get_or_insert_with(Default::default);
    if update_conditions(status, &report, now) {
        // As in Kubernetes, a lost race here is only logged: the next pass sets them again.
        if let Err(status) = replace_status(&ctx.client, &with_conditions).await {
            tracing::info!(namespace = %name, %status, "could not update the namespace's conditions");
        }
    }
    if !report.delete_errors.is_empty() {
        return Err(NamespaceError::Content(report.delete_errors.join("; ")));
    }
    if estimate > 0 {
        let after = Duration::from_secs(u64::try_from(estimate / 2 + 1).unwrap_or(1));
        tracing::debug!(namespace = %name, estimate, "content remains; looking again later");
        return Ok(Action::requeue(after));
    }
    finalize(&ctx.client, &name).await?;
    tracing::info!(namespace = %name, "namespace emptied and finalized");
    Ok(Action::await_change())
}

fn finalizers(namespace: &Namespace) -> &[String] {
    namespace
        .spec
        .as_ref()
        .and_then(|s| s.finalizers.as_deref())
        .unwrap_or_default()
}

async fn get_namespace(
    client: &Arc<dyn Client>,
    name: &str,
) -> Result<Option<Arc<Namespace>>, Status> {
    match client
        .get(&kinds::NAMESPACES, None, name, &GetParams::default())
        .await
    {
        Ok(object) => downcast_arc::<Namespace>(object)
            .map(Some)
            .map_err(Status::internal),
        Err(status) if status.code == 404 => Ok(None),
        Err(status) => Err(status),
    }
}

async fn replace_status(client: &Arc<dyn Client>, namespace: &Namespace) -> Result<(), Status> {
    let name = namespace.metadata.name.clone().unwrap_or_default();
    client
        .replace(
            &kinds::NAMESPACES,
            None,
            &name,
            Some(Subresource::Status),
            Arc::new(namespace.clone()),
            &PostParams::default(),
        )
        .await
        .map(|_| ())
}

/// Makes sure the namespace's phase says `Terminating`; `None` when it is gone or no longer
/// being deleted.
async fn ensure_terminating(
    client: &Arc<dyn Client>,
    mut namespace: Arc<Namespace>,
) -> Result<Option<Arc<Namespace>>, Status> {
    let name = namespace.metadata.name.clone().unwrap_or_default();
    for _ in 0..CONFLICT_RETRIES {
        if namespace.metadata.deletion_timestamp.is_none() {
            return Ok(None);
        }
        let phase = namespace.status.as_ref().and_then(|s| s.phase.as_deref());
        if phase == Some("Terminating") {
            return Ok(Some(namespace));
        }
        let mut terminating = (*namespace).clone();
        terminating
            .status
            .get_or_insert_with(Default::default)
            .phase = Some("Terminating".into());
        match replace_status(client, &terminating).await {
            Ok(()) => return get_namespace(client, &name).await,
            Err(status) if status.code == 409 => {
                let Some(latest) = get_namespace(client, &name).await? else {
                    return Ok(None);
                };
                namespace = latest;
            }
            Err(status) if status.code == 404 => return Ok(None),
            Err(status) => return Err(status),
        }
    }
    Ok(Some(namespace))
}

/// Removes the `kubernetes` finalizer through `namespaces/{name}/finalize`.
async fn finalize(client: &Arc<dyn Client>, name: &str) -> Result<(), Status> {
    for attempt in 1..=CONFLICT_RETRIES {
        let Some(namespace) = get_namespace(client, name).await? else {
            return Ok(());
        };
        let current = finalizers(&namespace);
        if !current.iter().any(|f| f == KUBERNETES_FINALIZER) {
            return Ok(());
        }
        let mut kept: Vec<String> = current
            .iter()
            .filter(|f| *f != KUBERNETES_FINALIZER)
            .cloned()
            .collect();
        kept.sort();
        kept.dedup();
        let mut finalized = (*namespace).clone();
        finalized.spec = Some(NamespaceSpec {
            finalizers: Some(kept),
        });
        match client
            .replace(
                &kinds::NAMESPACES,
                None,
                name,
                Some(Subresource::Finalize),
                Arc::new(finalized),
                &PostParams::default(),
            )
            .await
        {
            Ok(_) => return Ok(()),
            Err(status) if status.code == 404 => return Ok(()),
            Err(status) if status.code == 409 && attempt < CONFLICT_RETRIES => {}
            Err(status) => return Err(status),
        }
    }
    Ok(())
}
