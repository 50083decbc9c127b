//! Leader election over a `coordination.k8s.io/v1` Lease: of several replicas of a
//! controller manager, exactly one reconciles at a time, and another takes over when it
//! stops.
//!
//! Every candidate tries to write its identity into one Lease, as client-go's
//! `leaderelection` package does:
//!
//! - **Acquire.** A candidate takes the Lease when it does not exist, when it has no holder,
//!   or when its record has not changed for [`lease_duration`](LeaderElectionConfig::lease_duration)
//!   (15 s) as measured on the candidate's own clock since it last *saw* a change — never by
//!   comparing the holder's timestamps with its own, so clock skew between machines does not
//!   matter. It tries every [`retry_period`](LeaderElectionConfig::retry_period) (2 s),
//!   stretched by a random jitter of up to 1.2 times.
//! - **Renew.** The leader rewrites its `renewTime` every retry period. If it has not
//!   managed to for [`renew_deadline`](LeaderElectionConfig::renew_deadline) (10 s) — the
//!   API server is unreachable, or someone else holds the Lease — it stops leading at once.
//!   Because the renew deadline is shorter than the lease duration, the old leader has
//!   stopped before any other candidate can consider the Lease expired.
//! - **Every write is optimistic.** Creates and updates carry the `resourceVersion` that was
//!   read, so of two candidates racing for an expired Lease exactly one wins; the other gets
//!   409 Conflict and stays a candidate.
//! - **Release.** With [`release_on_cancel`](LeaderElectionConfig::release_on_cancel), a
//!   leader that is shut down clears the holder so a successor does not wait for the lease
//!   to expire.
//!
//! [`LeaderElector::run`] ties it together: it campaigns, runs the leader's work while it
//! leads, drops that work the moment leadership is lost, and campaigns again.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! use std::sync::Arc;
//! use orchestra_api::{Client, kinds};
//! use orchestra_controller::leader_election::{LeaderElectionConfig, LeaderElector, LeaseLock};
//! use orchestra_store::{LocalClient, MemoryKv, Store, StoreConfig};
//!
//! let store = Store::open(Arc::new(MemoryKv::new()), kinds::BUILTIN.iter().map(|k| (*k).clone()), StoreConfig::default())
//!     .await
//!     .unwrap();
//! let client: Arc<dyn Client> = Arc::new(LocalClient::new(store));
//! let lock = LeaseLock::new("kube-system", "example-controller");
//! let elector = LeaderElector::new(client, lock, "replica-a", LeaderElectionConfig::default()).unwrap();
//!
//! // Leads at once (nobody else holds the Lease), does its work, and releases the Lease.
//! let answer = elector.run(|| async { 42 }).await;
//! assert_eq!(answer, 42);
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use orchestra_api::k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use orchestra_api::k8s_openapi::jiff::Timestamp;
use orchestra_api::{Api, Client, PostParams, Status};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::events::{EventType, Recorder, object_reference};
use crate::informer::backoff::RandomUnit;

/// client-go's `JitterFactor`: acquire attempts wait the retry period plus up to 1.2 times it.
pub const JITTER_FACTOR: f64 = 1.2;

/// The Lease candidates compete for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseLock {
    /// The Lease's namespace (`kube-system` for Kubernetes' own components).
    pub namespace: String,
    /// The Lease's name.
    pub name: String,
}

impl LeaseLock {
    /// The Lease `namespace/name`.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for LeaseLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Timing of leader election; the defaults are Kubernetes' (kube-controller-manager's).
#[derive(Debug, Clone, PartialEq)]
pub struct LeaderElectionConfig {
    /// How long a Lease that nobody renews stays held (15 s).
    pub lease_duration: Duration,
    /// How long a leader keeps trying to renew before it gives up leading (10 s).
    pub renew_deadline: Duration,
    /// How long candidates wait between attempts (2 s).
    pub retry_period: Duration,
    /// Whether a leader that is shut down releases the Lease (client-go's `ReleaseOnCancel`;
    /// off by default). Only safe if its work has stopped by then, as [`LeaderElector::run`]
    /// ensures.
    pub release_on_cancel: bool,
}

impl Default for LeaderElectionConfig {
    fn default() -> Self {
        Self {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
            release_on_cancel: false,
        }
    }
}

/// Why a leader elector cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The lease duration must be longer than the renew deadline, or two leaders could
    /// overlap.
    #[error(
        "the lease duration ({lease_duration:?}) must be longer than the renew deadline ({renew_deadline:?})"
    )]
    LeaseNotLongerThanRenewDeadline {
        /// The lease duration.
        lease_duration: Duration,
        /// The renew deadline.
        renew_deadline: Duration,
    },
    /// The renew deadline must leave room for a jittered retry.
    #[error(
        "the renew deadline ({renew_deadline:?}) must be longer than 1.2 times the retry period ({retry_period:?})"
    )]
    RenewDeadlineTooShort {
        /// The renew deadline.
        renew_deadline: Duration,
        /// The retry period.
        retry_period: Duration,
    },
    /// A duration is zero, or too long to write into a Lease.
    #[error("{0} must be between one second and 68 years")]
    OutOfRange(&'static str),
    /// The candidate needs an identity.
    #[error("the identity must not be empty")]
    EmptyIdentity,
}

/// What a candidate knows of the Lease's holder.
#[derive(Debug, Clone, PartialEq, Default)]
struct Record {
    holder: String,
    lease_duration_seconds: i32,
    acquire_time: Option<MicroTime>,
    renew_time: Option<MicroTime>,
    transitions: i32,
}

impl Record {
    fn of(lease: &Lease) -> Self {
        let spec = lease.spec.clone().unwrap_or_default();
        Self {
            holder: spec.holder_identity.unwrap_or_default(),
            lease_duration_seconds: spec.lease_duration_seconds.unwrap_or_default(),
            acquire_time: spec.acquire_time,
            renew_time: spec.renew_time,
            transitions: spec.lease_transitions.unwrap_or_default(),
        }
    }

    fn spec(&self) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.holder.clone()).filter(|h| !h.is_empty()),
            lease_duration_seconds: Some(self.lease_duration_seconds),
            acquire_time: self.acquire_time.clone(),
            renew_time: self.renew_time.clone(),
            lease_transitions: Some(self.transitions),
            ..LeaseSpec::default()
        }
    }
}

/// The last record seen, and when (on this candidate's clock) it was first seen.
#[derive(Debug)]
struct Observed {
    record: Record,
    at: Instant,
    /// The last leader reported to subscribers.
    reported: Option<String>,
    random: RandomUnit,
}

/// One candidate in the election for a [`LeaseLock`]. See the [module documentation](self).
pub struct LeaderElector {
    api: Api<Lease>,
    lock: LeaseLock,
    identity: String,
    config: LeaderElectionConfig,
    observed: Mutex<Observed>,
    leader: watch::Sender<Option<String>>,
    leading: watch::Sender<bool>,
    recorder: Option<Recorder>,
}

impl fmt::Debug for LeaderElector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeaderElector")
            .field("lock", &self.lock)
            .field("identity", &self.identity)
            .field("leader", &*self.leader.borrow())
            .finish_non_exhaustive()
    }
}

/// Whether a duration fits a Lease's `leaseDurationSeconds` and is at least a second.
fn whole_seconds(duration: Duration, what: &'static str) -> Result<i32, ConfigError> {
    i32::try_from(duration.as_secs())
        .ok()
        .filter(|secs| *secs >= 1)
        .ok_or(ConfigError::OutOfRange(what))
}

/// Now, at the microsecond precision a Lease stores, so what is written reads back equal.
fn now_micros() -> MicroTime {
    let now = Timestamp::now();
    MicroTime(Timestamp::from_microsecond(now.as_microsecond()).unwrap_or(now))
}

impl LeaderElector {
    /// A candidate named `identity` (unique among the candidates: a host name plus a random
    /// suffix is usual) for the Lease `lock`.
    pub fn new(
        client: Arc<dyn Client>,
        lock: LeaseLock,
        identity: impl Into<String>,
        config: LeaderElectionConfig,
    ) -> Result<Self, ConfigError> {
        let identity = identity.into();
        if identity.is_empty() {
            return Err(ConfigError::EmptyIdentity);
        }
        whole_seconds(config.lease_duration, "the lease duration")?;
        if config.retry_period.is_zero() {
            return Err(ConfigError::OutOfRange("the retry period"));
        }
        if config.lease_duration <= config.renew_deadline {
            return Err(ConfigError::LeaseNotLongerThanRenewDeadline {
                lease_duration: config.lease_duration,
                renew_deadline: config.renew_deadline,
            });
        }
        if config.renew_deadline.as_secs_f64() <= JITTER_FACTOR * config.retry_period.as_secs_f64()
        {
            return Err(ConfigError::RenewDeadlineTooShort {
                renew_deadline: config.renew_deadline,
                retry_period: config.retry_period,
            });
        }
        Ok(Self {
            api: Api::namespaced(client, &lock.namespace),
            lock,
            identity,
            config,
            observed: Mutex::new(Observed {
                record: Record::default(),
                at: Instant::now(),
                reported: None,
                random: RandomUnit::new(),
            }),
            leader: watch::channel(None).0,
            leading: watch::channel(false).0,
            recorder: None,
        })
    }

    /// Records `<identity> became leader` and `<identity> stopped leading` as Events on the
    /// Lease (reason `LeaderElection`), as Kubernetes' components do.
    #[must_use]
    pub fn recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// This candidate's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The Lease competed for.
    pub fn lock(&self) -> &LeaseLock {
        &self.lock
    }

    /// The timing in force.
    pub fn config(&self) -> &LeaderElectionConfig {
        &self.config
    }

    /// Whether this candidate leads right now.
    pub fn is_leader(&self) -> bool {
        *self.leading.borrow()
    }

    /// Follows whether this candidate leads.
    pub fn leading(&self) -> watch::Receiver<bool> {
        self.leading.subscribe()
    }

    /// Follows the leader this candidate last observed (client-go's `OnNewLeader`); `None`
    /// before it has read the Lease, or while nobody holds it.
    pub fn leader(&self) -> watch::Receiver<Option<String>> {
        self.leader.subscribe()
    }

    fn observed(&self) -> MutexGuard<'_, Observed> {
        self.observed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tells subscribers about a change of leader.
    fn report_leader(&self) {
        let holder = {
            let mut observed = self.observed();
            let holder = Some(observed.record.holder.clone()).filter(|h| !h.is_empty());
            if observed.reported == holder {
                return;
            }
            observed.reported = holder.clone();
            holder
        };
        tracing::info!(lease = %self.lock, leader = ?holder, "new leader observed");
        self.leader.send_replace(holder);
    }

    /// One attempt to take or keep the Lease; whether this candidate holds it afterwards.
    /// Failures to reach the server count as not holding it.
    pub async fn try_acquire_or_renew(&self) -> bool {
        let result = self.attempt().await;
        self.report_leader();
        match result {
            Ok(held) => held,
            Err(status) => {
                tracing::debug!(lease = %self.lock, %status, "lease attempt failed");
                false
            }
        }
    }

    async fn attempt(&self) -> Result<bool, Status> {
        let now = now_micros();
        let lease_duration_seconds = whole_seconds(self.config.lease_duration, "lease")
            .map_err(|e| Status::bad_request(e.to_string()))?;
        let mut record = Record {
            holder: self.identity.clone(),
            lease_duration_seconds,
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            transitions: 0,
        };

        // 1. Read the Lease, or create it.
        let Some(current) = self.api.get_opt(&self.lock.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.lock.name.clone()),
                    namespace: Some(self.lock.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(record.spec()),
            };
            // AlreadyExists when another candidate was faster: not acquired.
            self.api.create(&PostParams::default(), &lease).await?;
            let mut observed = self.observed();
            observed.record = record;
            observed.at = Instant::now();
            return Ok(true);
        };

        // 2. Is it held by someone else, and not expired by our own clock?
        let old = Record::of(&current);
        {
            let mut observed = self.observed();
            if observed.record != old {
                observed.record = old.clone();
                observed.at = Instant::now();
            }
            let expires = observed.at + self.config.lease_duration;
            if !old.holder.is_empty() && old.holder != self.identity && expires > Instant::now() {
                return Ok(false);
            }
        }

        // 3. Take it over, or renew it.
        if old.holder == self.identity {
            record.acquire_time = old.acquire_time;
            record.transitions = old.transitions;
        } else {
            record.transitions = old.transitions.saturating_add(1);
        }
        let mut lease = (*current).clone();
        lease.spec = Some(record.spec());
        // `current` carries its resourceVersion: a concurrent writer makes this a conflict.
        self.api
            .replace(&self.lock.name, &PostParams::default(), &lease)
            .await?;
        let mut observed = self.observed();
        observed.record = record;
        observed.at = Instant::now();
        Ok(true)
    }

    /// One attempt, given up after `deadline`.
    async fn attempt_until(&self, deadline: Instant) -> bool {
        tokio::time::timeout_at(deadline, self.try_acquire_or_renew())
            .await
            .unwrap_or(false)
    }

    /// Campaigns until this candidate holds the Lease: an attempt every retry period, with
    /// jitter.
    pub async fn acquire(&self) {
        tracing::info!(lease = %self.lock, identity = %self.identity, "attempting to acquire the lease");
        loop {
            let deadline = Instant::now() + self.config.renew_deadline;
            if self.attempt_until(deadline).await {
                break;
            }
            let jitter = self.observed().random.next() * JITTER_FACTOR;
            let wait = self.config.retry_period.mul_f64(1.0 + jitter);
            tokio::time::sleep(wait).await;
        }
        tracing::info!(lease = %self.lock, identity = %self.identity, "acquired the lease");
        self.leading.send_replace(true);
        self.record_event("became leader").await;
    }

    /// Keeps renewing the Lease every retry period; returns when a renewal has not succeeded
    /// within the renew deadline, and this candidate no longer leads.
    pub async fn renew_until_lost(&self) {
        'renewing: loop {
            tokio::time::sleep(self.config.retry_period).await;
            let deadline = Instant::now() + self.config.renew_deadline;
            loop {
                if self.attempt_until(deadline).await {
                    continue 'renewing;
                }
                let next = Instant::now() + self.config.retry_period;
                if next >= deadline {
                    tokio::time::sleep_until(deadline).await;
                    break 'renewing;
                }
                tokio::time::sleep_until(next).await;
            }
        }
        tracing::warn!(lease = %self.lock, identity = %self.identity, "failed to renew the lease within the renew deadline; no longer leading");
        self.leading.send_replace(false);
    }

    /// Gives the Lease up if this candidate holds it: the holder is cleared and the lease
    /// duration set to one second, so a successor takes over at its next attempt.
    pub async fn release(&self) -> Result<(), Status> {
        self.leading.send_replace(false);
        let Some(current) = self.api.get_opt(&self.lock.name).await? else {
            return Ok(());
        };
        let old = Record::of(&current);
        if old.holder != self.identity {
            return Ok(());
        }
        let now = now_micros();
        let record = Record {
            holder: String::new(),
            lease_duration_seconds: 1,
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            transitions: old.transitions,
        };
        let mut lease = (*current).clone();
        lease.spec = Some(record.spec());
        self.api
            .replace(&self.lock.name, &PostParams::default(), &lease)
            .await?;
        {
            let mut observed = self.observed();
            observed.record = record;
            observed.at = Instant::now();
        }
        self.report_leader();
        tracing::info!(lease = %self.lock, identity = %self.identity, "released the lease");
        Ok(())
    }

    /// Campaigns, and runs `lead()` while leading. When leadership is lost the future `lead`
    /// returned is dropped at once — within the renew deadline, before anyone else can take
    /// over — and the candidate campaigns again, calling `lead` anew when it wins.
    ///
    /// Returns what `lead`'s future returns when it completes while leading; the Lease is
    /// then released if [`release_on_cancel`](LeaderElectionConfig::release_on_cancel) is
    /// set. Dropping the future of `run` stops everything without releasing; use
    /// [`run_until`](Self::run_until) to shut down and release.
    pub async fn run<F, Fut>(&self, mut lead: F) -> Fut::Output
    where
        F: FnMut() -> Fut,
        Fut: Future,
    {
        loop {
            self.acquire().await;
            let work = pin!(lead());
            tokio::select! {
                output = work => {
                    if self.config.release_on_cancel {
                        self.release_logged().await;
                    }
                    return output;
                }
                () = self.renew_until_lost() => {}
            }
            // The work is dropped by now; reporting may take its time.
            self.record_event("stopped leading").await;
        }
    }

    /// [`run`](Self::run) until `shutdown` completes: then the leader's work is dropped, the
    /// Lease released if [`release_on_cancel`](LeaderElectionConfig::release_on_cancel) is
    /// set, and `None` returned.
    pub async fn run_until<F, Fut>(
        &self,
        lead: F,
        shutdown: impl Future<Output = ()>,
    ) -> Option<Fut::Output>
    where
        F: FnMut() -> Fut,
        Fut: Future,
    {
        let output = tokio::select! {
            output = self.run(lead) => Some(output),
            () = shutdown => None,
        };
        if output.is_none() && self.config.release_on_cancel {
            self.release_logged().await;
        }
        self.leading.send_replace(false);
        output
    }

    async fn release_logged(&self) {
        if let Err(status) = self.release().await {
            tracing::warn!(lease = %self.lock, %status, "could not release the lease");
        }
    }

    /// Records `<identity> <what>` on the Lease; gives up after a retry period, so a slow
    /// server never delays the election.
    async fn record_event(&self, what: &str) {
        let Some(recorder) = &self.recorder else {
            return;
        };
        let message = format!("{} {what}", self.identity);
        let publish = async {
            let lease = self.api.get(&self.lock.name).await?;
            recorder
                .publish(
                    &object_reference(&*lease),
                    EventType::Normal,
                    "LeaderElection",
                    &message,
                )
                .await
        };
        match tokio::time::timeout(self.config.retry_period, publish).await {
            Ok(Ok(_)) => {}
            Ok(Err(status)) => {
                tracing::debug!(%status, "could not record the leader election event");
            }
            Err(_) => tracing::debug!("recording the leader election event timed out"),
        }
    }
}
