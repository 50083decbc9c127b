//! The writer thread of `DiskKv`: group commit.
//!
//! The thread blocks on the channel of pending writes, then drains whatever else is already
//! queued (up to a count and a byte bound), applies the group in arrival order inside one redb
//! write transaction, and commits it with [`redb::Durability::Immediate`] (an fsync). Only
//! after the commit returns does it publish the group's events to watchers and answer each
//! writer, so an acknowledged write is always on disk. A write refused by its precondition
//! is answered after the commit too, since it was decided on the group's state.

use std::sync::Arc;

use bytes::Bytes;
use redb::{Database, ReadableTable, Table, WriteTransaction};
use tokio::sync::{mpsc, oneshot};

use super::codec::{
    Latest, TOMBSTONE_RECORD, Version, decode_latest, decode_version, encode_counter,
    encode_latest, encode_value,
};
use super::{Context, Counters, LATEST, META, META_COMPACTED, META_REVISION, REVISIONS, VERSIONS};
use crate::event_log::EventLog;
use crate::kv::{KeyValue, Precondition, Result, Revision, StoreError, WatchBatch, WatchEvent};

/// How many revisions compaction collects per pass over table `revisions`.
const COMPACTION_CHUNK: usize = 4096;

/// A write, as the writer applies it.
#[derive(Debug)]
pub(super) enum Op {
    Create {
        key: Bytes,
        value: Bytes,
    },
    Put {
        key: Bytes,
        value: Bytes,
    },
    Update {
        key: Bytes,
        value: Bytes,
        expected: Revision,
    },
    Delete {
        key: Bytes,
        expected: Option<Revision>,
    },
    Compact {
        revision: Revision,
    },
}

impl Op {
    fn value_len(&self) -> usize {
        match self {
            Op::Create { value, .. } | Op::Put { value, .. } | Op::Update { value, .. } => {
                value.len()
            }
            Op::Delete { .. } | Op::Compact { .. } => 0,
        }
    }
}

/// A write and where to send its answer: the written (or deleted) key-value, or `None` for a
/// compaction.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) op: Op,
    pub(super) reply: oneshot::Sender<Result<Option<KeyValue>>>,
}

/// The writer thread's state.
pub(super) struct Writer {
    pub(super) db: Arc<Database>,
    pub(super) log: Arc<EventLog>,
    pub(super) counters: Arc<Counters>,
    pub(super) receiver: mpsc::Receiver<Pending>,
    pub(super) revision: Revision,
    pub(super) compacted: Revision,
    pub(super) history_revisions: Option<i64>,
    pub(super) max_group_writes: usize,
    pub(super) max_group_bytes: usize,
}

/// The tables a group writes.
struct Tables<'txn> {
    versions: Table<'txn, (&'static [u8], i64), &'static [u8]>,
    latest: Table<'txn, &'static [u8], &'static [u8]>,
    revisions: Table<'txn, i64, &'static [u8]>,
    meta: Table<'txn, &'static str, &'static [u8]>,
}

/// What applying a group produced.
struct Applied {
    answers: Vec<Result<Option<KeyValue>>>,
    batches: Vec<WatchBatch>,
    /// The compacted revision after the group, if it changed.
    compacted: Option<Revision>,
}

impl Writer {
    /// Serves the channel until every sender is gone.
    pub(super) fn run(mut self) {
        while let Some(first) = self.receiver.blocking_recv() {
            let mut group_bytes = first.op.value_len();
            let mut group = vec![first];
            while group.len() < self.max_group_writes && group_bytes < self.max_group_bytes {
                match self.receiver.try_recv() {
                    Ok(pending) => {
                        group_bytes += pending.op.value_len();
                        group.push(pending);
                    }
                    Err(_) => break,
                }
            }
            self.commit_group(group);
        }
    }

    /// Applies and commits one group, then publishes its events and answers its writers.
    fn commit_group(&mut self, group: Vec<Pending>) {
        let (ops, replies): (Vec<Op>, Vec<_>) = group
            .into_iter()
            .map(|pending| (pending.op, pending.reply))
            .unzip();
        let before = (self.revision, self.compacted);
        let outcome = self
            .db
            .begin_write()
            .context("starting a commit")
            .and_then(|txn| {
                let applied = self.apply_group(&txn, &ops)?;
                txn.commit().context("committing writes")?;
                Ok(applied)
            });
        match outcome {
            Ok(applied) => {
                self.counters.record(replies.len());
                // On disk now: let watchers see the group, then acknowledge it.
                if let Some(compacted) = applied.compacted {
                    self.log.trim_through(compacted);
                }
                self.log
                    .append(applied.batches.into_iter().flat_map(|batch| batch.events));
                for (reply, answer) in replies.into_iter().zip(applied.answers) {
                    // A writer that stopped waiting needs no answer.
                    let _ = reply.send(answer);
                }
            }
            Err(error) => {
                tracing::error!(%error, "DiskKv commit failed; its writes were not applied");
                (self.revision, self.compacted) = before;
                for reply in replies {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
    }

    /// Applies `ops` in `txn`; a storage error aborts the whole group.
    fn apply_group(&mut self, txn: &WriteTransaction, ops: &[Op]) -> Result<Applied> {
        let mut tables = Tables {
            versions: txn.open_table(VERSIONS).context("opening table versions")?,
            latest: txn.open_table(LATEST).context("opening table latest")?,
            revisions: txn
                .open_table(REVISIONS)
                .context("opening table revisions")?,
            meta: txn.open_table(META).context("opening table meta")?,
        };
        let mut applied = Applied {
            answers: Vec::with_capacity(ops.len()),
            batches: Vec::with_capacity(ops.len()),
            compacted: None,
        };
        for op in ops {
            let answer = match op {
                Op::Compact { revision } => self.compact(&mut tables, *revision).map(|()| {
                    applied.compacted = Some(*revision);
                    None
                }),
                _ => match self.apply(&mut tables, op) {
                    Ok((kv, event)) => {
                        applied.batches.push(WatchBatch {
                            revision: self.revision,
                            events: vec![event],
                        });
                        Ok(Some(kv))
                    }
                    Err(error) => Err(error),
                },
            };
            match answer {
                // The transaction may hold part of this write: give up the whole group.
                Err(error @ StoreError::Backend { .. }) => return Err(error),
                answer => applied.answers.push(answer),
            }
        }
        if let Some(history) = self.history_revisions {
            // Compact in steps of an eighth of the history, so the cost is amortized.
            let history = history.max(1);
            if self.revision - self.compacted > history + history / 8 {
                let target = self.revision - history;
                self.compact(&mut tables, target)?;
                applied.compacted = Some(target);
            }
        }
        tables
            .meta
            .insert(META_REVISION, &encode_counter(self.revision)[..])
            .context("writing table meta")?;
        tables
            .meta
            .insert(META_COMPACTED, &encode_counter(self.compacted)[..])
            .context("writing table meta")?;
        Ok(applied)
    }

    /// Applies one write: checks its precondition against the key's current state, then
    /// writes the next revision. Returns the answer and the event.
    fn apply(&mut self, tables: &mut Tables<'_>, op: &Op) -> Result<(KeyValue, WatchEvent)> {
        let (key, value, precondition) = match op {
            Op::Create { key, value } => (key, Some(value), Precondition::Absent),
            Op::Put { key, value } => (key, Some(value), Precondition::Any),
            Op::Update {
                key,
                value,
                expected,
            } => (key, Some(value), Precondition::ModRevision(Some(*expected))),
            Op::Delete { key, expected } => (key, None, Precondition::ModRevision(*expected)),
            Op::Compact { .. } => unreachable!("compactions are not writes"),
        };
        let current = self.current(tables, key, value.is_none())?;
        precondition.check(key, current.as_ref().map(|c| c.mod_revision))?;
        let revision = self.revision + 1;
        let stored_key: &[u8] = key;
        let result = match value {
            Some(value) => {
                let kv = KeyValue {
                    key: key.clone(),
                    value: value.clone(),
                    create_revision: current.as_ref().map_or(revision, |c| c.create_revision),
                    mod_revision: revision,
                    version: current.as_ref().map_or(1, |c| c.version + 1),
                };
                tables
                    .versions
                    .insert(
                        (stored_key, revision),
                        &encode_value(kv.create_revision, kv.version, value)[..],
                    )
                    .context("writing table versions")?;
                let latest = Latest {
                    mod_revision: revision,
                    create_revision: kv.create_revision,
                    version: kv.version,
                };
                tables
                    .latest
                    .insert(stored_key, &encode_latest(latest)[..])
                    .context("writing table latest")?;
                let event = WatchEvent::Put {
                    kv: kv.clone(),
                    prev: current,
                };
                (kv, event)
            }
            None => {
                let Some(prev) = current else {
                    unreachable!("a deletion's precondition requires the key to exist");
                };
                tables
                    .versions
                    .insert((stored_key, revision), &TOMBSTONE_RECORD[..])
                    .context("writing table versions")?;
                tables
                    .latest
                    .remove(stored_key)
                    .context("writing table latest")?;
                let event = WatchEvent::Delete {
                    prev: prev.clone(),
                    revision,
                };
                (prev, event)
            }
        };
        tables
            .revisions
            .insert(revision, stored_key)
            .context("writing table revisions")?;
        self.revision = revision;
        Ok(result)
    }

    /// The current state of `key`. A deletion (`for_delete`) tolerates an unreadable record:
    /// the key can always be deleted, and the event's previous value is then empty.
    fn current(
        &self,
        tables: &Tables<'_>,
        key: &[u8],
        for_delete: bool,
    ) -> Result<Option<KeyValue>> {
        let Some(entry) = tables.latest.get(key).context("reading table latest")? else {
            return Ok(None);
        };
        let latest = match decode_latest(key, entry.value()) {
            Ok(latest) => latest,
            Err(corrupt) if !for_delete => return Err(corrupt),
            Err(_) => Latest {
                mod_revision: 0,
                create_revision: 0,
                version: 0,
            },
        };
        let unreadable = || KeyValue {
            key: Bytes::copy_from_slice(key),
            value: Bytes::new(),
            create_revision: latest.create_revision,
            mod_revision: latest.mod_revision,
            version: latest.version,
        };
        let stored = tables
            .versions
            .get((key, latest.mod_revision))
            .context("reading table versions")?;
        let decoded = match &stored {
            Some(record) => decode_version(key, record.value()),
            None => Err(StoreError::Corrupt {
                key: Bytes::copy_from_slice(key),
                reason: format!("the version at revision {} is missing", latest.mod_revision),
            }),
        };
        match decoded {
            Ok(Version::Value { value, .. }) => Ok(Some(KeyValue {
                value: Bytes::copy_from_slice(value),
                ..unreadable()
            })),
            Ok(Version::Tombstone) if for_delete => Ok(Some(unreadable())),
            Ok(Version::Tombstone) => Err(StoreError::Corrupt {
                key: Bytes::copy_from_slice(key),
                reason: "the latest version is a deletion".to_string(),
            }),
            Err(_) if for_delete => Ok(Some(unreadable())),
            Err(corrupt) => Err(corrupt),
        }
    }

    /// Compacts to `revision`: per key, keeps the last version at or below it (unless that is
    /// a deletion) and every later one, and forgets which keys the older revisions changed.
    fn compact(&mut self, tables: &mut Tables<'_>, revision: Revision) -> Result<()> {
        if revision <= self.compacted {
            return Err(StoreError::Compacted {
                requested: revision,
                compacted: self.compacted,
            });
        }
        if revision > self.revision {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current: self.revision,
            });
        }
        let mut from = self.compacted + 1;
        while from <= revision {
            let mut chunk: Vec<(Revision, Vec<u8>)> = Vec::new();
            for entry in tables
                .revisions
                .range(from..=revision)
                .context("reading table revisions")?
                .take(COMPACTION_CHUNK)
            {
                let (changed, key) = entry.context("reading table revisions")?;
                chunk.push((changed.value(), key.value().to_vec()));
            }
            let Some(&(last, _)) = chunk.last() else {
                break;
            };
            for (changed, key) in &chunk {
                let key: &[u8] = key;
                let superseded = tables
                    .versions
                    .range((key, *changed + 1)..=(key, revision))
                    .context("reading table versions")?
                    .next()
                    .is_some();
                let obsolete = superseded || {
                    let record = tables
                        .versions
                        .get((key, *changed))
                        .context("reading table versions")?;
                    record.is_some_and(|record| record.value() == TOMBSTONE_RECORD)
                };
                if obsolete {
                    tables
                        .versions
                        .remove((key, *changed))
                        .context("compacting table versions")?;
                }
                tables
                    .revisions
                    .remove(*changed)
                    .context("compacting table revisions")?;
            }
            from = last + 1;
        }
        self.compacted = revision;
        Ok(())
    }
}
