//! Field paths built on the stack while validating, turned into a [`FieldPath`] only when an
//! error is reported, and the helpers that report errors at such a path.
//!
//! A valid object is the common case: walking a Pod with three containers touches a few hundred
//! fields, and building a `String` for each of them would cost more than the checks themselves.
//! A [`Path`] is a chain of borrowed segments instead, so descending into a field is free.

use super::field_error::{FieldError, FieldErrors, FieldPath};

/// One step of a [`Path`].
#[derive(Clone, Copy)]
enum Segment<'a> {
    /// A top-level field, or the empty path when the text is empty.
    Root(&'a str),
    /// A named field below the parent: `.name`.
    Child(&'a str),
    /// A list element: `[3]`.
    Index(usize),
    /// A map entry: `[key]`.
    Key(&'a str),
}

/// A path to a field, borrowed from the stack of the validating functions.
#[derive(Clone, Copy)]
pub(crate) struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    segment: Segment<'a>,
}

impl<'a> Path<'a> {
    /// A path that starts at the named top-level field (`""` for the whole object).
    pub(crate) const fn root(name: &'a str) -> Self {
        Self {
            parent: None,
            segment: Segment::Root(name),
        }
    }

    /// The path of a named field below this one.
    pub(crate) fn child<'b>(&'b self, name: &'b str) -> Path<'b> {
        Path {
            parent: Some(self),
            segment: Segment::Child(name),
        }
    }

    /// The path of a list element below this one.
    pub(crate) fn index(&self, index: usize) -> Path<'_> {
        Path {
            parent: Some(self),
            segment: Segment::Index(index),
        }
    }

    /// The path of a map entry below this one.
    pub(crate) fn key<'b>(&'b self, key: &'b str) -> Path<'b> {
        Path {
            parent: Some(self),
            segment: Segment::Key(key),
        }
    }

    /// This path as the owned [`FieldPath`] that errors carry.
    pub(crate) fn to_field_path(self) -> FieldPath {
        let mut text = String::new();
        self.write(&mut text);
        let mut path = FieldPath::default();
        if !text.is_empty() {
            path = FieldPath::new(&text);
        }
        path
    }

    fn write(&self, out: &mut String) {
        if let Some(parent) = self.parent {
            parent.write(out);
        }
        match self.segment {
            Segment::Root(name) => out.push_str(name),
            Segment::Child(name) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(name);
            }
            Segment::Index(index) => {
                out.push('[');
                out.push_str(&index.to_string());
                out.push(']');
            }
            Segment::Key(key) => {
                out.push('[');
                out.push_str(key);
                out.push(']');
            }
        }
    }
}

impl std::fmt::Debug for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.to_field_path().as_str())
    }
}

/// `Required value`.
pub(crate) fn required(path: &Path<'_>, detail: &str) -> FieldError {
    FieldError::required(path.to_field_path(), detail)
}

/// `Invalid value: <value>: <detail>`.
pub(crate) fn invalid(
    path: &Path<'_>,
    value: impl Into<serde_json::Value>,
    detail: impl Into<String>,
) -> FieldError {
    FieldError::invalid(path.to_field_path(), value, detail)
}

/// `Unsupported value: <value>: supported values: ...`.
pub(crate) fn not_supported(
    path: &Path<'_>,
    value: impl Into<serde_json::Value>,
    supported: &[&str],
) -> FieldError {
    FieldError::not_supported(path.to_field_path(), value, supported)
}

/// `Duplicate value: <value>`.
pub(crate) fn duplicate(path: &Path<'_>, value: impl Into<serde_json::Value>) -> FieldError {
    FieldError::duplicate(path.to_field_path(), value)
}

/// `Not found: <value>`.
pub(crate) fn not_found(path: &Path<'_>, value: impl Into<serde_json::Value>) -> FieldError {
    FieldError::not_found(path.to_field_path(), value)
}

/// `Forbidden: <detail>`.
pub(crate) fn forbidden(path: &Path<'_>, detail: impl Into<String>) -> FieldError {
    FieldError::forbidden(path.to_field_path(), detail)
}

/// `Too long: may not be more than <max> bytes`.
pub(crate) fn too_long(path: &Path<'_>, max: usize) -> FieldError {
    FieldError::too_long(path.to_field_path(), max)
}

/// `Too many: <actual>: must have at most <max> items`.
pub(crate) fn too_many(path: &Path<'_>, actual: usize, max: usize) -> FieldError {
    FieldError::too_many(path.to_field_path(), actual, max)
}

/// Any serializable value as JSON, for the `value` of an error (`null` if it cannot be encoded).
pub(crate) fn json<T: serde::Serialize + ?Sized>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// One `Invalid value` error per message, all at `path` with the same value.
pub(crate) fn invalid_each(
    errors: &mut FieldErrors,
    path: &Path<'_>,
    value: &str,
    messages: Vec<String>,
) {
    for message in messages {
        errors.push(invalid(path, value, message));
    }
}

/// `must be greater than or equal to 0` when `value` is negative.
pub(crate) fn non_negative(errors: &mut FieldErrors, path: &Path<'_>, value: i64) {
    if value < 0 {
        errors.push(invalid(path, value, super::names::IS_NEGATIVE_ERROR));
    }
}

/// `field is immutable` when `new` differs from `old`; the error shows the new value.
pub(crate) fn immutable<T: PartialEq + serde::Serialize + ?Sized>(
    errors: &mut FieldErrors,
    path: &Path<'_>,
    new: &T,
    old: &T,
) {
    if new != old {
        errors.push(invalid(path, json(new), super::names::FIELD_IMMUTABLE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_print_as_kubernetes_prints_them() {
        let spec = Path::root("spec");
        let containers = spec.child("containers");
        let first = containers.index(0);
        let resources = first.child("resources");
        let limit = resources.child("limits");
        assert_eq!(
            limit.key("cpu").to_field_path().as_str(),
            "spec.containers[0].resources.limits[cpu]"
        );
        assert_eq!(Path::root("").to_field_path().as_str(), "");
        assert_eq!(
            Path::root("").child("data").to_field_path().as_str(),
            "data"
        );
    }
}
