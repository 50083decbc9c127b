//! Field validation, as a write's `fieldValidation` parameter asks for it: the fields of the
//! request's JSON that the kind does not have (unknown fields) and the fields it names twice
//! (duplicate fields), worded as Kubernetes' strict decoder words them. `Strict` refuses the
//! request over them, `Warn` answers them as `Warning` headers, `Ignore` drops them.
//!
//! Decoding into the kind's type drops unknown fields silently; comparing the JSON that was
//! sent with the decoded object encoded again finds them, at any depth, by path. The same check
//! serves request bodies (create, update) and patched documents (merge, JSON and strategic
//! merge patches, where Kubernetes validates the patched object, not the patch).
//!
//! ```
//! use orchestra_api::field_validation::{strict_decoding_error, unknown_fields};
//! use serde_json::json;
//!
//! let sent = json!({"spec": {"replicas": 2, "replicaz": 3, "template": {"spec": {
//!     "containers": [{"name": "web", "imagePullPolicyy": "Always"}]}}}});
//! let decoded = json!({"spec": {"replicas": 2, "template": {"spec": {
//!     "containers": [{"name": "web"}]}}}});
//! let unknown = unknown_fields(&sent, &decoded);
//! assert_eq!(unknown, ["spec.replicaz", "spec.template.spec.containers[0].imagePullPolicyy"]);
//! assert_eq!(
//!     strict_decoding_error(&[format!("unknown field {:?}", unknown[0])]),
//!     "strict decoding error: unknown field \"spec.replicaz\""
//! );
//! ```

use serde_json::Value;

use crate::object::Object;

/// The paths of the fields of `input` that did not survive decoding into the typed object
/// (`decoded` is that object encoded again): the fields the kind does not have. A field sent
/// as `null` is no field. Paths are dotted, with list indexes in brackets
/// (`spec.containers[0].foo`).
pub fn unknown_fields(input: &Value, decoded: &Value) -> Vec<String> {
    let mut found = Vec::new();
    collect_unknown(input, decoded, "", &mut found);
    found
}

fn collect_unknown(input: &Value, decoded: &Value, path: &str, found: &mut Vec<String>) {
    match (input, decoded) {
        (Value::Object(sent), Value::Object(kept)) => {
            for (key, value) in sent {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match kept.get(key) {
                    Some(other) => collect_unknown(value, other, &child, found),
                    None if value.is_null() => {}
                    None => found.push(child),
                }
            }
        }
        (Value::Array(sent), Value::Array(kept)) => {
            for (i, (x, y)) in sent.iter().zip(kept).enumerate() {
                collect_unknown(x, y, &format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

/// The strict-decoding problems of `input` once decoded as `object`: each duplicate field
/// (found while parsing, by path), then each unknown field, as Kubernetes words them
/// (`duplicate field "metadata.name"`, `unknown field "spec.foo"`).
pub fn problems(
    input: &Value,
    object: &dyn Object,
    duplicates: &[String],
) -> Result<Vec<String>, serde_json::Error> {
    let decoded = object.to_value()?;
    let mut found: Vec<String> = duplicates
        .iter()
        .map(|field| format!("duplicate field {field:?}"))
        .collect();
    found.extend(
        unknown_fields(input, &decoded)
            .into_iter()
            .map(|field| format!("unknown field {field:?}")),
    );
    Ok(found)
}

/// Kubernetes' text for problems that strict validation refuses:
/// `strict decoding error: unknown field "spec.foo", duplicate field "spec.bar"`.
pub fn strict_decoding_error(problems: &[String]) -> String {
    format!("strict decoding error: {}", problems.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds;
    use serde_json::json;

    #[test]
    fn fields_sent_as_null_and_fields_the_kind_has_are_not_unknown() {
        let sent = json!({"metadata": {"name": "a", "labels": null}, "data": {"k": "v"}});
        let object = kinds::CONFIGMAPS
            .codec
            .decode_value(sent.clone())
            .expect("decodes");
        assert!(problems(&sent, &*object, &[]).unwrap().is_empty());
    }

    #[test]
    fn duplicates_come_before_unknown_fields() {
        let sent = json!({"metadata": {"name": "a"}, "dataa": {}});
        let object = kinds::CONFIGMAPS
            .codec
            .decode_value(sent.clone())
            .expect("decodes");
        assert_eq!(
            problems(&sent, &*object, &["metadata.name".to_owned()]).unwrap(),
            [
                "duplicate field \"metadata.name\"",
                "unknown field \"dataa\""
            ]
        );
    }
}
