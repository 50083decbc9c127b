//! `DiskKv`: the embedded, durable [`KvStore`], and the default backend.
//!
//! It keeps etcd's MVCC model in one [redb](https://docs.rs/redb) file, `kv.redb`, in its data
//! directory:
//!
//! | table | key → value | holds |
//! |---|---|---|
//! | `versions` | `(key, mod_revision)` → version | every retained version, tombstones for deletions |
//! | `latest` | key → revisions | each existing key's current `mod_revision` (fast current reads) |
//! | `revisions` | revision → key | which key each retained revision changed (watch replay, compaction) |
//! | `meta` | name → counter | the current and the compacted revision |
//!
//! **Durability.** One writer thread owns all writes. It drains the channel of pending writes,
//! applies them in order in one redb transaction, commits it with an fsync, and only then
//! acknowledges every write of the group: concurrent writers share one fsync (group commit),
//! and no acknowledged write is lost by a crash, `kill -9` included. On open, the current and
//! compacted revisions come back from `meta`, and the retained history (by default the last
//! 100,000 revisions, see [`DiskOptions::history_revisions`]) serves reads at past revisions
//! and watches from past revisions, across restarts.
//!
//! **Watches** read recent changes from an in-memory tail of the event history; a watcher
//! from an older revision (or one that fell behind the tail) replays from `versions` first.
//!
//! **Exclusive.** The data directory is locked while open (file `LOCK`); a second open, by this
//! or another process, fails with [`StoreError::Unavailable`] naming the directory.
//!
//! ```
//! use bytes::Bytes;
//! use orchestra_store::{DiskKv, KvStore};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> orchestra_store::Result<()> {
//! let dir = tempfile::tempdir().expect("a temp dir");
//! let written = {
//!     let store = DiskKv::open(dir.path())?;
//!     store.put(Bytes::from("/config"), Bytes::from("v1")).await?
//! }; // closed here
//! let store = DiskKv::open(dir.path())?;
//! assert_eq!(store.get(b"/config").await?, Some(written.clone()));
//! assert_eq!(store.current_revision().await?, written.mod_revision);
//! # Ok(()) }
//! ```

mod codec;
mod writer;

use std::fs::{File, OpenOptions, TryLockError};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;

use async_trait::async_trait;
use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::{mpsc, oneshot};

use self::codec::{decode_counter, decode_latest, decode_version};
use self::writer::{Op, Pending, Writer};
use crate::event_log::{Backfill, Capacity, EventLog, watch_stream};
use crate::kv::{
    KeyValue, KvStore, Limits, RangeRequest, RangeResponse, Result, Revision, StoreError,
    WatchBatch, WatchEvent, WatchRequest, WatchStream, check_key, prefix_end,
};

/// `(key, mod_revision)` → version record.
const VERSIONS: TableDefinition<(&[u8], i64), &[u8]> = TableDefinition::new("versions");
/// key → latest entry, for existing keys.
const LATEST: TableDefinition<&[u8], &[u8]> = TableDefinition::new("latest");
/// revision → the key it changed.
const REVISIONS: TableDefinition<i64, &[u8]> = TableDefinition::new("revisions");
/// counter name → counter.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// The `meta` counter of the current revision.
const META_REVISION: &str = "revision";
/// The `meta` counter of the compacted revision.
const META_COMPACTED: &str = "compacted";

/// The name of the database file in the data directory.
const DB_FILE: &str = "kv.redb";
/// The name of the lock file in the data directory.
const LOCK_FILE: &str = "LOCK";
/// How many revisions a watcher replays from disk per read transaction.
const BACKFILL_CHUNK: usize = 1024;

/// How the store is configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskOptions {
    /// Limits on what is written.
    pub limits: Limits,
    /// How many past revisions to keep for reads and watches at past revisions; older ones are
    /// compacted automatically. `None` keeps everything until [`KvStore::compact`].
    pub history_revisions: Option<i64>,
    /// How many recent revisions the in-memory watch tail holds (at most
    /// [`Self::recent_event_bytes`] of keys and values); older ones are replayed from disk.
    pub recent_events: usize,
    /// The byte bound of the in-memory watch tail.
    pub recent_event_bytes: usize,
    /// At most this many writes are grouped into one commit.
    pub max_group_writes: usize,
    /// At most this many bytes of values are grouped into one commit (a single larger write
    /// still commits alone).
    pub max_group_bytes: usize,
    /// The size of redb's page cache, in bytes.
    pub cache_size: usize,
}

impl Default for DiskOptions {
    fn default() -> Self {
        DiskOptions {
            limits: Limits::default(),
            history_revisions: Some(100_000),
            recent_events: 10_000,
            recent_event_bytes: 64 << 20,
            max_group_writes: 4096,
            max_group_bytes: 32 << 20,
            cache_size: 256 << 20,
        }
    }
}

/// Counters of the writer thread, for monitoring group commit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskStats {
    /// Transactions committed (each one fsync).
    pub commits: u64,
    /// Operations those transactions carried (writes, refused writes and compactions).
    pub operations: u64,
}

/// The writer's counters, shared with the store.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    commits: AtomicU64,
    operations: AtomicU64,
}

impl Counters {
    /// Records one commit of `operations` operations.
    fn record(&self, operations: usize) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.operations
            .fetch_add(operations as u64, Ordering::Relaxed);
    }
}

/// The embedded, durable [`KvStore`]; see the [module docs](self). Clones share the store,
/// which closes when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct DiskKv {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// Writes go to the writer thread; `None` once closing.
    sender: Option<mpsc::Sender<Pending>>,
    writer: Option<JoinHandle<()>>,
    db: Arc<Database>,
    log: Arc<EventLog>,
    counters: Arc<Counters>,
    limits: Limits,
    dir: PathBuf,
    /// Held (locked) while the store is open; dropped after `db`.
    _lock: File,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.log.close();
        // Closing the channel stops the writer once it has committed what it holds.
        self.sender.take();
        if let Some(writer) = self.writer.take()
            && writer.join().is_err()
        {
            tracing::error!(dir = %self.dir.display(), "the DiskKv writer thread panicked");
        }
    }
}

/// Maps a redb error into a [`StoreError::Backend`] saying what the store was doing.
trait Context<T> {
    fn context(self, what: &str) -> Result<T>;
}

impl<T, E: Into<redb::Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, what: &str) -> Result<T> {
        self.map_err(|error| StoreError::backend(what.to_string(), error.into()))
    }
}

impl DiskKv {
    /// Opens (or creates) the store in directory `dir` with the default options.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(dir, DiskOptions::default())
    }

    /// Opens (or creates) the store in directory `dir` with `options`.
    ///
    /// Fails with [`StoreError::Unavailable`] if the directory is already open.
    pub fn open_with(dir: impl AsRef<Path>, options: DiskOptions) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let io = |what: &str, error: std::io::Error| {
            StoreError::backend(format!("{what} {}", dir.display()), error)
        };
        std::fs::create_dir_all(&dir).map_err(|e| io("creating the data directory", e))?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .map_err(|e| io("opening the lock file in", e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StoreError::Unavailable {
                    reason: format!(
                        "the data directory {} is already open (by this or another process); close that store first",
                        dir.display()
                    ),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io("locking the data directory", e)),
        }
        let db = Database::builder()
            .set_cache_size(options.cache_size)
            .create(dir.join(DB_FILE))
            .context("opening the database")?;
        let (revision, compacted) = initialize(&db)?;
        let db = Arc::new(db);
        let log = Arc::new(EventLog::new(
            revision,
            Some(Capacity {
                events: options.recent_events.max(1),
                bytes: options.recent_event_bytes,
            }),
        ));
        let (sender, receiver) = mpsc::channel(options.max_group_writes.max(1) * 2);
        let counters = Arc::new(Counters::default());
        let writer = Writer {
            db: db.clone(),
            log: log.clone(),
            counters: counters.clone(),
            receiver,
            revision,
            compacted,
            history_revisions: options.history_revisions,
            max_group_writes: options.max_group_writes.max(1),
            max_group_bytes: options.max_group_bytes,
        };
        let writer = std::thread::Builder::new()
            .name("diskkv-writer".to_string())
            .spawn(move || writer.run())
            .map_err(|e| io("starting the writer thread for", e))?;
        Ok(DiskKv {
            shared: Arc::new(Shared {
                sender: Some(sender),
                writer: Some(writer),
                db,
                log,
                counters,
                limits: options.limits,
                dir,
                _lock: lock,
            }),
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// How many commits the writer made, and how many operations they carried: their ratio is
    /// the average group size.
    pub fn stats(&self) -> DiskStats {
        DiskStats {
            commits: self.shared.counters.commits.load(Ordering::Relaxed),
            operations: self.shared.counters.operations.load(Ordering::Relaxed),
        }
    }

    /// Hands `op` to the writer thread and waits until it is committed (or refused).
    async fn submit(&self, op: Op) -> Result<Option<KeyValue>> {
        let (reply, answer) = oneshot::channel();
        let closed = || StoreError::Unavailable {
            reason: format!("the store in {} is closed", self.shared.dir.display()),
        };
        let sender = self.shared.sender.as_ref().ok_or_else(closed)?;
        sender
            .send(Pending { op, reply })
            .await
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    /// Submits a write, which answers with the written (or deleted) key-value.
    async fn write(&self, op: Op) -> Result<KeyValue> {
        self.submit(op)
            .await?
            .ok_or_else(|| StoreError::Unavailable {
                reason: "the writer answered a write without its key-value".to_string(),
            })
    }

    /// Runs a read against a snapshot on the blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&ReadTransaction) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        read_on_pool(&self.shared.db, read).await
    }
}

/// Runs `read` against a fresh snapshot of `db` on the blocking pool.
async fn read_on_pool<T: Send + 'static>(
    db: &Arc<Database>,
    read: impl FnOnce(&ReadTransaction) -> Result<T> + Send + 'static,
) -> Result<T> {
    let db = db.clone();
    tokio::task::spawn_blocking(move || {
        let snapshot = db.begin_read().context("starting a read transaction")?;
        read(&snapshot)
    })
    .await
    .map_err(|e| StoreError::backend("running a read", e))?
}

/// Creates the tables of a new store; returns the current and compacted revisions.
fn initialize(db: &Database) -> Result<(Revision, Revision)> {
    let txn = db.begin_write().context("initializing the database")?;
    let counters = {
        let mut meta = txn.open_table(META).context("opening table meta")?;
        txn.open_table(VERSIONS).context("opening table versions")?;
        txn.open_table(LATEST).context("opening table latest")?;
        txn.open_table(REVISIONS)
            .context("opening table revisions")?;
        let mut read = |name: &str, initial: i64| -> Result<i64> {
            let stored = meta.get(name).context("reading table meta")?;
            match stored {
                Some(bytes) => decode_counter(name, bytes.value()),
                None => {
                    drop(stored);
                    meta.insert(name, &codec::encode_counter(initial)[..])
                        .context("writing table meta")?;
                    Ok(initial)
                }
            }
        };
        (read(META_REVISION, 1)?, read(META_COMPACTED, 0)?)
    };
    txn.commit().context("initializing the database")?;
    Ok(counters)
}

/// The current and compacted revisions of a snapshot.
fn counters(snapshot: &ReadTransaction) -> Result<(Revision, Revision)> {
    let meta = snapshot.open_table(META).context("opening table meta")?;
    let read = |name: &str| -> Result<i64> {
        let stored = meta.get(name).context("reading table meta")?;
        let bytes = stored.ok_or_else(|| StoreError::Corrupt {
            key: Bytes::copy_from_slice(name.as_bytes()),
            reason: "the store's counter is missing".to_string(),
        })?;
        decode_counter(name, bytes.value())
    };
    Ok((read(META_REVISION)?, read(META_COMPACTED)?))
}

/// The current state of `key` in a snapshot.
fn get_current(snapshot: &ReadTransaction, key: &[u8]) -> Result<Option<KeyValue>> {
    let latest = snapshot
        .open_table(LATEST)
        .context("opening table latest")?;
    let versions = snapshot
        .open_table(VERSIONS)
        .context("opening table versions")?;
    let Some(entry) = latest.get(key).context("reading table latest")? else {
        return Ok(None);
    };
    let revisions = decode_latest(key, entry.value())?;
    read_version(&versions, key, revisions.mod_revision)
}

/// The version of `key` at exactly `mod_revision`, as a key-value (`None` for a tombstone).
fn read_version(
    versions: &impl ReadableTable<(&'static [u8], i64), &'static [u8]>,
    key: &[u8],
    mod_revision: Revision,
) -> Result<Option<KeyValue>> {
    let stored = versions
        .get((key, mod_revision))
        .context("reading table versions")?;
    let Some(record) = stored else {
        return Err(StoreError::Corrupt {
            key: Bytes::copy_from_slice(key),
            reason: format!("the version at revision {mod_revision} is missing"),
        });
    };
    Ok(decode_version(key, record.value())?.to_kv(key, mod_revision))
}

/// The last version of `key` before revision `before`, if it holds a value.
fn read_previous(
    versions: &impl ReadableTable<(&'static [u8], i64), &'static [u8]>,
    key: &[u8],
    before: Revision,
) -> Result<Option<KeyValue>> {
    let mut range = versions
        .range((key, i64::MIN)..(key, before))
        .context("reading table versions")?;
    let Some(entry) = range.next_back() else {
        return Ok(None);
    };
    let (stored_key, record) = entry.context("reading table versions")?;
    let mod_revision = stored_key.value().1;
    Ok(decode_version(key, record.value())?.to_kv(key, mod_revision))
}

/// One page of `request` in a snapshot.
fn range_snapshot(snapshot: &ReadTransaction, request: &RangeRequest) -> Result<RangeResponse> {
    let (current, compacted) = counters(snapshot)?;
    let revision = match request.revision {
        None => current,
        Some(revision) if revision <= 0 => current,
        Some(revision) if revision < compacted => {
            return Err(StoreError::Compacted {
                requested: revision,
                compacted,
            });
        }
        Some(revision) if revision > current => {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current,
            });
        }
        Some(revision) => revision,
    };
    let start: Bound<&[u8]> = match &request.start_after {
        Some(after) if after.as_ref() >= request.prefix.as_ref() => Bound::Excluded(after),
        _ => Bound::Included(&request.prefix),
    };
    let end = prefix_end(&request.prefix);
    let end: Bound<&[u8]> = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
    let limit = request.limit.unwrap_or(usize::MAX);
    let versions = snapshot
        .open_table(VERSIONS)
        .context("opening table versions")?;
    let mut kvs = Vec::new();
    let mut more = false;
    if revision == current {
        // The current state: walk `latest`, one version lookup per key.
        let latest = snapshot
            .open_table(LATEST)
            .context("opening table latest")?;
        for entry in latest
            .range::<&[u8]>((start, end))
            .context("reading table latest")?
        {
            let (key, revisions) = entry.context("reading table latest")?;
            if kvs.len() == limit {
                more = true;
                break;
            }
            let key = key.value();
            let revisions = decode_latest(key, revisions.value())?;
            if let Some(kv) = read_version(&versions, key, revisions.mod_revision)? {
                kvs.push(kv);
            }
        }
    } else {
        // A past state: walk every version in the range, keeping each key's last one at or
        // before `revision`.
        let lower = match start {
            Bound::Included(key) => Bound::Included((key, i64::MIN)),
            Bound::Excluded(key) => Bound::Excluded((key, i64::MAX)),
            Bound::Unbounded => Bound::Unbounded,
        };
        let upper = match end {
            Bound::Excluded(key) => Bound::Excluded((key, i64::MIN)),
            _ => Bound::Unbounded,
        };
        let mut candidate: Option<(Vec<u8>, Option<KeyValue>)> = None;
        let entries = versions
            .range::<(&[u8], i64)>((lower, upper))
            .context("reading table versions")?;
        for entry in entries {
            let (stored_key, record) = entry.context("reading table versions")?;
            let (key, mod_revision) = stored_key.value();
            if candidate.as_ref().is_some_and(|(last, _)| last != key)
                && let Some((_, Some(kv))) = candidate.take()
            {
                if kvs.len() == limit {
                    more = true;
                    break;
                }
                kvs.push(kv);
            }
            if mod_revision > revision {
                // Keep the candidate (the version at `revision`) but skip later versions.
                if candidate.is_none() {
                    candidate = Some((key.to_vec(), None));
                }
                continue;
            }
            let kv = decode_version(key, record.value())?.to_kv(key, mod_revision);
            candidate = Some((key.to_vec(), kv));
        }
        if !more && let Some((_, Some(kv))) = candidate {
            if kvs.len() == limit {
                more = true;
            } else {
                kvs.push(kv);
            }
        }
    }
    Ok(RangeResponse {
        kvs,
        more,
        revision,
    })
}

/// Replays the revisions at and after `cursor` and before `until` from disk.
struct DiskBackfill {
    db: Weak<Database>,
}

impl Backfill for DiskBackfill {
    fn backfill(
        &self,
        cursor: Revision,
        until: Revision,
        prefix: Bytes,
    ) -> BoxFuture<'static, Result<(Vec<WatchBatch>, Revision)>> {
        let db = self.db.upgrade();
        async move {
            let db = db.ok_or_else(crate::event_log::closed_error)?;
            read_on_pool(&db, move |snapshot| {
                replay(snapshot, cursor, until, &prefix)
            })
            .await
        }
        .boxed()
    }
}

/// The batches at and after `cursor` and before `until` under `prefix`, from a snapshot.
fn replay(
    snapshot: &ReadTransaction,
    cursor: Revision,
    until: Revision,
    prefix: &[u8],
) -> Result<(Vec<WatchBatch>, Revision)> {
    let (_, compacted) = counters(snapshot)?;
    if cursor <= compacted {
        return Err(StoreError::Compacted {
            requested: cursor,
            compacted,
        });
    }
    let revisions = snapshot
        .open_table(REVISIONS)
        .context("opening table revisions")?;
    let versions = snapshot
        .open_table(VERSIONS)
        .context("opening table versions")?;
    let mut batches = Vec::new();
    let mut next = until;
    let entries = revisions
        .range(cursor..until)
        .context("reading table revisions")?;
    for (index, entry) in entries.enumerate() {
        let (revision, key) = entry.context("reading table revisions")?;
        let (revision, key) = (revision.value(), key.value());
        if index == BACKFILL_CHUNK {
            next = revision;
            break;
        }
        if !key.starts_with(prefix) {
            continue;
        }
        match replay_one(&versions, key, revision) {
            Ok(event) => batches.push(WatchBatch {
                revision,
                events: vec![event],
            }),
            // Deliver what precedes an unreadable record first; the next read reports it.
            Err(_) if !batches.is_empty() => {
                next = revision;
                break;
            }
            Err(error) => return Err(error),
        }
    }
    Ok((batches, next))
}

/// The event of the write at `revision` to `key`.
fn replay_one(
    versions: &impl ReadableTable<(&'static [u8], i64), &'static [u8]>,
    key: &[u8],
    revision: Revision,
) -> Result<WatchEvent> {
    let prev = read_previous(versions, key, revision)?;
    Ok(match read_version(versions, key, revision)? {
        Some(kv) => WatchEvent::Put { kv, prev },
        None => WatchEvent::Delete {
            prev: prev.ok_or_else(|| StoreError::Corrupt {
                key: Bytes::copy_from_slice(key),
                reason: format!("the deletion at revision {revision} has no previous version"),
            })?,
            revision,
        },
    })
}

#[async_trait]
impl KvStore for DiskKv {
    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.shared.log.last_revision())
    }

    async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>> {
        let key = key.to_vec();
        self.read(move |snapshot| get_current(snapshot, &key)).await
    }

    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        self.read(move |snapshot| range_snapshot(snapshot, &request))
            .await
    }

    async fn create(&self, key: Bytes, value: Bytes) -> Result<KeyValue> {
        self.shared.limits.check(&key, &value)?;
        self.write(Op::Create { key, value }).await
    }

    async fn put(&self, key: Bytes, value: Bytes) -> Result<KeyValue> {
        self.shared.limits.check(&key, &value)?;
        self.write(Op::Put { key, value }).await
    }

    async fn update(
        &self,
        key: Bytes,
        value: Bytes,
        expected_mod_revision: Revision,
    ) -> Result<KeyValue> {
        self.shared.limits.check(&key, &value)?;
        self.write(Op::Update {
            key,
            value,
            expected: expected_mod_revision,
        })
        .await
    }

    async fn delete(
        &self,
        key: Bytes,
        expected_mod_revision: Option<Revision>,
    ) -> Result<KeyValue> {
        check_key(&key)?;
        self.write(Op::Delete {
            key,
            expected: expected_mod_revision,
        })
        .await
    }

    async fn watch(&self, request: WatchRequest) -> Result<WatchStream> {
        let cursor = if request.start_revision > 0 {
            request.start_revision
        } else {
            self.shared.log.last_revision() + 1
        };
        let backfill = DiskBackfill {
            db: Arc::downgrade(&self.shared.db),
        };
        Ok(watch_stream(
            self.shared.log.clone(),
            Some(Arc::new(backfill)),
            request.prefix,
            cursor,
        ))
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        self.submit(Op::Compact { revision }).await.map(|_| ())
    }
}
