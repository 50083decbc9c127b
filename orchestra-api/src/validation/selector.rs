//! Label selectors (`metav1.LabelSelector`) as validation sees them: checking their syntax, and
//! matching them against a template's labels ("`selector` does not match template `labels`").

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

use super::field_error::FieldErrors;
use super::metadata::{label_key, labels};
use super::names::is_valid_label_value;
use super::path::{Path, forbidden, invalid, required};

/// Checks a label selector: valid `matchLabels`, and `matchExpressions` with a known operator,
/// values exactly when the operator needs them, valid keys and values.
pub(crate) fn label_selector(errors: &mut FieldErrors, selector: &LabelSelector, path: &Path<'_>) {
    if let Some(match_labels) = &selector.match_labels {
        labels(errors, match_labels, &path.child("matchLabels"));
    }
    if let Some(expressions) = &selector.match_expressions {
        let expressions_path = path.child("matchExpressions");
        for (i, requirement) in expressions.iter().enumerate() {
            selector_requirement(errors, requirement, &expressions_path.index(i));
        }
    }
}

fn selector_requirement(
    errors: &mut FieldErrors,
    requirement: &LabelSelectorRequirement,
    path: &Path<'_>,
) {
    let values = requirement.values.as_deref().unwrap_or_default();
    match requirement.operator.as_str() {
        "In" | "NotIn" => {
            if values.is_empty() {
                errors.push(required(
                    &path.child("values"),
                    "must be specified when `operator` is 'In' or 'NotIn'",
                ));
            }
        }
        "Exists" | "DoesNotExist" => {
            if !values.is_empty() {
                errors.push(forbidden(
                    &path.child("values"),
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                ));
            }
        }
        other => errors.push(invalid(
            &path.child("operator"),
            other,
            "not a valid selector operator",
        )),
    }
    label_key(errors, &requirement.key, &path.child("key"));
    let values_path = path.child("values");
    for (i, value) in values.iter().enumerate() {
        for message in is_valid_label_value(value) {
            errors.push(invalid(&values_path.index(i), value.as_str(), message));
        }
    }
}

/// Whether the selector has no requirement at all (it then selects everything, but workloads
/// refuse it).
pub(crate) fn is_empty(selector: &LabelSelector) -> bool {
    selector
        .match_labels
        .as_ref()
        .is_none_or(BTreeMap::is_empty)
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(Vec::is_empty)
}

/// Whether the selector is syntactically usable (what `LabelSelectorAsSelector` accepts).
pub(crate) fn is_well_formed(selector: &LabelSelector) -> bool {
    let mut errors = FieldErrors::new();
    label_selector(&mut errors, selector, &Path::root("selector"));
    errors.is_empty()
}

/// Whether a well-formed selector matches the given labels.
pub(crate) fn matches(selector: &LabelSelector, labels: Option<&BTreeMap<String, String>>) -> bool {
    let get = |key: &str| labels.and_then(|l| l.get(key));
    let match_labels_ok = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(key, value)| get(key) == Some(value));
    match_labels_ok
        && selector.match_expressions.iter().flatten().all(|req| {
            let values = req.values.as_deref().unwrap_or_default();
            let actual = get(&req.key);
            match req.operator.as_str() {
                "In" => actual.is_some_and(|v| values.contains(v)),
                "NotIn" => actual.is_none_or(|v| !values.contains(v)),
                "Exists" => actual.is_some(),
                "DoesNotExist" => actual.is_none(),
                _ => false,
            }
        })
}

/// Whether a map selector (`spec.selector` of a ReplicationController or Service) matches the
/// given labels.
pub(crate) fn map_matches(
    selector: &BTreeMap<String, String>,
    labels: Option<&BTreeMap<String, String>>,
) -> bool {
    selector
        .iter()
        .all(|(key, value)| labels.and_then(|l| l.get(key)) == Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selector(json: serde_json::Value) -> LabelSelector {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn expressions_need_values_exactly_when_the_operator_does() {
        let sel = selector(serde_json::json!({"matchExpressions": [
            {"key": "a", "operator": "In"},
            {"key": "b", "operator": "Exists", "values": ["x"]},
            {"key": "c", "operator": "Like", "values": ["x"]},
        ]}));
        let mut errors = FieldErrors::new();
        label_selector(&mut errors, &sel, &Path::root("spec").child("selector"));
        let fields: Vec<_> = errors.iter().map(|e| e.field.to_string()).collect();
        assert_eq!(
            fields,
            [
                "spec.selector.matchExpressions[0].values",
                "spec.selector.matchExpressions[1].values",
                "spec.selector.matchExpressions[2].operator"
            ]
        );
    }

    #[test]
    fn matching_follows_set_based_semantics() {
        let labels: BTreeMap<String, String> = [
            ("app".to_owned(), "web".to_owned()),
            ("tier".to_owned(), "fe".to_owned()),
        ]
        .into();
        let sel = selector(serde_json::json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["fe", "be"]},
                {"key": "env", "operator": "NotIn", "values": ["prod"]},
                {"key": "env", "operator": "DoesNotExist"},
            ]
        }));
        assert!(matches(&sel, Some(&labels)));
        let sel = selector(serde_json::json!({"matchLabels": {"app": "db"}}));
        assert!(!matches(&sel, Some(&labels)));
        assert!(!matches(&sel, None));
        assert!(is_empty(&LabelSelector::default()));
    }
}
