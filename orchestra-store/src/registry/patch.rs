//! The `PATCH` verb: checking a patch request's options and applying its body to the live
//! object, as Kubernetes' patch handler does before the update goes through the registry.
//!
//! The three patch formats are `orchestra_api::patch`'s pure functions; this module picks one
//! by the [`Patch`] variant, decodes the patched JSON back into the kind's type and answers
//! Kubernetes' `Status` for each failure:
//!
//! | patch | how | refused with |
//! |---|---|---|
//! | [`Patch::Merge`] | RFC 7386 merge | — |
//! | [`Patch::Json`] | RFC 6902 operations | `400` malformed, `413` too many operations, `422` a failed operation |
//! | [`Patch::Strategic`] | strategic merge with the kind's [`PatchSchema`] | `415` for kinds without one (custom resources) |
//! | [`Patch::Apply`] | server-side apply (`super::apply`) | `422` without a `fieldManager` |
//!
//! A patched object that no longer decodes as its kind (a string where a number belongs) is
//! `422 Invalid` on the field `patch`, as in Kubernetes.

use orchestra_api::patch::{PatchSchema, json_merge_patch, json_patch, strategic_merge};
use orchestra_api::validation::{FieldError, FieldPath};
use orchestra_api::{
    FieldValidation, Object, Patch, PatchParams, ResourceKind, Status, StatusReason,
    field_validation,
};
use serde_json::Value;

/// The longest `fieldManager` Kubernetes accepts.
pub const FIELD_MANAGER_MAX_LENGTH: usize = 128;

/// Checks the options of a patch request as Kubernetes' `ValidatePatchOptions` does:
/// an apply patch needs a `fieldManager`, `force` belongs to apply patches only, and a
/// `fieldManager` is at most 128 printable characters. Violations are `422 Invalid` on
/// `PatchOptions.meta.k8s.io`.
pub fn validate_options(patch: &Patch, params: &PatchParams) -> Result<(), Status> {
    let mut errors = Vec::new();
    let manager = params.field_manager.as_deref().unwrap_or_default();
    if matches!(patch, Patch::Apply(_)) {
        if manager.is_empty() {
            errors.push(FieldError::required(
                FieldPath::new("fieldManager"),
                "is required for apply patch",
            ));
        }
    } else if params.force {
        errors.push(FieldError::forbidden(
            FieldPath::new("force"),
            "may not be specified for non-apply patch",
        ));
    }
    errors.extend(field_manager_errors(manager));
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Status::invalid("meta.k8s.io", "PatchOptions", "", &errors))
    }
}

/// What is wrong with a `fieldManager` name, as Kubernetes' `ValidateFieldManager` says.
pub fn field_manager_errors(manager: &str) -> Vec<FieldError> {
    let path = FieldPath::new("fieldManager");
    let mut errors = Vec::new();
    if manager.chars().count() > FIELD_MANAGER_MAX_LENGTH {
        errors.push(FieldError::too_long(path.clone(), FIELD_MANAGER_MAX_LENGTH));
    }
    if manager.chars().any(|c| c.is_control()) {
        errors.push(FieldError::invalid(
            path,
            manager,
            "must only contain printable characters",
        ));
    }
    errors
}

/// The strategic-merge schema of `kind`, or Kubernetes' `415` for kinds that have none.
pub fn strategic_schema(kind: &ResourceKind) -> Result<&'static PatchSchema, Status> {
    PatchSchema::for_kind(&kind.group, &kind.version, &kind.kind).ok_or_else(|| {
        Status::failure(
            StatusReason::UnsupportedMediaType,
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
        )
    })
}

/// Applies a merge, JSON or strategic-merge patch to `live` and returns the patched JSON.
/// Apply patches are not handled here (see `super::apply`).
pub fn patch_value(kind: &ResourceKind, live: &Value, patch: &Patch) -> Result<Value, Status> {
    match patch {
        Patch::Merge(merge) => {
            if !merge.is_object() {
                return Err(Status::bad_request(format!(
                    "invalid JSON document: a merge patch must be a JSON object, not {}",
                    json_type(merge)
                )));
            }
            Ok(json_merge_patch(live, merge))
        }
        Patch::Json(operations) => Ok(json_patch(live, operations)?),
        Patch::Strategic(strategic) => {
            Ok(strategic_merge(live, strategic, strategic_schema(kind)?)?)
        }
        Patch::Apply(_) => Err(Status::internal(
            "an apply patch reached the merge-patch path",
        )),
    }
}

/// Decodes a patched document as `kind`: a document that no longer fits the type is
/// `422 Invalid` on `patch`, as Kubernetes answers it.
pub fn decode_patched(kind: &ResourceKind, patched: Value) -> Result<Box<dyn Object>, Status> {
    let shown = patched.to_string();
    if !patched.is_object() {
        return Err(Status::invalid(
            "",
            "",
            "",
            &[FieldError::invalid(
                FieldPath::new("patch"),
                shown,
                "the patched document is not a JSON object",
            )],
        ));
    }
    kind.codec.decode_value(patched).map_err(|error| {
        Status::invalid(
            "",
            "",
            "",
            &[FieldError::invalid(
                FieldPath::new("patch"),
                shown,
                error.to_string(),
            )],
        )
    })
}

/// Decodes a patched document as `kind` with the field validation a request asks for, as
/// Kubernetes' patch handler does: it validates the patched object, not the patch, so a field
/// the kind does not have, added by a merge, strategic merge or JSON patch alike, is found by
/// its path from the object's root. Under `Strict` such fields are `422 Invalid` on `patch`
/// (`strict decoding error: unknown field "spec.foo"`); under `Warn` they are the returned
/// warnings; under `Ignore`, or with no validation asked for (in-process callers), they are
/// dropped.
pub fn decode_patched_validated(
    kind: &ResourceKind,
    patched: Value,
    validation: Option<FieldValidation>,
) -> Result<(Box<dyn Object>, Vec<String>), Status> {
    let Some(validation @ (FieldValidation::Strict | FieldValidation::Warn)) = validation else {
        return Ok((decode_patched(kind, patched)?, Vec::new()));
    };
    let object = decode_patched(kind, patched.clone())?;
    let problems = field_validation::problems(&patched, &*object, &[])
        .map_err(|e| Status::internal(format!("cannot encode the object: {e}")))?;
    match validation {
        FieldValidation::Strict if !problems.is_empty() => Err(Status::invalid(
            "",
            "",
            "",
            &[FieldError::invalid(
                FieldPath::new("patch"),
                patched.to_string(),
                field_validation::strict_decoding_error(&problems),
            )],
        )),
        FieldValidation::Warn => Ok((object, problems)),
        _ => Ok((object, Vec::new())),
    }
}

/// The `resourceVersion` a patched document asks for, when it differs from the live one's:
/// a patch that sets `metadata.resourceVersion` is a precondition, and a stale one is a
/// `409 Conflict`.
pub fn requested_version<'v>(patched: &'v Value, live: &Value) -> Option<&'v str> {
    let requested = patched.pointer("/metadata/resourceVersion")?.as_str()?;
    let current = live
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str);
    (!requested.is_empty() && Some(requested) != current).then_some(requested)
}

/// The JSON type of `value`, for messages.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orchestra_api::kinds;
    use serde_json::json;

    #[test]
    fn apply_without_field_manager_is_invalid_patch_options() {
        let status =
            validate_options(&Patch::Apply(json!({})), &PatchParams::default()).unwrap_err();
        assert_eq!(status.code, 422);
        assert_eq!(
            status.message,
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
        );
    }

    #[test]
    fn force_on_a_merge_patch_is_forbidden() {
        let params = PatchParams {
            force: true,
            ..PatchParams::default()
        };
        let status = validate_options(&Patch::Merge(json!({})), &params).unwrap_err();
        assert_eq!(status.code, 422);
        assert!(
            status.message.contains("force: Forbidden"),
            "{}",
            status.message
        );
    }

    #[test]
    fn field_managers_are_short_and_printable() {
        assert!(field_manager_errors("kubectl-client-side-apply").is_empty());
        assert_eq!(field_manager_errors(&"m".repeat(129)).len(), 1);
        assert_eq!(field_manager_errors("bad\u{7}name").len(), 1);
    }

    #[test]
    fn strategic_patches_of_custom_resources_are_unsupported() {
        let mut kind = kinds::CONFIGMAPS.clone();
        kind.group = "example.com".into();
        kind.kind = "Widget".into();
        let status = strategic_schema(&kind).unwrap_err();
        assert_eq!(status.code, 415);
        assert!(strategic_schema(&kinds::CONFIGMAPS).is_ok());
    }

    #[test]
    fn a_patched_document_of_the_wrong_shape_is_invalid() {
        let status = decode_patched(
            &kinds::DEPLOYMENTS,
            json!({"metadata": {"name": "web"}, "spec": {"replicas": "three"}}),
        )
        .unwrap_err();
        assert_eq!(status.code, 422);
        assert_eq!(status.details.as_ref().unwrap().causes[0].field, "patch");
    }

    #[test]
    fn only_a_different_resource_version_is_a_precondition() {
        let live = json!({"metadata": {"resourceVersion": "5"}});
        assert_eq!(requested_version(&live, &live), None);
        let patched = json!({"metadata": {"resourceVersion": "4"}});
        assert_eq!(requested_version(&patched, &live), Some("4"));
        assert_eq!(requested_version(&json!({"metadata": {}}), &live), None);
    }
}
