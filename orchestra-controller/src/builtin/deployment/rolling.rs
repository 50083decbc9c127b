//! The `RollingUpdate` strategy (Kubernetes' `rolloutRolling`): each sync first grows the
//! new ReplicaSet as far as `maxSurge` allows, else shrinks old ReplicaSets as far as
//! `maxUnavailable` allows — unhealthy pods first, then the oldest ReplicaSets — and once the
//! rollout is complete, removes old ReplicaSets beyond the history limit.
//!
//! Two counts are stricter than Kubernetes', so the bounds hold for the pods that exist at
//! every moment and not only for the sizes asked: pods an old ReplicaSet still has after
//! being scaled down count against the surge until they are gone
//! ([`new_rs_new_replicas`](super::sync::new_rs_new_replicas)), and an old ReplicaSet whose
//! status still counts pods it is about to delete is credited with at most its size in
//! available pods ([`available_after_scaling`]). In steady state both agree with Kubernetes.

use orchestra_api::Status;

use super::fenceposts::{desired_replicas, max_unavailable};
use super::progress::deployment_complete;
use super::replica_sets::{available_replicas, by_creation, is_active, spec_replicas};
use super::sync::{DeploymentSync, Family, available_after_scaling, new_rs_new_replicas};

impl DeploymentSync<'_> {
    /// One step of a rolling update.
    pub(super) async fn rollout_rolling(&mut self, mut family: Family) -> Result<(), Status> {
        self.sync_revision(&mut family, true).await?;
        if self.reconcile_new_replica_set(&mut family).await? {
            return self.sync_rollout_status(&family).await;
        }
        if self.reconcile_old_replica_sets(&mut family).await? {
            return self.sync_rollout_status(&family).await;
        }
        if deployment_complete(&self.d, &self.status()) {
            self.cleanup(&family).await?;
        }
        self.sync_rollout_status(&family).await
    }

    /// Grows (or, above `replicas`, shrinks) the new ReplicaSet; whether it changed.
    async fn reconcile_new_replica_set(&mut self, family: &mut Family) -> Result<bool, Status> {
        let Some(i) = family.new else {
            return Ok(false);
        };
        let desired = desired_replicas(&self.d);
        let current = spec_replicas(&family.all[i]);
        if current == desired {
            return Ok(false);
        }
        if current > desired {
            return self.scale_and_record(&mut family.all[i], desired).await;
        }
        let all = family.all_refs();
        let replicas = new_rs_new_replicas(&self.d, &all, &family.all[i]);
        self.scale_and_record(&mut family.all[i], replicas).await
    }

    /// Shrinks old ReplicaSets as far as availability allows; whether any shrank.
    async fn reconcile_old_replica_sets(&mut self, family: &mut Family) -> Result<bool, Status> {
        let mut old: Vec<usize> = family
            .old_indexes()
            .into_iter()
            .filter(|i| is_active(&family.all[*i]))
            .collect();
        let old_pods: i32 = old.iter().map(|i| spec_replicas(&family.all[*i])).sum();
        if old_pods == 0 {
            return Ok(false);
        }
        let all_pods: i32 = family.all.iter().map(spec_replicas).sum();
        let min_available = desired_replicas(&self.d) - max_unavailable(&self.d);
        let new_unavailable = family
            .new_rs()
            .map_or(0, |rs| spec_replicas(rs) - available_replicas(rs));
        let max_scaled_down = all_pods - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return Ok(false);
        }
        old.sort_by(|a, b| by_creation(&family.all[*a], &family.all[*b]));
        let cleaned = self
            .cleanup_unhealthy_replicas(family, &old, max_scaled_down)
            .await?;
        let scaled = self.scale_down_old_replica_sets(family, &old).await?;
        Ok(cleaned + scaled > 0)
    }

    /// Removes up to `max` pods that old ReplicaSets have but that are not available —
    /// removing them costs no availability, and they could block the rollout.
    async fn cleanup_unhealthy_replicas(
        &mut self,
        family: &mut Family,
        old: &[usize],
        max: i32,
    ) -> Result<i32, Status> {
        let mut total = 0;
        for &i in old {
            if total >= max {
                break;
            }
            let rs = &family.all[i];
            let replicas = spec_replicas(rs);
            let available = available_replicas(rs);
            if replicas == 0 || replicas <= available {
                continue;
            }
            let scaled_down = (max - total).min(replicas - available);
            self.scale_and_record(&mut family.all[i], replicas - scaled_down)
                .await?;
            total += scaled_down;
        }
        Ok(total)
    }

    /// Shrinks old ReplicaSets, oldest first, by as many pods as are available beyond
    /// `replicas - maxUnavailable`.
    async fn scale_down_old_replica_sets(
        &mut self,
        family: &mut Family,
        old: &[usize],
    ) -> Result<i32, Status> {
        let min_available = desired_replicas(&self.d) - max_unavailable(&self.d);
        let available: i32 = family.all.iter().map(available_after_scaling).sum();
        if available <= min_available {
            return Ok(0);
        }
        let to_scale_down = available - min_available;
        let mut total = 0;
        for &i in old {
            if total >= to_scale_down {
                break;
            }
            let replicas = spec_replicas(&family.all[i]);
            if replicas == 0 {
                continue;
            }
            let scaled_down = replicas.min(to_scale_down - total);
            self.scale_and_record(&mut family.all[i], replicas - scaled_down)
                .await?;
            total += scaled_down;
        }
        Ok(total)
    }
}
