//! `EtcdKv`: the [`KvStore`] over a real etcd v3 cluster, through
//! [`etcd-client`](https://docs.rs/etcd-client).
//!
//! Each operation is one etcd request, so etcd's own guarantees (linearizable reads, durable
//! replicated writes) carry over unchanged:
//!
//! | operation | etcd request |
//! |---|---|
//! | `create` | `Txn(if create_revision(key) == 0 then put, get(keys_only) else get(keys_only))` |
//! | `put` | `Txn(put, get(keys_only))` |
//! | `update` | `Txn(if mod_revision(key) == expected and create_revision(key) > 0 then put, get(keys_only) else get(keys_only))` |
//! | `delete` | `Txn(if [mod_revision(key) == expected and] create_revision(key) > 0 then delete(prev_kv) else get(keys_only))` |
//! | `range` | `Range(start, prefix end, limit, revision)` |
//! | `watch` | `Watch(prefix, start_revision, prev_kv)` |
//! | `compact` | `Compact(revision)` |
//!
//! The `get(keys_only)` after a put returns the new `create_revision` and `version` without
//! sending the value back. etcd refuses requests over its `--max-request-bytes` (1.5 MiB by
//! default); start it with at least [`Limits::max_value_size`] plus 64 KiB so that the store's
//! own typed [`StoreError::ValueTooLarge`] check is the one that applies.
//!
//! One difference from the other backends: etcd accepts a watch from exactly its compacted
//! revision (the other backends require a start above it).
//!
//! ```no_run
//! use bytes::Bytes;
//! use orchestra_store::{EtcdKv, EtcdOptions, KvStore};
//!
//! # async fn run() -> orchestra_store::Result<()> {
//! let store = EtcdKv::connect(&["http://127.0.0.1:2379"], EtcdOptions::default()).await?;
//! store.put(Bytes::from("/registry/x"), Bytes::from("{}")).await?;
//! # Ok(()) }
//! ```

use std::collections::VecDeque;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, DeleteOptions, EventType, GetOptions, KvClient,
    TxnOp, TxnOpResponse, TxnResponse, WatchClient, WatchOptions,
};
use futures::StreamExt;

use crate::kv::{
    KeyValue, KvStore, Limits, RangeRequest, RangeResponse, Result, Revision, StoreError,
    WatchBatch, WatchEvent, WatchRequest, WatchStream, check_key, prefix_end,
};

/// The largest gRPC message the client decodes: big pages of 1.5 MiB values fit.
const MAX_MESSAGE_SIZE: usize = 1 << 30;

/// How the client connects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdOptions {
    /// Limits on what is written, checked before a request is sent.
    pub limits: Limits,
    /// How long to wait for a connection.
    pub connect_timeout: Duration,
    /// How often to ping an idle connection, to notice a dead one.
    pub keep_alive_interval: Duration,
    /// How long a ping may go unanswered before the connection counts as dead.
    pub keep_alive_timeout: Duration,
}

impl Default for EtcdOptions {
    fn default() -> Self {
        EtcdOptions {
            limits: Limits::default(),
            connect_timeout: Duration::from_secs(5),
            keep_alive_interval: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(10),
        }
    }
}

/// A [`KvStore`] over etcd; see the [module docs](self). Clones share the connection.
#[derive(Clone)]
pub struct EtcdKv {
    kv: KvClient,
    watch: WatchClient,
    limits: Limits,
    endpoints: Vec<String>,
}

impl std::fmt::Debug for EtcdKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdKv")
            .field("endpoints", &self.endpoints)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl EtcdKv {
    /// Connects to the etcd cluster at `endpoints` (URLs such as `http://127.0.0.1:2379`).
    pub async fn connect(endpoints: &[impl AsRef<str>], options: EtcdOptions) -> Result<Self> {
        let endpoints: Vec<String> = endpoints.iter().map(|e| e.as_ref().to_string()).collect();
        let connect = ConnectOptions::new()
            .with_connect_timeout(options.connect_timeout)
            .with_keep_alive(options.keep_alive_interval, options.keep_alive_timeout);
        let client = Client::connect(&endpoints, Some(connect))
            .await
            .map_err(|error| StoreError::Unavailable {
                reason: format!("cannot connect to etcd at {endpoints:?}: {error}"),
            })?;
        Ok(Self::from_client(client, options.limits, endpoints))
    }

    /// Wraps an already connected client.
    pub fn from_client(client: Client, limits: Limits, endpoints: Vec<String>) -> Self {
        EtcdKv {
            kv: client
                .kv_client()
                .max_decoding_message_size(MAX_MESSAGE_SIZE)
                .max_encoding_message_size(MAX_MESSAGE_SIZE),
            watch: client
                .watch_client()
                .max_decoding_message_size(MAX_MESSAGE_SIZE),
            limits,
            endpoints,
        }
    }

    /// Runs a transaction.
    async fn txn(&self, txn: etcd_client::Txn) -> Result<TxnResponse> {
        self.kv.clone().txn(txn).await.map_err(|e| map_error(e, 0))
    }

    /// The compacted revision, learnt from a watch that asks for revision 1: etcd answers it
    /// with its compacted revision. Only asked after etcd said a revision was compacted.
    async fn compacted_revision(&self) -> Option<Revision> {
        let probe = async {
            let options = WatchOptions::new().with_start_revision(1);
            let mut stream = self
                .watch
                .clone()
                .watch("\0orchestra/compaction-probe", Some(options))
                .await
                .ok()?;
            loop {
                let response = stream.message().await.ok()??;
                if response.compact_revision() > 0 {
                    return Some(response.compact_revision());
                }
                if response.canceled() {
                    return None;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(5), probe)
            .await
            .ok()
            .flatten()
    }

    /// Maps an etcd error for an operation that asked for `requested`, filling in the
    /// compacted revision if that was the problem.
    async fn revision_error(&self, error: etcd_client::Error, requested: Revision) -> StoreError {
        match map_error(error, requested) {
            StoreError::Compacted { requested, .. } => StoreError::Compacted {
                requested,
                compacted: self.compacted_revision().await.unwrap_or(requested),
            },
            other => other,
        }
    }
}

/// Converts etcd's key-value.
fn key_value(kv: &etcd_client::KeyValue) -> KeyValue {
    KeyValue {
        key: Bytes::copy_from_slice(kv.key()),
        value: Bytes::copy_from_slice(kv.value()),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        version: kv.version(),
    }
}

/// Maps an etcd client error to a store error. `requested` is the revision the operation
/// asked for, if any.
fn map_error(error: etcd_client::Error, requested: Revision) -> StoreError {
    use tonic::Code;
    match error {
        etcd_client::Error::GRpcStatus(status) => {
            let message = status.message();
            match status.code() {
                Code::OutOfRange if message.contains("compacted") => StoreError::Compacted {
                    requested,
                    compacted: requested,
                },
                Code::OutOfRange if message.contains("future") => StoreError::FutureRevision {
                    requested,
                    current: requested - 1,
                },
                Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Aborted => {
                    StoreError::Unavailable {
                        reason: format!("etcd: {message}"),
                    }
                }
                _ => StoreError::backend("etcd request", etcd_client::Error::GRpcStatus(status)),
            }
        }
        etcd_client::Error::TransportError(error) => StoreError::Unavailable {
            reason: format!("etcd transport: {error}"),
        },
        etcd_client::Error::IoError(error) => StoreError::Unavailable {
            reason: format!("etcd I/O: {error}"),
        },
        other => StoreError::backend("etcd request", other),
    }
}

/// The header revision of a response.
fn header_revision(response: &TxnResponse) -> Result<Revision> {
    response
        .header()
        .map(|header| header.revision())
        .ok_or_else(|| StoreError::Unavailable {
            reason: "etcd answered without a response header".to_string(),
        })
}

/// The key-value a `get` of the transaction returned (the last `get` response), if any.
fn got(response: &TxnResponse) -> Option<KeyValue> {
    response
        .op_responses()
        .iter()
        .rev()
        .find_map(|op| match op {
            TxnOpResponse::Get(get) => get.kvs().first().map(key_value),
            _ => None,
        })
}

/// A `get` that returns the key's revisions without its value.
fn get_keys_only(key: &Bytes) -> TxnOp {
    TxnOp::get(key.to_vec(), Some(GetOptions::new().with_keys_only()))
}

/// Interprets the answer to a put-like transaction: `(key, get revisions)` on success, the
/// refusal otherwise.
fn written(
    response: &TxnResponse,
    key: &Bytes,
    value: &Bytes,
    expected: Option<Revision>,
) -> Result<KeyValue> {
    let stored = got(response);
    if response.succeeded() {
        let revisions = stored.ok_or_else(|| StoreError::Unavailable {
            reason: "etcd did not return the written key".to_string(),
        })?;
        return Ok(KeyValue {
            value: value.clone(),
            ..revisions
        });
    }
    Err(refusal(key, stored, expected))
}

/// Why a transaction's condition failed, given the key's current state.
fn refusal(key: &Bytes, current: Option<KeyValue>, expected: Option<Revision>) -> StoreError {
    match (current, expected) {
        (None, _) => StoreError::NotFound { key: key.clone() },
        (Some(current), Some(expected)) => StoreError::Conflict {
            key: key.clone(),
            expected,
            current_revision: current.mod_revision,
        },
        (Some(current), None) => StoreError::AlreadyExists {
            key: key.clone(),
            mod_revision: current.mod_revision,
        },
    }
}

#[async_trait]
impl KvStore for EtcdKv {
    async fn current_revision(&self) -> Result<Revision> {
        let response = self
            .kv
            .clone()
            .get("\0", Some(GetOptions::new().with_count_only()))
            .await
            .map_err(|e| map_error(e, 0))?;
        response
            .header()
            .map(|header| header.revision())
            .ok_or_else(|| StoreError::Unavailable {
                reason: "etcd answered without a response header".to_string(),
            })
    }

    async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>> {
        if key.is_empty() {
            return Ok(None);
        }
        let response = self
            .kv
            .clone()
            .get(key, None)
            .await
            .map_err(|e| map_error(e, 0))?;
        Ok(response.kvs().first().map(key_value))
    }

    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        let requested = request.revision.filter(|revision| *revision > 0);
        let start = match &request.start_after {
            Some(after) if after.as_ref() >= request.prefix.as_ref() => {
                let mut start = after.to_vec();
                start.push(0);
                start
            }
            _ if request.prefix.is_empty() => vec![0],
            _ => request.prefix.to_vec(),
        };
        // etcd's range end "\0" means "to the end of the key space".
        let end = prefix_end(&request.prefix).unwrap_or_else(|| vec![0]);
        let mut options = GetOptions::new().with_range(end);
        if let Some(limit) = request.limit {
            options = options.with_limit(i64::try_from(limit).unwrap_or(i64::MAX));
        }
        if let Some(revision) = requested {
            options = options.with_revision(revision);
        }
        let response = match self.kv.clone().get(start, Some(options)).await {
            Ok(response) => response,
            Err(error) => return Err(self.revision_error(error, requested.unwrap_or(0)).await),
        };
        let header = response
            .header()
            .map(|header| header.revision())
            .unwrap_or_default();
        Ok(RangeResponse {
            kvs: response.kvs().iter().map(key_value).collect(),
            more: response.more(),
            revision: requested.unwrap_or(header),
        })
    }

    async fn create(&self, key: Bytes, value: Bytes) -> Result<KeyValue> {
        self.limits.check(&key, &value)?;
        let txn = etcd_client::Txn::new()
            .when([Compare::create_revision(key.to_vec(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key.to_vec(), value.to_vec(), None)])
            .or_else([get_keys_only(&key)]);
        let response = self.txn(txn).await?;
        if response.succeeded() {
            let revision = header_revision(&response)?;
            return Ok(KeyValue {
                key,
                value,
                create_revision: revision,
                mod_revision: revision,
                version: 1,
            });
        }
        Err(refusal(&key, got(&response), None))
    }

    async fn put(&self, key: Bytes, value: Bytes) -> Result<KeyValue> {
        self.limits.check(&key, &value)?;
        let txn = etcd_client::Txn::new().and_then([
            TxnOp::put(key.to_vec(), value.to_vec(), None),
            get_keys_only(&key),
        ]);
        let response = self.txn(txn).await?;
        written(&response, &key, &value, None)
    }

    async fn update(
        &self,
        key: Bytes,
        value: Bytes,
        expected_mod_revision: Revision,
    ) -> Result<KeyValue> {
        self.limits.check(&key, &value)?;
        let txn = etcd_client::Txn::new()
            .when([
                Compare::mod_revision(key.to_vec(), CompareOp::Equal, expected_mod_revision),
                Compare::create_revision(key.to_vec(), CompareOp::Greater, 0),
            ])
            .and_then([
                TxnOp::put(key.to_vec(), value.to_vec(), None),
                get_keys_only(&key),
            ])
            .or_else([get_keys_only(&key)]);
        let response = self.txn(txn).await?;
        written(&response, &key, &value, Some(expected_mod_revision))
    }

    async fn delete(
        &self,
        key: Bytes,
        expected_mod_revision: Option<Revision>,
    ) -> Result<KeyValue> {
        check_key(&key)?;
        let mut compares = vec![Compare::create_revision(
            key.to_vec(),
            CompareOp::Greater,
            0,
        )];
        if let Some(expected) = expected_mod_revision {
            compares.push(Compare::mod_revision(
                key.to_vec(),
                CompareOp::Equal,
                expected,
            ));
        }
        let txn = etcd_client::Txn::new()
            .when(compares)
            .and_then([TxnOp::delete(
                key.to_vec(),
                Some(DeleteOptions::new().with_prev_key()),
            )])
            .or_else([get_keys_only(&key)]);
        let response = self.txn(txn).await?;
        if !response.succeeded() {
            return Err(refusal(
                &key,
                got(&response),
                Some(expected_mod_revision.unwrap_or(0)),
            ));
        }
        response
            .op_responses()
            .iter()
            .find_map(|op| match op {
                TxnOpResponse::Delete(delete) => delete.prev_kvs().first().map(key_value),
                _ => None,
            })
            .ok_or_else(|| StoreError::Unavailable {
                reason: "etcd did not return the deleted key".to_string(),
            })
    }

    async fn watch(&self, request: WatchRequest) -> Result<WatchStream> {
        let mut options = WatchOptions::new().with_prev_key();
        options = if request.prefix.is_empty() {
            options.with_all_keys()
        } else {
            options.with_prefix()
        };
        if request.start_revision > 0 {
            options = options.with_start_revision(request.start_revision);
        }
        let stream = self
            .watch
            .clone()
            .watch(request.prefix.to_vec(), Some(options))
            .await
            .map_err(|e| map_error(e, request.start_revision))?;
        let watcher = EtcdWatcher {
            stream,
            pending: VecDeque::new(),
            cursor: request.start_revision,
            done: false,
        };
        Ok(futures::stream::unfold(watcher, EtcdWatcher::next).boxed())
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        match self.kv.clone().compact(revision, None).await {
            Ok(_) => Ok(()),
            Err(error) => Err(match map_error(error, revision) {
                StoreError::Compacted { requested, .. } => StoreError::Compacted {
                    requested,
                    compacted: self.compacted_revision().await.unwrap_or(requested),
                },
                StoreError::FutureRevision { requested, .. } => StoreError::FutureRevision {
                    requested,
                    current: self.current_revision().await.unwrap_or(requested - 1),
                },
                other => other,
            }),
        }
    }
}

/// The state of one etcd watch stream.
struct EtcdWatcher {
    stream: etcd_client::WatchStream,
    pending: VecDeque<WatchBatch>,
    /// The next revision expected (0 before the first event of a watch from now).
    cursor: Revision,
    done: bool,
}

impl EtcdWatcher {
    async fn next(mut self) -> Option<(Result<WatchBatch>, Self)> {
        loop {
            if let Some(batch) = self.pending.pop_front() {
                return Some((Ok(batch), self));
            }
            if self.done {
                return None;
            }
            let error = match self.stream.message().await {
                Ok(Some(response)) if response.compact_revision() > 0 => StoreError::Compacted {
                    requested: self.cursor,
                    compacted: response.compact_revision(),
                },
                Ok(Some(response)) if response.canceled() => StoreError::Unavailable {
                    reason: format!("etcd canceled the watch: {}", response.cancel_reason()),
                },
                Ok(Some(response)) => {
                    self.push_events(response.events());
                    continue;
                }
                Ok(None) => StoreError::Unavailable {
                    reason: "etcd closed the watch stream".to_string(),
                },
                Err(error) => map_error(error, self.cursor),
            };
            self.done = true;
            return Some((Err(error), self));
        }
    }

    /// Groups a response's events into per-revision batches.
    fn push_events(&mut self, events: &[etcd_client::Event]) {
        for event in events {
            let Some(kv) = event.kv() else { continue };
            let revision = kv.mod_revision();
            let prev = event.prev_kv().map(key_value);
            let event = match event.event_type() {
                EventType::Put => WatchEvent::Put {
                    kv: key_value(kv),
                    prev,
                },
                EventType::Delete => WatchEvent::Delete {
                    // etcd omits the previous value only if it was compacted away; keep the
                    // key so the watcher still learns of the deletion.
                    prev: prev.unwrap_or_else(|| KeyValue {
                        key: Bytes::copy_from_slice(kv.key()),
                        value: Bytes::new(),
                        create_revision: 0,
                        mod_revision: 0,
                        version: 0,
                    }),
                    revision,
                },
            };
            match self.pending.back_mut() {
                Some(batch) if batch.revision == revision => batch.events.push(event),
                _ => self.pending.push_back(WatchBatch {
                    revision,
                    events: vec![event],
                }),
            }
            self.cursor = revision + 1;
        }
    }
}
