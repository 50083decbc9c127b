//! The writer thread of `DiskKv`: group commit.
//!
//! The thread blocks on the channel of pending writes, then drains whatever else is already
//! queued (up to a count and a byte bound), applies the group in arrival order inside one redb
//! write transaction, and commits it with [`redb::Durability::Immediate`] (an fsync). Only
//! after the commit returns does it add the group's versions to the key index (which readers
//! consult), publish its events to watchers and answer each writer, so an acknowledged write is
//! always on disk and a reader never sees a write that a crash could still take back. A write
//! refused by its precondition is answered after the commit too, since it was decided on the
//! group's state.
//!
//! A write appends its record under the next revision, so a group's pages are a few appended
//! leaves of tables `revisions` and `values` whatever keys it writes; preconditions are checked
//! against the key index, plus the group's own earlier writes.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use redb::{Database, ReadableTable, Table, WriteTransaction};
use tokio::sync::{mpsc, oneshot};

use super::codec::{Record, corrupt_record, encode_counter, encode_record, missing_value};
use super::{
    Context, Counters, META, META_COMPACTED, META_REVISION, REVISIONS, Stored, VALUES, read_index,
};
use crate::event_log::EventLog;
use crate::key_index::{KeyIndex, Version};
use crate::kv::{KeyValue, Precondition, Result, Revision, StoreError, WatchEvent};

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
    pub(super) index: Arc<RwLock<KeyIndex<Stored>>>,
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
    revisions: Table<'txn, i64, (&'static [u8], &'static [u8])>,
    values: Table<'txn, i64, &'static [u8]>,
    meta: Table<'txn, &'static str, &'static [u8]>,
}

/// What applying a group produced, to publish once it is committed.
struct Applied {
    answers: Vec<Result<Option<KeyValue>>>,
    events: Vec<WatchEvent>,
    /// The versions the group wrote, for the key index.
    versions: Vec<(Bytes, Version<Stored>)>,
    /// The compaction the group made, if any, and the revisions and keys it visited.
    compaction: Option<(Revision, Vec<(Revision, Bytes)>)>,
}

/// The live state of the keys a group wrote, as its later writes see it (`None`: deleted).
type Overlay = HashMap<Bytes, Option<KeyValue>>;

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

    /// Applies and commits one group, then publishes its versions and events and answers its
    /// writers.
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
                // On disk now: let readers and watchers see the group, then acknowledge it.
                {
                    let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
                    for (key, version) in applied.versions {
                        index.push(key, version);
                    }
                    if let Some((revision, changes)) = &applied.compaction {
                        index.compact(
                            *revision,
                            changes
                                .iter()
                                .map(|(changed, key)| (*changed, key.as_ref())),
                        );
                    }
                }
                if let Some((compacted, _)) = applied.compaction {
                    self.log.trim_through(compacted);
                }
                self.log.append(applied.events);
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
        let index = self.index.clone();
        let index = read_index(&index);
        let mut tables = Tables {
            revisions: txn
                .open_table(REVISIONS)
                .context("opening table revisions")?,
            values: txn.open_table(VALUES).context("opening table values")?,
            meta: txn.open_table(META).context("opening table meta")?,
        };
        let mut applied = Applied {
            answers: Vec::with_capacity(ops.len()),
            events: Vec::with_capacity(ops.len()),
            versions: Vec::with_capacity(ops.len()),
            compaction: None,
        };
        let mut overlay = Overlay::new();
        // Readers see the index as of the last commit; compactions never go past it, so a
        // reader's current revision is never compacted under it.
        let committed = self.revision;
        for op in ops {
            let answer = match op {
                Op::Compact { revision } => self
                    .compact(&index, &mut tables, *revision, committed, &mut applied)
                    .map(|()| None),
                _ => match self.apply(&index, &mut tables, &mut overlay, op) {
                    Ok((kv, event, version)) => {
                        applied.events.push(event);
                        applied.versions.push((kv.key.clone(), version));
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
            let target = (self.revision - history).min(committed);
            if self.revision - self.compacted > history + history / 8 && target > self.compacted {
                self.compact(&index, &mut tables, target, committed, &mut applied)?;
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

    /// Applies one write: checks its precondition against the key's live state, then appends
    /// the record of the next revision. Returns the answer, the event and the new version.
    fn apply(
        &mut self,
        index: &KeyIndex<Stored>,
        tables: &mut Tables<'_>,
        overlay: &mut Overlay,
        op: &Op,
    ) -> Result<(KeyValue, WatchEvent, Version<Stored>)> {
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
        let current = match overlay.get(key) {
            Some(state) => state.clone(),
            None => current(index, tables, key, value.is_none())?,
        };
        precondition.check(key, current.as_ref().map(|c| c.mod_revision))?;
        let revision = self.revision + 1;
        let prev = current.as_ref().map_or(0, |c| c.mod_revision);
        let (result, event, version) = match value {
            Some(value) => {
                let replaced = current.as_ref().map(|c| Version {
                    mod_revision: c.mod_revision,
                    create_revision: c.create_revision,
                    version: c.version,
                    value: Some(Stored::Readable),
                });
                let version = Version::after(replaced.as_ref(), revision, Some(Stored::Readable));
                let record = Record::Value {
                    create_revision: version.create_revision,
                    version: version.version,
                    prev,
                };
                tables
                    .revisions
                    .insert(revision, (&key[..], encode_record(record).as_ref()))
                    .context("writing table revisions")?;
                tables
                    .values
                    .insert(revision, &value[..])
                    .context("writing table values")?;
                let kv = KeyValue {
                    key: key.clone(),
                    value: value.clone(),
                    create_revision: version.create_revision,
                    mod_revision: revision,
                    version: version.version,
                };
                overlay.insert(key.clone(), Some(kv.clone()));
                let event = WatchEvent::Put {
                    kv: kv.clone(),
                    prev: current,
                };
                (kv, event, version)
            }
            None => {
                let Some(prev_kv) = current else {
                    unreachable!("a deletion's precondition requires the key to exist");
                };
                tables
                    .revisions
                    .insert(
                        revision,
                        (&key[..], encode_record(Record::Tombstone { prev }).as_ref()),
                    )
                    .context("writing table revisions")?;
                overlay.insert(key.clone(), None);
                let event = WatchEvent::Delete {
                    prev: prev_kv.clone(),
                    revision,
                };
                (prev_kv, event, Version::after(None, revision, None))
            }
        };
        self.revision = revision;
        Ok((result, event, version))
    }

    /// Compacts to `revision` (at most `committed`, the revision readers see): per key,
    /// deletes the records below its last one at or below `revision`, and that one too if it
    /// is a deletion.
    fn compact(
        &mut self,
        index: &KeyIndex<Stored>,
        tables: &mut Tables<'_>,
        revision: Revision,
        committed: Revision,
        applied: &mut Applied,
    ) -> Result<()> {
        if revision <= self.compacted {
            return Err(StoreError::Compacted {
                requested: revision,
                compacted: self.compacted,
            });
        }
        if revision > committed {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current: committed,
            });
        }
        let mut changes = Vec::new();
        for entry in tables
            .revisions
            .range(self.compacted + 1..=revision)
            .context("reading table revisions")?
        {
            let (changed, record) = entry.context("reading table revisions")?;
            let (key, _) = record.value();
            changes.push((changed.value(), Bytes::copy_from_slice(key)));
        }
        // The keys of an earlier compaction of this group are dropped from the index only
        // after the commit: visit them again, so that this one drops what both name.
        let mut visited = applied
            .compaction
            .take()
            .map_or_else(Vec::new, |(_, earlier)| earlier);
        visited.extend(changes);
        for obsolete in
            index.obsolete_through(revision, visited.iter().map(|(r, key)| (*r, key.as_ref())))
        {
            tables
                .revisions
                .remove(obsolete)
                .context("compacting table revisions")?;
            tables
                .values
                .remove(obsolete)
                .context("compacting table values")?;
        }
        self.compacted = revision;
        applied.compaction = Some((revision, visited));
        Ok(())
    }
}

/// The live state of `key` as of the last commit. A deletion (`for_delete`) tolerates an
/// unreadable record: the key can always be deleted, and the event's previous value is then
/// empty.
fn current(
    index: &KeyIndex<Stored>,
    tables: &Tables<'_>,
    key: &Bytes,
    for_delete: bool,
) -> Result<Option<KeyValue>> {
    let Some((_, version)) = index.current(key) else {
        return Ok(None);
    };
    let unreadable = || KeyValue {
        key: key.clone(),
        value: Bytes::new(),
        create_revision: version.create_revision,
        mod_revision: version.mod_revision,
        version: version.version,
    };
    if version.value == Some(Stored::Corrupt) {
        return if for_delete {
            Ok(Some(unreadable()))
        } else {
            Err(corrupt_record(key, version.mod_revision))
        };
    }
    let stored = tables
        .values
        .get(version.mod_revision)
        .context("reading table values")?;
    match stored {
        Some(value) => Ok(Some(KeyValue {
            value: Bytes::copy_from_slice(value.value()),
            ..unreadable()
        })),
        None if for_delete => Ok(Some(unreadable())),
        None => Err(missing_value(key, version.mod_revision)),
    }
}
