//! OpenAPI 3.0 documents: one per group version (`/openapi/v3/apis/apps/v1`), holding that
//! group version's paths and every schema they reach, and the index (`/openapi/v3`) that
//! names each document with the hash of its bytes.
//!
//! Schemas are the neutral definitions rewritten to OpenAPI 3 as Kubernetes writes them:
//! references point into `#/components/schemas/`, a reference with a description (or any
//! other sibling) becomes `allOf: [{$ref}]` beside them, since OpenAPI 3.0 ignores a
//! reference's siblings, and `Quantity` and `IntOrString` are `oneOf` a string and a number.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::definitions::{Definitions, REF_PREFIX, shared};
use super::operations::{GroupVersion, Operation, Param, PathItem, Payload};

/// Where OpenAPI 3 references point.
pub const COMPONENTS_PREFIX: &str = "#/components/schemas/";

/// A neutral schema rewritten for OpenAPI 3.
pub fn schema(neutral: &Value) -> Value {
    match neutral {
        Value::Object(map) => {
            let reference = match map.get("$ref") {
                Some(Value::String(target)) => target
                    .strip_prefix(REF_PREFIX)
                    .map(|name| format!("{COMPONENTS_PREFIX}{name}")),
                _ => None,
            };
            let mut out = Map::new();
            for (key, value) in map {
                if key == "$ref" && reference.is_some() {
                    continue;
                }
                out.insert(key.clone(), schema(value));
            }
            match reference {
                Some(reference) if out.is_empty() => json!({"$ref": reference}),
                Some(reference) => {
                    out.insert("allOf".to_owned(), json!([{"$ref": reference}]));
                    Value::Object(out)
                }
                None => Value::Object(out),
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(schema).collect()),
        other => other.clone(),
    }
}

/// A named definition rewritten for OpenAPI 3, with Kubernetes' OpenAPI 3 shapes of the
/// string-or-number scalars.
pub fn definition(name: &str, neutral: &Value) -> Value {
    let mut out = schema(neutral);
    if let Value::Object(map) = &mut out {
        match name {
            shared::QUANTITY => {
                map.remove("type");
                map.insert(
                    "oneOf".to_owned(),
                    json!([{"type": "string"}, {"type": "number"}]),
                );
            }
            shared::INT_OR_STRING => {
                map.remove("type");
                map.insert(
                    "oneOf".to_owned(),
                    json!([{"type": "integer"}, {"type": "string"}]),
                );
            }
            _ => {}
        }
    }
    out
}

fn payload_schema(payload: &Payload) -> Value {
    match payload {
        Payload::Definition(name) => json!({"$ref": format!("{COMPONENTS_PREFIX}{name}")}),
        Payload::Text => json!({"type": "string"}),
    }
}

fn parameter(param: &Param) -> Value {
    let mut value = json!({
        "name": param.name,
        "in": param.location,
        "description": param.description,
        "schema": {"type": param.kind.name(), "uniqueItems": true},
    });
    if param.required {
        value["required"] = Value::Bool(true);
    }
    value
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        _ => "",
    }
}

fn operation(operation: &Operation) -> Value {
    let mut responses = Map::new();
    for response in &operation.responses {
        let content: Map<String, Value> = response
            .media_types
            .iter()
            .map(|media| {
                (
                    (*media).to_owned(),
                    json!({"schema": payload_schema(&response.payload)}),
                )
            })
            .collect();
        responses.insert(
            response.code.to_string(),
            json!({"description": reason(response.code), "content": content}),
        );
    }
    responses.insert("401".to_owned(), json!({"description": "Unauthorized"}));
    let mut value = json!({
        "tags": [operation.tag],
        "description": operation.description,
        "operationId": operation.operation_id,
        "responses": responses,
        "x-kubernetes-action": operation.action,
        "x-kubernetes-group-version-kind": operation.gvk.extension(),
    });
    if !operation.params.is_empty() {
        value["parameters"] = operation.params.iter().map(parameter).collect();
    }
    if let Some(body) = &operation.body {
        let content: Map<String, Value> = body
            .media_types
            .iter()
            .map(|media| {
                (
                    (*media).to_owned(),
                    json!({"schema": payload_schema(&body.payload)}),
                )
            })
            .collect();
        value["requestBody"] = json!({"content": content, "required": true});
    }
    value
}

fn path_item(item: &PathItem) -> Value {
    let mut value = Map::new();
    value.insert(
        "parameters".to_owned(),
        item.params.iter().map(parameter).collect(),
    );
    for op in &item.operations {
        value.insert(op.method.key().to_owned(), operation(op));
    }
    Value::Object(value)
}

/// The OpenAPI 3 document of one group version.
pub fn document(gv: &GroupVersion, definitions: &Definitions) -> Value {
    let paths: Map<String, Value> = gv
        .paths
        .iter()
        .map(|item| (item.path.clone(), path_item(item)))
        .collect();
    let schemas: Map<String, Value> = definitions
        .closure(gv.payload_definitions())
        .into_iter()
        .filter_map(|name| {
            let neutral = definitions.schemas.get(&name)?;
            Some((name.clone(), definition(&name, neutral)))
        })
        .collect();
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": super::KUBERNETES_VERSION},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "BearerToken": {
                    "type": "apiKey",
                    "name": "authorization",
                    "in": "header",
                    "description": "Bearer Token authentication",
                },
            },
        },
    })
}

/// The index `/openapi/v3`: each document's key and its URL with the hash of its bytes.
pub fn index(hashes: &BTreeMap<String, String>) -> Value {
    let paths: Map<String, Value> = hashes
        .iter()
        .map(|(key, hash)| {
            (
                key.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={hash}")}),
            )
        })
        .collect();
    json!({ "paths": paths })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_described_reference_becomes_all_of() {
        let neutral = json!({
            "properties": {
                "spec": {"$ref": "#/definitions/a.B", "description": "the spec"},
                "plain": {"$ref": "#/definitions/a.C"},
                "items": {"type": "array", "items": {"$ref": "#/definitions/a.D"}},
            }
        });
        let v3 = schema(&neutral);
        assert_eq!(
            v3["properties"]["spec"],
            json!({"allOf": [{"$ref": "#/components/schemas/a.B"}], "description": "the spec"})
        );
        assert_eq!(
            v3["properties"]["plain"],
            json!({"$ref": "#/components/schemas/a.C"})
        );
        assert_eq!(
            v3["properties"]["items"]["items"],
            json!({"$ref": "#/components/schemas/a.D"})
        );
    }

    #[test]
    fn a_property_named_ref_is_not_a_reference() {
        // JSONSchemaProps has a property called `$ref`.
        let neutral = json!({"properties": {"$ref": {"type": "string"}}});
        assert_eq!(schema(&neutral), neutral);
    }

    #[test]
    fn int_or_string_is_one_of_integer_and_string() {
        let neutral = json!({"description": "d", "type": "string", "format": "int-or-string"});
        let v3 = definition(shared::INT_OR_STRING, &neutral);
        assert_eq!(
            v3,
            json!({"description": "d", "format": "int-or-string",
                   "oneOf": [{"type": "integer"}, {"type": "string"}]})
        );
    }
}
