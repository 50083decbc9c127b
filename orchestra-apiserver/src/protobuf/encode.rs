//! JSON → protobuf: an object's JSON value becomes the message Kubernetes' protobuf encoding
//! gives for it, fields in ascending number order as Go writes them. Members the message has
//! no field for are left out.

use base64::Engine;
use serde_json::{Map, Value};

use super::ProtobufError;
use super::schema::{Field, Form, Label, Message, Type};
use super::wire::{WireType, put_bytes, put_key, put_varint_field};

/// Encodes the JSON value of a `message`.
pub fn message(message: &'static Message, value: &Value) -> Result<Vec<u8>, ProtobufError> {
    let mut out = Vec::new();
    let mut path = Vec::new();
    encode(message, value, &mut out, &mut path)?;
    Ok(out)
}

fn error(path: &[&str], reason: impl Into<String>) -> ProtobufError {
    ProtobufError::Unencodable {
        path: if path.is_empty() {
            "the object".to_owned()
        } else {
            path.join(".")
        },
        reason: reason.into(),
    }
}

/// Appends the fields of `message` for `value` (no key or length of its own).
fn encode<'v>(
    message: &'static Message,
    value: &'v Value,
    out: &mut Vec<u8>,
    path: &mut Vec<&'v str>,
) -> Result<(), ProtobufError> {
    match message.form {
        Form::Object => match value {
            Value::Object(object) => encode_object(message, object, out, path),
            Value::Null => Ok(()),
            _ => Err(error(path, "is not an object")),
        },
        form => encode_special(form, message, value, out, path),
    }
}

fn encode_object<'v>(
    message: &'static Message,
    object: &'v Map<String, Value>,
    out: &mut Vec<u8>,
    path: &mut Vec<&'v str>,
) -> Result<(), ProtobufError> {
    for field in message.fields {
        if field.label == Label::Inline {
            let Type::Message(inner) = field.ty else {
                return Err(error(path, "an inline field must be a message"));
            };
            let mut embedded = Vec::new();
            encode_object(inner, object, &mut embedded, path)?;
            if !embedded.is_empty() {
                put_bytes(out, field.number, &embedded);
            }
            continue;
        }
        let Some((name, value)) = object.get_key_value(field.json_name) else {
            continue;
        };
        path.push(name);
        encode_field(field, value, out, path)?;
        path.pop();
    }
    Ok(())
}

fn encode_field<'v>(
    field: &'static Field,
    value: &'v Value,
    out: &mut Vec<u8>,
    path: &mut Vec<&'v str>,
) -> Result<(), ProtobufError> {
    match (field.label, value) {
        (_, Value::Null) => Ok(()),
        (Label::Repeated, Value::Array(items)) => items
            .iter()
            .try_for_each(|item| encode_single(field.number, field.ty, item, out, path)),
        (Label::Map, Value::Object(members)) => {
            let mut sorted: Vec<_> = members.iter().collect();
            sorted.sort_by_key(|(key, _)| *key);
            for (key, member) in sorted {
                let mut entry = Vec::new();
                put_bytes(&mut entry, 1, key.as_bytes());
                path.push(key);
                encode_single(2, field.ty, member, &mut entry, path)?;
                path.pop();
                put_bytes(out, field.number, &entry);
            }
            Ok(())
        }
        (Label::Repeated, _) => Err(error(path, "is not an array")),
        (Label::Map, _) => Err(error(path, "is not an object")),
        _ => encode_single(field.number, field.ty, value, out, path),
    }
}

/// Appends one value as field `number`.
fn encode_single<'v>(
    number: u32,
    ty: Type,
    value: &'v Value,
    out: &mut Vec<u8>,
    path: &mut Vec<&'v str>,
) -> Result<(), ProtobufError> {
    let wrong = |expected: &str| error(path, format!("is not {expected}"));
    match ty {
        Type::String => put_bytes(
            out,
            number,
            value.as_str().ok_or_else(|| wrong("a string"))?.as_bytes(),
        ),
        Type::Bool => put_varint_field(
            out,
            number,
            u64::from(value.as_bool().ok_or_else(|| wrong("a boolean"))?),
        ),
        Type::Int32 => {
            let int = value
                .as_i64()
                .and_then(|i| i32::try_from(i).ok())
                .ok_or_else(|| wrong("a 32-bit integer"))?;
            // Sign-extended to 64 bits, as protobuf writes negative int32s.
            put_varint_field(out, number, i64::from(int) as u64);
        }
        Type::Int64 => {
            let int = value.as_i64().ok_or_else(|| wrong("a 64-bit integer"))?;
            put_varint_field(out, number, int as u64);
        }
        Type::Double => {
            let float = value.as_f64().ok_or_else(|| wrong("a number"))?;
            put_key(out, number, WireType::Fixed64);
            out.extend_from_slice(&float.to_bits().to_le_bytes());
        }
        Type::Bytes => {
            let text = value.as_str().ok_or_else(|| wrong("a base64 string"))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| error(path, format!("is not base64: {e}")))?;
            put_bytes(out, number, &bytes);
        }
        Type::Message(inner) => {
            let mut embedded = Vec::new();
            encode(inner, value, &mut embedded, path)?;
            put_bytes(out, number, &embedded);
        }
    }
    Ok(())
}

/// Appends the fields of a message with a JSON form of its own.
fn encode_special<'v>(
    form: Form,
    message: &'static Message,
    value: &'v Value,
    out: &mut Vec<u8>,
    path: &mut Vec<&'v str>,
) -> Result<(), ProtobufError> {
    match (form, value) {
        (Form::Object, _) => unreachable!("object forms are encoded field by field"),
        (_, Value::Null) => {}
        (Form::Time | Form::MicroTime, Value::String(text)) => {
            let time: jiff::Timestamp = text
                .parse()
                .map_err(|e| error(path, format!("is not an RFC 3339 time: {e}")))?;
            put_varint_field(out, 1, time.as_second() as u64);
            put_varint_field(out, 2, i64::from(time.subsec_nanosecond()) as u64);
        }
        (Form::Quantity, Value::String(text)) => put_bytes(out, 1, text.as_bytes()),
        (Form::Quantity, Value::Number(number)) => put_bytes(out, 1, number.to_string().as_bytes()),
        (Form::IntOrString, Value::Number(_)) => {
            put_varint_field(out, 1, 0);
            encode_single(2, Type::Int32, value, out, path)?;
            put_bytes(out, 3, b"");
        }
        (Form::IntOrString, Value::String(text)) => {
            put_varint_field(out, 1, 1);
            put_varint_field(out, 2, 0);
            put_bytes(out, 3, text.as_bytes());
        }
        (Form::RawJson, _) => {
            let raw = serde_json::to_vec(value).map_err(|e| error(path, e.to_string()))?;
            put_bytes(out, 1, &raw);
        }
        (Form::SchemaOrArray, Value::Object(_)) | (Form::SchemaOrStringArray, Value::Object(_)) => {
            encode_single(1, field_type(message, 1, path)?, value, out, path)?;
        }
        (Form::SchemaOrArray, Value::Array(items)) => {
            let ty = field_type(message, 2, path)?;
            for item in items {
                encode_single(2, ty, item, out, path)?;
            }
        }
        (Form::SchemaOrStringArray, Value::Array(items)) => {
            for item in items {
                encode_single(2, Type::String, item, out, path)?;
            }
        }
        (Form::SchemaOrBool, Value::Bool(allows)) => put_varint_field(out, 1, u64::from(*allows)),
        (Form::SchemaOrBool, Value::Object(_)) => {
            // A schema allows, as Go's decoder sets it.
            put_varint_field(out, 1, 1);
            encode_single(2, field_type(message, 2, path)?, value, out, path)?;
        }
        (form, _) => return Err(error(path, format!("has the wrong JSON type for {form:?}"))),
    }
    Ok(())
}

/// The type of field `number` of a special-form message.
fn field_type(
    message: &'static Message,
    number: u32,
    path: &[&str],
) -> Result<Type, ProtobufError> {
    message
        .field(number)
        .map(|f| f.ty)
        .ok_or_else(|| error(path, format!("{} has no field {number}", message.name)))
}
