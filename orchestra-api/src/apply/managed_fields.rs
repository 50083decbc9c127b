//! `metadata.managedFields`: which manager owns which fields, decoded into [`FieldSet`]s and
//! encoded back the way Kubernetes stores them.
//!
//! A manager is identified by its name, its operation (`Apply` for server-side apply,
//! `Update` for every other write) and the subresource it wrote through; the same name may
//! therefore own one set of fields by applying and another by updating. Entries are stored
//! sorted as Kubernetes sorts them (operation, then time, then name), empty sets are dropped,
//! and at most [`MAX_UPDATE_MANAGERS`] `Update` entries are kept: older ones are folded into
//! one entry named [`ANCIENT_CHANGES`].
//!
//! ```
//! use orchestra_api::apply::{ManagedFields, Manager, Operation};
//! use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry};
//! use serde_json::json;
//!
//! let entries = vec![ManagedFieldsEntry {
//!     manager: Some("kubectl".into()),
//!     operation: Some("Apply".into()),
//!     api_version: Some("v1".into()),
//!     fields_type: Some("FieldsV1".into()),
//!     fields_v1: Some(FieldsV1(json!({"f:data": {"f:key": {}}}))),
//!     ..Default::default()
//! }];
//! let managed = ManagedFields::decode(&entries).unwrap();
//! let kubectl = Manager::new("kubectl", Operation::Apply, None);
//! assert_eq!(managed.fields(&kubectl).unwrap().paths()[0].to_string(), ".data.key");
//! assert_eq!(managed.encode(), entries);
//! ```

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry, Time};

use super::field_set::FieldSet;

/// The most `Update` entries kept; older updates are merged into [`ANCIENT_CHANGES`].
pub const MAX_UPDATE_MANAGERS: usize = 10;

/// The manager the oldest updates are folded into.
pub const ANCIENT_CHANGES: &str = "ancient-changes";

/// How a manager came to own its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// Server-side apply: the manager declared these fields.
    Apply,
    /// Any other write (create, update, patch): the manager changed these fields.
    Update,
}

impl Operation {
    /// The operation as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Apply => "Apply",
            Self::Update => "Update",
        }
    }
}

/// The identity of a manager entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Manager {
    /// `fieldManager`.
    pub name: String,
    /// How it wrote.
    pub operation: Operation,
    /// The subresource it wrote through (`status`), empty for the object itself.
    pub subresource: String,
}

impl Manager {
    /// A manager identity.
    pub fn new(name: impl Into<String>, operation: Operation, subresource: Option<&str>) -> Self {
        Self {
            name: name.into(),
            operation,
            subresource: subresource.unwrap_or_default().to_owned(),
        }
    }
}

impl fmt::Display for Manager {
    /// How Kubernetes names a manager in a conflict: `"kubectl"`,
    /// `"controller" with subresource "status"`, `"kubectl-edit" using v1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.name)?;
        if !self.subresource.is_empty() {
            write!(f, " with subresource {:?}", self.subresource)?;
        }
        Ok(())
    }
}

/// One manager's entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedEntry {
    /// Who.
    pub manager: Manager,
    /// The API version the fields are expressed in.
    pub api_version: String,
    /// When the manager last changed the object.
    pub time: Option<Time>,
    /// What it owns.
    pub fields: FieldSet,
}

impl ManagedEntry {
    /// How Kubernetes names this entry in a conflict message: an updater also gets its
    /// version and time (`"kubectl-edit" using v1 at 2025-01-01T00:00:00Z`).
    pub fn describe(&self) -> String {
        let mut text = self.manager.to_string();
        if self.manager.operation == Operation::Update {
            text.push_str(&format!(" using {}", self.api_version));
            if let Some(time) = &self.time {
                text.push_str(&format!(" at {}", time.0.strftime("%Y-%m-%dT%H:%M:%SZ")));
            }
        }
        text
    }
}

/// Every manager's fields of one object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ManagedFields {
    entries: Vec<ManagedEntry>,
}

impl ManagedFields {
    /// Decodes `metadata.managedFields`. Entries without fields are skipped (a request may
    /// send `[{}]` to reset ownership); an entry whose operation or `fieldsV1` Kubernetes
    /// could not read is an error naming it.
    pub fn decode(entries: &[ManagedFieldsEntry]) -> Result<Self, String> {
        let mut managed = Self::default();
        for (index, entry) in entries.iter().enumerate() {
            let Some(fields) = &entry.fields_v1 else {
                continue;
            };
            let operation = match entry.operation.as_deref() {
                Some("Apply") => Operation::Apply,
                Some("Update") => Operation::Update,
                other => {
                    return Err(format!(
                        "managedFields[{index}]: operation must be Apply or Update, not {other:?}"
                    ));
                }
            };
            if let Some(fields_type) = entry.fields_type.as_deref()
                && fields_type != "FieldsV1"
            {
                return Err(format!(
                    "managedFields[{index}]: fieldsType must be FieldsV1, not {fields_type:?}"
                ));
            }
            let fields = FieldSet::from_fields_v1(&fields.0)
                .map_err(|error| format!("managedFields[{index}]: {error}"))?;
            let manager = Manager::new(
                entry.manager.clone().unwrap_or_default(),
                operation,
                entry.subresource.as_deref(),
            );
            let api_version = entry.api_version.clone().unwrap_or_default();
            match managed.entry_mut(&manager) {
                Some(existing) => existing.fields = existing.fields.union(&fields),
                None => managed.entries.push(ManagedEntry {
                    manager,
                    api_version,
                    time: entry.time.clone(),
                    fields,
                }),
            }
        }
        Ok(managed)
    }

    /// The entries, sorted and capped, as `metadata.managedFields`.
    pub fn encode(&self) -> Vec<ManagedFieldsEntry> {
        let mut entries: Vec<&ManagedEntry> = self
            .entries
            .iter()
            .filter(|entry| !entry.fields.is_empty())
            .collect();
        entries.sort_by(|left, right| {
            let seconds = |entry: &ManagedEntry| entry.time.as_ref().map_or(0, |t| t.0.as_second());
            left.manager
                .operation
                .cmp(&right.manager.operation)
                .then(seconds(left).cmp(&seconds(right)))
                .then(left.manager.name.cmp(&right.manager.name))
                .then(left.api_version.cmp(&right.api_version))
                .then(left.manager.subresource.cmp(&right.manager.subresource))
        });
        entries
            .into_iter()
            .map(|entry| ManagedFieldsEntry {
                api_version: Some(entry.api_version.clone()),
                fields_type: Some("FieldsV1".to_owned()),
                fields_v1: Some(FieldsV1(entry.fields.to_fields_v1())),
                manager: Some(entry.manager.name.clone()),
                operation: Some(entry.manager.operation.as_str().to_owned()),
                subresource: (!entry.manager.subresource.is_empty())
                    .then(|| entry.manager.subresource.clone()),
                time: entry.time.clone(),
            })
            .collect()
    }

    /// The entries.
    pub fn entries(&self) -> &[ManagedEntry] {
        &self.entries
    }

    /// The fields `manager` owns.
    pub fn fields(&self, manager: &Manager) -> Option<&FieldSet> {
        self.entry(manager).map(|entry| &entry.fields)
    }

    /// The entry of `manager`.
    pub fn entry(&self, manager: &Manager) -> Option<&ManagedEntry> {
        self.entries.iter().find(|entry| &entry.manager == manager)
    }

    fn entry_mut(&mut self, manager: &Manager) -> Option<&mut ManagedEntry> {
        self.entries
            .iter_mut()
            .find(|entry| &entry.manager == manager)
    }

    /// Sets `manager`'s fields (and, when `time` is given, its time), adding the entry if
    /// needed.
    pub fn set(
        &mut self,
        manager: &Manager,
        api_version: &str,
        fields: FieldSet,
        time: Option<Time>,
    ) {
        match self.entry_mut(manager) {
            Some(entry) => {
                entry.fields = fields;
                entry.api_version = api_version.to_owned();
                if time.is_some() {
                    entry.time = time;
                }
            }
            None => self.entries.push(ManagedEntry {
                manager: manager.clone(),
                api_version: api_version.to_owned(),
                time,
                fields,
            }),
        }
    }

    /// Removes `fields` from every entry but `except`'s.
    pub fn take_from_others(&mut self, except: Option<&Manager>, fields: &FieldSet) {
        for entry in &mut self.entries {
            if Some(&entry.manager) != except {
                entry.fields = entry.fields.difference(fields);
            }
        }
    }

    /// Removes every entry that owns nothing, and folds the oldest `Update` entries into
    /// [`ANCIENT_CHANGES`] while there are more than [`MAX_UPDATE_MANAGERS`].
    pub fn tidy(&mut self) {
        self.entries.retain(|entry| !entry.fields.is_empty());
        loop {
            let updaters: Vec<usize> = (0..self.entries.len())
                .filter(|&at| self.entries[at].manager.operation == Operation::Update)
                .collect();
            if updaters.len() <= MAX_UPDATE_MANAGERS {
                return;
            }
            let seconds = |entry: &ManagedEntry| entry.time.as_ref().map_or(0, |t| t.0.as_second());
            let Some(&oldest) = updaters
                .iter()
                .filter(|&&at| self.entries[at].manager.name != ANCIENT_CHANGES)
                .min_by_key(|&&at| seconds(&self.entries[at]))
            else {
                return;
            };
            let folded = self.entries.remove(oldest);
            let bucket = Manager::new(ANCIENT_CHANGES, Operation::Update, None);
            match self.entry_mut(&bucket) {
                Some(entry) => {
                    entry.fields = entry.fields.union(&folded.fields);
                    entry.time = folded.time;
                }
                None => self.entries.push(ManagedEntry {
                    manager: bucket,
                    ..folded
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::field_set::{Path, PathElement};

    fn fields(name: &str) -> FieldSet {
        let mut set = FieldSet::default();
        set.insert(&Path::from(vec![PathElement::field(name)]));
        set
    }

    fn at(second: i64) -> Option<Time> {
        Some(Time(jiff::Timestamp::from_second(second).unwrap()))
    }

    #[test]
    fn entries_sort_apply_first_then_by_time() {
        let mut managed = ManagedFields::default();
        managed.set(
            &Manager::new("b", Operation::Update, None),
            "v1",
            fields("x"),
            at(5),
        );
        managed.set(
            &Manager::new("a", Operation::Update, None),
            "v1",
            fields("y"),
            at(9),
        );
        managed.set(
            &Manager::new("z", Operation::Apply, None),
            "v1",
            fields("z"),
            at(10),
        );
        let names: Vec<_> = managed
            .encode()
            .into_iter()
            .map(|e| e.manager.unwrap())
            .collect();
        assert_eq!(names, ["z", "b", "a"]);
    }

    #[test]
    fn the_same_name_applying_and_updating_are_two_managers() {
        let mut managed = ManagedFields::default();
        managed.set(
            &Manager::new("m", Operation::Apply, None),
            "v1",
            fields("x"),
            None,
        );
        managed.set(
            &Manager::new("m", Operation::Update, None),
            "v1",
            fields("y"),
            None,
        );
        managed.set(
            &Manager::new("m", Operation::Update, Some("status")),
            "v1",
            fields("z"),
            None,
        );
        assert_eq!(managed.encode().len(), 3);
        let decoded = ManagedFields::decode(&managed.encode()).unwrap();
        assert_eq!(decoded.entries().len(), 3);
    }

    #[test]
    fn old_updates_fold_into_ancient_changes() {
        let mut managed = ManagedFields::default();
        for second in 0..12 {
            managed.set(
                &Manager::new(format!("m{second}"), Operation::Update, None),
                "v1",
                fields(&format!("f{second}")),
                at(second),
            );
        }
        managed.tidy();
        let encoded = managed.encode();
        assert_eq!(encoded.len(), MAX_UPDATE_MANAGERS);
        let ancient = ManagedFields::decode(&encoded).unwrap();
        let bucket = ancient
            .fields(&Manager::new(ANCIENT_CHANGES, Operation::Update, None))
            .unwrap();
        assert_eq!(bucket.paths().len(), 3);
    }

    #[test]
    fn entries_without_fields_reset_ownership() {
        let decoded = ManagedFields::decode(&[ManagedFieldsEntry::default()]).unwrap();
        assert!(decoded.entries().is_empty());
        let bad = ManagedFieldsEntry {
            operation: Some("Replace".into()),
            fields_v1: Some(FieldsV1(serde_json::json!({}))),
            ..Default::default()
        };
        assert!(ManagedFields::decode(&[bad]).is_err());
    }

    #[test]
    fn updaters_are_described_with_version_and_time() {
        let entry = ManagedEntry {
            manager: Manager::new("kubectl-edit", Operation::Update, None),
            api_version: "apps/v1".into(),
            time: at(0),
            fields: FieldSet::default(),
        };
        assert_eq!(
            entry.describe(),
            "\"kubectl-edit\" using apps/v1 at 1970-01-01T00:00:00Z"
        );
        let applier = ManagedEntry {
            manager: Manager::new("ctrl", Operation::Apply, Some("status")),
            ..entry
        };
        assert_eq!(applier.describe(), "\"ctrl\" with subresource \"status\"");
    }
}
