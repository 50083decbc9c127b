//! Server-side apply (`application/apply-patch+yaml`) in the registry: the applied
//! configuration is checked against the URL, merged into the live object (or an empty one,
//! when the object does not exist yet) with `orchestra_api::apply`, and the result carries
//! the new `managedFields`; a conflict is the `409` that lists every conflicting field.

use orchestra_api::apply::{ManagedFields, Manager, Operation, last_applied};
use orchestra_api::patch::json_merge_patch;
use orchestra_api::{Object, ResourceKind, Status, field_validation};
use serde_json::Value;

use super::lifecycle::UpdateTarget;
use super::managed_fields::{content_of, decode_or_reset, now, subresource_of, updater_for};
use super::patch::decode_patched;

/// Checks an applied configuration against the endpoint, as Kubernetes' apply patcher does:
/// it must be an object of the endpoint's `apiVersion` and `kind`, for the object the URL
/// names, without `managedFields`.
pub fn validate_config(kind: &ResourceKind, name: &str, config: &Value) -> Result<(), Status> {
    if !config.is_object() {
        return Err(Status::bad_request(
            "error decoding YAML: the applied configuration must be an object",
        ));
    }
    let expected_version = kind.api_version();
    let version = config
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    if version != expected_version {
        return Err(Status::bad_request(format!(
            "Incorrect version specified in apply patch. Specified patch version: {version}, expected: {expected_version}"
        )));
    }
    let given_kind = config.get("kind").and_then(Value::as_str).unwrap_or("");
    if given_kind != kind.kind {
        return Err(Status::bad_request(format!(
            "Incorrect kind specified in apply patch. Specified patch kind: {given_kind}, expected: {}",
            kind.kind
        )));
    }
    if let Some(given) = config.pointer("/metadata/name").and_then(Value::as_str)
        && !given.is_empty()
        && given != name
    {
        return Err(Status::bad_request(format!(
            "the name of the object ({given}) does not match the name on the URL ({name})"
        )));
    }
    if config
        .pointer("/metadata/managedFields")
        .is_some_and(|fields| !fields.is_null())
    {
        return Err(Status::bad_request("metadata.managedFields must be nil"));
    }
    Ok(())
}

/// The object an apply addresses, for messages.
#[derive(Debug, Clone, Copy)]
pub struct Applied<'a> {
    /// Its namespace (empty for cluster-scoped kinds).
    pub namespace: &'a str,
    /// Its name.
    pub name: &'a str,
}

/// Applies `config` for `manager` to `live` (`None` when the object does not exist) and
/// returns the object to store, its `managedFields` set. A configuration with fields the kind
/// does not have is refused whatever `fieldValidation` says, as Kubernetes' typed conversion
/// of the configuration refuses it (see [`undeclared_fields`]).
pub fn apply_to(
    kind: &ResourceKind,
    target: UpdateTarget,
    applied: Applied<'_>,
    live: Option<&dyn Object>,
    config: &Value,
    manager: &str,
    force: bool,
) -> Result<Box<dyn Object>, Status> {
    let (live_value, mut managed, has_status) = match live {
        Some(live) => (
            content_of(live)?,
            decode_or_reset(live.metadata().managed_fields.as_deref()),
            live.has_status(),
        ),
        None => {
            let empty = decode_patched(kind, serde_json::json!({}))?;
            (
                serde_json::json!({}),
                ManagedFields::default(),
                empty.has_status(),
            )
        }
    };
    // Typing the configuration comes first, before conflicts: overlaid on the live object, it
    // decodes as the kind, and what decoding drops are the fields the kind does not declare.
    undeclared_fields(kind, applied, &json_merge_patch(&live_value, config))?;
    let updater = updater_for(kind, target, has_status);
    let manager = Manager::new(manager, Operation::Apply, subresource_of(target));
    let mut merged = last_applied::apply(
        &updater,
        &live_value,
        config,
        &mut managed,
        &manager,
        force,
        Some(now()),
    )?;
    let entries = managed.encode();
    let entries = (!entries.is_empty())
        .then(|| serde_json::to_value(entries))
        .transpose()
        .map_err(|e| Status::internal(format!("cannot encode managedFields: {e}")))?;
    if let Value::Object(object) = &mut merged {
        let metadata = object
            .entry("metadata")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Value::Object(metadata) = metadata {
            match entries {
                Some(entries) => metadata.insert("managedFields".to_owned(), entries),
                None => metadata.remove("managedFields"),
            };
        }
    }
    decode_patched(kind, merged)
}

/// Refuses a configuration (overlaid on the live object, which has only declared fields) with
/// fields the kind does not declare. A document that does not decode at all is left to the
/// apply itself to refuse. Kubernetes answers these with the
/// structured-merge-diff message, `failed to create typed patch object (default/web;
/// apps/v1, Kind=Deployment): .spec.foo: field not declared in schema`, in every
/// `fieldValidation` mode. Its status code there is a `500` (kubernetes/kubernetes#122480,
/// still open); a client's mistake is a `400 BadRequest` here, so that clients do not retry it.
fn undeclared_fields(
    kind: &ResourceKind,
    applied: Applied<'_>,
    overlaid: &Value,
) -> Result<(), Status> {
    let Ok(object) = kind.codec.decode_value(overlaid.clone()) else {
        return Ok(());
    };
    let decoded = object
        .to_value()
        .map_err(|e| Status::internal(format!("cannot encode the object: {e}")))?;
    let errors: Vec<String> = field_validation::unknown_fields(overlaid, &decoded)
        .into_iter()
        .map(|path| format!(".{path}: field not declared in schema"))
        .collect();
    let summary = match errors.as_slice() {
        [] => return Ok(()),
        [one] => one.clone(),
        many => format!("errors:\n  {}", many.join("\n  ")),
    };
    Err(Status::bad_request(format!(
        "failed to create typed patch object ({}/{}; {}/{}, Kind={}): {summary}",
        applied.namespace, applied.name, kind.group, kind.version, kind.kind
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use orchestra_api::kinds;
    use serde_json::json;

    #[test]
    fn the_configuration_must_match_the_endpoint() {
        let kind = &kinds::CONFIGMAPS;
        let good = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert!(validate_config(kind, "c", &good).is_ok());
        for bad in [
            json!({"kind": "ConfigMap"}),
            json!({"apiVersion": "v1", "kind": "Secret"}),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other"}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"managedFields": []}}),
            json!([1]),
        ] {
            assert_eq!(
                validate_config(kind, "c", &bad).unwrap_err().code,
                400,
                "{bad}"
            );
        }
    }

    #[test]
    fn applying_to_nothing_builds_the_object_with_one_apply_entry() {
        let config = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "labels": {"app": "web"}}, "data": {"k": "v"}});
        let object = apply_to(
            &kinds::CONFIGMAPS,
            UpdateTarget::Main,
            Applied {
                namespace: "default",
                name: "c",
            },
            None,
            &config,
            "tool",
            false,
        )
        .unwrap();
        let entries = object.metadata().managed_fields.clone().unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].manager.as_deref(), Some("tool"));
        assert_eq!(entries[0].operation.as_deref(), Some("Apply"));
        assert_eq!(
            entries[0].fields_v1.as_ref().unwrap().0,
            json!({"f:data": {"f:k": {}}, "f:metadata": {"f:labels": {"f:app": {}}}})
        );
    }
}
