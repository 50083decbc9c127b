//! Rollback through the `deprecated.deployment.rollback.to` annotation: what the API server
//! keeps of `spec.rollbackTo` (and of the `rollback` subresource) of the old
//! `extensions/v1beta1` and `apps/v1beta1` Deployments.
//!
//! `kubectl rollout undo` (1.32 and 1.33) does not use it: it reads the ReplicaSets itself,
//! refuses a paused Deployment, and patches the Deployment's `spec.template` with the chosen
//! revision's template (hash label removed) and its annotations with the ReplicaSet's (minus
//! the revision bookkeeping) — a JSON patch. The controller then finds that template's
//! ReplicaSet as the new one, gives it the next revision and records its old revision in
//! `revision-history`; nothing more is needed for it. This module handles the older clients:
//! with the annotation, the controller copies the template of the requested revision (the
//! previous one for 0) into the Deployment and removes the annotation.

use orchestra_api::k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use orchestra_api::{PostParams, Status};

use super::annotations::{
    DEPRECATED_ROLLBACK_TO_ANNOTATION, last_revision, revision, set_deployment_annotations_to,
};
use super::hash::{POD_TEMPLATE_HASH_LABEL, equal_ignore_hash};
use super::sync::{DeploymentSync, Family};
use crate::events::EventType;

/// Reason of a rollback's Event.
pub const ROLLBACK_DONE: &str = "DeploymentRollback";
/// Reason: the requested revision does not exist.
pub const ROLLBACK_REVISION_NOT_FOUND: &str = "DeploymentRollbackRevisionNotFound";
/// Reason: the requested revision has the current template.
pub const ROLLBACK_TEMPLATE_UNCHANGED: &str = "DeploymentRollbackTemplateUnchanged";

/// The revision the deprecated annotation asks to roll back to (0: the previous one); an
/// unparsable value is ignored.
pub fn rollback_to(deployment: &Deployment) -> Option<i64> {
    deployment
        .metadata
        .annotations
        .as_ref()?
        .get(DEPRECATED_ROLLBACK_TO_ANNOTATION)
        .filter(|v| !v.is_empty())?
        .parse()
        .ok()
}

impl DeploymentSync<'_> {
    /// Rolls back to the revision the annotation names, then removes the annotation.
    pub(super) async fn rollback(&mut self, family: &mut Family) -> Result<(), Status> {
        self.sync_revision(family, true).await?;
        let mut target = rollback_to(&self.d).unwrap_or(0);
        if target == 0 {
            target = last_revision(&family.all);
            if target == 0 {
                self.record(
                    EventType::Warning,
                    ROLLBACK_REVISION_NOT_FOUND,
                    "Unable to find last revision.".into(),
                );
                return self.update_and_clear_rollback_to().await;
            }
        }
        let found = family
            .all
            .iter()
            .find(|rs| revision(rs) == Some(target))
            .cloned();
        let Some(rs) = found else {
            self.record(
                EventType::Warning,
                ROLLBACK_REVISION_NOT_FOUND,
                "Unable to find the revision to rollback to.".into(),
            );
            return self.update_and_clear_rollback_to().await;
        };
        let performed = self.rollback_to_template(&rs);
        self.update_and_clear_rollback_to().await?;
        if performed {
            let name = self.name().to_owned();
            self.record(
                EventType::Normal,
                ROLLBACK_DONE,
                format!("Rolled back deployment {name:?} to revision {target}"),
            );
        }
        Ok(())
    }

    /// Copies the ReplicaSet's template (without its hash label) and annotations into the
    /// Deployment; whether the template differed.
    fn rollback_to_template(&mut self, rs: &ReplicaSet) -> bool {
        let Some(template) = rs.spec.as_ref().and_then(|s| s.template.as_ref()) else {
            return false;
        };
        let current = self.d.spec.clone().unwrap_or_default().template;
        if equal_ignore_hash(&current, template) {
            let name = self.name().to_owned();
            self.record(
                EventType::Warning,
                ROLLBACK_TEMPLATE_UNCHANGED,
                format!("The rollback revision contains the same template as current deployment {name:?}"),
            );
            return false;
        }
        let mut template = template.clone();
        if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            labels.remove(POD_TEMPLATE_HASH_LABEL);
        }
        self.d.spec.get_or_insert_with(Default::default).template = template;
        set_deployment_annotations_to(&mut self.d, rs);
        true
    }

    /// Writes the Deployment without the rollback annotation.
    async fn update_and_clear_rollback_to(&mut self) -> Result<(), Status> {
        if let Some(annotations) = &mut self.d.metadata.annotations {
            annotations.remove(DEPRECATED_ROLLBACK_TO_ANNOTATION);
        }
        let name = self.name().to_owned();
        let written = self
            .deployments()
            .replace(&name, &PostParams::default(), &self.d)
            .await?;
        self.d.metadata = written.metadata.clone();
        Ok(())
    }
}
