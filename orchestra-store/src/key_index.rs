//! The key index: every retained version of every key, in memory, shared by
//! [`MemoryKv`](crate::MemoryKv) (which keeps the values in it) and [`DiskKv`](crate::DiskKv)
//! (which keeps the values on disk and only marks here whether a stored record is readable).
//!
//! It is etcd's `treeIndex` in spirit: an ordered map from each key to its versions, ascending by
//! `mod_revision`, a deletion being a tombstone version. The state at any retained revision `R`
//! is, per key, the last version at or below `R` unless that is a tombstone: that answers point
//! reads, ranges at the current or a past revision, and the preconditions of writes. Compaction
//! to revision `C` visits the keys written since the previous compaction (the backend names
//! them from its event history) and keeps, per key, the last version at or below `C` (unless it
//! is a tombstone) and every later one.
//!
//! Keys are ordered by their bytes, as etcd orders them. An [`IndexKey`] carries its first 16
//! bytes inline so that most comparisons during a search are one integer comparison inside the
//! map's node instead of a jump to the key's bytes on the heap (the idea of the "abbreviated
//! keys" of database sort and index code); keys that share their first 16 bytes compare their
//! full bytes after that.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::ops::Bound;

use bytes::Bytes;

use crate::kv::{Precondition, RangeRequest, Result, Revision, prefix_end};

/// One version of a key: its revisions and, unless the version is a deletion, its value (or,
/// for a backend that keeps values elsewhere, what it needs to find the value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Version<V> {
    /// The revision of this version's write.
    pub(crate) mod_revision: Revision,
    /// The revision that created the key (0 for a tombstone).
    pub(crate) create_revision: Revision,
    /// Writes since the key's creation, 1 for the creation (0 for a tombstone).
    pub(crate) version: i64,
    /// `None` for the tombstone a deletion leaves.
    pub(crate) value: Option<V>,
}

impl<V> Version<V> {
    /// The version a write of `value` (a deletion if `None`) at `revision` makes, after the
    /// key's live version `current` (`None`: the key is absent).
    pub(crate) fn after(
        current: Option<&Version<V>>,
        revision: Revision,
        value: Option<V>,
    ) -> Self {
        match value {
            Some(value) => Version {
                mod_revision: revision,
                create_revision: current.map_or(revision, |c| c.create_revision),
                version: current.map_or(1, |c| c.version + 1),
                value: Some(value),
            },
            None => Version {
                mod_revision: revision,
                create_revision: 0,
                version: 0,
                value: None,
            },
        }
    }

    /// Whether this version is a deletion.
    pub(crate) fn is_tombstone(&self) -> bool {
        self.value.is_none()
    }
}

/// A key of the index: its bytes, with the first 16 of them inline for fast comparisons.
///
/// Ordered exactly as its bytes are (see [`Ord`] below), so the map can also be searched with a
/// plain `&[u8]`.
#[derive(Clone, Debug)]
pub(crate) struct IndexKey {
    /// The first 16 bytes, big-endian, zero-padded.
    head: u128,
    bytes: Bytes,
}

impl IndexKey {
    pub(crate) fn new(bytes: Bytes) -> Self {
        let mut head = [0u8; 16];
        let len = bytes.len().min(16);
        head[..len].copy_from_slice(&bytes[..len]);
        IndexKey {
            head: u128::from_be_bytes(head),
            bytes,
        }
    }

    /// The key's bytes.
    pub(crate) fn bytes(&self) -> &Bytes {
        &self.bytes
    }
}

impl Ord for IndexKey {
    /// Byte order. Zero-padded heads order like the keys whenever they differ: at the first
    /// differing position either both keys have a byte there, or the shorter key ended and the
    /// longer one has a non-zero byte (a prefix sorts first). Equal heads fall back to the bytes.
    fn cmp(&self, other: &Self) -> Ordering {
        self.head
            .cmp(&other.head)
            .then_with(|| self.bytes.as_ref().cmp(other.bytes.as_ref()))
    }
}

impl PartialOrd for IndexKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for IndexKey {
    fn eq(&self, other: &Self) -> bool {
        self.head == other.head && self.bytes == other.bytes
    }
}

impl Eq for IndexKey {}

impl Borrow<[u8]> for IndexKey {
    fn borrow(&self) -> &[u8] {
        &self.bytes
    }
}

/// The index; see the [module docs](self).
#[derive(Debug)]
pub(crate) struct KeyIndex<V> {
    /// The revision of the last write.
    revision: Revision,
    /// Reads at revisions below this one are refused; the versions they need may be gone.
    compacted: Revision,
    /// Each key's versions, ascending by `mod_revision`; never empty.
    keys: BTreeMap<IndexKey, Vec<Version<V>>>,
}

/// One page of a range: the visible versions, and whether the range has more keys.
pub(crate) struct Page<'a, V> {
    pub(crate) entries: Vec<(&'a Bytes, &'a Version<V>)>,
    pub(crate) more: bool,
}

impl<V> KeyIndex<V> {
    /// An empty index of a store at `revision`, compacted up to `compacted`.
    pub(crate) fn new(revision: Revision, compacted: Revision) -> Self {
        KeyIndex {
            revision,
            compacted,
            keys: BTreeMap::new(),
        }
    }

    /// The revision of the last write.
    pub(crate) fn revision(&self) -> Revision {
        self.revision
    }

    /// The compacted revision.
    pub(crate) fn compacted(&self) -> Revision {
        self.compacted
    }

    /// The live version of `key` at the current revision.
    pub(crate) fn current(&self, key: &[u8]) -> Option<(&Bytes, &Version<V>)> {
        let (key, versions) = self.keys.get_key_value(key)?;
        let last = versions.last().filter(|version| !version.is_tombstone())?;
        Some((key.bytes(), last))
    }

    /// The live version of `key` at `revision` (retained: at or above the compacted one).
    pub(crate) fn visible(&self, key: &[u8], revision: Revision) -> Option<(&Bytes, &Version<V>)> {
        let (key, versions) = self.keys.get_key_value(key)?;
        Some((key.bytes(), visible_in(versions, revision)?))
    }

    /// The versions of the keys in `request`'s range visible at `revision` (retained), in key
    /// order, at most `request.limit` of them.
    pub(crate) fn range(&self, request: &RangeRequest, revision: Revision) -> Page<'_, V> {
        let start = match &request.start_after {
            Some(after) if after.as_ref() >= request.prefix.as_ref() => {
                Bound::Excluded(after.as_ref())
            }
            _ => Bound::Included(request.prefix.as_ref()),
        };
        let end = prefix_end(&request.prefix);
        let end: Bound<&[u8]> = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        let limit = request.limit.unwrap_or(usize::MAX);
        let mut entries = Vec::new();
        let mut more = false;
        for (key, versions) in self.keys.range::<[u8], _>((start, end)) {
            let Some(version) = visible_in(versions, revision) else {
                continue;
            };
            if entries.len() == limit {
                more = true;
                break;
            }
            entries.push((key.bytes(), version));
        }
        Page { entries, more }
    }

    /// Writes `value` (a deletion if `None`) to `key` at the next revision if `precondition`
    /// holds for the key's live version. Returns the live version it replaced and the new one.
    pub(crate) fn write(
        &mut self,
        key: Bytes,
        value: Option<V>,
        precondition: Precondition,
    ) -> Result<(Option<&Version<V>>, &Version<V>)> {
        let revision = self.revision + 1;
        let key = IndexKey::new(key);
        let versions = match self.keys.entry(key) {
            Entry::Occupied(entry) => {
                let current = entry.get().last().filter(|version| !version.is_tombstone());
                precondition.check(entry.key().bytes(), current.map(|c| c.mod_revision))?;
                let version = Version::after(current, revision, value);
                let versions = entry.into_mut();
                versions.push(version);
                versions
            }
            Entry::Vacant(entry) => {
                precondition.check(entry.key().bytes(), None)?;
                entry.insert(vec![Version::after(None, revision, value)])
            }
        };
        self.revision = revision;
        let (new, before) = versions.split_last().expect("a version was just pushed");
        let prev = before.last().filter(|version| !version.is_tombstone());
        Ok((prev, new))
    }

    /// Appends a version written elsewhere (a committed write, or a record read back from
    /// disk): its `mod_revision` is above every version already in the index.
    pub(crate) fn push(&mut self, key: Bytes, version: Version<V>) {
        debug_assert!(version.mod_revision > self.revision);
        self.revision = version.mod_revision;
        self.keys
            .entry(IndexKey::new(key))
            .or_default()
            .push(version);
    }

    /// Moves the current revision forward to `revision` without a version (a store whose last
    /// revisions' records were compacted away).
    pub(crate) fn advance_to(&mut self, revision: Revision) {
        self.revision = self.revision.max(revision);
    }

    /// The revisions of the versions that compacting to `revision` drops, given `changes`, the
    /// revision and key of every write after the compacted revision and at or below `revision`:
    /// per key, every version below the last one at or below `revision`, and that one too if it
    /// is a tombstone. Changes nothing.
    pub(crate) fn obsolete_through<'a>(
        &self,
        revision: Revision,
        changes: impl IntoIterator<Item = (Revision, &'a [u8])>,
    ) -> Vec<Revision> {
        let mut obsolete = Vec::new();
        for (changed, key) in changes {
            let Some(versions) = self.keys.get(key) else {
                continue;
            };
            let position = versions.partition_point(|version| version.mod_revision < changed);
            let Some(version) = versions.get(position).filter(|v| v.mod_revision == changed) else {
                continue;
            };
            let superseded = versions
                .get(position + 1)
                .is_some_and(|later| later.mod_revision <= revision);
            if superseded || version.is_tombstone() {
                obsolete.push(changed);
            }
        }
        obsolete
    }

    /// Compacts to `revision` (above the compacted one, at most the current one), given the
    /// same `changes` as [`Self::obsolete_through`]: drops what that names.
    pub(crate) fn compact<'a>(
        &mut self,
        revision: Revision,
        changes: impl IntoIterator<Item = (Revision, &'a [u8])>,
    ) {
        for (_, key) in changes {
            let Some(versions) = self.keys.get_mut(key) else {
                continue;
            };
            // Keep the last version at or below `revision` (the state then) and every later one.
            let visible = versions.partition_point(|version| version.mod_revision <= revision);
            if visible > 1 {
                versions.drain(..visible - 1);
            }
            if versions
                .first()
                .is_some_and(|first| first.mod_revision <= revision && first.is_tombstone())
            {
                versions.remove(0);
            }
            if versions.is_empty() {
                self.keys.remove(key);
            }
        }
        self.compacted = self.compacted.max(revision);
    }
}

/// The live version among `versions` (ascending) at `revision`.
fn visible_in<V>(versions: &[Version<V>], revision: Revision) -> Option<&Version<V>> {
    let version = match versions.last() {
        Some(last) if last.mod_revision <= revision => last,
        _ => {
            let count = versions.partition_point(|version| version.mod_revision <= revision);
            &versions[count.checked_sub(1)?]
        }
    };
    (!version.is_tombstone()).then_some(version)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Comparing index keys is comparing their bytes, whatever their lengths and contents.
        #[test]
        fn index_keys_order_like_their_bytes(
            a in proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), any::<u8>()], 0..40),
            b in proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), any::<u8>()], 0..40),
            shared in 0usize..24,
        ) {
            // Often share a prefix, so that heads tie and lengths straddle 16.
            let mut b2 = a[..shared.min(a.len())].to_vec();
            b2.extend_from_slice(&b);
            for (x, y) in [(&a, &b), (&a, &b2)] {
                let (kx, ky) = (IndexKey::new(Bytes::copy_from_slice(x)), IndexKey::new(Bytes::copy_from_slice(y)));
                prop_assert_eq!(kx.cmp(&ky), x.as_slice().cmp(y.as_slice()));
                prop_assert_eq!(kx == ky, x == y);
            }
        }
    }

    fn version(index: &KeyIndex<u8>, key: &str) -> Option<(Revision, u8)> {
        index
            .current(key.as_bytes())
            .map(|(_, version)| (version.mod_revision, version.value.unwrap_or(0)))
    }

    #[test]
    fn compaction_keeps_the_state_at_its_revision_and_everything_after() {
        let mut index = KeyIndex::new(1, 0);
        let key = |text: &str| Bytes::copy_from_slice(text.as_bytes());
        index
            .write(key("/a"), Some(1), Precondition::Any)
            .expect("put"); // 2
        index
            .write(key("/a"), Some(2), Precondition::Any)
            .expect("put"); // 3
        index
            .write(key("/b"), Some(3), Precondition::Any)
            .expect("put"); // 4
        index
            .write(key("/b"), None, Precondition::ModRevision(None))
            .expect("delete"); // 5
        index
            .write(key("/a"), Some(4), Precondition::Any)
            .expect("put"); // 6
        let changes: Vec<(Revision, &[u8])> = vec![(2, b"/a"), (3, b"/a"), (4, b"/b"), (5, b"/b")];
        assert_eq!(index.obsolete_through(5, changes.clone()), vec![2, 4, 5]);
        index.compact(5, changes);
        assert_eq!(index.compacted(), 5);
        let at_five = index.range(&RangeRequest::prefix("/"), 5);
        let revisions: Vec<_> = at_five
            .entries
            .iter()
            .map(|(_, v)| v.mod_revision)
            .collect();
        assert_eq!(revisions, vec![3], "the state at 5: /a from 3, /b deleted");
        assert_eq!(version(&index, "/a"), Some((6, 4)));
        assert_eq!(version(&index, "/b"), None);
        assert!(!index.keys.contains_key(&b"/b"[..]), "/b is forgotten");
    }

    #[test]
    fn a_refused_write_changes_nothing() {
        let mut index: KeyIndex<u8> = KeyIndex::new(1, 0);
        let refused = index.write(
            Bytes::from_static(b"/a"),
            Some(1),
            Precondition::ModRevision(Some(7)),
        );
        assert!(refused.is_err());
        assert_eq!(index.revision(), 1);
        assert!(index.keys.is_empty());
    }
}
