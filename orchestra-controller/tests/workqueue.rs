//! Behaviour of the rate-limited work queue as a controller's workers see it.
//!
//! Every test runs on tokio's paused clock or waits on conditions; none sleeps in real time.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use orchestra_controller::workqueue::{ItemExponentialFailureRateLimiter, RateLimiter, WorkQueue};
use proptest::prelude::*;
use tokio::time::{Instant, advance, timeout};

/// The key controllers use: an object reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ObjectRef {
    namespace: String,
    name: String,
}

fn object(name: &str) -> ObjectRef {
    ObjectRef {
        namespace: "default".into(),
        name: name.into(),
    }
}

/// `get` without waiting: `None` when it would block.
fn try_get<K>(queue: &WorkQueue<K>) -> Option<Option<K>>
where
    K: Clone + Eq + std::hash::Hash + Send + Sync + 'static,
{
    queue.get().now_or_never()
}

#[tokio::test(start_paused = true)]
async fn duplicate_adds_while_waiting_are_merged() {
    let queue = WorkQueue::new();
    queue.add(object("a"));
    queue.add(object("b"));
    queue.add(object("a"));
    assert_eq!(queue.len(), 2);
    assert_eq!(queue.get().await, Some(object("a")));
    assert_eq!(queue.get().await, Some(object("b")));
    assert_eq!(try_get(&queue), None, "nothing else is queued");
    assert_eq!(queue.metrics().adds, 2);
}

#[tokio::test(start_paused = true)]
async fn key_in_flight_is_not_handed_to_a_second_worker() {
    let queue = WorkQueue::new();
    queue.add(object("a"));
    let held = queue.get().await;
    assert_eq!(held, Some(object("a")));
    queue.add(object("a"));
    assert_eq!(queue.len(), 0, "the re-add waits for done");
    assert_eq!(try_get(&queue), None);
}

#[tokio::test(start_paused = true)]
async fn re_add_during_processing_runs_once_after_done() {
    let queue = WorkQueue::new();
    queue.add(object("a"));
    let key = queue.get().await.expect("queued");
    queue.add(object("a"));
    queue.add(object("a"));
    queue.done(&key);
    assert_eq!(queue.len(), 1);
    let again = queue.get().await.expect("re-queued at done");
    assert_eq!(again, object("a"));
    queue.done(&again);
    assert_eq!(try_get(&queue), None, "exactly once");
}

#[tokio::test(start_paused = true)]
async fn waiting_worker_wakes_when_a_key_is_added() {
    let queue = WorkQueue::<ObjectRef>::new();
    let worker = tokio::spawn({
        let queue = queue.clone();
        async move { queue.get().await }
    });
    tokio::task::yield_now().await;
    queue.add(object("a"));
    let got = timeout(Duration::from_secs(1), worker).await;
    assert_eq!(got.ok().and_then(Result::ok).flatten(), Some(object("a")));
}

#[tokio::test(start_paused = true)]
async fn done_on_a_re_added_key_wakes_a_waiting_worker() {
    let queue = WorkQueue::new();
    queue.add(object("a"));
    let held = queue.get().await.expect("queued");
    queue.add(object("a"));
    let other = tokio::spawn({
        let queue = queue.clone();
        async move { queue.get().await }
    });
    tokio::task::yield_now().await;
    assert!(!other.is_finished(), "a is in flight");
    // This worker finishes and never asks again: the waiting one must take over.
    queue.done(&held);
    let got = timeout(Duration::from_secs(1), other).await;
    assert_eq!(got.ok().and_then(Result::ok).flatten(), Some(object("a")));
}

#[tokio::test(start_paused = true)]
async fn add_after_adds_the_key_once_the_delay_has_passed() {
    let queue = WorkQueue::new();
    queue.add_after(object("a"), Duration::from_secs(10));
    assert_eq!(queue.len(), 0);
    advance(Duration::from_secs(9)).await;
    assert_eq!(queue.len(), 0);
    advance(Duration::from_secs(1)).await;
    assert_eq!(queue.len(), 1);
    assert_eq!(queue.get().await, Some(object("a")));
}

#[tokio::test(start_paused = true)]
async fn idle_worker_sleeps_until_the_earliest_delayed_key() {
    let queue = WorkQueue::new();
    queue.add_after(object("late"), Duration::from_secs(60));
    let start = Instant::now();
    let worker = tokio::spawn({
        let queue = queue.clone();
        async move { queue.get().await.map(|key| (key, Instant::now())) }
    });
    tokio::task::yield_now().await;
    // Arrives while the worker sleeps towards 60 s: it must wake for this one first.
    queue.add_after(object("early"), Duration::from_secs(5));
    let (key, at) = worker
        .await
        .expect("worker does not panic")
        .expect("a key comes due");
    assert_eq!(key, object("early"));
    assert_eq!(at - start, Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn add_after_keeps_the_earlier_ready_time() {
    let queue = WorkQueue::new();
    queue.add_after(object("a"), Duration::from_secs(5));
    queue.add_after(object("a"), Duration::from_secs(50));
    advance(Duration::from_secs(5)).await;
    assert_eq!(queue.len(), 1);
    assert_eq!(queue.metrics().delayed, 0, "the later request was merged");
}

#[tokio::test(start_paused = true)]
async fn add_after_zero_adds_now() {
    let queue = WorkQueue::new();
    queue.add_after(object("a"), Duration::ZERO);
    assert_eq!(queue.len(), 1);
    assert_eq!(queue.metrics().retries, 1);
}

#[tokio::test(start_paused = true)]
async fn delayed_key_already_queued_is_processed_again_when_due() {
    // A reconcile asked "look again in 10 s" while another event queued the key: both count.
    let queue = WorkQueue::new();
    queue.add(object("a"));
    queue.add_after(object("a"), Duration::from_secs(10));
    let key = queue.get().await.expect("queued");
    queue.done(&key);
    assert_eq!(try_get(&queue), None);
    advance(Duration::from_secs(10)).await;
    assert_eq!(queue.get().await, Some(object("a")));
}

#[tokio::test(start_paused = true)]
async fn rate_limited_retries_back_off_exponentially_until_forgotten() {
    let queue = WorkQueue::new();
    let key = object("flaky");
    let start = Instant::now();
    let mut retried_at = Vec::new();
    queue.add(key.clone());
    for _ in 0..4 {
        let got = queue.get().await.expect("retried");
        retried_at.push(Instant::now() - start);
        queue.add_rate_limited(got.clone());
        queue.done(&got);
    }
    // 5, 10, 20 ms after each previous attempt.
    assert_eq!(
        retried_at,
        [0, 5, 15, 35].map(Duration::from_millis).to_vec()
    );
    assert_eq!(queue.num_requeues(&key), 4);
    queue.forget(&key);
    assert_eq!(queue.num_requeues(&key), 0);
    let got = queue.get().await.expect("the fourth retry is still due");
    let before = Instant::now();
    queue.add_rate_limited(got.clone());
    queue.done(&got);
    queue.get().await.expect("retried");
    assert_eq!(Instant::now() - before, Duration::from_millis(5));
}

#[tokio::test(start_paused = true)]
async fn rate_limited_retries_of_many_keys_share_the_token_bucket() {
    let queue = WorkQueue::new();
    let start = Instant::now();
    for i in 0..150 {
        queue.add_rate_limited(object(&format!("pod-{i}")));
    }
    // Burst 100 at 5 ms each, then one every 100 ms.
    let mut last = Duration::ZERO;
    for _ in 0..150 {
        let key = queue.get().await.expect("all come due");
        last = Instant::now() - start;
        queue.done(&key);
    }
    assert_eq!(last, Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn custom_rate_limiter_is_used() {
    let limiter =
        ItemExponentialFailureRateLimiter::new(Duration::from_secs(1), Duration::from_secs(2));
    let queue = WorkQueue::builder()
        .name("custom")
        .rate_limiter(limiter)
        .build();
    queue.add_rate_limited(object("a"));
    advance(Duration::from_millis(999)).await;
    assert_eq!(queue.len(), 0);
    advance(Duration::from_millis(1)).await;
    assert_eq!(queue.len(), 1);
    assert_eq!(queue.name(), "custom");
}

#[tokio::test(start_paused = true)]
async fn shut_down_ignores_new_adds_and_hands_out_what_is_queued() {
    let queue = WorkQueue::new();
    queue.add(object("a"));
    queue.add_after(object("delayed"), Duration::from_secs(1));
    queue.shut_down();
    queue.add(object("b"));
    queue.add_rate_limited(object("c"));
    assert!(queue.is_shutting_down());
    assert_eq!(queue.get().await, Some(object("a")));
    advance(Duration::from_secs(2)).await;
    assert_eq!(queue.get().await, None, "delayed keys are dropped");
}

#[tokio::test(start_paused = true)]
async fn shut_down_wakes_idle_workers_with_none() {
    let queue = WorkQueue::<ObjectRef>::new();
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let queue = queue.clone();
            tokio::spawn(async move { queue.get().await })
        })
        .collect();
    tokio::task::yield_now().await;
    queue.shut_down();
    for worker in workers {
        let got = timeout(Duration::from_secs(1), worker).await;
        assert_eq!(got.ok().and_then(Result::ok), Some(None));
    }
}

#[tokio::test(start_paused = true)]
async fn re_add_before_shut_down_still_runs_after_done() {
    let queue = WorkQueue::new();
    queue.add(object("a"));
    let key = queue.get().await.expect("queued");
    queue.add(object("a"));
    queue.shut_down();
    queue.done(&key);
    assert_eq!(queue.get().await, Some(object("a")));
    assert_eq!(queue.get().await, None);
}

#[tokio::test(start_paused = true)]
async fn shut_down_with_drain_waits_for_queued_and_in_flight_keys() {
    let queue = WorkQueue::new();
    queue.add(object("a"));
    queue.add(object("b"));
    let held = queue.get().await.expect("queued");
    let drain = tokio::spawn({
        let queue = queue.clone();
        async move { queue.shut_down_with_drain().await }
    });
    tokio::task::yield_now().await;
    assert!(!drain.is_finished(), "a is in flight, b is queued");
    queue.done(&held);
    tokio::task::yield_now().await;
    assert!(!drain.is_finished(), "b is still queued");
    let last = queue.get().await.expect("b is handed out during the drain");
    queue.done(&last);
    timeout(Duration::from_secs(1), drain)
        .await
        .expect("drained")
        .expect("does not panic");
    assert_eq!(queue.get().await, None);
}

#[tokio::test(start_paused = true)]
async fn shut_down_ends_a_pending_drain() {
    let queue = WorkQueue::new();
    queue.add(object("a"));
    let _held = queue.get().await;
    let drain = tokio::spawn({
        let queue = queue.clone();
        async move { queue.shut_down_with_drain().await }
    });
    tokio::task::yield_now().await;
    assert!(!drain.is_finished());
    queue.shut_down();
    timeout(Duration::from_secs(1), drain)
        .await
        .expect("the drain wait ends")
        .expect("does not panic");
}

#[tokio::test(start_paused = true)]
async fn shut_down_with_drain_on_an_idle_queue_returns_at_once() {
    let queue = WorkQueue::<ObjectRef>::new();
    timeout(Duration::from_secs(1), queue.shut_down_with_drain())
        .await
        .expect("nothing to drain");
}

#[tokio::test(start_paused = true)]
async fn dropping_a_get_loses_no_key() {
    let queue = WorkQueue::new();
    let first = tokio::spawn({
        let queue = queue.clone();
        async move { queue.get().await }
    });
    let second = tokio::spawn({
        let queue = queue.clone();
        async move { queue.get().await }
    });
    tokio::task::yield_now().await;
    first.abort();
    queue.add(object("a"));
    let got = timeout(Duration::from_secs(1), second).await;
    assert_eq!(got.ok().and_then(Result::ok).flatten(), Some(object("a")));
}

#[tokio::test(start_paused = true)]
async fn metrics_report_depth_adds_latency_work_duration_and_retries() {
    let queue = WorkQueue::builder().name("pods").build();
    queue.add(object("a"));
    queue.add(object("b"));
    queue.add_after(object("c"), Duration::from_secs(60));
    advance(Duration::from_millis(50)).await;
    let key = queue.get().await.expect("a");
    queue.add(object("a"));
    advance(Duration::from_secs(2)).await;
    let metrics = queue.metrics();
    assert_eq!(metrics.name, "pods");
    assert_eq!(metrics.depth, 2, "b, and a re-added in flight");
    assert_eq!(metrics.in_flight, 1);
    assert_eq!(metrics.delayed, 1);
    assert_eq!(metrics.adds, 3);
    assert_eq!(metrics.retries, 1);
    assert_eq!(metrics.queue_duration.count, 1);
    assert!((metrics.queue_duration.sum - 0.05).abs() < 1e-9);
    assert_eq!(metrics.unfinished_work, Duration::from_secs(2));
    assert_eq!(metrics.longest_running_processor, Duration::from_secs(2));
    queue.done(&key);
    let metrics = queue.metrics();
    assert_eq!(metrics.work_duration.count, 1);
    assert!((metrics.work_duration.sum - 2.0).abs() < 1e-9);
    assert_eq!(metrics.in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn delayed_key_counts_its_queue_duration_from_its_ready_time() {
    let queue = WorkQueue::new();
    queue.add_after(object("a"), Duration::from_secs(1));
    // Nobody touches the queue until well after the key is due.
    advance(Duration::from_secs(3)).await;
    queue.get().await.expect("due");
    let metrics = queue.metrics();
    assert!((metrics.queue_duration.sum - 2.0).abs() < 1e-9);
}

#[test]
fn queue_handles_are_send_sync_and_clone() {
    fn assert_shareable<T: Send + Sync + Clone + 'static>() {}
    assert_shareable::<WorkQueue<ObjectRef>>();
    fn assert_send<T: Send>(_: &T) {}
    let queue = WorkQueue::<ObjectRef>::new();
    assert_send(&queue.get());
    assert_send(&queue.shut_down_with_drain());
}

// ---------------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------------

/// A rate limiter that remembers the delays it answered, so the model knows when a
/// rate-limited key comes due.
#[derive(Clone, Default)]
struct Recorded {
    inner: Arc<ItemExponentialFailureRateLimiter<u8>>,
    last: Arc<Mutex<Option<Duration>>>,
}

impl RateLimiter<u8> for Recorded {
    fn when(&self, key: &u8) -> Duration {
        let delay = self.inner.when(key);
        *self.last.lock().expect("not poisoned") = Some(delay);
        delay
    }
    fn forget(&self, key: &u8) {
        self.inner.forget(key);
    }
    fn num_requeues(&self, key: &u8) -> u32 {
        self.inner.num_requeues(key)
    }
}

#[derive(Debug, Clone)]
enum Op {
    Add(u8),
    AddAfter(u8, u64),
    AddRateLimited(u8),
    Forget(u8),
    Get,
    /// Done on the n-th (modulo) key currently held.
    Done(usize),
    Advance(u64),
    ShutDown,
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..6;
    prop_oneof![
        4 => key.clone().prop_map(Op::Add),
        2 => (key.clone(), 1u64..2_000).prop_map(|(k, ms)| Op::AddAfter(k, ms)),
        2 => key.clone().prop_map(Op::AddRateLimited),
        1 => key.prop_map(Op::Forget),
        4 => Just(Op::Get),
        3 => any::<usize>().prop_map(Op::Done),
        2 => (0u64..1_500).prop_map(Op::Advance),
        1 => Just(Op::ShutDown),
    ]
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime builds")
}

/// The queue's contract, written as plainly as possible.
#[derive(Default)]
struct Model {
    /// Keys added and not handed out since (whether or not held).
    dirty: HashSet<u8>,
    held: Vec<u8>,
    /// Earliest due time of each delayed key, in ms since the start.
    delayed: HashMap<u8, u64>,
    now_ms: u64,
    shut_down: bool,
}

impl Model {
    fn add(&mut self, key: u8) {
        if !self.shut_down {
            self.dirty.insert(key);
        }
    }

    fn add_after(&mut self, key: u8, delay_ms: u64) {
        if self.shut_down {
            return;
        }
        if delay_ms == 0 {
            self.add(key);
            return;
        }
        let due = self.now_ms + delay_ms;
        let entry = self.delayed.entry(key).or_insert(due);
        *entry = (*entry).min(due);
    }

    fn promote(&mut self) {
        let now = self.now_ms;
        let due: Vec<u8> = self
            .delayed
            .iter()
            .filter(|&(_, &at)| at <= now)
            .map(|(&key, _)| key)
            .collect();
        for key in due {
            self.delayed.remove(&key);
            self.add(key);
        }
    }

    /// Keys a `get` may hand out now.
    fn ready(&self) -> HashSet<u8> {
        self.dirty
            .iter()
            .filter(|key| !self.held.contains(key))
            .copied()
            .collect()
    }
}

proptest! {
    /// Dedup, one worker per key, delays and shutdown, checked against a model after every
    /// operation; at the end every key that was accepted is handed out.
    #[test]
    fn queue_dedups_never_hands_out_a_held_key_and_processes_every_added_key(
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        paused_runtime().block_on(async move {
            let limiter = Recorded::default();
            let queue = WorkQueue::with_rate_limiter(limiter.clone());
            let mut model = Model::default();

            for op in ops {
                match op {
                    Op::Add(key) => {
                        queue.add(key);
                        model.add(key);
                    }
                    Op::AddAfter(key, ms) => {
                        queue.add_after(key, Duration::from_millis(ms));
                        model.add_after(key, ms);
                    }
                    Op::AddRateLimited(key) => {
                        *limiter.last.lock().expect("not poisoned") = None;
                        queue.add_rate_limited(key);
                        let answered = limiter.last.lock().expect("not poisoned").take();
                        match answered {
                            Some(delay) => {
                                let ms = u64::try_from(delay.as_millis()).expect("small");
                                prop_assert_eq!(Duration::from_millis(ms), delay);
                                model.add_after(key, ms);
                            }
                            None => prop_assert!(model.shut_down, "asked unless shut down"),
                        }
                    }
                    Op::Forget(key) => {
                        queue.forget(&key);
                        prop_assert_eq!(queue.num_requeues(&key), 0);
                    }
                    Op::Get => {
                        model.promote();
                        let ready = model.ready();
                        match try_get(&queue) {
                            Some(Some(key)) => {
                                prop_assert!(
                                    !model.held.contains(&key),
                                    "key {} handed out while held", key
                                );
                                prop_assert!(ready.contains(&key), "key {} was not added", key);
                                model.dirty.remove(&key);
                                model.held.push(key);
                            }
                            Some(None) => {
                                prop_assert!(model.shut_down && ready.is_empty());
                            }
                            None => prop_assert!(
                                ready.is_empty() && !model.shut_down,
                                "get blocked with {:?} ready", ready
                            ),
                        }
                    }
                    Op::Done(n) => {
                        if !model.held.is_empty() {
                            let key = model.held.remove(n % model.held.len());
                            queue.done(&key);
                        }
                    }
                    Op::Advance(ms) => {
                        advance(Duration::from_millis(ms)).await;
                        model.now_ms += ms;
                    }
                    Op::ShutDown => {
                        model.promote();
                        queue.shut_down();
                        model.shut_down = true;
                        model.delayed.clear();
                    }
                }
                model.promote();
                prop_assert_eq!(queue.len(), model.ready().len(), "dedup: one entry per ready key");
                prop_assert_eq!(queue.metrics().depth, model.dirty.len());
            }

            // Finish: release held keys, let every delay pass, process until empty.
            for key in std::mem::take(&mut model.held) {
                queue.done(&key);
            }
            advance(Duration::from_secs(3_600)).await;
            model.now_ms += 3_600_000;
            model.promote();
            while let Some(Some(key)) = try_get(&queue) {
                prop_assert!(model.dirty.remove(&key), "key {} handed out twice", key);
                queue.done(&key);
            }
            prop_assert!(model.dirty.is_empty(), "never handed out: {:?}", model.dirty);
            queue.shut_down();
            prop_assert_eq!(try_get(&queue), Some(None));
            Ok(())
        })?;
    }

    /// Many workers on a multi-threaded runtime: no key is ever held by two at once, and
    /// every add is followed by a processing of its key.
    #[test]
    fn concurrent_workers_never_process_one_key_at_once_and_miss_no_add(
        adds in proptest::collection::vec(0u8..8, 1..200),
        workers in 1usize..6,
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .expect("a multi-thread runtime builds");
        runtime.block_on(async move {
            let queue = WorkQueue::<u8>::new();
            let in_flight = Arc::new(Mutex::new(HashSet::new()));
            // Per key: adds issued, and the highest add sequence a processing started after.
            let added = Arc::new(Mutex::new(HashMap::<u8, u64>::new()));
            let covered = Arc::new(Mutex::new(HashMap::<u8, u64>::new()));
            let violations = Arc::new(Mutex::new(0usize));

            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    let queue = queue.clone();
                    let in_flight = Arc::clone(&in_flight);
                    let added = Arc::clone(&added);
                    let covered = Arc::clone(&covered);
                    let violations = Arc::clone(&violations);
                    tokio::spawn(async move {
                        while let Some(key) = queue.get().await {
                            if !in_flight.lock().expect("not poisoned").insert(key) {
                                *violations.lock().expect("not poisoned") += 1;
                            }
                            // Every add issued before this get is covered by this run.
                            let seen = added.lock().expect("not poisoned").get(&key).copied();
                            if let Some(seen) = seen {
                                covered.lock().expect("not poisoned").insert(key, seen);
                            }
                            tokio::task::yield_now().await;
                            in_flight.lock().expect("not poisoned").remove(&key);
                            queue.done(&key);
                        }
                    })
                })
                .collect();

            for key in adds {
                // Record the add before making it, so a worker that sees it covers it.
                *added.lock().expect("not poisoned").entry(key).or_insert(0) += 1;
                queue.add(key);
                if key % 3 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            timeout(Duration::from_secs(30), queue.shut_down_with_drain())
                .await
                .expect("drains");
            for handle in handles {
                handle.await.expect("worker does not panic");
            }

            prop_assert_eq!(*violations.lock().expect("not poisoned"), 0);
            let added = added.lock().expect("not poisoned").clone();
            let covered = covered.lock().expect("not poisoned").clone();
            prop_assert_eq!(added, covered, "every add was followed by a processing");
            Ok(())
        })?;
    }
}
