//! The pod manager: every pod the agent is responsible for, from the API (bound to this
//! node) or from static manifests, with its admission decision and the mirror pods of
//! static pods.
//!
//! Records are keyed by pod uid, as Kubernetes' pod workers are. The informer's handler and
//! the manifest reader only update records and queue the uid; the pod's sync does the work.
//! What a sync needs across its awaits (probe results, start failures) lives in a
//! [`PodWork`] that the sync takes out of the manager and puts back when it is done, so no
//! lock is held across an await.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use orchestra_api::ResourceList;
use orchestra_api::k8s_openapi::api::core::v1::Pod;

use crate::admission::{self, Rejection};
use crate::pod_status::WaitingReason;
use crate::probe_manager::PodProbes;
use crate::static_pods;

/// Whether the node accepted a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Not decided yet.
    Pending,
    /// Accepted: it runs here.
    Admitted,
    /// Refused; it is failed with this reason.
    Rejected(Rejection),
}

/// One pod the agent knows.
#[derive(Debug, Clone)]
pub struct PodRecord {
    /// The desired pod: the API object, or the pod a static manifest describes.
    pub pod: Arc<Pod>,
    /// For a static pod: its mirror pod in the API, if there is one.
    pub mirror: Option<Arc<Pod>>,
    /// Whether the pod comes from a manifest file.
    pub is_static: bool,
    /// The admission decision.
    pub admission: Admission,
    /// The pod left its source (deleted from the API, manifest removed): stop and forget it.
    pub removed: bool,
    /// The pod is done (terminal phase or terminated): it no longer counts against the
    /// node's capacity.
    pub finished: bool,
}

/// The state a pod's sync carries between runs.
#[derive(Debug, Default)]
pub struct PodWork {
    /// Probe results.
    pub probes: PodProbes,
    /// Why containers wait (the reason cache).
    pub waiting: HashMap<String, WaitingReason>,
    /// Inline CSI volumes published for the pod: (driver, volume id, target path).
    pub published_volumes: Vec<(String, String, String)>,
}

#[derive(Debug, Default)]
struct State {
    records: HashMap<String, PodRecord>,
    work: HashMap<String, PodWork>,
    /// Static pod uid by the mirror pod's `namespace/name`.
    static_by_name: HashMap<String, String>,
}

/// The pods of one agent. See the [module documentation](self).
#[derive(Debug, Default)]
pub struct PodManager {
    state: Mutex<State>,
}

fn uid_of(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

/// `namespace/name` of a pod.
pub fn full_name(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or("default"),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

/// Whether two versions of a pod differ in what the agent acts on: spec, labels,
/// annotations, deletion.
fn differs_semantically(old: &Pod, new: &Pod) -> bool {
    old.spec != new.spec
        || old.metadata.labels != new.metadata.labels
        || old.metadata.annotations != new.metadata.annotations
        || old.metadata.deletion_timestamp != new.metadata.deletion_timestamp
        || old.metadata.deletion_grace_period_seconds != new.metadata.deletion_grace_period_seconds
}

impl PodManager {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a pod seen in the API. Mirror pods are attached to their static pod; answers
    /// the uid to sync, if any.
    pub fn upsert_api_pod(&self, pod: &Arc<Pod>) -> Option<String> {
        let mut state = self.lock();
        if static_pods::is_mirror_pod(pod) {
            let uid = state.static_by_name.get(&full_name(pod)).cloned()?;
            if let Some(record) = state.records.get_mut(&uid) {
                record.mirror = Some(Arc::clone(pod));
            }
            return Some(uid);
        }
        let uid = uid_of(pod);
        if uid.is_empty() {
            return None;
        }
        match state.records.get_mut(&uid) {
            Some(record) => {
                let differs = differs_semantically(&record.pod, pod);
                record.pod = Arc::clone(pod);
                // Like the kubelet's pod config, a change of the status alone (mostly the
                // agent's own writes coming back) is recorded but needs no sync.
                if !differs {
                    return None;
                }
            }
            None => {
                state.records.insert(
                    uid.clone(),
                    PodRecord {
                        pod: Arc::clone(pod),
                        mirror: None,
                        is_static: false,
                        admission: Admission::Pending,
                        removed: false,
                        finished: false,
                    },
                );
            }
        }
        Some(uid)
    }

    /// Records that a pod left the API; answers the uid to sync.
    pub fn remove_api_pod(&self, pod: &Arc<Pod>) -> Option<String> {
        let mut state = self.lock();
        if static_pods::is_mirror_pod(pod) {
            let uid = state.static_by_name.get(&full_name(pod)).cloned()?;
            if let Some(record) = state.records.get_mut(&uid)
                && record
                    .mirror
                    .as_ref()
                    .is_some_and(|m| m.metadata.uid == pod.metadata.uid)
            {
                record.mirror = None;
            }
            return Some(uid);
        }
        let uid = uid_of(pod);
        let record = state.records.get_mut(&uid)?;
        record.removed = true;
        record.pod = Arc::clone(pod);
        Some(uid)
    }

    /// Sets the static pods to exactly `pods`; answers the uids to sync (new, changed and
    /// removed ones).
    pub fn set_static_pods(&self, pods: Vec<Arc<Pod>>) -> Vec<String> {
        let mut state = self.lock();
        let mut touched = Vec::new();
        let wanted: HashMap<String, Arc<Pod>> = pods.into_iter().map(|p| (uid_of(&p), p)).collect();
        for (uid, record) in &mut state.records {
            if record.is_static && !wanted.contains_key(uid) && !record.removed {
                record.removed = true;
                touched.push(uid.clone());
            }
        }
        for (uid, pod) in wanted {
            let name = full_name(&pod);
            match state.records.get_mut(&uid) {
                Some(record) => {
                    if record.removed {
                        record.removed = false;
                        touched.push(uid.clone());
                    }
                }
                None => {
                    state.records.insert(
                        uid.clone(),
                        PodRecord {
                            pod,
                            mirror: None,
                            is_static: true,
                            admission: Admission::Pending,
                            removed: false,
                            finished: false,
                        },
                    );
                    touched.push(uid.clone());
                }
            }
            state.static_by_name.insert(name, uid);
        }
        touched
    }

    /// Attaches an existing mirror pod to its static pod (found when listing the API).
    pub fn attach_mirror(&self, uid: &str, mirror: Option<Arc<Pod>>) {
        if let Some(record) = self.lock().records.get_mut(uid) {
            record.mirror = mirror;
        }
    }

    /// The record of a pod.
    pub fn get(&self, uid: &str) -> Option<PodRecord> {
        self.lock().records.get(uid).cloned()
    }

    /// Whether the pod with this uid is known.
    pub fn contains(&self, uid: &str) -> bool {
        self.lock().records.contains_key(uid)
    }

    /// Every uid known.
    pub fn uids(&self) -> Vec<String> {
        self.lock().records.keys().cloned().collect()
    }

    /// How many pods are admitted and not finished.
    pub fn active_count(&self) -> usize {
        self.lock()
            .records
            .values()
            .filter(|r| r.admission == Admission::Admitted && !r.finished && !r.removed)
            .count()
    }

    /// Decides admission for a pending pod against the pods already admitted, atomically.
    pub fn admit(
        &self,
        uid: &str,
        allocatable: &ResourceList,
        labels: &std::collections::BTreeMap<String, String>,
    ) -> Admission {
        let mut state = self.lock();
        let Some(record) = state.records.get(uid) else {
            return Admission::Pending;
        };
        if record.admission != Admission::Pending {
            return record.admission.clone();
        }
        let pod = Arc::clone(&record.pod);
        let mut used = ResourceList::new();
        let mut count = 0;
        for (other_uid, other) in &state.records {
            if other_uid != uid
                && other.admission == Admission::Admitted
                && !other.finished
                && !other.removed
            {
                used.add(&admission::pod_requests(&other.pod));
                count += 1;
            }
        }
        let decision = match admission::admit(&pod, allocatable, labels, &used, count) {
            Ok(()) => Admission::Admitted,
            Err(rejection) => Admission::Rejected(rejection),
        };
        if let Some(record) = state.records.get_mut(uid) {
            record.admission = decision.clone();
        }
        decision
    }

    /// Marks a pod admitted without a check (it already runs here, found after a restart).
    pub fn mark_admitted(&self, uid: &str) {
        if let Some(record) = self.lock().records.get_mut(uid)
            && record.admission == Admission::Pending
        {
            record.admission = Admission::Admitted;
        }
    }

    /// Marks a pod finished: it no longer counts against the node's capacity.
    pub fn mark_finished(&self, uid: &str) {
        if let Some(record) = self.lock().records.get_mut(uid) {
            record.finished = true;
        }
    }

    /// Forgets a pod entirely.
    pub fn forget(&self, uid: &str) {
        let mut state = self.lock();
        if let Some(record) = state.records.remove(uid)
            && record.is_static
        {
            let name = full_name(&record.pod);
            if state.static_by_name.get(&name).is_some_and(|u| u == uid) {
                state.static_by_name.remove(&name);
            }
        }
        state.work.remove(uid);
    }

    /// Takes a pod's sync state out for a sync.
    pub fn take_work(&self, uid: &str) -> PodWork {
        self.lock().work.remove(uid).unwrap_or_default()
    }

    /// Puts a pod's sync state back after a sync (dropped if the pod was forgotten
    /// meanwhile).
    pub fn put_work(&self, uid: &str, work: PodWork) {
        let mut state = self.lock();
        if state.records.contains_key(uid) {
            state.work.insert(uid.to_owned(), work);
        }
    }
}
