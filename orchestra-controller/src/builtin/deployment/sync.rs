//! One sync of a Deployment (Kubernetes' `syncDeployment`) and the steps every strategy
//! shares: claiming ReplicaSets, finding or creating the new one and keeping the revision
//! annotations, scaling (proportionally during a rollout), cleaning up old ReplicaSets, and
//! writing the status.
//!
//! A sync works on a copy of the Deployment and of its ReplicaSets and updates the copies
//! with what each write returns, so later steps of the same sync build on its own writes;
//! every write carries the `resourceVersion` it read, so a decision made on a stale cache
//! fails with a conflict and is retried rather than applied.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use orchestra_api::k8s_openapi::api::apps::v1::{
    Deployment, DeploymentStatus, ReplicaSet, ReplicaSetSpec,
};
use orchestra_api::k8s_openapi::api::core::v1::Pod;
use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use orchestra_api::{
    Api, Client, DeleteParams, LabelSelector, Patch, PatchParams, PostParams, Preconditions,
    Status, StatusReason,
};
use serde_json::json;

use super::annotations::{
    REVISION_ANNOTATION, desired_replicas_annotation, max_revision,
    replicas_annotations_need_update, revision, revision_text, set_deployment_revision,
    set_new_replica_set_annotations, set_replicas_annotations,
};
use super::fenceposts::{
    desired_replicas, is_rolling_update, max_surge, scaled_value, strategy_type,
};
use super::hash::{POD_TEMPLATE_HASH_LABEL, compute_hash, equal_ignore_hash};
use super::progress::{
    FAILED_RS_CREATE_REASON, FOUND_NEW_RS_REASON, NEW_RS_AVAILABLE_REASON, NEW_RS_REASON,
    PAUSED_REASON, PROGRESSING, REPLICA_SET_UPDATED_REASON, RESUMED_REASON, TIMED_OUT_REASON,
    calculate_status, condition, deployment_complete, deployment_progressing, deployment_timed_out,
    has_progress_deadline, new_condition, remove_condition, replica_failure, set_condition,
    stuck_check_after,
};
use super::replica_sets::{
    available_replicas, by_creation, by_size_newer, by_size_older, find_new, is_active,
    is_saturated, proportion, spec_replicas, status_replicas,
};
use crate::builtin::ownership::{
    ORPHAN_NAMESPACE_INDEX, claim_children, controller_of, controller_reference,
};
use crate::builtin::replicaset::event_sink::EventSink;
use crate::events::EventType;
use crate::informer::{Cache, OWNER_UID_INDEX};

/// What every Deployment sync shares.
pub(crate) struct Context {
    pub(crate) client: Arc<dyn Client>,
    pub(crate) replica_sets: Cache<ReplicaSet>,
    pub(crate) pods: Cache<Pod>,
    pub(crate) events: EventSink,
}

/// A Deployment's ReplicaSets during one sync; `new` indexes the one running the current
/// template, if it exists.
#[derive(Debug, Default)]
pub(super) struct Family {
    pub(super) all: Vec<ReplicaSet>,
    pub(super) new: Option<usize>,
}

impl Family {
    pub(super) fn new_rs(&self) -> Option<&ReplicaSet> {
        self.new.map(|i| &self.all[i])
    }

    /// Indexes of every ReplicaSet but the new one.
    pub(super) fn old_indexes(&self) -> Vec<usize> {
        (0..self.all.len())
            .filter(|i| Some(*i) != self.new)
            .collect()
    }

    pub(super) fn olds(&self) -> Vec<&ReplicaSet> {
        self.old_indexes()
            .into_iter()
            .map(|i| &self.all[i])
            .collect()
    }

    pub(super) fn all_refs(&self) -> Vec<&ReplicaSet> {
        self.all.iter().collect()
    }
}

/// One sync of one Deployment.
pub(super) struct DeploymentSync<'a> {
    pub(super) ctx: &'a Context,
    /// The Deployment as this sync sees it: the cached object with this sync's writes.
    pub(super) d: Deployment,
    /// When to look again even without a change.
    pub(super) requeue: Option<Duration>,
}

/// `Some(n)` for a non-zero count.
pub(super) fn count(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

impl<'a> DeploymentSync<'a> {
    pub(super) fn new(ctx: &'a Context, d: Deployment) -> Self {
        Self {
            ctx,
            d,
            requeue: None,
        }
    }

    pub(super) fn name(&self) -> &str {
        self.d.metadata.name.as_deref().unwrap_or_default()
    }

    pub(super) fn namespace(&self) -> &str {
        self.d.metadata.namespace.as_deref().unwrap_or_default()
    }

    pub(super) fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.ctx.client.clone(), self.namespace())
    }

    pub(super) fn replica_set_api(&self) -> Api<ReplicaSet> {
        Api::namespaced(self.ctx.client.clone(), self.namespace())
    }

    pub(super) fn record(&self, event_type: EventType, reason: &'static str, message: String) {
        self.ctx.events.record(&self.d, event_type, reason, message);
    }

    pub(super) fn status(&self) -> DeploymentStatus {
        self.d.status.clone().unwrap_or_default()
    }

    /// Runs the sync; see the [module documentation](self).
    pub(super) async fn run(&mut self) -> Result<(), Status> {
        let Some(spec) = self.d.spec.clone() else {
            return Ok(());
        };
        let selects_everything = spec
            .selector
            .match_labels
            .as_ref()
            .is_none_or(|m| m.is_empty())
            && spec
                .selector
                .match_expressions
                .as_ref()
                .is_none_or(|e| e.is_empty());
        if selects_everything {
            self.record(
                EventType::Warning,
                "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector is required.".into(),
            );
            let generation = self.d.metadata.generation.unwrap_or(0);
            let mut status = self.status();
            if status.observed_generation.unwrap_or(0) < generation {
                status.observed_generation = Some(generation);
                self.write_status(status).await?;
            }
            return Ok(());
        }
        let selector = match LabelSelector::try_from(&spec.selector) {
            Ok(selector) => selector,
            Err(error) => {
                tracing::warn!(deployment = %self.name(), %error, "the selector is invalid; nothing to do until it changes");
                return Ok(());
            }
        };

        let mut family = Family {
            all: self.claim_replica_sets(&selector).await?,
            new: None,
        };
        if self.d.metadata.deletion_timestamp.is_some() {
            self.sync_revision(&mut family, false).await?;
            return self.sync_deployment_status(&family).await;
        }
        self.check_paused_conditions().await?;
        if spec.paused == Some(true) {
            return self.sync(&mut family).await;
        }
        if super::rollback::rollback_to(&self.d).is_some() {
            return self.rollback(&mut family).await;
        }
        if self.is_scaling_event(&mut family).await? {
            return self.sync(&mut family).await;
        }
        match strategy_type(&self.d) {
            "Recreate" => self.rollout_recreate(family).await,
            "RollingUpdate" => self.rollout_rolling(family).await,
            other => Err(Status::bad_request(format!(
                "unexpected deployment strategy type: {other}"
            ))),
        }
    }

    /// The ReplicaSets the Deployment controls after adopting matching orphans and releasing
    /// those that stopped matching.
    async fn claim_replica_sets(
        &self,
        selector: &LabelSelector,
    ) -> Result<Vec<ReplicaSet>, Status> {
        let uid = self.d.metadata.uid.as_deref().unwrap_or_default();
        let cache = &self.ctx.replica_sets;
        let mut candidates = cache.by_index(OWNER_UID_INDEX, uid).unwrap_or_default();
        for orphan in cache
            .by_index(ORPHAN_NAMESPACE_INDEX, self.namespace())
            .unwrap_or_default()
        {
            if !candidates
                .iter()
                .any(|c| c.metadata.uid == orphan.metadata.uid)
            {
                candidates.push(orphan);
            }
        }
        let claimed = claim_children(&self.ctx.client, &self.d, selector, candidates).await?;
        Ok(claimed.iter().map(|rs| (**rs).clone()).collect())
    }

    /// Marks a pause and a resume in the Progressing condition, so the time paused never
    /// counts against the progress deadline.
    async fn check_paused_conditions(&mut self) -> Result<(), Status> {
        if !has_progress_deadline(&self.d) {
            return Ok(());
        }
        let mut status = self.status();
        let current = condition(&status, PROGRESSING).and_then(|c| c.reason.clone());
        if current.as_deref() == Some(TIMED_OUT_REASON) {
            return Ok(());
        }
        let paused = self.d.spec.as_ref().and_then(|s| s.paused) == Some(true);
        let paused_condition = current.as_deref() == Some(PAUSED_REASON);
        let now = Timestamp::now();
        if paused && !paused_condition {
            set_condition(
                &mut status,
                new_condition(
                    PROGRESSING,
                    "Unknown",
                    PAUSED_REASON,
                    "Deployment is paused",
                    now,
                ),
            );
        } else if !paused && paused_condition {
            set_condition(
                &mut status,
                new_condition(
                    PROGRESSING,
                    "Unknown",
                    RESUMED_REASON,
                    "Deployment is resumed",
                    now,
                ),
            );
        } else {
            return Ok(());
        }
        self.write_status(status).await
    }

    /// Reconciles replicas only — a scaling event, or a paused Deployment.
    pub(super) async fn sync(&mut self, family: &mut Family) -> Result<(), Status> {
        self.sync_revision(family, false).await?;
        self.scale(family).await?;
        if self.d.spec.as_ref().and_then(|s| s.paused) == Some(true)
            && super::rollback::rollback_to(&self.d).is_none()
        {
            self.cleanup(family).await?;
        }
        self.sync_deployment_status(family).await
    }

    /// Whether `replicas` changed since the active ReplicaSets were last scaled.
    async fn is_scaling_event(&mut self, family: &mut Family) -> Result<bool, Status> {
        self.sync_revision(family, false).await?;
        let desired = desired_replicas(&self.d);
        Ok(family.all.iter().filter(|rs| is_active(rs)).any(|rs| {
            desired_replicas_annotation(rs).is_some_and(|annotated| annotated != desired)
        }))
    }

    /// Finds the new ReplicaSet and brings its annotations and the Deployment's revision up to
    /// date; creates it (with `create`) if there is none (Kubernetes'
    /// `getAllReplicaSetsAndSyncRevision` and `getNewReplicaSet`).
    pub(super) async fn sync_revision(
        &mut self,
        family: &mut Family,
        create: bool,
    ) -> Result<(), Status> {
        family.new = find_new(&self.d, &family.all);
        let new_revision = max_revision(family.olds()) + 1;
        let surge = max_surge(&self.d);
        let now = Timestamp::now();
        if let Some(i) = family.new {
            let mut copy = family.all[i].clone();
            let annotations_updated =
                set_new_replica_set_annotations(&self.d, &mut copy, new_revision, true, surge);
            let min_ready_seconds = self
                .d
                .spec
                .as_ref()
                .and_then(|s| s.min_ready_seconds)
                .unwrap_or(0);
            let spec = copy.spec.get_or_insert_with(ReplicaSetSpec::default);
            let min_ready_outdated = spec.min_ready_seconds.unwrap_or(0) != min_ready_seconds;
            if annotations_updated || min_ready_outdated {
                spec.min_ready_seconds = count(min_ready_seconds);
                let name = copy.metadata.name.clone().unwrap_or_default();
                let written = self
                    .replica_set_api()
                    .replace(&name, &PostParams::default(), &copy)
                    .await?;
                family.all[i] = (*written).clone();
                return Ok(());
            }
            let rs_revision = revision_text(&copy.metadata);
            let revision_changed = set_deployment_revision(&mut self.d, rs_revision);
            let mut status = self.status();
            let status_changed =
                has_progress_deadline(&self.d) && condition(&status, PROGRESSING).is_none();
            if status_changed {
                let name = copy.metadata.name.as_deref().unwrap_or_default();
                set_condition(
                    &mut status,
                    new_condition(
                        PROGRESSING,
                        "True",
                        FOUND_NEW_RS_REASON,
                        format!("Found new replica set {name:?}"),
                        now,
                    ),
                );
            }
            if revision_changed {
                self.write_revision().await?;
            }
            if status_changed {
                self.write_status(status).await?;
            }
            return Ok(());
        }
        if !create {
            return Ok(());
        }
        let created = self
            .create_new_replica_set(family, new_revision, now)
            .await?;
        family.all.push(created);
        family.new = Some(family.all.len() - 1);
        Ok(())
    }

    /// Creates the ReplicaSet of the current template, named `<deployment>-<hash>`; handles
    /// a name already taken (by our own earlier creation, or a hash collision).
    async fn create_new_replica_set(
        &mut self,
        family: &Family,
        new_revision: i64,
        now: Timestamp,
    ) -> Result<ReplicaSet, Status> {
        let spec = self.d.spec.clone().unwrap_or_default();
        let collision_count = self.d.status.as_ref().and_then(|s| s.collision_count);
        let hash = compute_hash(&spec.template, collision_count);
        let mut template = spec.template.clone();
        let template_meta = template.metadata.get_or_insert_with(ObjectMeta::default);
        template_meta
            .labels
            .get_or_insert_with(Default::default)
            .insert(POD_TEMPLATE_HASH_LABEL.to_owned(), hash.clone());
        let labels = template_meta.labels.clone();
        let mut selector = spec.selector.clone();
        selector
            .match_labels
            .get_or_insert_with(Default::default)
            .insert(POD_TEMPLATE_HASH_LABEL.to_owned(), hash.clone());
        let name = format!("{}-{hash}", self.name());
        let mut rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(self.namespace().to_owned()),
                owner_references: Some(vec![controller_reference(&self.d)]),
                labels,
                ..ObjectMeta::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: spec.min_ready_seconds.filter(|s| *s != 0),
                selector,
                template: Some(template),
            }),
            status: None,
        };
        let mut all = family.all_refs();
        all.push(&rs);
        let replicas = new_rs_new_replicas(&self.d, &all, &rs);
        rs.spec.get_or_insert_with(ReplicaSetSpec::default).replicas = Some(replicas);
        set_new_replica_set_annotations(&self.d, &mut rs, new_revision, false, max_surge(&self.d));

        let (created, already_existed) = match self
            .replica_set_api()
            .create(&PostParams::default(), &rs)
            .await
        {
            Ok(created) => ((*created).clone(), false),
            Err(exists) if exists.reason == StatusReason::AlreadyExists => {
                let existing = match self.ctx.replica_sets.get(Some(self.namespace()), &name) {
                    Some(existing) => existing,
                    None => self.replica_set_api().get(&name).await?,
                };
                let ours = controller_of(&existing.metadata)
                    .is_some_and(|r| Some(r.uid.as_str()) == self.d.metadata.uid.as_deref());
                let same_template = existing
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.as_ref())
                    .is_some_and(|t| equal_ignore_hash(t, &spec.template));
                if !(ours && same_template) {
                    // A hash collision: another template has this name. Count it, so the
                    // next sync hashes differently.
                    let mut status = self.status();
                    status.collision_count = Some(collision_count.unwrap_or(0) + 1);
                    if self.write_status(status).await.is_ok() {
                        tracing::info!(deployment = %self.name(), "hash collision; collisionCount raised");
                    }
                    return Err(exists);
                }
                ((*existing).clone(), true)
            }
            Err(error) => {
                if error
                    .details
                    .as_ref()
                    .is_some_and(|d| d.causes.iter().any(|c| c.reason == "NamespaceTerminating"))
                {
                    return Err(error);
                }
                let message = format!(
                    "Failed to create new replica set {name:?}: {}",
                    error.message
                );
                if has_progress_deadline(&self.d) {
                    let mut status = self.status();
                    set_condition(
                        &mut status,
                        new_condition(
                            PROGRESSING,
                            "False",
                            FAILED_RS_CREATE_REASON,
                            message.clone(),
                            now,
                        ),
                    );
                    // The creation failure is the error to report; a failed status write
                    // is retried with the sync.
                    let _ = self.write_status(status).await;
                }
                self.record(EventType::Warning, FAILED_RS_CREATE_REASON, message);
                return Err(error);
            }
        };
        if !already_existed && replicas > 0 {
            self.record(
                EventType::Normal,
                "ScalingReplicaSet",
                format!("Scaled up replica set {name} from 0 to {replicas}"),
            );
        }
        let revision_changed = set_deployment_revision(&mut self.d, &new_revision.to_string());
        if revision_changed {
            self.write_revision().await?;
        }
        if !already_existed && has_progress_deadline(&self.d) {
            let mut status = self.status();
            set_condition(
                &mut status,
                new_condition(
                    PROGRESSING,
                    "True",
                    NEW_RS_REASON,
                    format!("Created new replica set {name:?}"),
                    now,
                ),
            );
            self.write_status(status).await?;
        }
        Ok(created)
    }

    /// Scales the ReplicaSets to the Deployment's size: the only active one (or the newest)
    /// takes it all; a saturated new one leaves the old ones nothing; otherwise, during a
    /// rolling update, the change is shared in proportion (Kubernetes' `scale`).
    pub(super) async fn scale(&mut self, family: &mut Family) -> Result<(), Status> {
        let desired = desired_replicas(&self.d);
        if let Some(i) = find_active_or_latest(family) {
            if spec_replicas(&family.all[i]) != desired {
                self.scale_and_record(&mut family.all[i], desired).await?;
            }
            return Ok(());
        }
        if is_saturated(&self.d, family.new_rs()) {
            for i in family.old_indexes() {
                if is_active(&family.all[i]) {
                    self.scale_and_record(&mut family.all[i], 0).await?;
                }
            }
            return Ok(());
        }
        if !is_rolling_update(&self.d) {
            return Ok(());
        }
        let mut active: Vec<usize> = (0..family.all.len())
            .filter(|i| is_active(&family.all[*i]))
            .collect();
        let replicas: i32 = active.iter().map(|i| spec_replicas(&family.all[*i])).sum();
        let allowed = if desired > 0 {
            desired + max_surge(&self.d)
        } else {
            0
        };
        let to_add = allowed - replicas;
        let operation = match to_add {
            n if n > 0 => {
                active.sort_by(|a, b| by_size_newer(&family.all[*a], &family.all[*b]));
                "up"
            }
            n if n < 0 => {
                active.sort_by(|a, b| by_size_older(&family.all[*a], &family.all[*b]));
                "down"
            }
            _ => "",
        };
        let mut added = 0;
        let mut sizes = Vec::with_capacity(active.len());
        for i in &active {
            let rs = &family.all[*i];
            if to_add != 0 {
                let share = proportion(rs, &self.d, to_add, added);
                sizes.push(spec_replicas(rs) + share);
                added += share;
            } else {
                sizes.push(spec_replicas(rs));
            }
        }
        for (position, i) in active.iter().enumerate() {
            if position == 0 && to_add != 0 {
                // Leftovers of the rounding go to the largest ReplicaSet.
                sizes[0] = (sizes[0] + to_add - added).max(0);
            }
            self.scale_replica_set(&mut family.all[*i], sizes[position], operation)
                .await?;
        }
        Ok(())
    }

    /// Scales `rs` to `replicas` if it is not there yet; whether it did.
    pub(super) async fn scale_and_record(
        &mut self,
        rs: &mut ReplicaSet,
        replicas: i32,
    ) -> Result<bool, Status> {
        let current = spec_replicas(rs);
        if current == replicas {
            return Ok(false);
        }
        let operation = if current < replicas { "up" } else { "down" };
        self.scale_replica_set(rs, replicas, operation).await
    }

    /// Writes `rs` with `replicas` and the current replicas annotations if either differs;
    /// whether its size changed (Kubernetes' `scaleReplicaSet`).
    pub(super) async fn scale_replica_set(
        &mut self,
        rs: &mut ReplicaSet,
        replicas: i32,
        operation: &str,
    ) -> Result<bool, Status> {
        let desired = desired_replicas(&self.d);
        let max = desired + max_surge(&self.d);
        let old = spec_replicas(rs);
        let resize = old != replicas;
        if !resize && !replicas_annotations_need_update(rs, desired, max) {
            return Ok(false);
        }
        let mut copy = rs.clone();
        copy.spec
            .get_or_insert_with(ReplicaSetSpec::default)
            .replicas = Some(replicas);
        set_replicas_annotations(&mut copy, desired, max);
        let name = copy.metadata.name.clone().unwrap_or_default();
        let written = self
            .replica_set_api()
            .replace(&name, &PostParams::default(), &copy)
            .await?;
        *rs = (*written).clone();
        if resize {
            let message = if operation.is_empty() {
                format!("Scaled replica set {name} from {old} to {replicas}")
            } else {
                format!("Scaled {operation} replica set {name} from {old} to {replicas}")
            };
            self.record(EventType::Normal, "ScalingReplicaSet", message);
        }
        Ok(resize)
    }

    /// Deletes the oldest ReplicaSets beyond `revisionHistoryLimit` that have no pods left.
    pub(super) async fn cleanup(&mut self, family: &Family) -> Result<(), Status> {
        let Some(limit) = self
            .d
            .spec
            .as_ref()
            .and_then(|s| s.revision_history_limit)
            .filter(|l| *l != i32::MAX)
        else {
            return Ok(());
        };
        let mut cleanable: Vec<&ReplicaSet> = family
            .olds()
            .into_iter()
            .filter(|rs| rs.metadata.deletion_timestamp.is_none())
            .collect();
        let excess = cleanable.len() as i64 - i64::from(limit);
        if excess <= 0 {
            return Ok(());
        }
        cleanable.sort_by(|a, b| {
            revision(a)
                .unwrap_or(0)
                .cmp(&revision(b).unwrap_or(0))
                .then_with(|| by_creation(a, b))
        });
        let api = self.replica_set_api();
        for rs in cleanable.into_iter().take(excess as usize) {
            let observed = rs
                .status
                .as_ref()
                .and_then(|s| s.observed_generation)
                .unwrap_or(0);
            if status_replicas(rs) != 0
                || spec_replicas(rs) != 0
                || rs.metadata.generation.unwrap_or(0) > observed
            {
                continue;
            }
            let name = rs.metadata.name.as_deref().unwrap_or_default();
            tracing::debug!(
                replica_set = name,
                "deleting an old replica set beyond the history limit"
            );
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: rs.metadata.uid.clone(),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            match api.delete(name, &params).await {
                Ok(_) => {}
                Err(status)
                    if matches!(
                        status.reason,
                        StatusReason::NotFound | StatusReason::Conflict
                    ) => {}
                Err(status) => return Err(status),
            }
        }
        Ok(())
    }

    /// Writes the status computed from the ReplicaSets, if it changed.
    pub(super) async fn sync_deployment_status(&mut self, family: &Family) -> Result<(), Status> {
        let status = calculate_status(
            &family.all_refs(),
            family.new_rs(),
            &self.d,
            Timestamp::now(),
        );
        if Some(&status) == self.d.status.as_ref() {
            return Ok(());
        }
        self.write_status(status).await
    }

    /// Writes the status with the progress conditions of a rollout (Kubernetes'
    /// `syncRolloutStatus`); without a change, asks to come back when the progress deadline
    /// is due.
    pub(super) async fn sync_rollout_status(&mut self, family: &Family) -> Result<(), Status> {
        let now = Timestamp::now();
        let all = family.all_refs();
        let new = family.new_rs();
        let mut status = calculate_status(&all, new, &self.d, now);
        if !has_progress_deadline(&self.d) {
            remove_condition(&mut status, PROGRESSING);
        }
        let current = self
            .d
            .status
            .as_ref()
            .and_then(|s| condition(s, PROGRESSING))
            .cloned();
        let complete_before = status.replicas == status.updated_replicas
            && current.as_ref().and_then(|c| c.reason.as_deref()) == Some(NEW_RS_AVAILABLE_REASON);
        if has_progress_deadline(&self.d) && !complete_before {
            let subject = match new {
                Some(rs) => format!(
                    "ReplicaSet {:?}",
                    rs.metadata.name.as_deref().unwrap_or_default()
                ),
                None => format!("Deployment {:?}", self.name()),
            };
            if deployment_complete(&self.d, &status) {
                set_condition(
                    &mut status,
                    new_condition(
                        PROGRESSING,
                        "True",
                        NEW_RS_AVAILABLE_REASON,
                        format!("{subject} has successfully progressed."),
                        now,
                    ),
                );
            } else if deployment_progressing(&self.d, &status) {
                let mut progressing = new_condition(
                    PROGRESSING,
                    "True",
                    REPLICA_SET_UPDATED_REASON,
                    format!("{subject} is progressing."),
                    now,
                );
                if let Some(current) = &current {
                    if current.status == "True" {
                        progressing
                            .last_transition_time
                            .clone_from(&current.last_transition_time);
                    }
                    remove_condition(&mut status, PROGRESSING);
                }
                set_condition(&mut status, progressing);
            } else if deployment_timed_out(&self.d, &status, now) {
                set_condition(
                    &mut status,
                    new_condition(
                        PROGRESSING,
                        "False",
                        TIMED_OUT_REASON,
                        format!("{subject} has timed out progressing."),
                        now,
                    ),
                );
            }
        }
        match replica_failure(&all, new) {
            Some(failure) => set_condition(&mut status, failure),
            None => remove_condition(&mut status, "ReplicaFailure"),
        }
        if Some(&status) == self.d.status.as_ref() {
            self.requeue = stuck_check_after(&self.d, &status, now);
            return Ok(());
        }
        self.write_status(status).await
    }

    /// Writes `status` through the status subresource; this sync goes on from the result.
    pub(super) async fn write_status(&mut self, status: DeploymentStatus) -> Result<(), Status> {
        let mut updated = self.d.clone();
        updated.status = Some(status);
        let written = self
            .deployments()
            .replace_status(self.name(), &PostParams::default(), &updated)
            .await?;
        self.d.status = updated.status;
        self.d.metadata.resource_version = written.metadata.resource_version.clone();
        Ok(())
    }

    /// Writes the Deployment's revision annotation (Kubernetes writes it with the status; the
    /// status subresource here takes no metadata, so it is a patch of the annotation).
    async fn write_revision(&mut self) -> Result<(), Status> {
        let revision = revision_text(&self.d.metadata).to_owned();
        let patch =
            Patch::Merge(json!({"metadata": {"annotations": {REVISION_ANNOTATION: revision}}}));
        let written = self
            .deployments()
            .patch(self.name(), &PatchParams::default(), &patch)
            .await?;
        self.d.metadata.resource_version = written.metadata.resource_version.clone();
        Ok(())
    }
}

/// The only active ReplicaSet, or — none being active — the new one, else the newest old
/// one; `None` with several active (Kubernetes' `FindActiveOrLatest`).
fn find_active_or_latest(family: &Family) -> Option<usize> {
    if family.all.is_empty() {
        return None;
    }
    let active: Vec<usize> = (0..family.all.len())
        .filter(|i| is_active(&family.all[*i]))
        .collect();
    match active.as_slice() {
        [] => family.new.or_else(|| {
            family
                .old_indexes()
                .into_iter()
                .max_by(|a, b| by_creation(&family.all[*a], &family.all[*b]))
        }),
        [only] => Some(*only),
        _ => None,
    }
}

/// The pods a ReplicaSet has or is about to have: its size, or more while pods it no
/// longer wants still run.
fn pods_counted(rs: &ReplicaSet) -> i32 {
    spec_replicas(rs).max(status_replicas(rs))
}

/// The size the new ReplicaSet may grow to now (Kubernetes' `NewRSNewReplicas`): for a
/// rolling update, up to `replicas + maxSurge` pods in all, never beyond `replicas`; for
/// Recreate, `replicas` at once.
///
/// Pods are counted per ReplicaSet as the larger of its size and the pods it still has, so
/// pods an old ReplicaSet is about to delete count until they are gone: the surge bound
/// holds for the pods that exist, not only for the sizes asked (Kubernetes counts sizes
/// only, and a new pod may briefly appear before the old one it replaces is deleted).
pub(super) fn new_rs_new_replicas(d: &Deployment, all: &[&ReplicaSet], new: &ReplicaSet) -> i32 {
    let desired = desired_replicas(d);
    if !is_rolling_update(d) {
        return desired;
    }
    let surge = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref())
        .and_then(|r| r.max_surge.as_ref())
        .and_then(|s| scaled_value(s, desired, true))
        .unwrap_or(0);
    let current: i32 = all.iter().map(|rs| pods_counted(rs)).sum();
    let max_total = desired + surge;
    let new_replicas = spec_replicas(new);
    if current >= max_total {
        return new_replicas;
    }
    let scale_up = (max_total - current).min(desired - new_replicas);
    new_replicas + scale_up
}

/// The available pods of `rs` once it is down to its size: the ReplicaSet controller deletes
/// unavailable pods first, so at most `spec.replicas` of its available pods remain.
pub(super) fn available_after_scaling(rs: &ReplicaSet) -> i32 {
    available_replicas(rs).min(spec_replicas(rs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(name: &str, spec: i32, status: i32) -> ReplicaSet {
        let mut rs = ReplicaSet {
            spec: Some(ReplicaSetSpec {
                replicas: Some(spec),
                ..Default::default()
            }),
            status: Some(
                orchestra_api::k8s_openapi::api::apps::v1::ReplicaSetStatus {
                    replicas: status,
                    ..Default::default()
                },
            ),
            ..Default::default()
        };
        rs.metadata.name = Some(name.into());
        rs
    }

    fn rolling(replicas: i32, surge: i32) -> Deployment {
        use orchestra_api::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

        use super::super::fenceposts::rolling_update_deployment;
        rolling_update_deployment(replicas, IntOrString::Int(surge), IntOrString::Int(1))
    }

    #[test]
    fn the_new_replica_set_grows_within_the_surge() {
        let d = rolling(4, 1);
        let old = rs("old", 4, 4);
        let new = rs("new", 0, 0);
        assert_eq!(new_rs_new_replicas(&d, &[&old, &new], &new), 1);
        // The old ReplicaSet was scaled to 3 but still has 4 pods: no room yet.
        let old = rs("old", 3, 4);
        let new = rs("new", 1, 1);
        assert_eq!(new_rs_new_replicas(&d, &[&old, &new], &new), 1);
        let old = rs("old", 3, 3);
        assert_eq!(new_rs_new_replicas(&d, &[&old, &new], &new), 2);
        // Never beyond the desired replicas.
        let old = rs("old", 0, 0);
        let new = rs("new", 3, 3);
        assert_eq!(new_rs_new_replicas(&d, &[&old, &new], &new), 4);
    }

    #[test]
    fn active_or_latest() {
        let family = Family {
            all: vec![rs("a", 0, 0), rs("b", 2, 2)],
            new: Some(0),
        };
        assert_eq!(find_active_or_latest(&family), Some(1));
        let family = Family {
            all: vec![rs("a", 0, 0), rs("b", 0, 0)],
            new: Some(0),
        };
        assert_eq!(find_active_or_latest(&family), Some(0));
        let family = Family {
            all: vec![rs("a", 1, 0), rs("b", 2, 2)],
            new: None,
        };
        assert_eq!(find_active_or_latest(&family), None);
    }
}
