//! Request bodies: size limit, media types, decoding into the endpoint's kind, and field
//! validation (unknown and duplicate fields are rejected, warned about or ignored, as the
//! request's `fieldValidation` asks). Kubernetes protobuf bodies are decoded into the same
//! JSON a JSON body gives; field validation does not apply to them, as in Kubernetes.

use std::fmt;

use orchestra_api::{FieldValidation, Object, ResourceKind, Status, field_validation};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::protobuf;

/// The largest request body accepted, as Kubernetes' 3 MiB limit.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// The media type of a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/json` (and the JSON patch types).
    Json,
    /// `application/yaml` (and `application/apply-patch+yaml`).
    Yaml,
    /// `application/vnd.kubernetes.protobuf`.
    Protobuf,
}

impl BodyFormat {
    /// The format of a `Content-Type` header; 415 for anything else.
    pub fn of(content_type: Option<&str>) -> Result<Self, Status> {
        let media = content_type
            .unwrap_or("application/json")
            .split(';')
            .next()
            .unwrap_or("")
            .trim();
        match media {
            ""
            | "application/json"
            | "application/merge-patch+json"
            | "application/json-patch+json"
            | "application/strategic-merge-patch+json" => Ok(Self::Json),
            "application/yaml" | "application/apply-patch+yaml" => Ok(Self::Yaml),
            protobuf::MEDIA_TYPE => Ok(Self::Protobuf),
            other => Err(Status::unsupported_media_type(other)),
        }
    }
}

/// A decoded body and the warnings field validation produced.
#[derive(Debug)]
pub struct Decoded<T> {
    /// The decoded value.
    pub value: T,
    /// `Warning` header texts (unknown or duplicate fields under `fieldValidation=Warn`).
    pub warnings: Vec<String>,
}

/// Parses a body into JSON, noting duplicate object keys by path.
pub fn parse_value(bytes: &[u8], format: BodyFormat) -> Result<(Value, Vec<String>), Status> {
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Status::request_entity_too_large(MAX_BODY_BYTES));
    }
    // A JSON document is YAML too; read as JSON, its duplicate fields are found by path
    // (kubectl sends apply configurations as JSON under the YAML media type). YAML flow
    // mappings that are not JSON (`{a: b}`) are read as YAML.
    if format == BodyFormat::Yaml
        && bytes.trim_ascii_start().starts_with(b"{")
        && let Ok(parsed) = parse_value(bytes, BodyFormat::Json)
    {
        return Ok(parsed);
    }
    match format {
        BodyFormat::Json => {
            let mut duplicates = Vec::new();
            let mut deserializer = serde_json::Deserializer::from_slice(bytes);
            let value = CheckedValue {
                path: String::new(),
                duplicates: &mut duplicates,
            }
            .deserialize(&mut deserializer)
            .and_then(|v| deserializer.end().map(|()| v))
            .map_err(|e| Status::bad_request(format!("the request body is not valid JSON: {e}")))?;
            Ok((value, duplicates))
        }
        BodyFormat::Yaml => {
            let value: Value = serde_yaml_ng::from_slice(bytes).map_err(|e| {
                let text = e.to_string();
                if text.contains("duplicate") {
                    Status::bad_request(format!("strict decoding error: {text}"))
                } else {
                    Status::bad_request(format!("the request body is not valid YAML: {text}"))
                }
            })?;
            Ok((value, Vec::new()))
        }
        BodyFormat::Protobuf => protobuf::decode(bytes)
            .map(|value| (value, Vec::new()))
            .map_err(|e| {
                Status::bad_request(format!(
                    "the request body is not valid Kubernetes protobuf: {e}"
                ))
            }),
    }
}

/// Decodes a body of a fixed type (a `Scale`, `Binding`, `Eviction` or `DeleteOptions`) in
/// whichever encoding its `Content-Type` names.
pub fn decode_typed<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    content_type: Option<&str>,
) -> Result<T, Status> {
    let (value, _) = parse_value(bytes, BodyFormat::of(content_type)?)?;
    serde_json::from_value(value)
        .map_err(|e| Status::bad_request(format!("the request body cannot be decoded: {e}")))
}

/// Decodes an object body for `kind`, applying field validation.
pub fn decode_object(
    kind: &ResourceKind,
    bytes: &[u8],
    format: BodyFormat,
    validation: FieldValidation,
) -> Result<Decoded<Box<dyn Object>>, Status> {
    let (value, duplicates) = parse_value(bytes, format)?;
    // Every field of a protobuf body is one the kind has; Go writes its zero values too.
    let validation = match format {
        BodyFormat::Protobuf => FieldValidation::Ignore,
        BodyFormat::Json | BodyFormat::Yaml => validation,
    };
    decode_value(kind, value, duplicates, validation)
}

/// Decodes an already parsed body for `kind`, applying field validation.
pub fn decode_value(
    kind: &ResourceKind,
    value: Value,
    duplicates: Vec<String>,
    validation: FieldValidation,
) -> Result<Decoded<Box<dyn Object>>, Status> {
    check_type(kind, &value)?;
    let object = kind.codec.decode_value(value.clone()).map_err(|e| {
        Status::bad_request(format!(
            "{} in version {:?} cannot be handled as a {}: {e}",
            kind.kind, kind.version, kind.kind
        ))
    })?;
    let problems = match validation {
        FieldValidation::Ignore => Vec::new(),
        FieldValidation::Strict | FieldValidation::Warn => {
            field_validation::problems(&value, &*object, &duplicates)
                .map_err(|e| Status::internal(format!("cannot encode the object: {e}")))?
        }
    };
    let warnings = match validation {
        FieldValidation::Strict if !problems.is_empty() => {
            return Err(Status::bad_request(
                field_validation::strict_decoding_error(&problems),
            ));
        }
        FieldValidation::Warn => problems,
        _ => Vec::new(),
    };
    Ok(Decoded {
        value: object,
        warnings,
    })
}

/// A body's `apiVersion` and `kind` must be the endpoint's (or absent).
fn check_type(kind: &ResourceKind, value: &Value) -> Result<(), Status> {
    if !value.is_object() {
        return Err(Status::bad_request(format!(
            "the body must be a JSON object of kind {}",
            kind.kind
        )));
    }
    let expected = kind.api_version();
    if let Some(api_version) = value.get("apiVersion").and_then(Value::as_str)
        && !api_version.is_empty()
        && api_version != expected
    {
        return Err(Status::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({expected})"
        )));
    }
    if let Some(body_kind) = value.get("kind").and_then(Value::as_str)
        && !body_kind.is_empty()
        && body_kind != kind.kind
    {
        return Err(Status::bad_request(format!(
            "the kind in the data ({body_kind}) does not match the expected kind ({})",
            kind.kind
        )));
    }
    Ok(())
}

/// Deserializes any JSON into a `Value`, recording the paths of duplicate object keys
/// (serde_json itself keeps the last one silently).
struct CheckedValue<'a> {
    path: String,
    duplicates: &'a mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for CheckedValue<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CheckedValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let seed = CheckedValue {
                path: format!("{}[{}]", self.path, items.len()),
                duplicates: &mut *self.duplicates,
            };
            match seq.next_element_seed(seed)? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            let value = map.next_value_seed(CheckedValue {
                path: path.clone(),
                duplicates: &mut *self.duplicates,
            })?;
            if out.insert(key, value).is_some() {
                self.duplicates.push(path);
            }
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orchestra_api::kinds;

    const POD: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"},"spec":{"containers":[{"name":"c","image":"x","imagePullPolicyy":"Always"}]}}"#;

    #[test]
    fn strict_validation_rejects_unknown_fields_with_their_path() {
        let err = decode_object(
            &kinds::PODS,
            POD.as_bytes(),
            BodyFormat::Json,
            FieldValidation::Strict,
        )
        .unwrap_err();
        assert_eq!(err.code, 400);
        assert_eq!(
            err.message,
            "strict decoding error: unknown field \"spec.containers[0].imagePullPolicyy\""
        );
    }

    #[test]
    fn warn_validation_accepts_and_warns() {
        let decoded = decode_object(
            &kinds::PODS,
            POD.as_bytes(),
            BodyFormat::Json,
            FieldValidation::Warn,
        )
        .unwrap();
        assert_eq!(
            decoded.warnings,
            ["unknown field \"spec.containers[0].imagePullPolicyy\""]
        );
    }

    #[test]
    fn duplicate_fields_are_found_at_any_depth() {
        let body = br#"{"metadata":{"name":"a","name":"b"},"spec":{"containers":[]}}"#;
        let err = decode_object(
            &kinds::PODS,
            body,
            BodyFormat::Json,
            FieldValidation::Strict,
        )
        .unwrap_err();
        assert!(
            err.message.contains("duplicate field \"metadata.name\""),
            "{}",
            err.message
        );
    }

    #[test]
    fn wrong_kind_bodies_and_huge_bodies_are_refused() {
        let body = br#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"a"}}"#;
        let err = decode_object(
            &kinds::PODS,
            body,
            BodyFormat::Json,
            FieldValidation::Strict,
        )
        .unwrap_err();
        assert_eq!(err.code, 400);
        let huge = vec![b' '; MAX_BODY_BYTES + 1];
        let err = decode_object(
            &kinds::PODS,
            &huge,
            BodyFormat::Json,
            FieldValidation::Strict,
        )
        .unwrap_err();
        assert_eq!(err.code, 413);
        assert_eq!(
            BodyFormat::of(Some("application/cbor")).unwrap_err().code,
            415
        );
        assert_eq!(
            BodyFormat::of(Some("application/vnd.kubernetes.protobuf")),
            Ok(BodyFormat::Protobuf)
        );
    }

    #[test]
    fn yaml_bodies_decode_like_json() {
        let body = b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nspec:\n  containers: []\n";
        let decoded = decode_object(
            &kinds::PODS,
            body,
            BodyFormat::Yaml,
            FieldValidation::Strict,
        )
        .unwrap();
        assert_eq!(decoded.value.metadata().name.as_deref(), Some("a"));
    }
}
