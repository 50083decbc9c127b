//! Knowing when the EndpointSlice cache is behind the controller's own writes (Kubernetes'
//! `EndpointSliceTracker`).
//!
//! The informer cache learns of a slice the controller just created or updated a little after
//! the write returns. A reconcile that ran in between would not see the new slice and would
//! create a second one with the same endpoints. So the controller remembers, per Service, the
//! resourceVersion of each slice it wrote and the slices it deleted; a reconcile that finds
//! the cache older than that gives up and is retried (with the queue's back-off) until the
//! cache has caught up. A slice deleted by someone else is forgotten when the informer reports
//! its deletion; an expectation the cache has not met after [`EXPECTATION_TIMEOUT`] is dropped
//! too, so a lost notification cannot hold a Service back for ever.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use orchestra_api::k8s_openapi::api::discovery::v1::EndpointSlice;

use tokio::time::Instant;

use crate::informer::ObjectKey;

/// How long an unmet expectation holds a Service's reconciles back at most.
pub const EXPECTATION_TIMEOUT: Duration = Duration::from_secs(30);

/// What the controller expects the cache to show of one slice.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expected {
    /// The slice at this resourceVersion or later.
    Written(String),
    /// No slice of this name with this uid.
    Deleted(Option<String>),
}

type Expectations = HashMap<ObjectKey, HashMap<String, (Expected, Instant)>>;

/// Whether resourceVersion `seen` is at least `written`. Versions are compared as numbers
/// (they are store revisions); text that is not a number only matches itself.
fn at_least(seen: &str, written: &str) -> bool {
    match (seen.parse::<u64>(), written.parse::<u64>()) {
        (Ok(seen), Ok(written)) => seen >= written,
        _ => seen == written,
    }
}

/// The controller's own slice writes, per Service. Cheap to clone; clones share the state.
#[derive(Debug, Clone, Default)]
pub struct SliceTracker {
    expected: Arc<Mutex<Expectations>>,
}

impl SliceTracker {
    fn lock(&self) -> MutexGuard<'_, Expectations> {
        self.expected.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that the controller wrote `slice` (as the server returned it) for `service`.
    pub fn written(&self, service: &ObjectKey, slice: &EndpointSlice) {
        let (Some(name), Some(version)) = (
            slice.metadata.name.clone(),
            slice.metadata.resource_version.clone(),
        ) else {
            return;
        };
        self.lock()
            .entry(service.clone())
            .or_default()
            .insert(name, (Expected::Written(version), Instant::now()));
    }

    /// Records that the controller deleted `slice` of `service`.
    pub fn deleted(&self, service: &ObjectKey, slice: &EndpointSlice) {
        let Some(name) = slice.metadata.name.clone() else {
            return;
        };
        self.lock().entry(service.clone()).or_default().insert(
            name,
            (
                Expected::Deleted(slice.metadata.uid.clone()),
                Instant::now(),
            ),
        );
    }

    /// The informer saw `slice` of `service` deleted: whatever was expected of it is settled.
    pub fn observed_deletion(&self, service: &ObjectKey, slice: &EndpointSlice) {
        let Some(name) = slice.metadata.name.as_deref() else {
            return;
        };
        let mut expected = self.lock();
        if let Some(slices) = expected.get_mut(service) {
            slices.remove(name);
            if slices.is_empty() {
                expected.remove(service);
            }
        }
    }

    /// Whether `cached` — the Service's slices in the cache — is older than the controller's
    /// writes. Expectations the cache meets are dropped.
    pub fn is_stale(&self, service: &ObjectKey, cached: &[Arc<EndpointSlice>]) -> bool {
        let mut expected = self.lock();
        let Some(slices) = expected.get_mut(service) else {
            return false;
        };
        let find = |name: &str| {
            cached
                .iter()
                .find(|s| s.metadata.name.as_deref() == Some(name))
        };
        let mut stale = false;
        let now = Instant::now();
        slices.retain(|name, (expectation, since)| {
            if now.duration_since(*since) >= EXPECTATION_TIMEOUT {
                tracing::warn!(%service, slice = %name, "the EndpointSlice cache never showed this controller's write; going on without it");
                return false;
            }
            let met = match (&*expectation, find(name)) {
                (Expected::Written(version), Some(slice)) => slice
                    .metadata
                    .resource_version
                    .as_deref()
                    .is_some_and(|seen| at_least(seen, version)),
                (Expected::Written(_), None) => false,
                (Expected::Deleted(uid), Some(slice)) => {
                    uid.is_some() && slice.metadata.uid != *uid
                }
                (Expected::Deleted(_), None) => true,
            };
            stale |= !met;
            !met
        });
        if slices.is_empty() {
            expected.remove(service);
        }
        stale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(name: &str, version: &str) -> EndpointSlice {
        let mut slice = EndpointSlice::default();
        slice.metadata.name = Some(name.into());
        slice.metadata.uid = Some(format!("uid-{name}"));
        slice.metadata.resource_version = Some(version.into());
        slice
    }

    #[test]
    fn the_cache_is_stale_until_it_shows_the_written_version() {
        let tracker = SliceTracker::default();
        let service = ObjectKey::new(Some("default"), "web");
        tracker.written(&service, &slice("web-a", "12"));
        assert!(tracker.is_stale(&service, &[]));
        assert!(tracker.is_stale(&service, &[Arc::new(slice("web-a", "11"))]));
        assert!(!tracker.is_stale(&service, &[Arc::new(slice("web-a", "12"))]));
        // Met expectations are forgotten: a later deletion by someone else is not "stale".
        assert!(!tracker.is_stale(&service, &[]));
    }

    #[test]
    fn a_deleted_slice_must_leave_the_cache() {
        let tracker = SliceTracker::default();
        let service = ObjectKey::new(Some("default"), "web");
        let gone = slice("web-a", "12");
        tracker.deleted(&service, &gone);
        assert!(tracker.is_stale(&service, &[Arc::new(gone.clone())]));
        assert!(!tracker.is_stale(&service, &[]));
    }

    #[test]
    fn an_observed_deletion_settles_a_write() {
        let tracker = SliceTracker::default();
        let service = ObjectKey::new(Some("default"), "web");
        let written = slice("web-a", "12");
        tracker.written(&service, &written);
        tracker.observed_deletion(&service, &written);
        assert!(!tracker.is_stale(&service, &[]));
    }
}
