//! One sync of a ReplicaSet or ReplicationController (Kubernetes' `syncReplicaSet`):
//!
//! 1. read the pods it controls and the orphans of its namespace from the shared pod cache
//!    (through the owner-uid and orphan indexes, never a list from the server);
//! 2. claim them: adopt matching orphans, release controlled pods that stopped matching;
//! 3. if its [expectations](super::expectations) are satisfied and it is not being deleted,
//!    create pods (slow start, up to the burst) or delete the least valuable ones until the
//!    active pods match `replicas`;
//! 4. write the status through the status subresource if it changed;
//! 5. come back when a ready pod becomes available (`minReadySeconds`) or, with writes still
//!    unobserved, when the expectations expire.
//!
//! A failed creation or deletion is reported in the status (`ReplicaFailure`), as an Event,
//! and as the sync's error, so the runtime retries with back-off.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use jiff::Timestamp;
use orchestra_api::k8s_openapi::api::core::v1::Pod;
use orchestra_api::{Api, Client, DeleteParams, PostParams, Preconditions, Status, StatusReason};

use super::event_sink::EventSink;
use super::expectations::{CachedPod, Expectations};
use super::pod_template::pod_from_template;
use super::ranking::pods_to_delete;
use super::slow_start::{SLOW_START_INITIAL_BATCH_SIZE, slow_start_batch};
use super::status::{calculate_status, next_availability};
use super::workload::{ReplicaStatus, ReplicatedWorkload};
use crate::builtin::ownership::{ORPHAN_NAMESPACE_INDEX, claim_children, controller_of};
use crate::builtin::pod_state;
use crate::controller::Action;
use crate::events::EventType;
use crate::informer::{Cache, OWNER_UID_INDEX};

/// What every sync of one workload kind shares.
pub(crate) struct Context<K> {
    pub(crate) client: Arc<dyn Client>,
    pub(crate) pods: Cache<Pod>,
    pub(crate) workloads: Cache<K>,
    pub(crate) expectations: Arc<Expectations>,
    pub(crate) events: EventSink,
    pub(crate) burst_replicas: usize,
}

/// The namespace's cause that a create was refused because the namespace is terminating.
const NAMESPACE_TERMINATING_CAUSE: &str = "NamespaceTerminating";

fn namespace_terminating(status: &Status) -> bool {
    status.details.as_ref().is_some_and(|d| {
        d.causes
            .iter()
            .any(|c| c.reason == NAMESPACE_TERMINATING_CAUSE)
    })
}

/// What the pod cache holds under `name` in `namespace`.
fn cached_pod(pods: &Cache<Pod>, namespace: Option<&str>, name: &str) -> CachedPod {
    match pods.get(namespace, name) {
        Some(pod) => CachedPod::Present {
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            terminating: pod_state::is_terminating(&pod),
        },
        None => CachedPod::Absent,
    }
}

/// The active pods `workload` controls or might adopt, each once.
fn candidate_pods<K>(ctx: &Context<K>, uid: &str, namespace: &str) -> Vec<Arc<Pod>> {
    let mut pods = ctx.pods.by_index(OWNER_UID_INDEX, uid).unwrap_or_default();
    let orphans = ctx
        .pods
        .by_index(ORPHAN_NAMESPACE_INDEX, namespace)
        .unwrap_or_default();
    // A pod that names the workload as a non-controlling owner is also an orphan.
    for orphan in orphans {
        if !pods.iter().any(|p| p.metadata.uid == orphan.metadata.uid) {
            pods.push(orphan);
        }
    }
    pods.retain(|pod| pod_state::is_active(pod));
    pods
}

/// Reconciles one ReplicaSet or ReplicationController; see the [module documentation](self).
pub(crate) async fn reconcile<K: ReplicatedWorkload>(
    workload: Arc<K>,
    ctx: Arc<Context<K>>,
) -> Result<Action, Status> {
    let meta = workload.metadata();
    let uid = meta.uid.clone().unwrap_or_default();
    let namespace = meta.namespace.clone().unwrap_or_default();
    let name = meta.name.clone().unwrap_or_default();

    let needs_sync = ctx
        .expectations
        .satisfied(&uid, |pod| cached_pod(&ctx.pods, Some(&namespace), pod));
    let selector = match workload.pod_selector() {
        // An empty selector would claim every pod of the namespace: it claims none.
        Ok(selector) if selector.is_everything() => orchestra_api::LabelSelector::nothing(),
        Ok(selector) => selector,
        Err(error) => {
            tracing::warn!(workload = %name, %error, "the pod selector is invalid; nothing to do until it changes");
            return Ok(Action::await_change());
        }
    };

    let candidates = candidate_pods(&ctx, &uid, &namespace);
    let pods = claim_children(&ctx.client, &*workload, &selector, candidates).await?;

    let manage_error = if needs_sync && meta.deletion_timestamp.is_none() {
        manage_replicas(&workload, &pods, &ctx).await.err()
    } else {
        None
    };

    let now = Timestamp::now();
    let status = calculate_status(&*workload, &pods, manage_error.as_ref(), now);
    write_status(&ctx.client, &*workload, &status).await?;
    if let Some(error) = manage_error {
        return Err(error);
    }

    let mut next: Option<Duration> = next_availability(&pods, workload.min_ready_seconds(), now)
        // Whole seconds are rounded down from a fractional now: look a little after.
        .map(|left| left + Duration::from_millis(100));
    if !needs_sync && let Some(expiry) = ctx.expectations.time_to_expiry(&uid) {
        next = Some(next.map_or(expiry, |n| n.min(expiry)));
    }
    Ok(next.map_or_else(Action::await_change, Action::requeue))
}

/// Writes `status` through the status subresource unless the workload already has it; on a
/// conflict, once more over a fresh read (Kubernetes' `updateReplicaSetStatus`).
async fn write_status<K: ReplicatedWorkload>(
    client: &Arc<dyn Client>,
    workload: &K,
    status: &ReplicaStatus,
) -> Result<(), Status> {
    if workload.replica_status() == *status {
        return Ok(());
    }
    let meta = workload.metadata();
    let name = meta.name.as_deref().unwrap_or_default();
    let api = Api::<K>::namespaced(
        client.clone(),
        meta.namespace.as_deref().unwrap_or_default(),
    );
    let mut updated = workload.clone();
    updated.set_replica_status(status);
    match api
        .replace_status(name, &PostParams::default(), &updated)
        .await
    {
        Ok(_) => Ok(()),
        Err(conflict) if conflict.reason == StatusReason::Conflict => {
            let mut fresh = (*api.get(name).await?).clone();
            fresh.set_replica_status(status);
            api.replace_status(name, &PostParams::default(), &fresh)
                .await
                .map(|_| ())
        }
        Err(status) => Err(status),
    }
}

/// Creates or deletes pods so the active ones match `replicas` (at most the burst per sync).
async fn manage_replicas<K: ReplicatedWorkload>(
    workload: &Arc<K>,
    pods: &[Arc<Pod>],
    ctx: &Context<K>,
) -> Result<(), Status> {
    let desired = usize::try_from(workload.desired_replicas()).unwrap_or(0);
    if pods.len() < desired {
        create_pods(
            workload,
            (desired - pods.len()).min(ctx.burst_replicas),
            ctx,
        )
        .await
    } else if pods.len() > desired {
        delete_pods(
            workload,
            pods,
            (pods.len() - desired).min(ctx.burst_replicas),
            ctx,
        )
        .await
    } else {
        Ok(())
    }
}

async fn create_pods<K: ReplicatedWorkload>(
    workload: &Arc<K>,
    count: usize,
    ctx: &Context<K>,
) -> Result<(), Status> {
    let meta = workload.metadata();
    let uid = meta.uid.as_deref().unwrap_or_default();
    let namespace = meta.namespace.as_deref().unwrap_or_default();
    let Some(template) = workload.pod_template() else {
        return Err(Status::invalid(
            &K::resource_kind().group,
            &K::resource_kind().kind,
            meta.name.as_deref().unwrap_or_default(),
            &[orchestra_api::validation::FieldError::required(
                orchestra_api::validation::FieldPath::new("spec").child("template"),
                "a pod template is required to create pods",
            )],
        ));
    };
    let pod = pod_from_template(template, &**workload)?;
    tracing::debug!(count, "creating pods");
    let api = Api::<Pod>::namespaced(ctx.client.clone(), namespace);
    ctx.expectations.expect_creations(uid, count);
    let outcome = slow_start_batch(count, SLOW_START_INITIAL_BATCH_SIZE, |_| {
        let api = &api;
        let pod = &pod;
        async move {
            match api.create(&PostParams::default(), pod).await {
                Ok(created) => {
                    let created_name = created.metadata.name.as_deref().unwrap_or_default();
                    ctx.expectations.creation_succeeded(uid, created_name);
                    ctx.events.record(
                        &**workload,
                        EventType::Normal,
                        "SuccessfulCreate",
                        format!("Created pod: {created_name}"),
                    );
                    Ok(())
                }
                // Every create in a terminating namespace fails; nothing to retry or report.
                Err(status) if namespace_terminating(&status) => {
                    ctx.expectations.creations_not_made(uid, 1);
                    Ok(())
                }
                Err(status) => {
                    ctx.expectations.creations_not_made(uid, 1);
                    ctx.events.record(
                        &**workload,
                        EventType::Warning,
                        "FailedCreate",
                        format!("Error creating: {}", status.message),
                    );
                    Err(status)
                }
            }
        }
    })
    .await;
    // Creations never sent will not be observed.
    ctx.expectations
        .creations_not_made(uid, count - outcome.attempted);
    match outcome.error {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// The pods of the workload's family — the pods controlled by every ReplicaSet sharing its
/// controller (a Deployment's old and new ReplicaSets) — whose node sharing ranks deletions.
fn related_pods<K: ReplicatedWorkload>(workload: &K, ctx: &Context<K>) -> Vec<Arc<Pod>> {
    let Some(controller) = controller_of(workload.metadata()) else {
        return Vec::new();
    };
    let siblings = ctx
        .workloads
        .by_index(OWNER_UID_INDEX, &controller.uid)
        .unwrap_or_default();
    siblings
        .iter()
        .filter_map(|sibling| sibling.metadata().uid.as_deref())
        .flat_map(|sibling_uid| {
            ctx.pods
                .by_index(OWNER_UID_INDEX, sibling_uid)
                .unwrap_or_default()
        })
        .collect()
}

async fn delete_pods<K: ReplicatedWorkload>(
    workload: &Arc<K>,
    pods: &[Arc<Pod>],
    count: usize,
    ctx: &Context<K>,
) -> Result<(), Status> {
    let meta = workload.metadata();
    let uid = meta.uid.as_deref().unwrap_or_default();
    let namespace = meta.namespace.as_deref().unwrap_or_default();
    let related = related_pods(&**workload, ctx);
    let victims = pods_to_delete(pods.to_vec(), &related, count, Timestamp::now());
    tracing::debug!(count = victims.len(), "deleting pods");
    ctx.expectations.expect_deletions(
        uid,
        victims.iter().map(|pod| {
            (
                pod.metadata.name.as_deref().unwrap_or_default(),
                pod.metadata.uid.as_deref().unwrap_or_default(),
            )
        }),
    );
    let api = Api::<Pod>::namespaced(ctx.client.clone(), namespace);
    let deletions = victims.iter().map(|pod| {
        let api = &api;
        async move {
            let name = pod.metadata.name.as_deref().unwrap_or_default();
            let params = DeleteParams {
                // Never delete a newer pod that took the name meanwhile.
                preconditions: Some(Preconditions {
                    uid: pod.metadata.uid.clone(),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            match api.delete(name, &params).await {
                Ok(_) => {
                    ctx.events.record(
                        &**workload,
                        EventType::Normal,
                        "SuccessfulDelete",
                        format!("Deleted pod: {name}"),
                    );
                    Ok(())
                }
                Err(status)
                    if matches!(
                        status.reason,
                        StatusReason::NotFound | StatusReason::Conflict
                    ) =>
                {
                    ctx.expectations.deletion_not_made(uid, name);
                    Ok(())
                }
                Err(status) => {
                    ctx.expectations.deletion_not_made(uid, name);
                    ctx.events.record(
                        &**workload,
                        EventType::Warning,
                        "FailedDelete",
                        format!("Error deleting: {}", status.message),
                    );
                    Err(status)
                }
            }
        }
    });
    join_all(deletions)
        .await
        .into_iter()
        .find_map(Result::err)
        .map_or(Ok(()), Err)
}
