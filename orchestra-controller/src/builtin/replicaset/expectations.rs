//! Expectations: what keeps a ReplicaSet controller from creating (or deleting) pods twice
//! while its pod cache has not caught up with its own writes.
//!
//! A reconcile reads pods from the informer's cache, which lags the server: right after a
//! reconcile created three pods, the next one may still see none and create three more.
//! Kubernetes guards against this with *controller expectations*: before writing, the
//! controller records what it expects to observe; until the cache shows it (or five minutes
//! pass, in case an observation was missed), the controller only computes status and does not
//! create or delete.
//!
//! Here expectations are kept per owner uid (a ReplicaSet recreated under the same name
//! starts fresh) and are checked against the cache itself, level-triggered:
//!
//! - a **creation** is expected from the moment the request is sent
//!   ([`expect_creations`](Expectations::expect_creations)). When the server answers with the
//!   pod's name, the creation is pending until the cache shows a pod of that name, or an
//!   event about it was seen ([`observe`](Expectations::observe), called from the pod event
//!   mapper, so even a pod created and deleted before the next reconcile counts). A failed
//!   or skipped creation is no longer expected.
//! - a **deletion** is expected for a pod's name and uid until the cache no longer has that
//!   pod, or shows it terminating.
//!
//! Entries disappear as soon as they are satisfied, or once expired, so the table holds only
//! owners with writes in flight.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use orchestra_api::k8s_openapi::api::core::v1::Pod;
use tokio::time::Instant;

/// How long expectations wait for observations that may have been missed: Kubernetes'
/// `ExpectationsTimeout`, five minutes.
pub const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// What the cache says about a pod name an owner expects to see created or deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CachedPod {
    /// No pod of that name.
    Absent,
    /// A pod of that name, with this uid; `terminating` when it is being deleted.
    Present {
        /// The pod's uid.
        uid: String,
        /// Whether `deletionTimestamp` is set.
        terminating: bool,
    },
}

#[derive(Debug)]
struct Entry {
    /// Creations sent and not answered yet.
    in_flight: usize,
    /// Names of created pods not yet seen.
    pending_creates: HashSet<String>,
    /// Names seen by [`Expectations::observe`] while creations were in flight: a creation
    /// answered after its pod was already seen is not pending.
    seen_in_flight: HashSet<String>,
    /// Pods (name → uid) whose deletion was requested and not yet seen.
    pending_deletes: HashMap<String, String>,
    /// When the last expectation was recorded.
    since: Instant,
}

impl Entry {
    fn new(now: Instant) -> Self {
        Self {
            in_flight: 0,
            pending_creates: HashSet::new(),
            seen_in_flight: HashSet::new(),
            pending_deletes: HashMap::new(),
            since: now,
        }
    }

    fn is_empty(&self) -> bool {
        self.in_flight == 0 && self.pending_creates.is_empty() && self.pending_deletes.is_empty()
    }
}

/// The expectations of every owner of one controller. Thread-safe; see the
/// [module documentation](self).
#[derive(Debug)]
pub struct Expectations {
    entries: Mutex<HashMap<String, Entry>>,
    timeout: Duration,
}

impl Default for Expectations {
    fn default() -> Self {
        Self::new(EXPECTATIONS_TIMEOUT)
    }
}

impl Expectations {
    /// Expectations that expire `timeout` after they were last raised.
    pub fn new(timeout: Duration) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            timeout,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that `count` creations are about to be sent for `owner`.
    pub fn expect_creations(&self, owner: &str, count: usize) {
        if count == 0 {
            return;
        }
        let now = Instant::now();
        let mut entries = self.lock();
        let entry = entries
            .entry(owner.to_owned())
            .or_insert_with(|| Entry::new(now));
        entry.in_flight += count;
        entry.since = now;
    }

    /// One creation for `owner` succeeded with a pod named `name`.
    pub fn creation_succeeded(&self, owner: &str, name: &str) {
        let mut entries = self.lock();
        let Some(entry) = entries.get_mut(owner) else {
            return;
        };
        entry.in_flight = entry.in_flight.saturating_sub(1);
        if !entry.seen_in_flight.contains(name) {
            entry.pending_creates.insert(name.to_owned());
        }
        if entry.in_flight == 0 {
            entry.seen_in_flight.clear();
        }
    }

    /// `count` creations for `owner` failed or were never sent: the cache will not show
    /// them.
    pub fn creations_not_made(&self, owner: &str, count: usize) {
        let mut entries = self.lock();
        let Some(entry) = entries.get_mut(owner) else {
            return;
        };
        entry.in_flight = entry.in_flight.saturating_sub(count);
        if entry.in_flight == 0 {
            entry.seen_in_flight.clear();
        }
    }

    /// Records that the pods `(name, uid)` are about to be deleted for `owner`.
    pub fn expect_deletions<'a>(
        &self,
        owner: &str,
        pods: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) {
        let now = Instant::now();
        let mut entries = self.lock();
        let entry = entries
            .entry(owner.to_owned())
            .or_insert_with(|| Entry::new(now));
        for (name, uid) in pods {
            entry
                .pending_deletes
                .insert(name.to_owned(), uid.to_owned());
        }
        entry.since = now;
    }

    /// The deletion of pod `name` for `owner` failed (or found the pod already gone): the
    /// cache may never show it, so it is no longer expected.
    pub fn deletion_not_made(&self, owner: &str, name: &str) {
        let mut entries = self.lock();
        if let Some(entry) = entries.get_mut(owner) {
            entry.pending_deletes.remove(name);
        }
    }

    /// An event about `pod`, controlled by `owner`, was seen: its creation (if expected) is
    /// observed, and so is its deletion if it is terminating.
    pub fn observe(&self, owner: &str, pod: &Pod) {
        let mut entries = self.lock();
        let Some(entry) = entries.get_mut(owner) else {
            return;
        };
        let Some(name) = pod.metadata.name.as_deref() else {
            return;
        };
        entry.pending_creates.remove(name);
        if entry.in_flight > 0 {
            entry.seen_in_flight.insert(name.to_owned());
        }
        if pod.metadata.deletion_timestamp.is_some()
            && entry.pending_deletes.get(name).map(String::as_str) == pod.metadata.uid.as_deref()
        {
            entry.pending_deletes.remove(name);
        }
    }

    /// Forgets everything expected for `owner`.
    pub fn forget(&self, owner: &str) {
        self.lock().remove(owner);
    }

    /// Whether `owner` may act: nothing it expects is outstanding (or its expectations
    /// expired). `cached(name)` answers what the pod cache holds under a pod name.
    pub fn satisfied(&self, owner: &str, cached: impl Fn(&str) -> CachedPod) -> bool {
        let mut entries = self.lock();
        let Some(entry) = entries.get_mut(owner) else {
            return true;
        };
        entry
            .pending_creates
            .retain(|name| cached(name) == CachedPod::Absent);
        entry
            .pending_deletes
            .retain(|name, uid| match cached(name) {
                CachedPod::Present {
                    uid: cached_uid,
                    terminating,
                } => cached_uid == *uid && !terminating,
                CachedPod::Absent => false,
            });
        if entry.is_empty() {
            entries.remove(owner);
            return true;
        }
        if entry.since.elapsed() >= self.timeout {
            tracing::info!(owner, "expectations expired; acting on the cache as it is");
            entries.remove(owner);
            return true;
        }
        false
    }

    /// How long until `owner`'s expectations expire, if it has any.
    pub fn time_to_expiry(&self, owner: &str) -> Option<Duration> {
        let entries = self.lock();
        let entry = entries.get(owner)?;
        Some(self.timeout.saturating_sub(entry.since.elapsed()))
    }

    /// How many owners have expectations outstanding.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no owner has expectations outstanding.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn pod(name: &str, uid: &str, terminating: bool) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.name = Some(name.into());
        pod.metadata.uid = Some(uid.into());
        if terminating {
            pod.metadata.deletion_timestamp = Some(
                orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    jiff::Timestamp::UNIX_EPOCH,
                ),
            );
        }
        pod
    }

    fn lookup(cache: &BTreeMap<String, (String, bool)>) -> impl Fn(&str) -> CachedPod + '_ {
        |name| match cache.get(name) {
            Some((uid, terminating)) => CachedPod::Present {
                uid: uid.clone(),
                terminating: *terminating,
            },
            None => CachedPod::Absent,
        }
    }

    #[test]
    fn creations_are_pending_until_the_cache_shows_them() {
        let expectations = Expectations::default();
        let mut cache = BTreeMap::new();
        expectations.expect_creations("rs", 2);
        assert!(!expectations.satisfied("rs", lookup(&cache)), "in flight");
        expectations.creation_succeeded("rs", "a");
        expectations.creation_succeeded("rs", "b");
        cache.insert("a".to_owned(), ("u-a".to_owned(), false));
        assert!(!expectations.satisfied("rs", lookup(&cache)), "b not seen");
        cache.insert("b".to_owned(), ("u-b".to_owned(), false));
        assert!(expectations.satisfied("rs", lookup(&cache)));
        assert!(expectations.is_empty(), "satisfied entries are dropped");
    }

    #[test]
    fn a_pod_seen_before_its_creation_was_answered_is_not_pending() {
        let expectations = Expectations::default();
        let cache = BTreeMap::new();
        expectations.expect_creations("rs", 1);
        // The informer delivers the pod (and then its deletion) before the create returns.
        expectations.observe("rs", &pod("a", "u-a", false));
        expectations.creation_succeeded("rs", "a");
        assert!(expectations.satisfied("rs", lookup(&cache)));
    }

    #[test]
    fn failed_creations_and_deletions_are_not_expected() {
        let expectations = Expectations::default();
        let mut cache = BTreeMap::new();
        cache.insert("x".to_owned(), ("u-x".to_owned(), false));
        expectations.expect_creations("rs", 3);
        expectations.creations_not_made("rs", 3);
        expectations.expect_deletions("rs", [("x", "u-x")]);
        assert!(!expectations.satisfied("rs", lookup(&cache)));
        expectations.deletion_not_made("rs", "x");
        assert!(expectations.satisfied("rs", lookup(&cache)));
    }

    #[test]
    fn deletions_are_seen_as_absence_termination_or_a_new_uid() {
        let expectations = Expectations::default();
        let mut cache = BTreeMap::new();
        cache.insert("a".to_owned(), ("u-a".to_owned(), false));
        cache.insert("b".to_owned(), ("u-b".to_owned(), false));
        cache.insert("c".to_owned(), ("u-c".to_owned(), false));
        expectations.expect_deletions("rs", [("a", "u-a"), ("b", "u-b"), ("c", "u-c")]);
        assert!(!expectations.satisfied("rs", lookup(&cache)));
        cache.remove("a");
        cache.insert("b".to_owned(), ("u-b".to_owned(), true));
        assert!(!expectations.satisfied("rs", lookup(&cache)), "c remains");
        cache.insert("c".to_owned(), ("u-c2".to_owned(), false));
        assert!(expectations.satisfied("rs", lookup(&cache)));
    }

    #[tokio::test(start_paused = true)]
    async fn expectations_expire_after_the_timeout() {
        let expectations = Expectations::new(Duration::from_secs(300));
        let cache = BTreeMap::new();
        expectations.expect_creations("rs", 1);
        expectations.creation_succeeded("rs", "never-seen");
        assert!(!expectations.satisfied("rs", lookup(&cache)));
        assert_eq!(
            expectations.time_to_expiry("rs"),
            Some(Duration::from_secs(300))
        );
        tokio::time::advance(Duration::from_secs(300)).await;
        assert!(expectations.satisfied("rs", lookup(&cache)));
    }

    /// One step of a controller racing its informer.
    #[derive(Debug, Clone)]
    enum Step {
        /// The controller sends creations; the server stores those marked `true` at once
        /// (their add events join the informer's backlog) and refuses the others.
        Create(Vec<bool>),
        /// The controller receives the answer to its oldest outstanding creation.
        Answer,
        /// The informer delivers the next event of its backlog (an add or a delete).
        Deliver,
        /// Someone else deletes the oldest pod the server has.
        ExternalDelete,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            proptest::collection::vec(any::<bool>(), 1..4).prop_map(Step::Create),
            Just(Step::Answer),
            Just(Step::Deliver),
            Just(Step::Deliver),
            Just(Step::ExternalDelete),
        ]
    }

    proptest! {
        /// Whatever the interleaving of creations, answers, informer deliveries and outside
        /// deletions, the expectations are satisfied only when no creation is unanswered and
        /// every created pod has reached the cache — and they are satisfied as soon as that
        /// holds.
        #[test]
        fn satisfied_exactly_when_every_created_pod_was_delivered(
            steps in proptest::collection::vec(step(), 1..80)
        ) {
            let expectations = Expectations::default();
            let mut server: Vec<String> = Vec::new();
            let mut backlog: std::collections::VecDeque<(bool, String)> = Default::default();
            let mut cache: BTreeMap<String, (String, bool)> = BTreeMap::new();
            let mut unanswered: std::collections::VecDeque<(String, bool)> = Default::default();
            let mut undelivered: HashSet<String> = HashSet::new();
            let mut next = 0;
            for step in steps {
                match step {
                    Step::Create(outcomes) => {
                        expectations.expect_creations("rs", outcomes.len());
                        for stored in outcomes {
                            let name = format!("p{next}");
                            next += 1;
                            if stored {
                                server.push(name.clone());
                                backlog.push_back((true, name.clone()));
                                undelivered.insert(name.clone());
                            }
                            unanswered.push_back((name, stored));
                        }
                    }
                    Step::Answer => {
                        if let Some((name, stored)) = unanswered.pop_front() {
                            if stored {
                                expectations.creation_succeeded("rs", &name);
                            } else {
                                expectations.creations_not_made("rs", 1);
                            }
                        }
                    }
                    Step::Deliver => {
                        if let Some((added, name)) = backlog.pop_front() {
                            let uid = format!("u-{name}");
                            if added {
                                cache.insert(name.clone(), (uid.clone(), false));
                                undelivered.remove(&name);
                            } else {
                                cache.remove(&name);
                            }
                            expectations.observe("rs", &pod(&name, &uid, false));
                        }
                    }
                    Step::ExternalDelete => {
                        if !server.is_empty() {
                            let name = server.remove(0);
                            backlog.push_back((false, name));
                        }
                    }
                }
                let satisfied = expectations.satisfied("rs", lookup(&cache));
                let settled = unanswered.is_empty() && undelivered.is_empty();
                prop_assert_eq!(satisfied, settled, "unanswered {:?}, undelivered {:?}", unanswered, undelivered);
            }
        }
    }
}
