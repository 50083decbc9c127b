//! The in-memory event log that feeds watchers, shared by [`MemoryKv`](crate::MemoryKv) and
//! [`DiskKv`](crate::DiskKv).
//!
//! The writer appends the event of each revision (the writes of `MemoryKv` and `DiskKv` change
//! one key per revision), in revision order, and wakes every waiting watcher. A watcher is only
//! a cursor (the next revision it wants) and a prefix: it copies the events at and after its
//! cursor out of the log, as one [`WatchBatch`] each, so a slow watcher costs the writer nothing
//! and no per-watcher buffer grows. The log keeps a suffix of the history: every event from
//! `retained_from` on. A watcher whose cursor fell before that learns it with [`Read::Behind`];
//! the backend then answers from its own history (`DiskKv`) or ends the watch with
//! [`StoreError::Compacted`] (`MemoryKv`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use tokio::sync::Notify;

use crate::kv::{Result, Revision, StoreError, WatchBatch, WatchEvent, WatchStream};

/// How many revisions a watcher copies out per lock acquisition.
const READ_CHUNK: usize = 512;

/// The log; see the [module docs](self).
#[derive(Debug)]
pub(crate) struct EventLog {
    inner: Mutex<Inner>,
    notify: Notify,
}

#[derive(Debug)]
struct Inner {
    /// One event per revision, in ascending revision order.
    events: VecDeque<WatchEvent>,
    /// Every event with a revision at or above this one is in `events`.
    retained_from: Revision,
    /// The revision of the last event appended (or the store's revision when it opened).
    last: Revision,
    /// At most this many events and bytes are kept; older ones are dropped (`None`: no bound).
    capacity: Option<Capacity>,
    /// The keys and values held by `events`, in bytes.
    bytes: usize,
    /// Set when the store closes; watchers end with `Unavailable`.
    closed: bool,
}

/// The bound of a log that keeps only the recent history (the rest is on disk).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Capacity {
    /// At most this many events.
    pub(crate) events: usize,
    /// At most this many bytes of keys and values.
    pub(crate) bytes: usize,
}

/// What a watcher's read found.
#[derive(Debug)]
pub(crate) enum Read {
    /// The batches at and after the cursor that match the prefix (possibly none), and the
    /// cursor to read from next.
    Batches(Vec<WatchBatch>, Revision),
    /// Nothing after the cursor yet: wait for a notification.
    UpToDate,
    /// The log no longer holds the cursor's revision; it holds everything from `retained_from`.
    Behind {
        /// The oldest revision the log still holds.
        retained_from: Revision,
    },
    /// The store was closed.
    Closed,
}

impl EventLog {
    /// An empty log for a store at `revision`, holding every event after it.
    pub(crate) fn new(revision: Revision, capacity: Option<Capacity>) -> Self {
        EventLog {
            inner: Mutex::new(Inner {
                events: VecDeque::new(),
                retained_from: revision + 1,
                last: revision,
                capacity,
                bytes: 0,
                closed: false,
            }),
            notify: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The log's invariants hold between statements, so a panic elsewhere while the lock
        // was held leaves it consistent: keep using it.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The revision of the last event appended.
    pub(crate) fn last_revision(&self) -> Revision {
        self.lock().last
    }

    /// Appends the events of the next revisions (one each, ascending, after every event
    /// already in the log) and wakes watchers.
    pub(crate) fn append(&self, new: impl IntoIterator<Item = WatchEvent>) {
        {
            let mut inner = self.lock();
            for event in new {
                debug_assert!(event.revision() > inner.last);
                inner.last = event.revision();
                if inner.capacity.is_some() {
                    inner.bytes += event_size(&event);
                }
                inner.events.push_back(event);
            }
            if let Some(capacity) = inner.capacity {
                while inner.events.len() > capacity.events
                    || (inner.bytes > capacity.bytes && inner.events.len() > 1)
                {
                    if let Some(dropped) = inner.events.pop_front() {
                        inner.bytes -= event_size(&dropped);
                        inner.retained_from = dropped.revision() + 1;
                    }
                }
            }
        }
        self.notify.notify_waiters();
    }

    /// The revision and key of every event in the log at or below `revision`, ascending.
    pub(crate) fn changes_through(&self, revision: Revision) -> Vec<(Revision, Bytes)> {
        let inner = self.lock();
        inner
            .events
            .iter()
            .take_while(|event| event.revision() <= revision)
            .map(|event| (event.revision(), event.key().clone()))
            .collect()
    }

    /// Drops every event at or below `revision`.
    pub(crate) fn trim_through(&self, revision: Revision) {
        let mut inner = self.lock();
        while inner
            .events
            .front()
            .is_some_and(|event| event.revision() <= revision)
        {
            if let Some(dropped) = inner.events.pop_front()
                && inner.capacity.is_some()
            {
                inner.bytes -= event_size(&dropped);
            }
        }
        inner.retained_from = inner.retained_from.max(revision + 1);
        drop(inner);
        // Watchers whose cursor fell out of the log learn it on their next read.
        self.notify.notify_waiters();
    }

    /// Ends every watch: their next read returns [`Read::Closed`].
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.notify.notify_waiters();
    }

    /// The batches at or after `cursor` whose keys start with `prefix`.
    pub(crate) fn read(&self, cursor: Revision, prefix: &[u8]) -> Read {
        let inner = self.lock();
        if inner.closed {
            return Read::Closed;
        }
        if cursor < inner.retained_from {
            return Read::Behind {
                retained_from: inner.retained_from,
            };
        }
        if cursor > inner.last {
            return Read::UpToDate;
        }
        let start = inner
            .events
            .partition_point(|event| event.revision() < cursor);
        let mut found = Vec::new();
        let mut next = cursor;
        for event in inner.events.range(start..).take(READ_CHUNK) {
            next = event.revision() + 1;
            if event.key().starts_with(prefix) {
                found.push(WatchBatch {
                    revision: event.revision(),
                    events: vec![event.clone()],
                });
            }
        }
        if next == cursor {
            // Revisions without events (compacted deletions on disk) up to `last`.
            next = inner.last + 1;
        }
        Read::Batches(found, next)
    }

    /// Waits until the log changes after `cursor` (or closes), then reads like [`Self::read`].
    ///
    /// Never returns [`Read::UpToDate`].
    pub(crate) async fn read_or_wait(&self, cursor: Revision, prefix: &[u8]) -> Read {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before the read, so an append between the read and the await wakes us.
            notified.as_mut().enable();
            match self.read(cursor, prefix) {
                Read::UpToDate => notified.await,
                Read::Batches(batches, next) if batches.is_empty() => {
                    // Only other prefixes' events: skip them and keep waiting from `next`.
                    return Read::Batches(batches, next);
                }
                read => return read,
            }
        }
    }
}

/// The bytes of keys and values an event holds.
fn event_size(event: &WatchEvent) -> usize {
    let kv_size = |kv: &crate::kv::KeyValue| kv.key.len() + kv.value.len();
    match event {
        WatchEvent::Put { kv, prev } => kv_size(kv) + prev.as_ref().map_or(0, kv_size),
        WatchEvent::Delete { prev, .. } => kv_size(prev),
    }
}

/// The error that ends a watch whose store closed.
pub(crate) fn closed_error() -> StoreError {
    StoreError::Unavailable {
        reason: "the store was closed".to_string(),
    }
}

/// Where a watcher that the log left behind finds the batches it missed.
pub(crate) trait Backfill: Send + Sync + 'static {
    /// The batches at or after `cursor` and before `until` whose keys start with `prefix`
    /// (a chunk of them is enough), and the cursor to continue from.
    fn backfill(
        &self,
        cursor: Revision,
        until: Revision,
        prefix: Bytes,
    ) -> BoxFuture<'static, Result<(Vec<WatchBatch>, Revision)>>;
}

/// The state of one watch stream.
struct Watcher {
    log: Arc<EventLog>,
    backfill: Option<Arc<dyn Backfill>>,
    prefix: Bytes,
    cursor: Revision,
    pending: VecDeque<WatchBatch>,
    done: bool,
}

/// A watch stream over `log` from `cursor` on. Without `backfill`, a cursor the log no longer
/// holds ends the stream with [`StoreError::Compacted`].
pub(crate) fn watch_stream(
    log: Arc<EventLog>,
    backfill: Option<Arc<dyn Backfill>>,
    prefix: Bytes,
    cursor: Revision,
) -> WatchStream {
    let watcher = Watcher {
        log,
        backfill,
        prefix,
        cursor,
        pending: VecDeque::new(),
        done: false,
    };
    futures::stream::unfold(watcher, |mut w| async move {
        loop {
            if let Some(batch) = w.pending.pop_front() {
                return Some((Ok(batch), w));
            }
            if w.done {
                return None;
            }
            let error = match w.log.read_or_wait(w.cursor, &w.prefix).await {
                Read::Batches(batches, next) => {
                    w.pending.extend(batches);
                    w.cursor = next;
                    continue;
                }
                Read::UpToDate => continue,
                Read::Closed => closed_error(),
                Read::Behind { retained_from } => match &w.backfill {
                    None => StoreError::Compacted {
                        requested: w.cursor,
                        compacted: retained_from - 1,
                    },
                    Some(backfill) => {
                        let chunk = backfill.backfill(w.cursor, retained_from, w.prefix.clone());
                        match chunk.await {
                            Ok((batches, next)) => {
                                w.pending.extend(batches);
                                w.cursor = next;
                                continue;
                            }
                            Err(error) => error,
                        }
                    }
                },
            };
            w.done = true;
            return Some((Err(error), w));
        }
    })
    .boxed()
}
