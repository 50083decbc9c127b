//! `DiskKv`: the embedded, durable [`KvStore`], and the default backend.
//!
//! It keeps etcd's MVCC model in one [redb](https://docs.rs/redb) file, `kv.redb`, in its data
//! directory, laid out as etcd lays out its backend: by revision.
//!
//! | table | key → value | holds |
//! |---|---|---|
//! | `revisions` | revision → (key, record) | every retained write: its key, revisions, and the revision it replaced |
//! | `values` | revision → value | the value each retained write (other than a deletion) left |
//! | `meta` | name → counter | the current and the compacted revision, and the layout |
//!
//! Writes only ever append to `revisions` and `values`, whatever keys they write, so a commit of
//! many writes touches a handful of pages. Which keys exist, and their versions at every
//! retained revision, live in memory in the key index (module `key_index`, etcd's `treeIndex`),
//! rebuilt from `revisions` when the store opens; reads look up the index and then fetch values
//! by revision from a redb snapshot.
//!
//! **Durability.** One writer thread owns all writes. It drains the channel of pending writes,
//! applies them in order in one redb transaction, commits it with an fsync, and only then
//! updates the key index and acknowledges every write of the group: concurrent writers share one
//! fsync (group commit), and no acknowledged write is lost by a crash, `kill -9` included; a
//! reader never sees a write that is not yet on disk. On open, the current and compacted
//! revisions come back from `meta`, and the retained history (by default the last 100,000
//! revisions, see [`DiskOptions::history_revisions`]) serves reads at past revisions and watches
//! from past revisions, across restarts.
//!
//! **Watches** read recent changes from an in-memory tail of the event history; a watcher
//! from an older revision (or one that fell behind the tail) replays from `revisions` first.
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
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, Weak};
use std::thread::JoinHandle;

use async_trait::async_trait;
use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::{mpsc, oneshot};

use self::codec::{Record, corrupt_record, decode_counter, decode_record, missing_value};
use self::writer::{Op, Pending, Writer};
use crate::event_log::{Backfill, Capacity, EventLog, watch_stream};
use crate::key_index::{KeyIndex, Version};
use crate::kv::{
    KeyValue, KvStore, Limits, RangeRequest, RangeResponse, Result, Revision, StoreError,
    WatchBatch, WatchEvent, WatchRequest, WatchStream, check_key,
};

/// revision → (key, record) of every retained write.
const REVISIONS: TableDefinition<i64, (&[u8], &[u8])> = TableDefinition::new("revisions");
/// revision → the value of every retained write that left one.
const VALUES: TableDefinition<i64, &[u8]> = TableDefinition::new("values");
/// counter name → counter.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// The `meta` counter of the current revision.
const META_REVISION: &str = "revision";
/// The `meta` counter of the compacted revision.
const META_COMPACTED: &str = "compacted";
/// The `meta` counter of the table layout.
const META_LAYOUT: &str = "layout";
/// The table layout this version reads and writes: records keyed by revision.
const LAYOUT: i64 = 2;

/// The name of the database file in the data directory.
const DB_FILE: &str = "kv.redb";
/// The name of the lock file in the data directory.
const LOCK_FILE: &str = "LOCK";
/// How many revisions a watcher replays from disk per read transaction.
const BACKFILL_CHUNK: usize = 1024;

/// What the key index knows of a version's value, which is on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stored {
    /// The record was written by this store: the value is in table `values`.
    Readable,
    /// The record is not one this store wrote: reading the version is an error for its key.
    Corrupt,
}

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
    /// Every retained version of every key, as of the last commit.
    index: Arc<RwLock<KeyIndex<Stored>>>,
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
        let (revision, compacted) = initialize(&db, &dir)?;
        let index = Arc::new(RwLock::new(load_index(&db)?));
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
            index: index.clone(),
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
                index,
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

    /// Runs `read` on the blocking pool against a consistent view of the store at `revision`
    /// (`None`: the current one).
    async fn read<T: Send + 'static>(
        &self,
        revision: Option<Revision>,
        read: impl FnOnce(&View<'_>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (db, index) = (self.shared.db.clone(), self.shared.index.clone());
        tokio::task::spawn_blocking(move || {
            let snapshot = db.begin_read().context("starting a read transaction")?;
            let view = View::open(&db, snapshot, &index, revision)?;
            read(&view)
        })
        .await
        .map_err(|e| StoreError::backend("running a read", e))?
    }
}

/// Reads the key index, which stays consistent even if a panic poisoned its lock (the writer
/// updates it only with complete, committed groups).
fn read_index(index: &RwLock<KeyIndex<Stored>>) -> RwLockReadGuard<'_, KeyIndex<Stored>> {
    index.read().unwrap_or_else(|e| e.into_inner())
}

/// A consistent view for reads: a redb snapshot, the key index, and a revision at which both
/// agree.
///
/// The writer commits to redb before it adds a group to the index, and never compacts past the
/// index's revision, so the snapshot taken first holds every version the index shows at
/// `revision`: the current revision is the older of the two, and a past one must be retained by
/// both.
struct View<'a> {
    snapshot: ReadTransaction,
    index: RwLockReadGuard<'a, KeyIndex<Stored>>,
    revision: Revision,
}

impl<'a> View<'a> {
    fn open(
        db: &Database,
        mut snapshot: ReadTransaction,
        index: &'a RwLock<KeyIndex<Stored>>,
        requested: Option<Revision>,
    ) -> Result<Self> {
        loop {
            let (on_disk, disk_compacted) = counters(&snapshot)?;
            let index = read_index(index);
            let current = index.revision();
            let compacted = index.compacted().max(disk_compacted);
            let revision = match requested {
                Some(revision) if revision > 0 => {
                    if revision < compacted {
                        return Err(StoreError::Compacted {
                            requested: revision,
                            compacted,
                        });
                    }
                    if revision > current {
                        return Err(StoreError::FutureRevision {
                            requested: revision,
                            current,
                        });
                    }
                    revision
                }
                _ => current.min(on_disk),
            };
            if revision <= on_disk && revision >= compacted {
                return Ok(View {
                    snapshot,
                    index,
                    revision,
                });
            }
            // The snapshot is older than the index (a commit landed in between): take a newer
            // one, which holds everything the index shows.
            drop(index);
            snapshot = db.begin_read().context("starting a read transaction")?;
        }
    }

    /// The value of `key` at `mod_revision`, as the key-value `version` describes.
    fn fetch(&self, key: &Bytes, version: &Version<Stored>) -> Result<KeyValue> {
        if version.value == Some(Stored::Corrupt) {
            return Err(corrupt_record(key, version.mod_revision));
        }
        let values = self
            .snapshot
            .open_table(VALUES)
            .context("opening table values")?;
        let value = values
            .get(version.mod_revision)
            .context("reading table values")?
            .ok_or_else(|| missing_value(key, version.mod_revision))?;
        Ok(KeyValue {
            key: key.clone(),
            value: Bytes::copy_from_slice(value.value()),
            create_revision: version.create_revision,
            mod_revision: version.mod_revision,
            version: version.version,
        })
    }

    /// The live state of `key`.
    fn get(&self, key: &[u8]) -> Result<Option<KeyValue>> {
        match self.index.visible(key, self.revision) {
            Some((key, version)) => self.fetch(key, version).map(Some),
            None => Ok(None),
        }
    }

    /// One page of `request`.
    fn range(&self, request: &RangeRequest) -> Result<RangeResponse> {
        let page = self.index.range(request, self.revision);
        let kvs = page
            .entries
            .iter()
            .map(|(key, version)| self.fetch(key, version))
            .collect::<Result<_>>()?;
        Ok(RangeResponse {
            kvs,
            more: page.more,
            revision: self.revision,
        })
    }
}

/// Creates the tables of a new store; returns the current and compacted revisions.
fn initialize(db: &Database, dir: &Path) -> Result<(Revision, Revision)> {
    let txn = db.begin_write().context("initializing the database")?;
    let counters = {
        let mut meta = txn.open_table(META).context("opening table meta")?;
        let new = meta
            .get(META_REVISION)
            .context("reading table meta")?
            .is_none();
        txn.open_table(REVISIONS)
            .context("opening table revisions")?;
        txn.open_table(VALUES).context("opening table values")?;
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
        // A store written before the layout was recorded keeps its records by key.
        let layout = read(META_LAYOUT, if new { LAYOUT } else { 1 })?;
        if layout != LAYOUT {
            return Err(StoreError::Unavailable {
                reason: format!(
                    "the data directory {} holds a store of table layout {layout}, and this version reads layout {LAYOUT}: move it aside to start afresh",
                    dir.display()
                ),
            });
        }
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

/// Rebuilds the key index from table `revisions`: every retained version of every key, in
/// revision order. A record that is not one this store wrote becomes a corrupt version of its
/// key, an error for whoever reads it.
fn load_index(db: &Database) -> Result<KeyIndex<Stored>> {
    let snapshot = db.begin_read().context("starting a read transaction")?;
    let (revision, compacted) = counters(&snapshot)?;
    let revisions = snapshot
        .open_table(REVISIONS)
        .context("opening table revisions")?;
    let mut index = KeyIndex::new(0, compacted);
    for entry in revisions.iter().context("reading table revisions")? {
        let (changed, record) = entry.context("reading table revisions")?;
        let changed = changed.value();
        let (key, record) = record.value();
        let version = match decode_record(key, changed, record) {
            Ok(Record::Value {
                create_revision,
                version,
                ..
            }) => Version {
                mod_revision: changed,
                create_revision,
                version,
                value: Some(Stored::Readable),
            },
            Ok(Record::Tombstone { .. }) => Version::after(None, changed, None),
            Err(_) => Version {
                mod_revision: changed,
                create_revision: 0,
                version: 0,
                value: Some(Stored::Corrupt),
            },
        };
        index.push(Bytes::copy_from_slice(key), version);
    }
    index.advance_to(revision);
    Ok(index)
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
            tokio::task::spawn_blocking(move || {
                let snapshot = db.begin_read().context("starting a read transaction")?;
                replay(&snapshot, cursor, until, &prefix)
            })
            .await
            .map_err(|e| StoreError::backend("replaying history", e))?
        }
        .boxed()
    }
}

/// The tables watch replay reads.
struct History {
    revisions: redb::ReadOnlyTable<i64, (&'static [u8], &'static [u8])>,
    values: redb::ReadOnlyTable<i64, &'static [u8]>,
}

impl History {
    /// The state the write at `revision` left, with its key and record.
    fn kv_at(&self, key: &[u8], revision: Revision, record: Record) -> Result<Option<KeyValue>> {
        let Record::Value {
            create_revision,
            version,
            ..
        } = record
        else {
            return Ok(None);
        };
        let value = self
            .values
            .get(revision)
            .context("reading table values")?
            .ok_or_else(|| missing_value(key, revision))?;
        Ok(Some(KeyValue {
            key: Bytes::copy_from_slice(key),
            value: Bytes::copy_from_slice(value.value()),
            create_revision,
            mod_revision: revision,
            version,
        }))
    }

    /// The state of `key` that the write at `revision` replaced, per its record.
    fn prev(&self, key: &[u8], revision: Revision, record: Record) -> Result<Option<KeyValue>> {
        let prev = record.prev();
        if prev == 0 {
            return Ok(None);
        }
        let stored = self
            .revisions
            .get(prev)
            .context("reading table revisions")?;
        let Some(stored) = stored else {
            return Err(StoreError::Corrupt {
                key: Bytes::copy_from_slice(key),
                reason: format!(
                    "the version at revision {prev}, which the write at revision {revision} replaced, is missing"
                ),
            });
        };
        let (_, prev_record) = stored.value();
        let prev_record = decode_record(key, prev, prev_record)?;
        self.kv_at(key, prev, prev_record)
    }

    /// The event of the write at `revision` to `key`.
    fn event(&self, key: &[u8], revision: Revision, record: &[u8]) -> Result<WatchEvent> {
        let record = decode_record(key, revision, record)?;
        let prev = self.prev(key, revision, record)?;
        Ok(match self.kv_at(key, revision, record)? {
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
    let history = History {
        revisions: snapshot
            .open_table(REVISIONS)
            .context("opening table revisions")?,
        values: snapshot
            .open_table(VALUES)
            .context("opening table values")?,
    };
    let mut batches = Vec::new();
    let mut next = until;
    let entries = history
        .revisions
        .range(cursor..until)
        .context("reading table revisions")?;
    for (index, entry) in entries.enumerate() {
        let (revision, stored) = entry.context("reading table revisions")?;
        let revision = revision.value();
        let (key, record) = stored.value();
        if index == BACKFILL_CHUNK {
            next = revision;
            break;
        }
        if !key.starts_with(prefix) {
            continue;
        }
        match history.event(key, revision, record) {
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

#[async_trait]
impl KvStore for DiskKv {
    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.shared.log.last_revision())
    }

    async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>> {
        let key = key.to_vec();
        self.read(None, move |view| view.get(&key)).await
    }

    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        self.read(request.revision, move |view| view.range(&request))
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
