//! The `KvStore` contract: a key-value store with etcd v3's semantics.
//!
//! Every successful write (create, put, update, delete) gets the next **global revision**, an
//! `i64` that only grows. Each stored [`KeyValue`] remembers the revision that created it
//! (`create_revision`), the revision that last changed it (`mod_revision`, which Kubernetes
//! calls `resourceVersion`) and how many times it was written since its creation (`version`).
//!
//! * **Reads** see the latest state, or the state at any past revision that was not yet
//!   compacted: [`KvStore::range`] lists keys under a prefix, at most `limit` at a time, and a
//!   [`RangeResponse::next_page`] continues the listing at the same revision.
//! * **Writes are compare-and-swap**: [`KvStore::create`] only if the key is absent,
//!   [`KvStore::update`] and [`KvStore::delete`] only if the key's `mod_revision` is still the
//!   one the caller read. A stale writer gets [`StoreError::Conflict`] and retries on fresh data.
//! * **Watches** ([`KvStore::watch`]) deliver every change under a prefix from a start revision
//!   on, exactly once and in revision order, each with the value it replaced.
//! * **Compaction** ([`KvStore::compact`]) forgets the history before a revision; reads and
//!   watches that need it fail with [`StoreError::Compacted`] (HTTP 410 Gone upstream), and the
//!   client re-lists.
//!
//! ```
//! use bytes::Bytes;
//! use orchestra_store::{KvStore, MemoryKv, RangeRequest, StoreError};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), StoreError> {
//! let store = MemoryKv::new();
//! let created = store.create(Bytes::from("/pods/a"), Bytes::from("v1")).await?;
//! let updated = store
//!     .update(Bytes::from("/pods/a"), Bytes::from("v2"), created.mod_revision)
//!     .await?;
//! assert_eq!(updated.version, 2);
//!
//! // The first writer's revision is stale now: compare-and-swap refuses it.
//! let stale = store
//!     .update(Bytes::from("/pods/a"), Bytes::from("v3"), created.mod_revision)
//!     .await;
//! assert!(matches!(stale, Err(StoreError::Conflict { .. })));
//!
//! // The state at the first revision is still readable until it is compacted.
//! let then = store.range(RangeRequest::prefix("/pods/").at_revision(created.mod_revision)).await?;
//! assert_eq!(then.kvs[0].value, "v1");
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

/// A global revision of the store, as etcd's: every write gets the next one.
///
/// A new, empty store is at revision 1, like a new etcd cluster, so the first write gets
/// revision 2.
pub type Revision = i64;

/// The largest value the backends accept by default: etcd's default request limit
/// (`--max-request-bytes`, 1.5 MiB, which Kubernetes objects are sized against) plus 16 KiB of
/// headroom, so that a 1.5 MiB object still fits.
pub const DEFAULT_MAX_VALUE_SIZE: usize = 1536 * 1024 + 16 * 1024;

/// The result of every store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A stream of watch batches, one per revision, in revision order.
///
/// The stream ends after an `Err` item: when the history it needs was compacted, when the
/// watcher fell too far behind, or when the store became unavailable. A watcher resumes by
/// watching again from the revision after the last batch it processed.
pub type WatchStream = BoxStream<'static, Result<WatchBatch>>;

/// One key's state: its value and the revisions that describe its history.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyValue {
    /// The key.
    pub key: Bytes,
    /// The value, shared cheaply between the store, watchers and readers.
    pub value: Bytes,
    /// The revision of the write that created this key (after its last deletion).
    pub create_revision: Revision,
    /// The revision of the last write to this key (Kubernetes' `resourceVersion`).
    pub mod_revision: Revision,
    /// How many times this key was written since it was created; 1 right after creation.
    pub version: i64,
}

/// One change to one key, as a watcher sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchEvent {
    /// The key was created or updated.
    Put {
        /// The new state of the key; `kv.mod_revision` is the revision of the change.
        kv: KeyValue,
        /// The state it replaced, or `None` if the key was created.
        prev: Option<KeyValue>,
    },
    /// The key was deleted.
    Delete {
        /// The last state of the key before its deletion.
        prev: KeyValue,
        /// The revision of the deletion.
        revision: Revision,
    },
}

impl WatchEvent {
    /// The key this event is about.
    pub fn key(&self) -> &Bytes {
        match self {
            WatchEvent::Put { kv, .. } => &kv.key,
            WatchEvent::Delete { prev, .. } => &prev.key,
        }
    }

    /// The revision of the change.
    pub fn revision(&self) -> Revision {
        match self {
            WatchEvent::Put { kv, .. } => kv.mod_revision,
            WatchEvent::Delete { revision, .. } => *revision,
        }
    }
}

/// All events of one revision under a watched prefix.
///
/// The writes of this crate's API change one key per revision, so a batch from `MemoryKv` or
/// `DiskKv` holds one event; an etcd written to by other tools (multi-key transactions) may
/// produce batches with several events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchBatch {
    /// The revision of every event of the batch.
    pub revision: Revision,
    /// The events, in the order they were applied.
    pub events: Vec<WatchEvent>,
}

/// What to list: the keys under a prefix, from a position, at a revision.
///
/// Build one with [`RangeRequest::prefix`]; a page's [`RangeResponse::next_page`] builds the
/// request for the next page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeRequest {
    /// Only keys starting with these bytes are listed; empty means every key.
    pub prefix: Bytes,
    /// Only keys strictly greater than this one are listed (the continuation of a paged list).
    pub start_after: Option<Bytes>,
    /// At most this many keys are returned; `None` means no limit.
    pub limit: Option<usize>,
    /// Read the state as of this revision; `None` means the current revision.
    pub revision: Option<Revision>,
}

impl RangeRequest {
    /// Lists every key that starts with `prefix`, at the current revision, without limit.
    pub fn prefix(prefix: impl Into<Bytes>) -> Self {
        RangeRequest {
            prefix: prefix.into(),
            ..RangeRequest::default()
        }
    }

    /// Returns at most `limit` keys (0 means no limit, as in etcd).
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = (limit > 0).then_some(limit);
        self
    }

    /// Reads the state as of `revision` instead of the current one.
    pub fn at_revision(mut self, revision: Revision) -> Self {
        self.revision = Some(revision);
        self
    }

    /// Starts the listing strictly after `key`.
    pub fn start_after(mut self, key: impl Into<Bytes>) -> Self {
        self.start_after = Some(key.into());
        self
    }

    /// Whether `key` is in the range this request lists (ignoring the limit).
    pub fn contains(&self, key: &[u8]) -> bool {
        key.starts_with(&self.prefix)
            && self
                .start_after
                .as_ref()
                .is_none_or(|after| key > after.as_ref())
    }
}

/// One page of a listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeResponse {
    /// The keys of this page, in ascending byte order.
    pub kvs: Vec<KeyValue>,
    /// Whether keys after the last one of this page remain in the range.
    pub more: bool,
    /// The revision this page was read at: the requested one, or the current one.
    pub revision: Revision,
}

impl RangeResponse {
    /// The request for the page after this one, at the same revision, or `None` if this page
    /// was the last.
    pub fn next_page(&self, request: &RangeRequest) -> Option<RangeRequest> {
        let last = self.kvs.last()?;
        self.more.then(|| RangeRequest {
            prefix: request.prefix.clone(),
            start_after: Some(last.key.clone()),
            limit: request.limit,
            revision: Some(self.revision),
        })
    }
}

/// What to watch: the keys under a prefix, from a revision on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchRequest {
    /// Only changes to keys starting with these bytes are delivered; empty means every key.
    pub prefix: Bytes,
    /// The first revision to deliver; 0 means "changes after the current revision".
    ///
    /// To resume after a batch at revision `r`, watch from `r + 1`. A start revision at or
    /// below the compacted revision yields [`StoreError::Compacted`] as the stream's only item.
    pub start_revision: Revision,
}

impl WatchRequest {
    /// Watches every key that starts with `prefix`, from now on.
    pub fn prefix(prefix: impl Into<Bytes>) -> Self {
        WatchRequest {
            prefix: prefix.into(),
            start_revision: 0,
        }
    }

    /// Delivers changes from `revision` on (inclusive), replaying history if it is past.
    pub fn from_revision(mut self, revision: Revision) -> Self {
        self.start_revision = revision;
        self
    }
}

/// Why a store operation failed.
///
/// The variants map onto Kubernetes API errors: see [`StoreError::http_status`].
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A compare-and-swap lost: the key changed since the caller read it.
    #[error(
        "key {} was modified at revision {current_revision}, not at the expected revision {expected}: read it again and retry",
        show_key(.key)
    )]
    Conflict {
        /// The key.
        key: Bytes,
        /// The `mod_revision` the caller expected.
        expected: Revision,
        /// The key's actual `mod_revision`.
        current_revision: Revision,
    },
    /// A create found the key already present.
    #[error("key {} already exists (modified at revision {mod_revision})", show_key(.key))]
    AlreadyExists {
        /// The key.
        key: Bytes,
        /// The existing key's `mod_revision`.
        mod_revision: Revision,
    },
    /// An update or delete found no such key.
    #[error("key {} not found", show_key(.key))]
    NotFound {
        /// The key.
        key: Bytes,
    },
    /// The requested revision's history was compacted away (HTTP 410 Gone, reason `Expired`):
    /// re-list at the current revision and watch from there.
    #[error(
        "revision {requested} is no longer available: history up to revision {compacted} was compacted; list again and watch from the new revision"
    )]
    Compacted {
        /// The revision the caller asked for.
        requested: Revision,
        /// The store's compacted revision (for a watch, the history at and before it is gone).
        compacted: Revision,
    },
    /// The requested revision is newer than the store's current revision.
    #[error("revision {requested} is in the future: the store is at revision {current}")]
    FutureRevision {
        /// The revision the caller asked for.
        requested: Revision,
        /// The store's current revision.
        current: Revision,
    },
    /// A value over the configured maximum size was refused before anything was written.
    #[error(
        "value of {size} bytes for key {} exceeds the maximum of {max} bytes",
        show_key(.key)
    )]
    ValueTooLarge {
        /// The key.
        key: Bytes,
        /// The value's size in bytes.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The key cannot be stored (for example, it is empty).
    #[error("invalid key {}: {reason}", show_key(.key))]
    InvalidKey {
        /// The key.
        key: Bytes,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The bytes stored under a key are not a record this backend wrote. Other keys are
    /// unaffected; deleting the key (or restoring it from a backup) clears the error.
    #[error("the record stored under key {} is corrupt: {reason}", show_key(.key))]
    Corrupt {
        /// The key whose record is unreadable.
        key: Bytes,
        /// What is wrong with the bytes.
        reason: String,
    },
    /// The store cannot be reached or was closed; retrying later may succeed.
    #[error("store unavailable: {reason}")]
    Unavailable {
        /// What happened.
        reason: String,
    },
    /// The backend failed in a way this crate does not classify (I/O, database, protocol).
    #[error("{context}: {source}")]
    Backend {
        /// What the store was doing.
        context: String,
        /// The backend's own error.
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
}

impl StoreError {
    /// The HTTP status the Kubernetes API answers this error with: 409 for conflicts and
    /// existing keys, 404, 410 for compacted revisions, 504 for future revisions (Kubernetes'
    /// "Too large resource version"), 413 for oversized values, 400 for invalid keys, 503 when
    /// unavailable and 500 otherwise.
    pub fn http_status(&self) -> u16 {
        match self {
            StoreError::Conflict { .. } | StoreError::AlreadyExists { .. } => 409,
            StoreError::NotFound { .. } => 404,
            StoreError::Compacted { .. } => 410,
            StoreError::FutureRevision { .. } => 504,
            StoreError::ValueTooLarge { .. } => 413,
            StoreError::InvalidKey { .. } => 400,
            StoreError::Unavailable { .. } => 503,
            StoreError::Corrupt { .. } | StoreError::Backend { .. } => 500,
        }
    }

    /// Wraps a backend error with what the store was doing.
    pub fn backend(
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Backend {
            context: context.into(),
            source: Arc::new(source),
        }
    }
}

/// Formats a key for an error message: UTF-8 as is, other bytes escaped.
fn show_key(key: &Bytes) -> String {
    format!("{:?}", ShowKey(key))
}

struct ShowKey<'a>(&'a [u8]);

impl fmt::Debug for ShowKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(self.0) {
            Ok(text) => write!(f, "{text:?}"),
            Err(_) => write!(f, "b\"{}\"", self.0.escape_ascii()),
        }
    }
}

/// Limits every backend enforces before it writes anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest value accepted, in bytes; larger ones get [`StoreError::ValueTooLarge`].
    pub max_value_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_value_size: DEFAULT_MAX_VALUE_SIZE,
        }
    }
}

impl Limits {
    /// Checks a key and a value against these limits.
    pub fn check(&self, key: &Bytes, value: &Bytes) -> Result<()> {
        check_key(key)?;
        if value.len() > self.max_value_size {
            return Err(StoreError::ValueTooLarge {
                key: key.clone(),
                size: value.len(),
                max: self.max_value_size,
            });
        }
        Ok(())
    }
}

/// What a write requires of the key's current state.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Precondition {
    /// The key must not exist (create).
    Absent,
    /// Nothing (put).
    Any,
    /// The key must exist, with this `mod_revision` if given (update, delete).
    ModRevision(Option<Revision>),
}

impl Precondition {
    /// Checks the precondition against the `mod_revision` of the key's live version (`None`:
    /// the key is absent).
    pub(crate) fn check(self, key: &Bytes, current: Option<Revision>) -> Result<()> {
        match (self, current) {
            (Precondition::Absent, Some(mod_revision)) => Err(StoreError::AlreadyExists {
                key: key.clone(),
                mod_revision,
            }),
            (Precondition::ModRevision(_), None) => Err(StoreError::NotFound { key: key.clone() }),
            (Precondition::ModRevision(Some(expected)), Some(current)) if current != expected => {
                Err(StoreError::Conflict {
                    key: key.clone(),
                    expected,
                    current_revision: current,
                })
            }
            _ => Ok(()),
        }
    }
}

/// Checks that a key can be stored: etcd refuses empty keys.
pub(crate) fn check_key(key: &Bytes) -> Result<()> {
    if key.is_empty() {
        return Err(StoreError::InvalidKey {
            key: key.clone(),
            reason: "keys must not be empty",
        });
    }
    Ok(())
}

/// A key-value store with etcd v3's semantics; see the [module docs](self).
///
/// The trait is object-safe: components share one store as an `Arc<dyn KvStore>`.
#[async_trait]
pub trait KvStore: Send + Sync {
    /// The store's current revision: the revision of the last acknowledged write.
    async fn current_revision(&self) -> Result<Revision>;

    /// The current state of `key`, or `None` if it does not exist.
    async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>>;

    /// One page of the keys under a prefix, at the current or a past revision.
    ///
    /// A past revision older than the compacted one gives [`StoreError::Compacted`]; one newer
    /// than the current revision gives [`StoreError::FutureRevision`].
    async fn range(&self, request: RangeRequest) -> Result<RangeResponse>;

    /// Creates `key`; fails with [`StoreError::AlreadyExists`] if it exists.
    async fn create(&self, key: Bytes, value: Bytes) -> Result<KeyValue>;

    /// Creates or overwrites `key` without a precondition.
    async fn put(&self, key: Bytes, value: Bytes) -> Result<KeyValue>;

    /// Overwrites `key` if its `mod_revision` is `expected_mod_revision`; otherwise fails with
    /// [`StoreError::Conflict`], or [`StoreError::NotFound`] if the key does not exist.
    async fn update(
        &self,
        key: Bytes,
        value: Bytes,
        expected_mod_revision: Revision,
    ) -> Result<KeyValue>;

    /// Deletes `key`, if `expected_mod_revision` is `None` or the key's `mod_revision`, and
    /// returns its last state; fails like [`KvStore::update`].
    async fn delete(&self, key: Bytes, expected_mod_revision: Option<Revision>)
    -> Result<KeyValue>;

    /// Streams every change under a prefix from a start revision on; see [`WatchStream`].
    async fn watch(&self, request: WatchRequest) -> Result<WatchStream>;

    /// Forgets the history before `revision`: afterwards ranges need a revision of at least
    /// `revision` and watches a start revision above it. Compacting to a revision at or below
    /// an earlier compaction gives [`StoreError::Compacted`], as in etcd.
    async fn compact(&self, revision: Revision) -> Result<()>;
}

/// The first key after every key that starts with `prefix`, or `None` if no such key exists
/// (the prefix is empty or all `0xff`): the exclusive end of a prefix range, as etcd computes it.
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let last = prefix.iter().rposition(|&byte| byte != 0xff)?;
    let mut end = prefix[..=last].to_vec();
    end[last] += 1;
    Some(end)
}
