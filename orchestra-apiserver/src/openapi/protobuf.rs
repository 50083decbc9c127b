//! The Swagger 2.0 document in the protobuf encoding `kubectl` asks for
//! (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`): gnostic's
//! `openapi.v2.Document` message. client-go requests only this encoding for `/openapi/v2`
//! and decodes the answer as protobuf without a JSON fallback, so `kubectl`'s v2 users
//! (client-side validation when the server does not validate fields itself,
//! `kubectl explain --output plaintext-openapiv2`, the v2 path of strategic merge patches)
//! need it.
//!
//! The encoder walks the JSON document of [`super::v2`] and writes the fields of the
//! messages it maps to, by their field numbers in gnostic's `OpenAPIv2.proto`. Vendor
//! extensions (`x-kubernetes-…`), defaults, examples and enum values are `Any` messages
//! holding their value as YAML text, which is how Kubernetes' parser reads them back; JSON
//! text is valid YAML, so the value is written as JSON.

use serde_json::{Map, Value};

/// A protobuf message being written.
#[derive(Default)]
struct Message(Vec<u8>);

impl Message {
    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.0.push((value as u8 & 0x7f) | 0x80);
            value >>= 7;
        }
        self.0.push(value as u8);
    }

    fn key(&mut self, field: u32, wire_type: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire_type));
    }

    fn bytes(&mut self, field: u32, bytes: &[u8]) {
        self.key(field, 2);
        self.varint(bytes.len() as u64);
        self.0.extend_from_slice(bytes);
    }

    /// A string field; proto3 leaves empty strings out.
    fn string(&mut self, field: u32, text: &str) {
        if !text.is_empty() {
            self.bytes(field, text.as_bytes());
        }
    }

    /// A repeated string element (written even when empty).
    fn string_element(&mut self, field: u32, text: &str) {
        self.bytes(field, text.as_bytes());
    }

    fn boolean(&mut self, field: u32, value: bool) {
        if value {
            self.key(field, 0);
            self.varint(1);
        }
    }

    fn int64(&mut self, field: u32, value: i64) {
        if value != 0 {
            self.key(field, 0);
            self.varint(value as u64);
        }
    }

    fn double(&mut self, field: u32, value: f64) {
        if value != 0.0 {
            self.key(field, 1);
            self.0.extend_from_slice(&value.to_le_bytes());
        }
    }

    fn message(&mut self, field: u32, message: Message) {
        self.bytes(field, &message.0);
    }
}

fn text<'a>(object: &'a Map<String, Value>, key: &str) -> &'a str {
    object.get(key).and_then(Value::as_str).unwrap_or("")
}

fn flag(object: &Map<String, Value>, key: &str) -> bool {
    object.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn strings<'a>(object: &'a Map<String, Value>, key: &str) -> impl Iterator<Item = &'a str> {
    object
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// `openapi.v2.Any`: the value as YAML text (field 2).
fn any(value: &Value) -> Message {
    let mut message = Message::default();
    message.string(2, &serde_json::to_string(value).unwrap_or_default());
    message
}

/// `openapi.v2.NamedAny` for every `x-` key of `object`, written as `field`.
fn vendor_extensions(out: &mut Message, field: u32, object: &Map<String, Value>) {
    for (key, value) in object {
        if key.starts_with("x-") {
            let mut named = Message::default();
            named.string(1, key);
            named.message(2, any(value));
            out.message(field, named);
        }
    }
}

/// `openapi.v2.Schema`.
fn schema(value: &Value) -> Message {
    let mut out = Message::default();
    let Some(object) = value.as_object() else {
        return out;
    };
    out.string(1, text(object, "$ref"));
    out.string(2, text(object, "format"));
    out.string(3, text(object, "title"));
    out.string(4, text(object, "description"));
    if let Some(default) = object.get("default") {
        out.message(5, any(default));
    }
    let number = |key: &str| object.get(key).and_then(Value::as_f64).unwrap_or(0.0);
    let integer = |key: &str| object.get(key).and_then(Value::as_i64).unwrap_or(0);
    out.double(6, number("multipleOf"));
    out.double(7, number("maximum"));
    out.boolean(8, flag(object, "exclusiveMaximum"));
    out.double(9, number("minimum"));
    out.boolean(10, flag(object, "exclusiveMinimum"));
    out.int64(11, integer("maxLength"));
    out.int64(12, integer("minLength"));
    out.string(13, text(object, "pattern"));
    out.int64(14, integer("maxItems"));
    out.int64(15, integer("minItems"));
    out.boolean(16, flag(object, "uniqueItems"));
    out.int64(17, integer("maxProperties"));
    out.int64(18, integer("minProperties"));
    for required in strings(object, "required") {
        out.string_element(19, required);
    }
    for value in object
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.message(20, any(value));
    }
    match object.get("additionalProperties") {
        Some(Value::Bool(allowed)) => {
            let mut item = Message::default();
            item.key(2, 0);
            item.varint(u64::from(*allowed));
            out.message(21, item);
        }
        Some(nested @ Value::Object(_)) => {
            let mut item = Message::default();
            item.message(1, schema(nested));
            out.message(21, item);
        }
        _ => {}
    }
    match object.get("type") {
        Some(Value::String(name)) => {
            let mut item = Message::default();
            item.string_element(1, name);
            out.message(22, item);
        }
        Some(Value::Array(names)) => {
            let mut item = Message::default();
            for name in names.iter().filter_map(Value::as_str) {
                item.string_element(1, name);
            }
            out.message(22, item);
        }
        _ => {}
    }
    match object.get("items") {
        Some(nested @ Value::Object(_)) => {
            let mut item = Message::default();
            item.message(1, schema(nested));
            out.message(23, item);
        }
        Some(Value::Array(schemas)) => {
            let mut item = Message::default();
            for nested in schemas {
                item.message(1, schema(nested));
            }
            out.message(23, item);
        }
        _ => {}
    }
    for nested in object
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.message(24, schema(nested));
    }
    if let Some(Value::Object(properties)) = object.get("properties") {
        let mut item = Message::default();
        for (name, nested) in properties {
            let mut named = Message::default();
            named.string(1, name);
            named.message(2, schema(nested));
            item.message(1, named);
        }
        out.message(25, item);
    }
    out.string(26, text(object, "discriminator"));
    out.boolean(27, flag(object, "readOnly"));
    if let Some(example) = object.get("example") {
        out.message(30, any(example));
    }
    vendor_extensions(&mut out, 31, object);
    out
}

/// `openapi.v2.ParametersItem` for a parameter object.
fn parameter(value: &Value) -> Message {
    let empty = Map::new();
    let object = value.as_object().unwrap_or(&empty);
    let mut parameter = Message::default();
    if text(object, "in") == "body" {
        let mut body = Message::default();
        body.string(1, text(object, "description"));
        body.string(2, text(object, "name"));
        body.string(3, "body");
        body.boolean(4, flag(object, "required"));
        if let Some(nested) = object.get("schema") {
            body.message(5, schema(nested));
        }
        vendor_extensions(&mut body, 6, object);
        parameter.message(1, body);
    } else {
        // Query and path sub-schemas share their first fields' layout.
        let is_path = text(object, "in") == "path";
        let mut sub = Message::default();
        sub.boolean(1, flag(object, "required"));
        sub.string(2, text(object, "in"));
        sub.string(3, text(object, "description"));
        sub.string(4, text(object, "name"));
        let (type_field, format_field, unique_field, extension_field) = if is_path {
            (5, 6, 19, 22)
        } else {
            (6, 7, 20, 23)
        };
        sub.string(type_field, text(object, "type"));
        sub.string(format_field, text(object, "format"));
        sub.boolean(unique_field, flag(object, "uniqueItems"));
        vendor_extensions(&mut sub, extension_field, object);
        let mut non_body = Message::default();
        non_body.message(if is_path { 4 } else { 3 }, sub);
        parameter.message(2, non_body);
    }
    let mut item = Message::default();
    item.message(1, parameter);
    item
}

/// `openapi.v2.Operation`.
fn operation(value: &Value) -> Message {
    let empty = Map::new();
    let object = value.as_object().unwrap_or(&empty);
    let mut out = Message::default();
    for tag in strings(object, "tags") {
        out.string_element(1, tag);
    }
    out.string(2, text(object, "summary"));
    out.string(3, text(object, "description"));
    out.string(5, text(object, "operationId"));
    for media in strings(object, "produces") {
        out.string_element(6, media);
    }
    for media in strings(object, "consumes") {
        out.string_element(7, media);
    }
    for param in object
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.message(8, parameter(param));
    }
    if let Some(Value::Object(responses)) = object.get("responses") {
        let mut message = Message::default();
        for (code, response) in responses {
            let response = response.as_object().unwrap_or(&empty);
            let mut body = Message::default();
            body.string(1, text(response, "description"));
            if let Some(nested) = response.get("schema") {
                let mut item = Message::default();
                item.message(1, schema(nested));
                body.message(2, item);
            }
            let mut response_value = Message::default();
            response_value.message(1, body);
            let mut named = Message::default();
            named.string(1, code);
            named.message(2, response_value);
            message.message(1, named);
        }
        out.message(9, message);
    }
    for scheme in strings(object, "schemes") {
        out.string_element(10, scheme);
    }
    out.boolean(11, flag(object, "deprecated"));
    vendor_extensions(&mut out, 13, object);
    out
}

/// `openapi.v2.PathItem`.
fn path_item(value: &Value) -> Message {
    let empty = Map::new();
    let object = value.as_object().unwrap_or(&empty);
    let mut out = Message::default();
    for (method, field) in [
        ("get", 2),
        ("put", 3),
        ("post", 4),
        ("delete", 5),
        ("options", 6),
        ("head", 7),
        ("patch", 8),
    ] {
        if let Some(op) = object.get(method) {
            out.message(field, operation(op));
        }
    }
    for param in object
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.message(9, parameter(param));
    }
    vendor_extensions(&mut out, 10, object);
    out
}

/// Encodes a Swagger 2.0 document (as [`super::v2::document`] builds it) as gnostic's
/// `openapi.v2.Document`.
pub fn encode_document(document: &Value) -> Vec<u8> {
    let empty = Map::new();
    let object = document.as_object().unwrap_or(&empty);
    let mut out = Message::default();
    out.string(1, text(object, "swagger"));
    if let Some(Value::Object(info)) = object.get("info") {
        let mut message = Message::default();
        message.string(1, text(info, "title"));
        message.string(2, text(info, "version"));
        message.string(3, text(info, "description"));
        out.message(2, message);
    }
    for scheme in strings(object, "schemes") {
        out.string_element(5, scheme);
    }
    if let Some(Value::Object(paths)) = object.get("paths") {
        let mut message = Message::default();
        for (path, item) in paths {
            let mut named = Message::default();
            named.string(1, path);
            named.message(2, path_item(item));
            message.message(2, named);
        }
        out.message(8, message);
    }
    if let Some(Value::Object(definitions)) = object.get("definitions") {
        let mut message = Message::default();
        for (name, definition) in definitions {
            let mut named = Message::default();
            named.string(1, name);
            named.message(2, schema(definition));
            message.message(1, named);
        }
        out.message(9, message);
    }
    for requirement in object
        .get("security")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut message = Message::default();
        for (name, scopes) in requirement.as_object().into_iter().flatten() {
            let mut array = Message::default();
            for scope in scopes
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                array.string_element(1, scope);
            }
            let mut named = Message::default();
            named.string(1, name);
            named.message(2, array);
            message.message(1, named);
        }
        out.message(12, message);
    }
    if let Some(Value::Object(definitions)) = object.get("securityDefinitions") {
        let mut message = Message::default();
        for (name, definition) in definitions {
            let definition = definition.as_object().unwrap_or(&empty);
            let mut api_key = Message::default();
            api_key.string(1, text(definition, "type"));
            api_key.string(2, text(definition, "name"));
            api_key.string(3, text(definition, "in"));
            api_key.string(4, text(definition, "description"));
            let mut item = Message::default();
            item.message(2, api_key);
            let mut named = Message::default();
            named.string(1, name);
            named.message(2, item);
            message.message(1, named);
        }
        out.message(13, message);
    }
    vendor_extensions(&mut out, 16, object);
    out.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A field of a decoded message: its number and its payload.
    #[derive(Debug, PartialEq)]
    enum Field<'a> {
        Varint(u64),
        Fixed64([u8; 8]),
        Bytes(&'a [u8]),
    }

    fn read_varint(bytes: &[u8], at: &mut usize) -> u64 {
        let mut value = 0u64;
        let mut shift = 0;
        loop {
            let byte = bytes[*at];
            *at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return value;
            }
            shift += 7;
        }
    }

    /// Decodes one message level; panics on malformed input (a test helper).
    fn fields(bytes: &[u8]) -> Vec<(u32, Field<'_>)> {
        let mut at = 0;
        let mut out = Vec::new();
        while at < bytes.len() {
            let key = read_varint(bytes, &mut at);
            let field = (key >> 3) as u32;
            match key & 7 {
                0 => out.push((field, Field::Varint(read_varint(bytes, &mut at)))),
                1 => {
                    let mut fixed = [0u8; 8];
                    fixed.copy_from_slice(&bytes[at..at + 8]);
                    at += 8;
                    out.push((field, Field::Fixed64(fixed)));
                }
                2 => {
                    let len = read_varint(bytes, &mut at) as usize;
                    out.push((field, Field::Bytes(&bytes[at..at + len])));
                    at += len;
                }
                other => panic!("unexpected wire type {other}"),
            }
        }
        out
    }

    fn bytes_of(message: &[u8], number: u32) -> Vec<&[u8]> {
        fields(message)
            .into_iter()
            .filter_map(|(n, f)| match f {
                Field::Bytes(b) if n == number => Some(b),
                _ => None,
            })
            .collect()
    }

    fn text_of(message: &[u8], number: u32) -> String {
        bytes_of(message, number)
            .first()
            .map(|b| String::from_utf8(b.to_vec()).unwrap())
            .unwrap_or_default()
    }

    #[test]
    fn varints_use_seven_bits_per_byte() {
        let mut message = Message::default();
        message.varint(300);
        assert_eq!(message.0, [0xac, 0x02]);
    }

    #[test]
    fn a_schema_keeps_its_type_description_reference_and_extensions() {
        let encoded = schema(&json!({
            "description": "d",
            "type": "array",
            "items": {"$ref": "#/definitions/a.B"},
            "x-kubernetes-patch-merge-key": "name",
        }))
        .0;
        assert_eq!(text_of(&encoded, 4), "d");
        let type_item = bytes_of(&encoded, 22)[0];
        assert_eq!(text_of(type_item, 1), "array");
        let items = bytes_of(&encoded, 23)[0];
        assert_eq!(text_of(bytes_of(items, 1)[0], 1), "#/definitions/a.B");
        let extension = bytes_of(&encoded, 31)[0];
        assert_eq!(text_of(extension, 1), "x-kubernetes-patch-merge-key");
        assert_eq!(text_of(bytes_of(extension, 2)[0], 2), "\"name\"");
    }

    #[test]
    fn the_served_document_lists_every_definition_and_path() {
        let definitions = super::super::definitions::Definitions::generate();
        let gvs = super::super::operations::group_versions(&definitions);
        let document = super::super::v2::document(&gvs, &definitions);
        let encoded = encode_document(&document);
        assert_eq!(text_of(&encoded, 1), "2.0");
        let names: Vec<String> = bytes_of(bytes_of(&encoded, 9)[0], 1)
            .into_iter()
            .map(|named| text_of(named, 1))
            .collect();
        assert_eq!(
            names.len(),
            document["definitions"].as_object().unwrap().len()
        );
        assert!(names.contains(&"io.k8s.api.apps.v1.Deployment".to_owned()));
        let paths = bytes_of(bytes_of(&encoded, 8)[0], 2);
        assert_eq!(paths.len(), document["paths"].as_object().unwrap().len());
        let deployment_path = paths
            .iter()
            .find(|named| {
                text_of(named, 1) == "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
            })
            .unwrap();
        let item = bytes_of(deployment_path, 2)[0];
        let patch = bytes_of(item, 8)[0];
        assert_eq!(text_of(patch, 5), "patchAppsV1NamespacedDeployment");
    }
}
