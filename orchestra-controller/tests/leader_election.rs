//! Leader election between candidates sharing one in-process server, on tokio's paused
//! clock: who leads, when a successor takes over, and that a leader cut off from the server
//! stops its work before anyone else can start.
//!
//! Each candidate talks to the server through its own `Link`, which the test can cut: its
//! requests then fail at once (the server answers 503) or hang (a partition).

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orchestra_api::k8s_openapi::api::coordination::v1::Lease;
use orchestra_api::k8s_openapi::api::core::v1::Event;
use orchestra_api::{Api, Client, ListParams};
use orchestra_controller::events::{Recorder, Reporter};
use orchestra_controller::leader_election::{
    ConfigError, LeaderElectionConfig, LeaderElector, LeaseLock,
};
use orchestra_store::LocalClient;
use tokio::sync::watch;
use tokio::time::Instant;

use self::support::{Link, LinkState, WriteLog, lock, server};

const WAIT: Duration = Duration::from_secs(600);
const LEASE: Duration = Duration::from_secs(15);
const RENEW_DEADLINE: Duration = Duration::from_secs(10);
const RETRY: Duration = Duration::from_secs(2);
/// The longest wait between two acquire attempts: the retry period with the most jitter.
const MAX_RETRY: Duration = Duration::from_millis(4_400);

fn lease_lock() -> LeaseLock {
    LeaseLock::new("kube-system", "orchestra-controller-manager")
}

fn elector(link: &Arc<Link>, identity: &str, config: LeaderElectionConfig) -> Arc<LeaderElector> {
    Arc::new(
        LeaderElector::new(link.clone(), lease_lock(), identity, config)
            .expect("a valid configuration"),
    )
}

async fn lease(server: &Arc<LocalClient>) -> Arc<Lease> {
    Api::<Lease>::namespaced(server.clone(), "kube-system")
        .get("orchestra-controller-manager")
        .await
        .expect("the lease exists")
}

fn holder(lease: &Lease) -> String {
    lease
        .spec
        .as_ref()
        .and_then(|s| s.holder_identity.clone())
        .unwrap_or_default()
}

/// When each candidate's work ran: identity → (start, end) intervals.
#[derive(Default)]
struct Terms {
    terms: Mutex<Vec<(String, Instant, Option<Instant>)>>,
    changed: watch::Sender<u64>,
}

/// Ends a term when the leader's work is dropped.
struct Term {
    terms: Arc<Terms>,
    index: usize,
}

impl Drop for Term {
    fn drop(&mut self) {
        lock(&self.terms.terms)[self.index].2 = Some(Instant::now());
        self.terms.changed.send_modify(|n| *n += 1);
    }
}

impl Terms {
    fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The leader's work: open a term, then work until dropped.
    fn work(
        self: &Arc<Self>,
        identity: &str,
    ) -> impl FnMut() -> futures::future::BoxFuture<'static, ()> + use<> {
        let terms = self.clone();
        let identity = identity.to_owned();
        move || {
            let terms = terms.clone();
            let identity = identity.clone();
            Box::pin(async move {
                let index = {
                    let mut list = lock(&terms.terms);
                    list.push((identity, Instant::now(), None));
                    list.len() - 1
                };
                terms.changed.send_modify(|n| *n += 1);
                let _term = Term { terms, index };
                std::future::pending::<()>().await;
            })
        }
    }

    fn list(&self) -> Vec<(String, Instant, Option<Instant>)> {
        lock(&self.terms).clone()
    }

    fn current(&self) -> Option<String> {
        self.list()
            .into_iter()
            .find(|(_, _, end)| end.is_none())
            .map(|(id, _, _)| id)
    }

    async fn until(
        &self,
        what: &str,
        condition: impl Fn(&[(String, Instant, Option<Instant>)]) -> bool,
    ) {
        let mut changed = self.changed.subscribe();
        let waited = tokio::time::timeout(WAIT, async {
            while !condition(&self.list()) {
                let _ = changed.changed().await;
            }
        })
        .await;
        assert!(
            waited.is_ok(),
            "timed out waiting for {what}: {:?}",
            self.list()
        );
    }

    /// No two terms overlap.
    fn assert_one_leader_at_a_time(&self) {
        let mut terms = self.list();
        terms.sort_by_key(|(_, start, _)| *start);
        for pair in terms.windows(2) {
            let (first, second) = (&pair[0], &pair[1]);
            let first_end = first.2.expect("only the last term may be open");
            assert!(
                first_end <= second.1,
                "{} still led when {} started: {terms:?}",
                first.0,
                second.0
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_first_candidate_creates_the_lease_and_leads() {
    let server = server().await;
    let writes = WriteLog::default();
    let a = elector(
        &Link::new(&server, &writes),
        "a",
        LeaderElectionConfig::default(),
    );
    assert!(!a.is_leader());
    a.acquire().await;
    assert!(a.is_leader());
    let lease = lease(&server).await;
    let spec = lease.spec.as_ref().unwrap();
    assert_eq!(holder(&lease), "a");
    assert_eq!(spec.lease_duration_seconds, Some(15));
    assert_eq!(spec.lease_transitions, Some(0));
    assert_eq!(spec.acquire_time, spec.renew_time);
    assert_eq!(*a.leader().borrow(), Some("a".to_owned()));
}

#[tokio::test(start_paused = true)]
async fn a_held_lease_is_not_taken_while_its_holder_renews_it() {
    let server = server().await;
    let writes = WriteLog::default();
    let terms = Terms::new();
    let a = elector(
        &Link::new(&server, &writes),
        "a",
        LeaderElectionConfig::default(),
    );
    let b = elector(
        &Link::new(&server, &writes),
        "b",
        LeaderElectionConfig::default(),
    );
    let run_a = tokio::spawn({
        let (a, work) = (a.clone(), terms.work("a"));
        async move { a.run(work).await }
    });
    terms.until("a leads", |t| t.len() == 1).await;
    let run_b = tokio::spawn({
        let (b, work) = (b.clone(), terms.work("b"));
        async move { b.run(work).await }
    });

    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(terms.current().as_deref(), Some("a"));
    assert_eq!(terms.list().len(), 1, "b never led");
    assert!(!b.is_leader());
    assert_eq!(
        *b.leader().borrow(),
        Some("a".to_owned()),
        "b knows who leads"
    );
    let renewals = lock(&writes).iter().filter(|(_, h)| h == "a").count();
    assert!(renewals >= 50, "a renewed every retry period: {renewals}");
    let lease = lease(&server).await;
    assert_eq!(holder(&lease), "a");
    assert_eq!(lease.spec.as_ref().unwrap().lease_transitions, Some(0));
    run_a.abort();
    run_b.abort();
}

#[tokio::test(start_paused = true)]
async fn when_the_leader_stops_another_takes_over_once_the_lease_expires() {
    let server = server().await;
    let writes = WriteLog::default();
    let terms = Terms::new();
    let a = elector(
        &Link::new(&server, &writes),
        "a",
        LeaderElectionConfig::default(),
    );
    let b = elector(
        &Link::new(&server, &writes),
        "b",
        LeaderElectionConfig::default(),
    );
    let run_a = tokio::spawn({
        let (a, work) = (a.clone(), terms.work("a"));
        async move { a.run(work).await }
    });
    terms.until("a leads", |t| t.len() == 1).await;
    let run_b = tokio::spawn({
        let (b, work) = (b.clone(), terms.work("b"));
        async move { b.run(work).await }
    });
    tokio::time::sleep(Duration::from_secs(30)).await;

    // The leader's process dies: no release, no more renewals.
    run_a.abort();
    terms.until("b leads", |t| t.len() == 2).await;
    let last_renewal = lock(&writes)
        .iter()
        .filter(|(_, h)| h == "a")
        .map(|(at, _)| *at)
        .max()
        .unwrap();
    let takeover = terms.list()[1].1;
    let waited = takeover - last_renewal;
    assert!(
        waited >= LEASE && waited <= LEASE + 2 * MAX_RETRY,
        "took over {waited:?} after the last renewal"
    );
    let lease = lease(&server).await;
    assert_eq!(holder(&lease), "b");
    assert_eq!(lease.spec.as_ref().unwrap().lease_transitions, Some(1));
    run_b.abort();
}

#[tokio::test(start_paused = true)]
async fn a_leader_cut_off_from_the_server_stops_its_work_within_the_renew_deadline() {
    for cut in [LinkState::Failing, LinkState::Hanging] {
        let server = server().await;
        let writes = WriteLog::default();
        let terms = Terms::new();
        let link_a = Link::new(&server, &writes);
        let a = elector(&link_a, "a", LeaderElectionConfig::default());
        let b = elector(
            &Link::new(&server, &writes),
            "b",
            LeaderElectionConfig::default(),
        );
        let run_a = tokio::spawn({
            let (a, work) = (a.clone(), terms.work("a"));
            async move { a.run(work).await }
        });
        terms.until("a leads", |t| t.len() == 1).await;
        let run_b = tokio::spawn({
            let (b, work) = (b.clone(), terms.work("b"));
            async move { b.run(work).await }
        });
        tokio::time::sleep(Duration::from_secs(9)).await;

        link_a.set(cut);
        terms.until("a's work to stop", |t| t[0].2.is_some()).await;
        let last_renewal = lock(&writes)
            .iter()
            .filter(|(_, h)| h == "a")
            .map(|(at, _)| *at)
            .max()
            .unwrap();
        let stopped = terms.list()[0].2.unwrap();
        assert!(
            stopped - last_renewal <= RETRY + RENEW_DEADLINE,
            "{cut:?}: a stopped {:?} after its last renewal",
            stopped - last_renewal
        );
        assert!(!a.is_leader());

        terms.until("b leads", |t| t.len() == 2).await;
        terms.assert_one_leader_at_a_time();
        assert!(terms.list()[1].1 - last_renewal >= LEASE);
        run_a.abort();
        run_b.abort();
    }
}

#[tokio::test(start_paused = true)]
async fn releasing_on_shutdown_lets_a_successor_take_over_at_its_next_attempt() {
    let server = server().await;
    let writes = WriteLog::default();
    let terms = Terms::new();
    let config = LeaderElectionConfig {
        release_on_cancel: true,
        ..LeaderElectionConfig::default()
    };
    let a = elector(&Link::new(&server, &writes), "a", config.clone());
    let b = elector(&Link::new(&server, &writes), "b", config);
    let (shutdown, shutdown_signal) = tokio::sync::oneshot::channel::<()>();
    let run_a = tokio::spawn({
        let (a, work) = (a.clone(), terms.work("a"));
        async move {
            a.run_until(work, async {
                let _ = shutdown_signal.await;
            })
            .await
        }
    });
    terms.until("a leads", |t| t.len() == 1).await;
    let run_b = tokio::spawn({
        let (b, work) = (b.clone(), terms.work("b"));
        async move { b.run(work).await }
    });
    tokio::time::sleep(Duration::from_secs(20)).await;

    let shut_down_at = Instant::now();
    shutdown.send(()).unwrap();
    assert_eq!(run_a.await.unwrap(), None);
    terms.until("b leads", |t| t.len() == 2).await;
    terms.assert_one_leader_at_a_time();
    let waited = terms.list()[1].1 - shut_down_at;
    assert!(
        waited <= MAX_RETRY,
        "b waited {waited:?}, not a lease duration"
    );
    assert_eq!(holder(&*lease(&server).await), "b");
    run_b.abort();
}

#[tokio::test(start_paused = true)]
async fn of_three_candidates_exactly_one_leads_at_any_time_through_repeated_failures() {
    let server = server().await;
    let writes = WriteLog::default();
    let terms = Terms::new();
    let mut links = BTreeMap::new();
    let mut runs = Vec::new();
    for id in ["a", "b", "c"] {
        let link = Link::new(&server, &writes);
        let candidate = elector(&link, id, LeaderElectionConfig::default());
        links.insert(id.to_owned(), link);
        runs.push(tokio::spawn({
            let work = terms.work(id);
            async move { candidate.run(work).await }
        }));
    }
    for round in 1..=6 {
        terms
            .until("a leader", |t| t.len() == round && t[round - 1].2.is_none())
            .await;
        let leader = terms.current().unwrap();
        tokio::time::sleep(Duration::from_secs(7)).await;
        // Alternate between a failing and a hanging link for the current leader.
        let cut = if round % 2 == 0 {
            LinkState::Failing
        } else {
            LinkState::Hanging
        };
        links[&leader].set(cut);
        terms
            .until("the next leader", |t| t.len() == round + 1)
            .await;
        links[&leader].set(LinkState::Up);
    }
    terms.assert_one_leader_at_a_time();
    let transitions = lease(&server)
        .await
        .spec
        .as_ref()
        .unwrap()
        .lease_transitions;
    assert_eq!(transitions, Some(6));
    for run in runs {
        run.abort();
    }
}

#[tokio::test(start_paused = true)]
async fn leadership_changes_are_recorded_as_events_on_the_lease() {
    let server = server().await;
    let writes = WriteLog::default();
    let link = Link::new(&server, &writes);
    let recorder = Recorder::new(link.clone(), Reporter::new("orchestra-controller-manager"));
    let a = LeaderElector::new(
        link.clone(),
        lease_lock(),
        "a",
        LeaderElectionConfig::default(),
    )
    .unwrap()
    .recorder(recorder);
    a.acquire().await;
    let events = Api::<Event>::namespaced(server.clone(), "kube-system")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].reason.as_deref(), Some("LeaderElection"));
    assert_eq!(events[0].message.as_deref(), Some("a became leader"));
    assert_eq!(events[0].involved_object.kind.as_deref(), Some("Lease"));
}

#[tokio::test]
async fn timings_that_could_let_two_leaders_overlap_are_refused() {
    let server = server().await;
    let client: Arc<dyn Client> = server;
    let make = |config: LeaderElectionConfig| {
        LeaderElector::new(client.clone(), lease_lock(), "a", config).map(|_| ())
    };
    assert!(matches!(
        make(LeaderElectionConfig {
            lease_duration: Duration::from_secs(10),
            ..LeaderElectionConfig::default()
        }),
        Err(ConfigError::LeaseNotLongerThanRenewDeadline { .. })
    ));
    assert!(matches!(
        make(LeaderElectionConfig {
            retry_period: Duration::from_secs(9),
            ..LeaderElectionConfig::default()
        }),
        Err(ConfigError::RenewDeadlineTooShort { .. })
    ));
    assert!(matches!(
        make(LeaderElectionConfig {
            lease_duration: Duration::from_millis(500),
            renew_deadline: Duration::from_millis(300),
            retry_period: Duration::from_millis(100),
            ..LeaderElectionConfig::default()
        }),
        Err(ConfigError::OutOfRange(_))
    ));
    assert!(matches!(
        LeaderElector::new(
            client.clone(),
            lease_lock(),
            "",
            LeaderElectionConfig::default()
        ),
        Err(ConfigError::EmptyIdentity)
    ));
    assert!(make(LeaderElectionConfig::default()).is_ok());
}
