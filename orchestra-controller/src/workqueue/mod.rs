//! The rate-limited work queue between event handlers and reconcile workers.
//!
//! Informers turn watch events into keys (an object reference such as `{namespace, name}`)
//! and [`add`](WorkQueue::add) them; a few worker tasks [`get`](WorkQueue::get) keys, reconcile
//! the object the key names and call [`done`](WorkQueue::done). Because controllers are
//! level-triggered, a key only says "look at this object again", so the queue may merge
//! requests. It follows client-go's `workqueue` (queue, delaying queue and rate-limiting
//! queue) in every respect below:
//!
//! - **Deduplication.** A key that is already waiting for a worker is not added twice; ten
//!   events for one object before a worker gets to it mean one reconcile.
//! - **One worker per key.** A key handed out by `get` is not handed out again until `done`.
//!   Adding it meanwhile marks it dirty, and it re-enters the back of the queue once, at
//!   `done`. So reconciles of one object never overlap, and a change seen during a reconcile
//!   is never lost.
//! - **Order.** Keys are handed out first-in, first-out.
//! - **Delays.** [`add_after`](WorkQueue::add_after) adds the key once the delay has passed
//!   (a zero delay adds now). A key waits at most once: a second `add_after` keeps the earlier
//!   ready time. A waiting key may also be queued or in flight at the same time; when its
//!   time comes it is added like any other key.
//! - **Rate limiting.** [`add_rate_limited`](WorkQueue::add_rate_limited) asks the queue's
//!   [`RateLimiter`] for the delay — by default client-go's
//!   [`default_controller_rate_limiter`]: the longer of a per-key back-off (5 ms, doubling
//!   to 1,000 s) and a token bucket shared by all keys (10 per second, burst 100).
//!   [`forget`](WorkQueue::forget) resets a key's back-off once it succeeds;
//!   [`num_requeues`](WorkQueue::num_requeues) counts its failures. `done` does *not*
//!   forget: a worker calls `forget` on success and `add_rate_limited` on failure, then
//!   `done` in both cases.
//! - **Shutdown.** After [`shut_down`](WorkQueue::shut_down) the queue ignores new adds and
//!   drops keys still waiting for a delay, but `get` keeps handing out the keys already
//!   queued (and keys re-added before the shutdown, once their worker is done); it returns
//!   `None` once none is left, which tells the worker to exit.
//!   [`shut_down_with_drain`](WorkQueue::shut_down_with_drain) does the same and then waits
//!   until every queued key has been handed out and every handed-out key is done (a later
//!   `shut_down` stops that wait). Stop workers with a cancellation of their own if queued
//!   keys must not be processed.
//!
//! Time comes from [`tokio::time`], so tests may pause the clock (`start_paused = true`) and
//! advance it. There is no background task: whoever touches the queue moves keys whose delay
//! has passed into it, and idle workers sleep until the earliest one is due.
//!
//! [`metrics`](WorkQueue::metrics) returns a [`WorkQueueMetrics`] snapshot in the shape of
//! client-go's `workqueue_*` series.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use orchestra_controller::workqueue::WorkQueue;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let queue: WorkQueue<String> = WorkQueue::builder().name("configmaps").build();
//!
//! // Two events for one object before any worker runs: one reconcile.
//! queue.add("default/app-config".to_string());
//! queue.add("default/app-config".to_string());
//! queue.add_after("kube-system/coredns".to_string(), Duration::from_secs(30));
//! assert_eq!(queue.len(), 1);
//!
//! let worker = tokio::spawn({
//!     let queue = queue.clone();
//!     async move {
//!         let mut reconciled = Vec::new();
//!         while let Some(key) = queue.get().await {
//!             let succeeded = true; // reconcile the object `key` names here
//!             if succeeded {
//!                 queue.forget(&key);
//!             } else {
//!                 queue.add_rate_limited(key.clone());
//!             }
//!             queue.done(&key);
//!             reconciled.push(key);
//!         }
//!         reconciled
//!     }
//! });
//!
//! // Let the delayed key come due (the clock is paused, so this takes no real time), then
//! // stop accepting work and wait for the workers to finish what was queued.
//! tokio::time::sleep(Duration::from_secs(31)).await;
//! queue.shut_down_with_drain().await;
//! let reconciled = worker.await.expect("the worker does not panic");
//! assert_eq!(reconciled, ["default/app-config", "kube-system/coredns"]);
//! assert_eq!(queue.metrics().adds, 2);
//! # }
//! ```

mod delaying;
mod metrics;
mod queue;
pub mod rate_limiter;

use std::fmt;
use std::hash::Hash;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use self::delaying::Waiting;
use self::metrics::Recorder;
use self::queue::{Added, Queue};

pub use self::metrics::{DURATION_BUCKETS, DurationHistogram, WorkQueueMetrics};
pub use self::rate_limiter::{
    BucketRateLimiter, InvalidRateLimit, ItemExponentialFailureRateLimiter, MaxOfRateLimiter,
    RateLimiter, default_controller_rate_limiter,
};

/// Longest delay `add_after` honours (about 30 years, as tokio's "far future"); longer
/// delays are shortened to it so the ready time stays representable.
const MAX_DELAY: Duration = Duration::from_secs(86_400 * 365 * 30);

/// A deduplicating, rate-limited FIFO of keys shared by a controller's event handlers and
/// workers. See the [module documentation](self) for its semantics.
///
/// Cloning is cheap and every clone is the same queue.
pub struct WorkQueue<K> {
    inner: Arc<Inner<K>>,
}

struct Inner<K> {
    name: String,
    state: Mutex<State<K>>,
    rate_limiter: Box<dyn RateLimiter<K>>,
    /// Wakes workers blocked in `get`: one per key that became ready; all on shutdown and
    /// when a delayed key with a new earliest ready time arrives (their sleep is too long).
    ready: Notify,
    /// Wakes `shut_down_with_drain` when the queue may have become idle, or on `shut_down`.
    idle: Notify,
}

struct State<K> {
    queue: Queue<K>,
    waiting: Waiting<K>,
    shutting_down: bool,
    /// A `shut_down_with_drain` is waiting; a later `shut_down` clears it.
    draining: bool,
    metrics: Recorder,
}

impl<K: Clone + Eq + Hash> State<K> {
    /// Moves keys whose delay has passed into the queue; returns how many became ready.
    /// Each key counts as added at its ready time, as if a timer had added it right then.
    fn promote_ready(&mut self, now: Instant) -> usize {
        let mut ready = 0;
        while let Some((key, ready_at)) = self.waiting.pop_ready(now) {
            ready += usize::from(self.add(key, ready_at));
        }
        ready
    }

    /// Adds `key` unless shutting down; returns whether it became ready for a worker.
    fn add(&mut self, key: K, added_at: Instant) -> bool {
        if self.shutting_down {
            return false;
        }
        match self.queue.add(key, added_at) {
            Added::AlreadyQueued => false,
            Added::AfterDone => {
                self.metrics.adds += 1;
                false
            }
            Added::Queued => {
                self.metrics.adds += 1;
                true
            }
        }
    }

    /// Stops accepting keys; keys whose delay already passed are still queued.
    fn shut_down(&mut self, now: Instant) -> usize {
        let ready = self.promote_ready(now);
        self.shutting_down = true;
        self.waiting.clear();
        ready
    }
}

impl<K> Clone for WorkQueue<K> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K> WorkQueue<K>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
{
    /// An unnamed queue with client-go's [`default_controller_rate_limiter`].
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// An unnamed queue whose [`add_rate_limited`](Self::add_rate_limited) asks `rate_limiter`.
    pub fn with_rate_limiter(rate_limiter: impl RateLimiter<K> + 'static) -> Self {
        Self::builder().rate_limiter(rate_limiter).build()
    }

    /// Starts configuring a queue: its name and rate limiter.
    pub fn builder() -> WorkQueueBuilder<K> {
        WorkQueueBuilder {
            name: String::new(),
            rate_limiter: None,
        }
    }

    /// The queue's name, as given to [`WorkQueueBuilder::name`] (empty by default).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Marks `key` as needing processing.
    ///
    /// Does nothing if the key is already waiting for a worker, or if the queue is shutting
    /// down. If a worker holds the key, it is queued again when that worker calls
    /// [`done`](Self::done).
    pub fn add(&self, key: K) {
        let ready = {
            let mut state = self.lock();
            let now = Instant::now();
            state.promote_ready(now) + usize::from(state.add(key, now))
        };
        self.wake_workers(ready);
    }

    /// Adds `key` once `delay` has passed; a zero delay adds it now.
    ///
    /// If the key is already waiting for a delay, it keeps the earlier of the two ready times.
    /// Does nothing if the queue is shutting down. Counts as a retry in the metrics.
    pub fn add_after(&self, key: K, delay: Duration) {
        let (ready, sooner) = {
            let mut state = self.lock();
            if state.shutting_down {
                return;
            }
            state.metrics.retries += 1;
            let now = Instant::now();
            let mut ready = state.promote_ready(now);
            let mut sooner = false;
            if delay.is_zero() {
                ready += usize::from(state.add(key, now));
            } else {
                let ready_at = now
                    .checked_add(delay.min(MAX_DELAY))
                    .unwrap_or_else(|| far_future(now));
                sooner = state
                    .waiting
                    .next_ready_at()
                    .is_none_or(|earliest| ready_at < earliest);
                state.waiting.insert(key, ready_at);
            }
            (ready, sooner)
        };
        self.wake_workers(ready);
        if sooner {
            // Idle workers sleep until the earliest ready time; this one is earlier still.
            self.inner.ready.notify_waiters();
        }
    }

    /// Adds `key` after the delay the rate limiter answers for it, which also counts one more
    /// failure of the key. Does nothing if the queue is shutting down.
    pub fn add_rate_limited(&self, key: K) {
        if self.is_shutting_down() {
            return;
        }
        let delay = self.inner.rate_limiter.when(&key);
        self.add_after(key, delay);
    }

    /// Resets the rate limiter's memory of `key`: its next failure waits the shortest delay
    /// again. Call it when the key was processed successfully. It does not remove the key
    /// from the queue.
    pub fn forget(&self, key: &K) {
        self.inner.rate_limiter.forget(key);
    }

    /// How many times `key` was rate-limited since it was last forgotten.
    pub fn num_requeues(&self, key: &K) -> u32 {
        self.inner.rate_limiter.num_requeues(key)
    }

    /// Waits for a key to process and hands it to the caller, who must call
    /// [`done`](Self::done) with it when finished.
    ///
    /// Returns `None` once the queue is shutting down and no key is left to hand out: the
    /// worker should exit. Cancel-safe: dropping the future never loses a key.
    pub async fn get(&self) -> Option<K> {
        loop {
            // Register for a wake-up before looking, so none slips in between.
            let mut notified = pin!(self.inner.ready.notified());
            notified.as_mut().enable();

            let next_ready_at = {
                let mut state = self.lock();
                let now = Instant::now();
                let ready = state.promote_ready(now);
                if let Some((key, waited)) = state.queue.pop(now) {
                    state.metrics.queue_duration.observe(waited);
                    drop(state);
                    // This worker takes one of the keys that became ready; wake others for the rest.
                    self.wake_workers(ready.saturating_sub(1));
                    return Some(key);
                }
                if state.shutting_down {
                    return None;
                }
                state.waiting.next_ready_at()
            };

            match next_ready_at {
                Some(ready_at) => {
                    tokio::select! {
                        () = notified => {}
                        () = tokio::time::sleep_until(ready_at) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Tells the queue a worker has finished with `key`, which [`get`](Self::get) handed out.
    ///
    /// If the key was added again meanwhile, it goes to the back of the queue now. Does
    /// nothing if no worker holds the key.
    pub fn done(&self, key: &K) {
        let (ready, idle) = {
            let mut state = self.lock();
            let now = Instant::now();
            let mut ready = state.promote_ready(now);
            if let Some(finished) = state.queue.done(key, now) {
                state.metrics.work_duration.observe(finished.held_for);
                ready += usize::from(finished.requeued);
            }
            (ready, state.queue.is_idle())
        };
        self.wake_workers(ready);
        if idle {
            self.inner.idle.notify_waiters();
        }
    }

    /// How many keys are ready for a worker now (not counting keys in flight or waiting for
    /// a delay). For information only: it may change as soon as it is read.
    pub fn len(&self) -> usize {
        let (len, ready) = {
            let mut state = self.lock();
            let ready = state.promote_ready(Instant::now());
            (state.queue.len(), ready)
        };
        self.wake_workers(ready);
        len
    }

    /// Whether no key is ready for a worker now; see [`len`](Self::len).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops the queue: new adds are ignored, keys waiting for a delay are dropped, and
    /// [`get`](Self::get) returns `None` once the keys already queued are handed out.
    /// Also ends a pending [`shut_down_with_drain`](Self::shut_down_with_drain) wait.
    pub fn shut_down(&self) {
        let ready = {
            let mut state = self.lock();
            state.draining = false;
            state.shut_down(Instant::now())
        };
        self.wake_workers(ready);
        self.inner.ready.notify_waiters();
        self.inner.idle.notify_waiters();
    }

    /// Stops the queue like [`shut_down`](Self::shut_down), then waits until workers have
    /// taken every queued key and called [`done`](Self::done) on every key they hold.
    ///
    /// Waits forever if no worker takes the queued keys or a worker never calls `done`;
    /// a concurrent `shut_down` ends the wait.
    pub async fn shut_down_with_drain(&self) {
        let ready = {
            let mut state = self.lock();
            state.draining = true;
            state.shut_down(Instant::now())
        };
        self.wake_workers(ready);
        self.inner.ready.notify_waiters();
        loop {
            let mut idle = pin!(self.inner.idle.notified());
            idle.as_mut().enable();
            {
                let state = self.lock();
                if !state.draining || state.queue.is_idle() {
                    return;
                }
            }
            idle.await;
        }
    }

    /// Whether [`shut_down`](Self::shut_down) or
    /// [`shut_down_with_drain`](Self::shut_down_with_drain) was called.
    pub fn is_shutting_down(&self) -> bool {
        self.lock().shutting_down
    }

    /// A snapshot of the queue's metrics.
    pub fn metrics(&self) -> WorkQueueMetrics {
        let (snapshot, ready) = {
            let mut state = self.lock();
            let now = Instant::now();
            let ready = state.promote_ready(now);
            let (unfinished_work, longest_running_processor) = state.queue.unfinished_work(now);
            let snapshot = WorkQueueMetrics {
                name: self.inner.name.clone(),
                depth: state.queue.depth(),
                in_flight: state.queue.in_flight(),
                delayed: state.waiting.len(),
                adds: state.metrics.adds,
                retries: state.metrics.retries,
                queue_duration: state.metrics.queue_duration.snapshot(),
                work_duration: state.metrics.work_duration.snapshot(),
                unfinished_work,
                longest_running_processor,
            };
            (snapshot, ready)
        };
        self.wake_workers(ready);
        snapshot
    }

    fn lock(&self) -> MutexGuard<'_, State<K>> {
        // The state is consistent between statements that can panic, so a panic elsewhere
        // while the lock was held leaves nothing half-done.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn wake_workers(&self, keys: usize) {
        for _ in 0..keys {
            self.inner.ready.notify_one();
        }
    }
}

/// A ready time no test or controller will reach, for delays too long to add to `now`.
fn far_future(now: Instant) -> Instant {
    now.checked_add(Duration::from_secs(86_400 * 365))
        .unwrap_or(now)
}

impl<K> Default for WorkQueue<K>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<K> fmt::Debug for WorkQueue<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self
            .inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("WorkQueue")
            .field("name", &self.inner.name)
            .field("ready", &state.queue.len())
            .field("in_flight", &state.queue.in_flight())
            .field("delayed", &state.waiting.len())
            .field("shutting_down", &state.shutting_down)
            .finish_non_exhaustive()
    }
}

/// Configures a [`WorkQueue`]; start with [`WorkQueue::builder`].
pub struct WorkQueueBuilder<K> {
    name: String,
    rate_limiter: Option<Box<dyn RateLimiter<K>>>,
}

impl<K> WorkQueueBuilder<K>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
{
    /// Names the queue; the name labels its metrics (client-go's `name` label).
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the limiter [`WorkQueue::add_rate_limited`] asks; the default is
    /// [`default_controller_rate_limiter`].
    #[must_use]
    pub fn rate_limiter(mut self, rate_limiter: impl RateLimiter<K> + 'static) -> Self {
        self.rate_limiter = Some(Box::new(rate_limiter));
        self
    }

    /// Creates the queue.
    pub fn build(self) -> WorkQueue<K> {
        let rate_limiter = self
            .rate_limiter
            .unwrap_or_else(|| Box::new(default_controller_rate_limiter()));
        WorkQueue {
            inner: Arc::new(Inner {
                name: self.name,
                state: Mutex::new(State {
                    queue: Queue::new(),
                    waiting: Waiting::new(),
                    shutting_down: false,
                    draining: false,
                    metrics: Recorder::default(),
                }),
                rate_limiter,
                ready: Notify::new(),
                idle: Notify::new(),
            }),
        }
    }
}

impl<K> fmt::Debug for WorkQueueBuilder<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkQueueBuilder")
            .field("name", &self.name)
            .field("custom_rate_limiter", &self.rate_limiter.is_some())
            .finish()
    }
}
