//! The bytes `DiskKv` stores, and their checked decoding.
//!
//! Every record starts with a format byte, so bytes that another program (or a bit flip) put
//! under a revision decode to [`StoreError::Corrupt`] for that revision's key instead of a
//! misread or a panic.
//!
//! * A **record** (table `revisions`, beside the key, keyed by the revision of its write):
//!   `[FORMAT, VALUE, create_revision: i64 LE, version: i64 LE, prev: i64 LE]` for a write that
//!   left a value (the value itself is in table `values` under the same revision), or
//!   `[FORMAT, TOMBSTONE, prev: i64 LE]` for a deletion. `prev` is the revision of the version
//!   the write replaced, 0 if the key did not exist: watch replay reads the previous value
//!   there.
//! * A **meta** counter (table `meta`): an `i64 LE`.

use bytes::Bytes;

use crate::kv::{Result, Revision, StoreError};

/// The format byte of every record this layout writes.
const FORMAT: u8 = 2;
/// A write that left a value.
const VALUE: u8 = 1;
/// A deletion.
const TOMBSTONE: u8 = 2;

/// The length of a value record.
const VALUE_LEN: usize = 26;
/// The length of a tombstone record.
const TOMBSTONE_LEN: usize = 10;

/// A decoded record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Record {
    /// The key held a value (in table `values`) from this record's revision on.
    Value {
        create_revision: Revision,
        version: i64,
        prev: Revision,
    },
    /// The key was deleted at this record's revision.
    Tombstone { prev: Revision },
}

impl Record {
    /// The revision of the version this write replaced (0: none).
    pub(super) fn prev(self) -> Revision {
        match self {
            Record::Value { prev, .. } | Record::Tombstone { prev } => prev,
        }
    }
}

/// The bytes of a record, without allocating.
pub(super) enum Encoded {
    Value([u8; VALUE_LEN]),
    Tombstone([u8; TOMBSTONE_LEN]),
}

impl AsRef<[u8]> for Encoded {
    fn as_ref(&self) -> &[u8] {
        match self {
            Encoded::Value(bytes) => bytes,
            Encoded::Tombstone(bytes) => bytes,
        }
    }
}

/// Encodes a record.
pub(super) fn encode_record(record: Record) -> Encoded {
    match record {
        Record::Value {
            create_revision,
            version,
            prev,
        } => {
            let mut bytes = [0; VALUE_LEN];
            bytes[..2].copy_from_slice(&[FORMAT, VALUE]);
            bytes[2..10].copy_from_slice(&create_revision.to_le_bytes());
            bytes[10..18].copy_from_slice(&version.to_le_bytes());
            bytes[18..26].copy_from_slice(&prev.to_le_bytes());
            Encoded::Value(bytes)
        }
        Record::Tombstone { prev } => {
            let mut bytes = [0; TOMBSTONE_LEN];
            bytes[..2].copy_from_slice(&[FORMAT, TOMBSTONE]);
            bytes[2..10].copy_from_slice(&prev.to_le_bytes());
            Encoded::Tombstone(bytes)
        }
    }
}

/// Decodes the record of `key` at `revision`.
pub(super) fn decode_record(key: &[u8], revision: Revision, bytes: &[u8]) -> Result<Record> {
    match bytes {
        [FORMAT, VALUE, rest @ ..] if bytes.len() == VALUE_LEN => {
            let (create_revision, rest) = split_i64(rest);
            let (version, rest) = split_i64(rest);
            let (prev, _) = split_i64(rest);
            Ok(Record::Value {
                create_revision,
                version,
                prev,
            })
        }
        [FORMAT, TOMBSTONE, rest @ ..] if bytes.len() == TOMBSTONE_LEN => {
            let (prev, _) = split_i64(rest);
            Ok(Record::Tombstone { prev })
        }
        _ => Err(corrupt_record(key, revision)),
    }
}

/// The error for the unreadable record of `key` at `revision`.
pub(super) fn corrupt_record(key: &[u8], revision: Revision) -> StoreError {
    corrupt(
        key,
        format!("the record at revision {revision} is not one this store wrote"),
    )
}

/// The error for the missing value of `key` at `revision`.
pub(super) fn missing_value(key: &[u8], revision: Revision) -> StoreError {
    corrupt(key, format!("the value at revision {revision} is missing"))
}

/// Encodes a meta counter.
pub(super) fn encode_counter(value: i64) -> [u8; 8] {
    value.to_le_bytes()
}

/// Decodes the meta counter `name`.
pub(super) fn decode_counter(name: &str, bytes: &[u8]) -> Result<i64> {
    let array: [u8; 8] = bytes
        .try_into()
        .map_err(|_| corrupt(name.as_bytes(), "the store's counter is not 8 bytes"))?;
    Ok(i64::from_le_bytes(array))
}

/// Splits a little-endian `i64` off the front of `bytes`, which holds at least 8 bytes.
fn split_i64(bytes: &[u8]) -> (i64, &[u8]) {
    let (head, rest) = bytes.split_at(8);
    let mut array = [0; 8];
    array.copy_from_slice(head);
    (i64::from_le_bytes(array), rest)
}

fn corrupt(key: &[u8], reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        key: Bytes::copy_from_slice(key),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        for record in [
            Record::Value {
                create_revision: 3,
                version: 2,
                prev: 7,
            },
            Record::Tombstone { prev: 9 },
        ] {
            let bytes = encode_record(record);
            assert_eq!(
                decode_record(b"k", 10, bytes.as_ref()).expect("decodes"),
                record
            );
        }
    }

    #[test]
    fn foreign_bytes_are_corrupt_records_of_their_key() {
        for foreign in [
            &b""[..],
            b"{\"kind\":\"Pod\"}",
            &[FORMAT, VALUE, 1, 2],
            &[FORMAT, 7],
            &[1, 1, 0, 0, 0, 0, 0, 0, 0, 0],
            &[0xff; 40],
        ] {
            match decode_record(b"/pods/x", 5, foreign) {
                Err(StoreError::Corrupt { key, reason }) => {
                    assert_eq!(key, "/pods/x");
                    assert!(reason.contains("revision 5"), "{reason}");
                }
                other => panic!("{foreign:?} decoded to {other:?}"),
            }
        }
    }
}
