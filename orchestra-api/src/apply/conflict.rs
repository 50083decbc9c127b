//! Apply conflicts: the fields an apply would change that another manager owns, and the
//! `409 Conflict` Kubernetes answers with, one `FieldManagerConflict` cause per field.
//!
//! ```
//! use orchestra_api::apply::{Conflict, Conflicts, Path, PathElement};
//!
//! let conflicts = Conflicts::new(vec![Conflict {
//!     manager: "\"kubectl-client-side-apply\" using apps/v1".into(),
//!     path: Path::from(vec![PathElement::field("spec"), PathElement::field("replicas")]),
//! }]);
//! let status = conflicts.to_status();
//! assert_eq!(status.code, 409);
//! assert_eq!(
//!     status.message,
//!     "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
//! );
//! ```

use std::collections::BTreeMap;
use std::fmt;

use super::field_set::Path;
use crate::Status;
use crate::status::{StatusCause, StatusDetails, StatusReason};

/// One field an apply would take from another manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The owner, as Kubernetes describes it (`"kubectl" with subresource "status"`).
    pub manager: String,
    /// The field.
    pub path: Path,
}

/// Every conflict of one apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Conflicts(Vec<Conflict>);

impl Conflicts {
    /// The conflicts, in the order found.
    pub fn new(conflicts: Vec<Conflict>) -> Self {
        Self(conflicts)
    }

    /// Each conflict.
    pub fn iter(&self) -> impl Iterator<Item = &Conflict> {
        self.0.iter()
    }

    /// Kubernetes' `409 Conflict`: the message lists the fields by manager, and each field is
    /// a `FieldManagerConflict` cause.
    pub fn to_status(&self) -> Status {
        let causes = self
            .0
            .iter()
            .map(|conflict| StatusCause {
                reason: "FieldManagerConflict".to_owned(),
                message: format!("conflict with {}", conflict.manager),
                field: conflict.path.to_string(),
            })
            .collect();
        Status::failure(StatusReason::Conflict, self.to_string()).with_details(StatusDetails {
            causes,
            ..StatusDetails::default()
        })
    }
}

impl fmt::Display for Conflicts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let [one] = self.0.as_slice() {
            return write!(
                f,
                "Apply failed with 1 conflict: conflict with {}: {}",
                one.manager, one.path
            );
        }
        let mut by_manager: BTreeMap<&str, Vec<&Path>> = BTreeMap::new();
        for conflict in &self.0 {
            by_manager
                .entry(conflict.manager.as_str())
                .or_default()
                .push(&conflict.path);
        }
        let mut lines = Vec::new();
        for (manager, paths) in by_manager {
            lines.push(format!("conflicts with {manager}:"));
            lines.extend(paths.iter().map(|path| format!("- {path}")));
        }
        write!(
            f,
            "Apply failed with {} conflicts: {}",
            self.0.len(),
            lines.join("\n")
        )
    }
}

impl From<Conflicts> for Status {
    fn from(conflicts: Conflicts) -> Self {
        conflicts.to_status()
    }
}
