//! The `Recreate` strategy (Kubernetes' `rolloutRecreate`): scale every old ReplicaSet to
//! zero, wait until none of their pods runs any more (terminating ones included), and only
//! then create — or scale up — the new ReplicaSet to `replicas`. Old and new pods never run
//! side by side.

use orchestra_api::Status;

use super::fenceposts::desired_replicas;
use super::progress::deployment_complete;
use super::replica_sets::{is_active, status_replicas};
use super::sync::{DeploymentSync, Family};
use crate::builtin::pod_state;
use crate::informer::OWNER_UID_INDEX;

impl DeploymentSync<'_> {
    /// One step of a recreate rollout.
    pub(super) async fn rollout_recreate(&mut self, mut family: Family) -> Result<(), Status> {
        // The new ReplicaSet is not created before the old pods are gone.
        self.sync_revision(&mut family, false).await?;
        let mut scaled_down = false;
        for i in family.old_indexes() {
            if is_active(&family.all[i]) {
                self.scale_and_record(&mut family.all[i], 0).await?;
                scaled_down = true;
            }
        }
        if scaled_down || self.old_pods_running(&family) {
            return self.sync_rollout_status(&family).await;
        }
        if family.new.is_none() {
            self.sync_revision(&mut family, true).await?;
        }
        if let Some(i) = family.new {
            let desired = desired_replicas(&self.d);
            self.scale_and_record(&mut family.all[i], desired).await?;
        }
        if deployment_complete(&self.d, &self.status()) {
            self.cleanup(&family).await?;
        }
        self.sync_rollout_status(&family).await
    }

    /// Whether an old ReplicaSet still has a pod that is not finished.
    fn old_pods_running(&self, family: &Family) -> bool {
        let olds = family.olds();
        if olds.iter().map(|rs| status_replicas(rs)).sum::<i32>() > 0 {
            return true;
        }
        olds.iter().any(|rs| {
            let uid = rs.metadata.uid.as_deref().unwrap_or_default();
            self.ctx
                .pods
                .by_index(OWNER_UID_INDEX, uid)
                .unwrap_or_default()
                .iter()
                .filter(|pod| crate::builtin::ownership::is_controlled_by(&pod.metadata, uid))
                .any(|pod| !matches!(pod_state::phase(pod), "Succeeded" | "Failed"))
        })
    }
}
