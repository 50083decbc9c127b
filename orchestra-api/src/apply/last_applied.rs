//! The bridge between client-side and server-side `kubectl apply`, as Kubernetes builds it
//! for the field manager `kubectl`.
//!
//! Client-side apply records what it applied in the annotation
//! [`LAST_APPLIED_ANNOTATION`] and its writes are owned by the `Update` manager
//! `kubectl-client-side-apply`. When `kubectl apply --server-side` later changes such
//! fields, they would conflict; Kubernetes lets the apply take them over when the fields are
//! exactly what the annotation says was last applied and the live object still holds those
//! values. After a server-side apply by `kubectl`, an existing annotation is rewritten to the
//! new configuration, so that a later client-side apply computes its patch from it.

use serde_json::Value;

use super::conflict::Conflicts;
use super::field_set::FieldSet;
use super::managed_fields::{ManagedFields, Manager};
use super::typed;
use super::updater::{ApplyError, Updater};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// The annotation client-side `kubectl apply` keeps its last configuration in.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The field manager whose applies upgrade client-side apply ownership.
pub const KUBECTL: &str = "kubectl";

/// [`Updater::apply`] with Kubernetes' client-side-apply upgrade for the manager `kubectl`:
/// conflicts on fields the last-applied annotation accounts for are forced, and the
/// annotation follows the new configuration.
pub fn apply(
    updater: &Updater,
    live: &Value,
    config: &Value,
    managed: &mut ManagedFields,
    manager: &Manager,
    force: bool,
    time: Option<Time>,
) -> Result<Value, ApplyError> {
    let outcome = match updater.apply(live, config, managed, manager, force, time.clone()) {
        Err(ApplyError::Conflicts(conflicts)) if manager.name == KUBECTL => {
            let Some(allowed) = allowed_conflicts(updater, live) else {
                return Err(conflicts.into());
            };
            let remaining: Vec<_> = conflicts
                .iter()
                .filter(|conflict| !allowed.contains(&conflict.path))
                .cloned()
                .collect();
            if !remaining.is_empty() {
                return Err(Conflicts::new(remaining).into());
            }
            updater.apply(live, config, managed, manager, true, time)
        }
        other => other,
    };
    let mut merged = outcome?;
    if manager.name == KUBECTL && last_applied(live).is_some() {
        set_last_applied(&mut merged, config);
    }
    Ok(merged)
}

/// The live object's last-applied annotation, if it has a non-empty one.
fn last_applied(live: &Value) -> Option<&str> {
    live.pointer("/metadata/annotations")
        .and_then(|annotations| annotations.get(LAST_APPLIED_ANNOTATION))
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
}

/// The fields the last-applied annotation sets to the values the live object still holds.
fn allowed_conflicts(updater: &Updater, live: &Value) -> Option<FieldSet> {
    let last: Value = serde_json::from_str(last_applied(live)?).ok()?;
    if last.get("apiVersion").and_then(Value::as_str) != Some(updater.api_version()) {
        return None;
    }
    let set = typed::field_set_of(&last, updater.schema()).ok()?;
    let comparison = typed::compare(&last, live, updater.schema());
    Some(
        set.difference(&comparison.modified)
            .difference(&comparison.added)
            .difference(&comparison.removed),
    )
}

/// Sets the annotation to `config` (without the annotation itself).
fn set_last_applied(merged: &mut Value, config: &Value) {
    let mut recorded = config.clone();
    if let Some(Value::Object(annotations)) = recorded.pointer_mut("/metadata/annotations") {
        annotations.remove(LAST_APPLIED_ANNOTATION);
    }
    let text = recorded.to_string();
    if let Some(Value::Object(annotations)) = merged.pointer_mut("/metadata/annotations") {
        annotations.insert(LAST_APPLIED_ANNOTATION.to_owned(), Value::String(text));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::{Operation, WriteScope};
    use crate::patch::PatchSchema;
    use serde_json::json;

    fn updater() -> Updater {
        Updater::new(
            PatchSchema::for_kind("apps", "v1", "Deployment").unwrap(),
            "apps/v1",
            WriteScope::Object { has_status: true },
        )
    }

    /// A deployment as client-side apply left it: annotated, owned by the CSA manager.
    fn client_side_applied(replicas: i64) -> (Value, ManagedFields) {
        let config = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"}, "spec": {"replicas": replicas}});
        let mut live = config.clone();
        live["metadata"]["annotations"] = json!({LAST_APPLIED_ANNOTATION: config.to_string()});
        let mut managed = ManagedFields::default();
        let csa = Manager::new("kubectl-client-side-apply", Operation::Update, None);
        updater().update(&json!({}), &live, &mut managed, &csa, None);
        (live, managed)
    }

    #[test]
    fn kubectl_takes_over_fields_it_last_applied_client_side() {
        let (live, mut managed) = client_side_applied(1);
        let kubectl = Manager::new(KUBECTL, Operation::Apply, None);
        let config = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"}, "spec": {"replicas": 3}});
        let merged = apply(
            &updater(),
            &live,
            &config,
            &mut managed,
            &kubectl,
            false,
            None,
        )
        .expect("no conflict with the last-applied fields");
        assert_eq!(merged["spec"]["replicas"], 3);
        let annotation: Value = serde_json::from_str(
            merged["metadata"]["annotations"][LAST_APPLIED_ANNOTATION]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(annotation["spec"]["replicas"], 3);
    }

    #[test]
    fn fields_changed_since_the_last_client_side_apply_still_conflict() {
        let (mut live, mut managed) = client_side_applied(1);
        let scaler = Manager::new("kubectl-scale", Operation::Update, None);
        let before = live.clone();
        live["spec"]["replicas"] = json!(7);
        updater().update(&before, &live, &mut managed, &scaler, None);
        let kubectl = Manager::new(KUBECTL, Operation::Apply, None);
        let config = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"}, "spec": {"replicas": 3}});
        let error = apply(
            &updater(),
            &live,
            &config,
            &mut managed,
            &kubectl,
            false,
            None,
        )
        .unwrap_err();
        assert_eq!(error.to_status().code, 409);
    }

    #[test]
    fn other_managers_get_no_upgrade() {
        let (live, mut managed) = client_side_applied(1);
        let other = Manager::new("helm", Operation::Apply, None);
        let config = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"}, "spec": {"replicas": 3}});
        assert!(
            apply(
                &updater(),
                &live,
                &config,
                &mut managed,
                &other,
                false,
                None
            )
            .is_err()
        );
    }
}
