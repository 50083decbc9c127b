//! Server-side apply (`application/apply-patch+yaml`) in the registry: the applied
//! configuration is checked against the URL, merged into the live object (or an empty one,
//! when the object does not exist yet) with `orchestra_api::apply`, and the result carries
//! the new `managedFields`; a conflict is the `409` that lists every conflicting field.

use orchestra_api::apply::{ManagedFields, Manager, Operation, last_applied};
use orchestra_api::{Object, ResourceKind, Status};
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

/// Applies `config` for `manager` to `live` (`None` when the object does not exist) and
/// returns the object to store, its `managedFields` set.
pub fn apply_to(
    kind: &ResourceKind,
    target: UpdateTarget,
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
