//! The `scale` subresource: an `autoscaling/v1` `Scale` view of the replicas of Deployments,
//! ReplicaSets, StatefulSets and ReplicationControllers.

use k8s_openapi::api::autoscaling::v1::{Scale, ScaleSpec, ScaleStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector as LabelSelectorStruct, ObjectMeta,
};
use orchestra_api::{LabelSelector, Object, ResourceKind, Status};
use serde_json::Value;

fn encode(object: &dyn Object) -> Result<Value, Status> {
    object
        .to_value()
        .map_err(|e| Status::internal(format!("cannot encode the object: {e}")))
}

/// The label selector of a workload as a string: the struct form (apps/v1) or the map form
/// (ReplicationController).
fn selector_string(spec: &Value) -> Option<String> {
    let selector = spec.get("selector")?;
    if selector.get("matchLabels").is_some() || selector.get("matchExpressions").is_some() {
        let parsed: LabelSelectorStruct = serde_json::from_value(selector.clone()).ok()?;
        return LabelSelector::try_from(&parsed).ok().map(|s| s.to_string());
    }
    let map = selector.as_object()?;
    let mut pairs: Vec<String> = map
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}")))
        .collect();
    pairs.sort();
    Some(pairs.join(","))
}

/// The `Scale` of a workload object.
pub(super) fn scale_of(kind: &ResourceKind, object: &dyn Object) -> Result<Scale, Status> {
    if kind.subresource("scale").is_none() {
        return Err(Status::not_found(
            &kind.group,
            &format!("{}/scale", kind.plural),
            "",
        ));
    }
    let value = encode(object)?;
    let meta = object.metadata();
    let spec = &value["spec"];
    Ok(Scale {
        metadata: ObjectMeta {
            name: meta.name.clone(),
            namespace: meta.namespace.clone(),
            uid: meta.uid.clone(),
            resource_version: meta.resource_version.clone(),
            creation_timestamp: meta.creation_timestamp.clone(),
            ..ObjectMeta::default()
        },
        spec: Some(ScaleSpec {
            replicas: Some(spec["replicas"].as_i64().unwrap_or(1) as i32),
        }),
        status: Some(ScaleStatus {
            replicas: value["status"]["replicas"].as_i64().unwrap_or(0) as i32,
            selector: selector_string(spec),
        }),
    })
}

/// A copy of a workload object with `spec.replicas` set.
pub(super) fn with_replicas(
    kind: &ResourceKind,
    object: &dyn Object,
    replicas: i32,
) -> Result<Box<dyn Object>, Status> {
    let mut value = encode(object)?;
    match value.get_mut("spec").and_then(Value::as_object_mut) {
        Some(spec) => {
            spec.insert("replicas".to_owned(), Value::from(replicas));
        }
        None => {
            return Err(Status::bad_request(format!(
                "{} has no spec to scale",
                kind.kind
            )));
        }
    }
    kind.codec
        .decode_value(value)
        .map_err(|e| Status::internal(format!("cannot decode the scaled object: {e}")))
}
