//! The Swagger 2.0 document `/openapi/v2`: every path and every definition in one document,
//! in the form Kubernetes publishes (references with their descriptions beside them).
//! `kubectl` reads it through its protobuf encoding, [`super::protobuf`].

use serde_json::{Map, Value, json};

use super::definitions::{Definitions, REF_PREFIX};
use super::operations::{GroupVersion, Operation, Param, PathItem, Payload};

fn payload_schema(payload: &Payload) -> Value {
    match payload {
        Payload::Definition(name) => json!({"$ref": format!("{REF_PREFIX}{name}")}),
        Payload::Text => json!({"type": "string"}),
    }
}

fn parameter(param: &Param) -> Value {
    let mut value = json!({
        "name": param.name,
        "in": param.location,
        "description": param.description,
        "type": param.kind.name(),
        "uniqueItems": true,
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
    let mut parameters: Vec<Value> = Vec::new();
    if let Some(body) = &operation.body {
        parameters.push(json!({
            "name": "body",
            "in": "body",
            "required": true,
            "schema": payload_schema(&body.payload),
        }));
    }
    parameters.extend(operation.params.iter().map(parameter));
    let mut responses = Map::new();
    let mut produces: Vec<&str> = Vec::new();
    for response in &operation.responses {
        responses.insert(
            response.code.to_string(),
            json!({"description": reason(response.code), "schema": payload_schema(&response.payload)}),
        );
        for media in response.media_types {
            if !produces.contains(media) {
                produces.push(media);
            }
        }
    }
    responses.insert("401".to_owned(), json!({"description": "Unauthorized"}));
    let mut value = json!({
        "tags": [operation.tag],
        "description": operation.description,
        "operationId": operation.operation_id,
        "schemes": ["https"],
        "produces": produces,
        "responses": responses,
        "x-kubernetes-action": operation.action,
        "x-kubernetes-group-version-kind": operation.gvk.extension(),
    });
    if !parameters.is_empty() {
        value["parameters"] = Value::Array(parameters);
    }
    let consumes: &[&str] = match &operation.body {
        Some(body) => body.media_types,
        None => &["*/*"],
    };
    value["consumes"] = json!(consumes);
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

/// The Swagger 2.0 document of every served group version.
pub fn document(group_versions: &[GroupVersion], definitions: &Definitions) -> Value {
    let mut paths = Map::new();
    for gv in group_versions {
        for item in &gv.paths {
            paths.insert(item.path.clone(), path_item(item));
        }
    }
    let schemas: Map<String, Value> = definitions
        .schemas
        .iter()
        .map(|(name, schema)| (name.clone(), schema.clone()))
        .collect();
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": super::KUBERNETES_VERSION},
        "paths": paths,
        "definitions": schemas,
        "securityDefinitions": {
            "BearerToken": {
                "type": "apiKey",
                "name": "authorization",
                "in": "header",
                "description": "Bearer Token authentication",
            },
        },
        "security": [{"BearerToken": []}],
    })
}
