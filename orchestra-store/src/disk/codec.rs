//! The bytes `DiskKv` stores, and their checked decoding.
//!
//! Every record starts with a format byte, so bytes that another program (or a bit flip) put
//! under a key decode to [`StoreError::Corrupt`] for that key instead of a misread or a panic.
//!
//! * A **version** (table `versions`, keyed by `(key, mod_revision)`):
//!   `[FORMAT, VALUE, create_revision: i64 LE, version: i64 LE, value…]`, or `[FORMAT, TOMBSTONE]`
//!   for a deletion.
//! * A **latest** entry (table `latest`, keyed by key, present only while the key exists):
//!   `[FORMAT, mod_revision: i64 LE, create_revision: i64 LE, version: i64 LE]`.
//! * A **meta** counter (table `meta`): an `i64 LE`.

use bytes::Bytes;

use crate::kv::{KeyValue, Result, Revision, StoreError};

/// The format byte of every record this version writes.
const FORMAT: u8 = 1;
/// A version that holds a value.
const VALUE: u8 = 1;
/// A version that marks a deletion.
const TOMBSTONE: u8 = 2;

/// The length of a version record without its value.
const VERSION_HEADER: usize = 18;
/// The length of a latest entry.
const LATEST_LEN: usize = 25;

/// A key's current revisions, as the `latest` table holds them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Latest {
    pub(super) mod_revision: Revision,
    pub(super) create_revision: Revision,
    pub(super) version: i64,
}

/// A decoded version record.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Version<'a> {
    /// The key held `value` from this version's revision on.
    Value {
        create_revision: Revision,
        version: i64,
        value: &'a [u8],
    },
    /// The key was deleted at this version's revision.
    Tombstone,
}

impl Version<'_> {
    /// The key-value this version describes, at `mod_revision`; `None` for a tombstone.
    pub(super) fn to_kv(&self, key: &[u8], mod_revision: Revision) -> Option<KeyValue> {
        match *self {
            Version::Value {
                create_revision,
                version,
                value,
            } => Some(KeyValue {
                key: Bytes::copy_from_slice(key),
                value: Bytes::copy_from_slice(value),
                create_revision,
                mod_revision,
                version,
            }),
            Version::Tombstone => None,
        }
    }
}

/// Encodes a version that holds a value.
pub(super) fn encode_value(create_revision: Revision, version: i64, value: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(VERSION_HEADER + value.len());
    bytes.extend_from_slice(&[FORMAT, VALUE]);
    bytes.extend_from_slice(&create_revision.to_le_bytes());
    bytes.extend_from_slice(&version.to_le_bytes());
    bytes.extend_from_slice(value);
    bytes
}

/// The record of a deletion.
pub(super) const TOMBSTONE_RECORD: [u8; 2] = [FORMAT, TOMBSTONE];

/// Decodes a version record stored under `key`.
pub(super) fn decode_version<'a>(key: &[u8], bytes: &'a [u8]) -> Result<Version<'a>> {
    match bytes {
        [FORMAT, TOMBSTONE] => Ok(Version::Tombstone),
        [FORMAT, VALUE, rest @ ..] if rest.len() >= VERSION_HEADER - 2 => {
            let (create_revision, rest) = split_i64(rest);
            let (version, value) = split_i64(rest);
            Ok(Version::Value {
                create_revision,
                version,
                value,
            })
        }
        [FORMAT, ..] => Err(corrupt(key, "truncated or unknown version record")),
        [other, ..] => Err(corrupt(
            key,
            format!("unknown record format {other:#04x} (not written by this store)"),
        )),
        [] => Err(corrupt(key, "empty version record")),
    }
}

/// Encodes a latest entry.
pub(super) fn encode_latest(latest: Latest) -> [u8; LATEST_LEN] {
    let mut bytes = [0; LATEST_LEN];
    bytes[0] = FORMAT;
    bytes[1..9].copy_from_slice(&latest.mod_revision.to_le_bytes());
    bytes[9..17].copy_from_slice(&latest.create_revision.to_le_bytes());
    bytes[17..25].copy_from_slice(&latest.version.to_le_bytes());
    bytes
}

/// Decodes the latest entry stored under `key`.
pub(super) fn decode_latest(key: &[u8], bytes: &[u8]) -> Result<Latest> {
    match bytes {
        [FORMAT, rest @ ..] if rest.len() == LATEST_LEN - 1 => {
            let (mod_revision, rest) = split_i64(rest);
            let (create_revision, rest) = split_i64(rest);
            let (version, _) = split_i64(rest);
            Ok(Latest {
                mod_revision,
                create_revision,
                version,
            })
        }
        _ => Err(corrupt(
            key,
            "the latest-revision entry is not one this store wrote",
        )),
    }
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
        let bytes = encode_value(3, 2, b"payload");
        assert_eq!(
            decode_version(b"k", &bytes).expect("decodes"),
            Version::Value {
                create_revision: 3,
                version: 2,
                value: b"payload"
            }
        );
        assert_eq!(
            decode_version(b"k", &TOMBSTONE_RECORD).expect("decodes"),
            Version::Tombstone
        );
        let latest = Latest {
            mod_revision: 9,
            create_revision: 3,
            version: 4,
        };
        assert_eq!(
            decode_latest(b"k", &encode_latest(latest)).expect("decodes"),
            latest
        );
    }

    #[test]
    fn foreign_bytes_are_corrupt_records_of_their_key() {
        for foreign in [
            &b""[..],
            b"{\"kind\":\"Pod\"}",
            &[FORMAT, VALUE, 1, 2],
            &[FORMAT, 7],
            &[0xff; 40],
        ] {
            match decode_version(b"/pods/x", foreign) {
                Err(StoreError::Corrupt { key, .. }) => assert_eq!(key, "/pods/x"),
                other => panic!("{foreign:?} decoded to {other:?}"),
            }
            assert!(matches!(
                decode_latest(b"/pods/x", foreign),
                Err(StoreError::Corrupt { .. })
            ));
        }
    }
}
