//! Field paths and field errors: how validation says *where* an object is wrong, in the same
//! form as Kubernetes' `k8s.io/apimachinery/pkg/util/validation/field`.

use std::fmt;

use crate::status::StatusCause;

/// A path to a field inside an object, printed as Kubernetes prints it:
/// `spec.containers[0].image`, `metadata.labels[app]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FieldPath(String);

impl FieldPath {
    /// A path that starts at the named top-level field.
    pub fn new(root: &str) -> Self {
        Self(root.to_owned())
    }

    /// The path of a named field below this one.
    pub fn child(&self, name: &str) -> Self {
        if self.0.is_empty() {
            return Self::new(name);
        }
        let mut path = String::with_capacity(self.0.len() + 1 + name.len());
        path.push_str(&self.0);
        path.push('.');
        path.push_str(name);
        Self(path)
    }

    /// The path of a list element below this one: `containers[3]`.
    pub fn index(&self, index: usize) -> Self {
        Self(format!("{}[{index}]", self.0))
    }

    /// The path of a map entry below this one: `labels[app]`.
    pub fn key(&self, key: &str) -> Self {
        Self(format!("{}[{key}]", self.0))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What is wrong with a field: the `field.ErrorType` of Kubernetes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldErrorKind {
    /// The field is missing (`FieldValueRequired`).
    Required,
    /// The value is malformed or out of range (`FieldValueInvalid`).
    Invalid,
    /// The value is not one of the supported values (`FieldValueNotSupported`).
    NotSupported,
    /// The value repeats one that must be unique (`FieldValueDuplicate`).
    Duplicate,
    /// The value refers to something that does not exist (`FieldValueNotFound`).
    NotFound,
    /// The field may not be set here, or may not change (`FieldValueForbidden`).
    Forbidden,
    /// The value is too long (`FieldValueTooLong`).
    TooLong,
    /// The list has too many items (`FieldValueTooMany`).
    TooMany,
    /// The value has the wrong type (`FieldValueTypeInvalid`).
    TypeInvalid,
}

impl FieldErrorKind {
    /// The `StatusCause.reason` Kubernetes reports for this kind.
    pub fn cause_reason(self) -> &'static str {
        match self {
            Self::Required => "FieldValueRequired",
            Self::Invalid => "FieldValueInvalid",
            Self::NotSupported => "FieldValueNotSupported",
            Self::Duplicate => "FieldValueDuplicate",
            Self::NotFound => "FieldValueNotFound",
            Self::Forbidden => "FieldValueForbidden",
            Self::TooLong => "FieldValueTooLong",
            Self::TooMany => "FieldValueTooMany",
            Self::TypeInvalid => "FieldValueTypeInvalid",
        }
    }
}

/// One problem with one field: kind, path, the offending value (if shown) and detail.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// What is wrong.
    pub kind: FieldErrorKind,
    /// Where it is wrong.
    pub field: FieldPath,
    /// The offending value, shown in the message where Kubernetes shows it.
    pub value: Option<serde_json::Value>,
    /// Why it is wrong, in words.
    pub detail: String,
}

impl FieldError {
    fn new(
        kind: FieldErrorKind,
        field: FieldPath,
        value: Option<serde_json::Value>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            field,
            value,
            detail: detail.into(),
        }
    }

    /// The field must be set.
    pub fn required(field: FieldPath, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorKind::Required, field, None, detail)
    }

    /// The value is not acceptable.
    pub fn invalid(
        field: FieldPath,
        value: impl Into<serde_json::Value>,
        detail: impl Into<String>,
    ) -> Self {
        Self::new(FieldErrorKind::Invalid, field, Some(value.into()), detail)
    }

    /// The value is not one of `supported`.
    pub fn not_supported(
        field: FieldPath,
        value: impl Into<serde_json::Value>,
        supported: &[&str],
    ) -> Self {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::new(
            FieldErrorKind::NotSupported,
            field,
            Some(value.into()),
            detail,
        )
    }

    /// The value repeats one that must be unique.
    pub fn duplicate(field: FieldPath, value: impl Into<serde_json::Value>) -> Self {
        Self::new(FieldErrorKind::Duplicate, field, Some(value.into()), "")
    }

    /// The value names something that does not exist (a volume, a container).
    pub fn not_found(field: FieldPath, value: impl Into<serde_json::Value>) -> Self {
        Self::new(FieldErrorKind::NotFound, field, Some(value.into()), "")
    }

    /// The field may not be set, or may not be changed.
    pub fn forbidden(field: FieldPath, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorKind::Forbidden, field, None, detail)
    }

    /// The value is longer than `max` bytes.
    pub fn too_long(field: FieldPath, max: usize) -> Self {
        Self::new(
            FieldErrorKind::TooLong,
            field,
            None,
            format!("may not be more than {max} bytes"),
        )
    }

    /// The list has `actual` items, more than `max`.
    pub fn too_many(field: FieldPath, actual: usize, max: usize) -> Self {
        Self::new(
            FieldErrorKind::TooMany,
            field,
            Some(actual.into()),
            format!("must have at most {max} items"),
        )
    }

    /// The message without the field path, as `StatusCause.message` carries it:
    /// `Invalid value: "x": must be lower case`.
    pub fn body(&self) -> String {
        let mut out = String::from(match self.kind {
            FieldErrorKind::Required => "Required value",
            FieldErrorKind::Invalid => "Invalid value",
            FieldErrorKind::NotSupported => "Unsupported value",
            FieldErrorKind::Duplicate => "Duplicate value",
            FieldErrorKind::NotFound => "Not found",
            FieldErrorKind::Forbidden => "Forbidden",
            FieldErrorKind::TooLong => "Too long",
            FieldErrorKind::TooMany => "Too many",
            FieldErrorKind::TypeInvalid => "Invalid value",
        });
        if let Some(value) = &self.value {
            out.push_str(": ");
            match value {
                serde_json::Value::String(s) => out.push_str(&format!("{s:?}")),
                other => out.push_str(&other.to_string()),
            }
        }
        if !self.detail.is_empty() {
            out.push_str(": ");
            out.push_str(&self.detail);
        }
        out
    }

    /// This error as a `StatusCause`.
    pub fn to_cause(&self) -> StatusCause {
        StatusCause {
            reason: self.kind.cause_reason().to_owned(),
            message: self.body(),
            field: self.field.to_string(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

impl std::error::Error for FieldError {}

/// The errors found in one object, in the order found.
pub type FieldErrors = Vec<FieldError>;
