//! Taint-based eviction (Kubernetes' `taint-eviction-controller`): pods on a node with
//! `NoExecute` taints they do not tolerate are deleted.
//!
//! For a pod bound to a node with `NoExecute` taints:
//!
//! - a taint no toleration of the pod tolerates: the pod is deleted at once;
//! - every taint tolerated, some with `tolerationSeconds`: the pod is deleted when the first
//!   of them runs out — each counted from the taint's `timeAdded` (or, for a taint without
//!   one, from when this controller first saw it), so a restart of the controller does not
//!   restart the clock;
//! - every taint tolerated for ever (no `tolerationSeconds`): the pod stays.
//!
//! When the taints go before the time is up, the scheduled deletion is cancelled. Deleting a
//! pod first adds the `DisruptionTarget` condition (reason `DeletionByTaintManager`) to its
//! status, then deletes it through the API with its own grace period, with a
//! `TaintManagerEviction` Event — as Kubernetes does. A pod already being deleted is left
//! alone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use jiff::Timestamp;
use orchestra_api::k8s_openapi::api::core::v1::{Node, Pod, PodCondition, Taint};
use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use orchestra_api::{Api, Client, DeleteParams, PostParams, Preconditions, Status, StatusReason};

use super::clock::WallClock;
use super::taints::{matching_tolerations, no_execute_taints};
use crate::controller::Action;
use crate::events::{EventType, Recorder};
use crate::informer::{Cache, ObjectKey};

/// How many times adding the `DisruptionTarget` condition is retried after a conflict.
const STATUS_RETRIES: usize = 5;
/// The longest a pod waits for its next look; a deadline further out is looked at again then.
const LONGEST_WAIT: Duration = Duration::from_secs(24 * 3600);

/// When each taint without `timeAdded` was first seen: (node, key, effect) → time.
#[derive(Debug, Default)]
pub(super) struct FirstSeen(Mutex<HashMap<(String, String, String), Timestamp>>);

impl FirstSeen {
    fn lock(&self) -> MutexGuard<'_, HashMap<(String, String, String), Timestamp>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// When the taint started counting: its `timeAdded` (never later than now), else when it
    /// was first seen on this node.
    fn taint_start(&self, node: &str, taint: &Taint, now: Timestamp) -> Timestamp {
        if let Some(added) = &taint.time_added {
            return added.0.min(now);
        }
        *self
            .lock()
            .entry((node.to_owned(), taint.key.clone(), taint.effect.clone()))
            .or_insert(now)
    }

    /// Forgets first sightings of taints the node no longer has.
    fn forget_taints_not_on(&self, node: &str, taints: &[&Taint]) {
        self.lock().retain(|(seen_node, key, effect), _| {
            seen_node != node || taints.iter().any(|t| &t.key == key && &t.effect == effect)
        });
    }
}

/// What the taint eviction controller's reconciles share.
pub(super) struct EvictionContext {
    pub(super) client: Arc<dyn Client>,
    pub(super) nodes: Cache<Node>,
    pub(super) clock: WallClock,
    pub(super) recorder: Recorder,
    /// Pods with a deletion scheduled, and when.
    pub(super) scheduled: Mutex<HashMap<ObjectKey, Timestamp>>,
    pub(super) first_seen: FirstSeen,
}

impl EvictionContext {
    fn scheduled(&self) -> MutexGuard<'_, HashMap<ObjectKey, Timestamp>> {
        self.scheduled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Cancels the pod's scheduled deletion, with an Event if there was one.
    async fn cancel(&self, pod: &Pod) {
        let key = ObjectKey::of(pod);
        if self.scheduled().remove(&key).is_some() {
            let note = format!("Cancelling deletion of Pod {key}");
            self.publish(pod, &note).await;
        }
    }

    async fn publish(&self, pod: &Pod, note: &str) {
        if let Err(error) = self
            .recorder
            .publish_about(pod, EventType::Normal, "TaintManagerEviction", note)
            .await
        {
            tracing::debug!(%error, "could not record the eviction Event");
        }
    }
}

/// When the pod must go, given the `NoExecute` taints of its node: `Some(None)` at once,
/// `Some(Some(deadline))` at the deadline, `None` never.
fn eviction_time(
    first_seen: &FirstSeen,
    node: &str,
    pod: &Pod,
    taints: &[&Taint],
    now: Timestamp,
) -> Option<Option<Timestamp>> {
    let tolerations = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or_default();
    let Some(used) = matching_tolerations(taints, tolerations) else {
        return Some(None);
    };
    let mut deadline: Option<Timestamp> = None;
    for (taint, toleration) in taints.iter().zip(used) {
        let Some(seconds) = toleration.toleration_seconds else {
            continue;
        };
        let start = first_seen.taint_start(node, taint, now);
        let due = start
            .checked_add(jiff::SignedDuration::from_secs(seconds.max(0)))
            .unwrap_or(Timestamp::MAX);
        deadline = Some(deadline.map_or(due, |d| d.min(due)));
    }
    deadline.map(Some)
}

/// Deletes the pod now, or schedules its deletion, or cancels it, from its node's taints.
pub(super) async fn reconcile(pod: Arc<Pod>, ctx: Arc<EvictionContext>) -> Result<Action, Status> {
    let node_name = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or_default();
    if node_name.is_empty() || pod.metadata.deletion_timestamp.is_some() {
        ctx.cancel(&pod).await;
        return Ok(Action::await_change());
    }
    let Some(node) = ctx.nodes.get(None, node_name) else {
        ctx.cancel(&pod).await;
        return Ok(Action::await_change());
    };
    let taints = no_execute_taints(&node);
    ctx.first_seen.forget_taints_not_on(node_name, &taints);
    if taints.is_empty() {
        ctx.cancel(&pod).await;
        return Ok(Action::await_change());
    }
    let now = ctx.clock.now();
    let deadline = match eviction_time(&ctx.first_seen, node_name, &pod, &taints, now) {
        None => {
            tracing::debug!(pod = %ObjectKey::of(&*pod), "the pod tolerates its node's taints for ever");
            ctx.cancel(&pod).await;
            return Ok(Action::await_change());
        }
        Some(None) => now,
        Some(Some(deadline)) => deadline,
    };
    if deadline > now {
        ctx.scheduled().insert(ObjectKey::of(&*pod), deadline);
        let wait = deadline.duration_since(now).unsigned_abs();
        // A little past the deadline, so the clock has moved beyond it when it fires; a far
        // deadline is simply looked at again later.
        return Ok(Action::requeue(
            (wait + Duration::from_millis(1)).min(LONGEST_WAIT),
        ));
    }
    evict(&ctx, &pod).await?;
    Ok(Action::await_change())
}

/// Adds the `DisruptionTarget` condition to the pod and deletes it.
async fn evict(ctx: &EvictionContext, pod: &Pod) -> Result<(), Status> {
    let key = ObjectKey::of(pod);
    tracing::info!(pod = %key, "deleting the pod: its node has NoExecute taints it no longer tolerates");
    ctx.publish(pod, &format!("Marking for deletion Pod {key}"))
        .await;
    let namespace = key.namespace.as_deref().unwrap_or_default();
    let api = Api::<Pod>::namespaced(Arc::clone(&ctx.client), namespace);
    let mut attempt = 0;
    loop {
        let Some(live) = api.get_opt(&key.name).await? else {
            ctx.scheduled().remove(&key);
            return Ok(());
        };
        if live.metadata.uid != pod.metadata.uid {
            ctx.scheduled().remove(&key);
            return Ok(());
        }
        let Some(marked) = with_disruption_target(&live, ctx.clock.now()) else {
            break;
        };
        match api
            .replace_status(&key.name, &PostParams::default(), &marked)
            .await
        {
            Ok(_) => break,
            Err(status) if status.is(&StatusReason::NotFound) => {
                ctx.scheduled().remove(&key);
                return Ok(());
            }
            Err(status) if status.is(&StatusReason::Conflict) && attempt < STATUS_RETRIES => {
                attempt += 1;
            }
            Err(status) => return Err(status),
        }
    }
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: pod.metadata.uid.clone(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(&key.name, &params).await {
        Ok(_) => {}
        Err(status) if status.is(&StatusReason::NotFound) || status.is(&StatusReason::Conflict) => {
        }
        Err(status) => return Err(status),
    }
    ctx.scheduled().remove(&key);
    Ok(())
}

/// The pod with the `DisruptionTarget` condition the taint manager sets, if it does not have
/// it yet.
fn with_disruption_target(pod: &Pod, now: Timestamp) -> Option<Pod> {
    let wanted = PodCondition {
        type_: "DisruptionTarget".to_owned(),
        status: "True".to_owned(),
        reason: Some("DeletionByTaintManager".to_owned()),
        message: Some("Taint manager: deleting due to NoExecute taint".to_owned()),
        last_transition_time: Some(Time(now)),
        ..PodCondition::default()
    };
    let mut pod = pod.clone();
    let conditions = pod
        .status
        .get_or_insert_with(Default::default)
        .conditions
        .get_or_insert_with(Vec::new);
    match conditions.iter_mut().find(|c| c.type_ == wanted.type_) {
        Some(existing)
            if existing.status == wanted.status
                && existing.reason == wanted.reason
                && existing.message == wanted.message =>
        {
            return None;
        }
        Some(existing) => {
            let transition = if existing.status == wanted.status {
                existing.last_transition_time.clone()
            } else {
                wanted.last_transition_time.clone()
            };
            *existing = PodCondition {
                last_transition_time: transition,
                ..wanted
            };
        }
        None => conditions.push(wanted),
    }
    Some(pod)
}

#[cfg(test)]
mod tests {
    use orchestra_api::k8s_openapi::api::core::v1::{PodSpec, Toleration};

    use super::super::taints::{NO_EXECUTE, TAINT_NOT_READY, TAINT_UNREACHABLE, taint};
    use super::*;

    fn pod(tolerations: Vec<Toleration>) -> Pod {
        Pod {
            spec: Some(PodSpec {
                tolerations: Some(tolerations),
                ..PodSpec::default()
            }),
            ..Pod::default()
        }
    }

    fn tolerate(key: &str, seconds: Option<i64>) -> Toleration {
        Toleration {
            key: Some(key.into()),
            operator: Some("Exists".into()),
            effect: Some(NO_EXECUTE.into()),
            toleration_seconds: seconds,
            value: None,
        }
    }

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(second).unwrap()
    }

    fn added_at(key: &str, second: i64) -> Taint {
        Taint {
            time_added: Some(Time(at(second))),
            ..taint(key, NO_EXECUTE)
        }
    }

    #[test]
    fn untolerated_taints_evict_at_once_tolerated_ones_when_the_first_toleration_runs_out() {
        let ctx = FirstSeen::default();
        let unreachable = added_at(TAINT_UNREACHABLE, 1_000);
        let not_ready = added_at(TAINT_NOT_READY, 1_010);
        let none = pod(vec![]);
        assert_eq!(
            eviction_time(&ctx, "n", &none, &[&unreachable], at(1_000)),
            Some(None)
        );
        let timed = pod(vec![
            tolerate(TAINT_UNREACHABLE, Some(300)),
            tolerate(TAINT_NOT_READY, Some(60)),
        ]);
        assert_eq!(
            eviction_time(&ctx, "n", &timed, &[&unreachable], at(1_000)),
            Some(Some(at(1_300))),
            "counted from the taint's timeAdded"
        );
        assert_eq!(
            eviction_time(&ctx, "n", &timed, &[&unreachable, &not_ready], at(1_020)),
            Some(Some(at(1_070))),
            "the earliest deadline wins"
        );
        let forever = pod(vec![tolerate(TAINT_UNREACHABLE, None)]);
        assert_eq!(
            eviction_time(&ctx, "n", &forever, &[&unreachable], at(5_000)),
            None
        );
        let negative = pod(vec![tolerate(TAINT_UNREACHABLE, Some(-5))]);
        assert_eq!(
            eviction_time(&ctx, "n", &negative, &[&unreachable], at(1_000)),
            Some(Some(at(1_000)))
        );
    }

    #[test]
    fn a_taint_without_time_counts_from_when_it_was_first_seen() {
        let ctx = FirstSeen::default();
        let untimed = taint(TAINT_UNREACHABLE, NO_EXECUTE);
        let timed = pod(vec![tolerate(TAINT_UNREACHABLE, Some(30))]);
        assert_eq!(
            eviction_time(&ctx, "n", &timed, &[&untimed], at(100)),
            Some(Some(at(130)))
        );
        assert_eq!(
            eviction_time(&ctx, "n", &timed, &[&untimed], at(120)),
            Some(Some(at(130))),
            "the first sighting is kept"
        );
        ctx.forget_taints_not_on("n", &[]);
        assert_eq!(
            eviction_time(&ctx, "n", &timed, &[&untimed], at(200)),
            Some(Some(at(230)))
        );
    }

    #[test]
    fn the_disruption_target_condition_is_added_once() {
        let marked = with_disruption_target(&Pod::default(), at(10)).unwrap();
        let condition = marked.status.as_ref().unwrap().conditions.as_ref().unwrap()[0].clone();
        assert_eq!(condition.type_, "DisruptionTarget");
        assert_eq!(condition.reason.as_deref(), Some("DeletionByTaintManager"));
        assert!(with_disruption_target(&marked, at(20)).is_none());
    }
}
