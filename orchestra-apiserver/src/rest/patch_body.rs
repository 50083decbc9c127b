//! PATCH bodies: the patch type a `Content-Type` names, the patch document, and the
//! field-validation problems of the patch itself, which Kubernetes finds before it patches
//! anything: fields the document names twice, and operation fields an RFC 6902 JSON patch does
//! not have (`op`, `path`, `from` and `value` are all there are).
//!
//! Unknown fields of the patched object are the registry's to find (it alone sees the live
//! object a patch applies to); see `orchestra_store::registry::patch`. Apply configurations
//! are checked there too: a field the kind does not have fails an apply in every
//! `fieldValidation` mode, as it fails Kubernetes' typed conversion.

use orchestra_api::validation::{FieldError, FieldPath};
use orchestra_api::{FieldValidation, Patch, Status, field_validation};
use serde_json::Value;

use super::body::{self, BodyFormat};

/// The fields of a JSON patch operation.
const JSON_PATCH_OPERATION_FIELDS: [&str; 4] = ["op", "path", "from", "value"];

/// A patch as a request carries it, with the problems of the document itself.
#[derive(Debug)]
pub struct PatchBody {
    /// The patch.
    pub patch: Patch,
    /// Duplicate and unknown fields of the document, as Kubernetes words them.
    pub problems: Vec<String>,
}

impl PatchBody {
    /// Reads the patch a PATCH request carries, by its content type: `415` for a type that
    /// is no patch (and for protobuf, which Kubernetes refuses for patches).
    pub fn parse(content_type: Option<&str>, bytes: &[u8]) -> Result<Self, Status> {
        let media = content_type
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_owned();
        let format = BodyFormat::of(Some(&media))?;
        if format == BodyFormat::Protobuf {
            return Err(Status::unsupported_media_type(&media));
        }
        let (value, duplicates) = body::parse_value(bytes, format)?;
        let (patch, problems) = match media.as_str() {
            "application/merge-patch+json" => {
                (Patch::Merge(value), duplicate_problems(&duplicates))
            }
            "application/strategic-merge-patch+json" => {
                (Patch::Strategic(value), duplicate_problems(&duplicates))
            }
            "application/json-patch+json" => {
                let mut problems = unknown_operation_fields(&value);
                problems.extend(duplicates.iter().map(|f| format!("duplicate field {f:?}")));
                let problems = problems
                    .into_iter()
                    .map(|problem| format!("json patch {problem}"))
                    .collect();
                (Patch::Json(value), problems)
            }
            "application/apply-patch+yaml" => {
                (Patch::Apply(value), duplicate_problems(&duplicates))
            }
            other => return Err(Status::unsupported_media_type(other)),
        };
        Ok(Self { patch, problems })
    }

    /// What `validation` makes of the document's own problems: under `Strict` the request is
    /// refused (`422 Invalid` on `patch` for merge, JSON and strategic merge patches; `400` for
    /// an apply configuration, as Kubernetes' YAML decoder answers), under `Warn` they are
    /// warnings, under `Ignore` nothing.
    pub fn validate(&self, validation: FieldValidation) -> Result<Vec<String>, Status> {
        match validation {
            FieldValidation::Ignore => Ok(Vec::new()),
            FieldValidation::Warn => Ok(self.problems.clone()),
            FieldValidation::Strict if self.problems.is_empty() => Ok(Vec::new()),
            FieldValidation::Strict => Err(match &self.patch {
                Patch::Apply(_) => Status::bad_request(format!(
                    "error strict decoding YAML: {}",
                    self.problems.join(", ")
                )),
                Patch::Merge(document) | Patch::Strategic(document) | Patch::Json(document) => {
                    Status::invalid(
                        "",
                        "",
                        "",
                        &[FieldError::invalid(
                            FieldPath::new("patch"),
                            document.to_string(),
                            field_validation::strict_decoding_error(&self.problems),
                        )],
                    )
                }
            }),
        }
    }
}

fn duplicate_problems(duplicates: &[String]) -> Vec<String> {
    duplicates
        .iter()
        .map(|field| format!("duplicate field {field:?}"))
        .collect()
}

/// The fields of a JSON patch's operations that operations do not have.
fn unknown_operation_fields(operations: &Value) -> Vec<String> {
    let Value::Array(operations) = operations else {
        return Vec::new();
    };
    operations
        .iter()
        .enumerate()
        .filter_map(|(index, operation)| Some((index, operation.as_object()?)))
        .flat_map(|(index, operation)| {
            operation
                .keys()
                .filter(|key| !JSON_PATCH_OPERATION_FIELDS.contains(&key.as_str()))
                .map(move |key| format!("unknown field {:?}", format!("[{index}].{key}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_patch_names_its_unknown_and_duplicate_operation_fields() {
        let body = br#"[{"op":"add","path":"/a","path":"/b","value":1,"foo":2}]"#;
        let parsed = PatchBody::parse(Some("application/json-patch+json"), body).unwrap();
        assert_eq!(
            parsed.problems,
            [
                "json patch unknown field \"[0].foo\"",
                "json patch duplicate field \"[0].path\""
            ]
        );
        let status = parsed.validate(FieldValidation::Strict).unwrap_err();
        assert_eq!(status.code, 422);
        assert!(
            status
                .message
                .contains("strict decoding error: json patch unknown field \"[0].foo\""),
            "{}",
            status.message
        );
        assert_eq!(
            parsed.validate(FieldValidation::Warn).unwrap(),
            parsed.problems
        );
        assert!(parsed.validate(FieldValidation::Ignore).unwrap().is_empty());
    }

    #[test]
    fn merge_patches_name_their_duplicate_fields_by_path() {
        let body = br#"{"spec":{"paused":true,"paused":false}}"#;
        let parsed = PatchBody::parse(Some("application/merge-patch+json"), body).unwrap();
        assert_eq!(parsed.problems, ["duplicate field \"spec.paused\""]);
        assert_eq!(
            parsed.patch,
            Patch::Merge(serde_json::json!({"spec": {"paused": false}}))
        );
    }

    #[test]
    fn protobuf_and_unknown_patch_types_are_415() {
        for media in [
            "application/vnd.kubernetes.protobuf",
            "application/json",
            "text/plain",
        ] {
            let status = PatchBody::parse(Some(media), b"{}").unwrap_err();
            assert_eq!(status.code, 415, "{media}");
        }
    }
}
