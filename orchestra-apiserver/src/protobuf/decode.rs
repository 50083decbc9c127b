//! Protobuf → JSON: a message's bytes become the JSON value Kubernetes' JSON encoding gives
//! for the same object, member names and the special forms (times, quantities,
//! int-or-strings, raw JSON) included.
//!
//! Go's protobuf encoder writes every plain (non-pointer) field, zero or not, so a body from
//! client-go carries `generateName: ""`, `creationTimestamp: {}`, `paused: false` and the
//! like, which Go's JSON encoder leaves out. The decoder leaves them out too: an empty string
//! in a singular field (except the few pointers to strings where `""` means something), a
//! zero time, and a zero or `false` in a field the table marks as Go plain. Any other zero
//! number or `false` is kept, since in a pointer field (`replicas: 0`,
//! `automountServiceAccountToken: false`) it is a value.

use base64::Engine;
use serde_json::{Map, Number, Value};

use super::ProtobufError;
use super::schema::{Field, Form, Label, Message, Type};
use super::wire::{Reader, WireType};

/// How deeply messages may nest (`JSONSchemaProps` is recursive).
const MAX_DEPTH: usize = 100;

/// Decodes `bytes` as `message` into its JSON value.
pub fn message(message: &'static Message, bytes: &[u8]) -> Result<Value, ProtobufError> {
    Decoder { depth: 0 }.value(message, bytes, &mut Path::root())
}

/// Where in the object the decoder is, for errors (`spec.containers[0].image`).
struct Path(Vec<String>);

impl Path {
    fn root() -> Self {
        Self(Vec::new())
    }

    fn error(&self, reason: impl Into<String>) -> ProtobufError {
        ProtobufError::Malformed {
            path: if self.0.is_empty() {
                "the message".to_owned()
            } else {
                self.0.concat()
            },
            reason: reason.into(),
        }
    }

    fn push(&mut self, segment: String) {
        self.0.push(segment);
    }

    fn pop(&mut self) {
        self.0.pop();
    }
}

struct Decoder {
    depth: usize,
}

impl Decoder {
    /// The JSON value of a message in its form.
    fn value(
        &mut self,
        message: &'static Message,
        bytes: &[u8],
        path: &mut Path,
    ) -> Result<Value, ProtobufError> {
        match message.form {
            Form::Object => {
                let mut object = Map::new();
                self.merge_object(message, bytes, &mut object, path)?;
                Ok(Value::Object(object))
            }
            form => self.special(form, message, bytes, path),
        }
    }

    /// Runs `decode` one message deeper, refusing to go past [`MAX_DEPTH`].
    fn nested<T>(
        &mut self,
        path: &mut Path,
        decode: impl FnOnce(&mut Self, &mut Path) -> Result<T, ProtobufError>,
    ) -> Result<T, ProtobufError> {
        if self.depth >= MAX_DEPTH {
            return Err(path.error(format!("messages nest deeper than {MAX_DEPTH} levels")));
        }
        self.depth += 1;
        let result = decode(self, path);
        self.depth -= 1;
        result
    }

    /// Decodes the fields of an object-form message into `object`.
    fn merge_object(
        &mut self,
        message: &'static Message,
        bytes: &[u8],
        object: &mut Map<String, Value>,
        path: &mut Path,
    ) -> Result<(), ProtobufError> {
        self.nested(path, |decoder, path| {
            decoder.merge_fields(message, bytes, object, path)
        })
    }

    fn merge_fields(
        &mut self,
        message: &'static Message,
        bytes: &[u8],
        object: &mut Map<String, Value>,
        path: &mut Path,
    ) -> Result<(), ProtobufError> {
        let mut reader = Reader::new(bytes);
        while !reader.is_empty() {
            let (number, wire_type) = reader.key().map_err(|e| path.error(e))?;
            let Some(field) = message.field(number) else {
                // A field this version does not know: protobuf skips it.
                reader.skip(wire_type).map_err(|e| path.error(e))?;
                continue;
            };
            if field.label == Label::Inline {
                // Its fields are the enclosing object's: no segment of its own.
                self.field(field, wire_type, &mut reader, object, path)?;
                continue;
            }
            let separator = if path.0.is_empty() { "" } else { "." };
            path.push(format!("{separator}{}", field.json_name));
            let result = self.field(field, wire_type, &mut reader, object, path);
            path.pop();
            result?;
        }
        Ok(())
    }

    /// Decodes one occurrence of `field` into `object`.
    fn field(
        &mut self,
        field: &'static Field,
        wire_type: WireType,
        reader: &mut Reader<'_>,
        object: &mut Map<String, Value>,
        path: &mut Path,
    ) -> Result<(), ProtobufError> {
        let name = field.json_name;
        match field.label {
            Label::Inline => {
                let Type::Message(inner) = field.ty else {
                    return Err(path.error("an inline field must be a message"));
                };
                let bytes = length_delimited(wire_type, reader, path)?;
                self.merge_object(inner, bytes, object, path)
            }
            Label::Map => {
                let entry = length_delimited(wire_type, reader, path)?;
                let (key, value) = self.map_entry(field.ty, entry, path)?;
                let members = object
                    .entry(name)
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(members) = members {
                    members.insert(key, value);
                }
                Ok(())
            }
            Label::Repeated => {
                let list = object
                    .entry(name)
                    .or_insert_with(|| Value::Array(Vec::new()));
                let Value::Array(list) = list else {
                    return Err(path.error("is both a list and a single value"));
                };
                let packable = matches!(
                    field.ty,
                    Type::Bool | Type::Int32 | Type::Int64 | Type::Double
                );
                if packable && wire_type == WireType::LengthDelimited {
                    // A packed list: its elements one after another in one value.
                    let mut packed =
                        Reader::new(reader.length_delimited().map_err(|e| path.error(e))?);
                    let element = if matches!(field.ty, Type::Double) {
                        WireType::Fixed64
                    } else {
                        WireType::Varint
                    };
                    while !packed.is_empty() {
                        self.list_item(field.ty, element, &mut packed, list, path)?;
                    }
                    Ok(())
                } else {
                    self.list_item(field.ty, wire_type, reader, list, path)
                }
            }
            Label::Optional | Label::KeepsEmpty | Label::Plain => {
                if let (Type::Message(inner), Some(Value::Object(existing))) =
                    (field.ty, object.get_mut(name))
                    && inner.form == Form::Object
                {
                    // A repeated occurrence of a message field merges into the first.
                    let bytes = length_delimited(wire_type, reader, path)?;
                    return self.merge_object(inner, bytes, existing, path);
                }
                let value = self.single(field.ty, wire_type, reader, path)?;
                let is_go_zero = match (&value, field.label) {
                    (Value::Null, _) => true,
                    (Value::String(s), Label::Optional) => s.is_empty(),
                    (Value::Bool(b), Label::Plain) => !b,
                    (Value::Number(n), Label::Plain) => n.as_i64() == Some(0),
                    _ => false,
                };
                if is_go_zero {
                    object.remove(name);
                } else {
                    object.insert(name.to_owned(), value);
                }
                Ok(())
            }
        }
    }

    /// Appends one element to a list, its index in the path for errors.
    fn list_item(
        &mut self,
        ty: Type,
        wire_type: WireType,
        reader: &mut Reader<'_>,
        list: &mut Vec<Value>,
        path: &mut Path,
    ) -> Result<(), ProtobufError> {
        path.push(format!("[{}]", list.len()));
        let item = self.single(ty, wire_type, reader, path);
        path.pop();
        list.push(item?);
        Ok(())
    }

    /// One value of a field's type.
    fn single(
        &mut self,
        ty: Type,
        wire_type: WireType,
        reader: &mut Reader<'_>,
        path: &mut Path,
    ) -> Result<Value, ProtobufError> {
        let expected = match ty {
            Type::Bool | Type::Int32 | Type::Int64 => WireType::Varint,
            Type::Double => WireType::Fixed64,
            Type::String | Type::Bytes | Type::Message(_) => WireType::LengthDelimited,
        };
        if wire_type != expected {
            return Err(path.error(format!(
                "has wire type {wire_type:?} where {expected:?} was expected"
            )));
        }
        let error = |e: &'static str| path.error(e);
        Ok(match ty {
            Type::Bool => Value::Bool(reader.varint().map_err(error)? != 0),
            // Negative int32s are sign-extended to ten bytes on the wire.
            Type::Int32 => Value::from(reader.varint().map_err(error)? as i64 as i32),
            Type::Int64 => Value::from(reader.varint().map_err(error)? as i64),
            Type::Double => {
                let number = f64::from_bits(reader.fixed64().map_err(error)?);
                Value::Number(
                    Number::from_f64(number).ok_or_else(|| path.error("is not a finite number"))?,
                )
            }
            Type::String => Value::String(text(reader.length_delimited().map_err(error)?, path)?),
            Type::Bytes => Value::String(
                base64::engine::general_purpose::STANDARD
                    .encode(reader.length_delimited().map_err(error)?),
            ),
            Type::Message(inner) => {
                let bytes = reader.length_delimited().map_err(error)?;
                self.value(inner, bytes, path)?
            }
        })
    }

    /// A `map<string, T>` entry: key 1, value 2; a missing value is the type's zero value.
    fn map_entry(
        &mut self,
        ty: Type,
        bytes: &[u8],
        path: &mut Path,
    ) -> Result<(String, Value), ProtobufError> {
        let mut reader = Reader::new(bytes);
        let (mut key, mut value) = (String::new(), None);
        while !reader.is_empty() {
            let (number, wire_type) = reader.key().map_err(|e| path.error(e))?;
            match number {
                1 => key = text(length_delimited(wire_type, &mut reader, path)?, path)?,
                2 => value = Some(self.single(ty, wire_type, &mut reader, path)?),
                _ => reader.skip(wire_type).map_err(|e| path.error(e))?,
            }
        }
        let value = match (value, ty) {
            (Some(value), _) => value,
            (None, Type::Message(inner)) => self.value(inner, &[], path)?,
            (None, Type::Bool) => Value::Bool(false),
            (None, Type::Int32 | Type::Int64 | Type::Double) => Value::from(0),
            (None, Type::String | Type::Bytes) => Value::String(String::new()),
        };
        Ok((key, value))
    }

    /// A message with a JSON form of its own.
    fn special(
        &mut self,
        form: Form,
        message: &'static Message,
        bytes: &[u8],
        path: &mut Path,
    ) -> Result<Value, ProtobufError> {
        if form == Form::RawJson {
            return raw_json(bytes, path);
        }
        let fields = self.raw_fields(message, bytes, path)?;
        let get = |number: u32| fields.iter().find(|(n, _)| *n == number).map(|(_, v)| v);
        let int = |number: u32| get(number).and_then(Value::as_i64).unwrap_or(0);
        let non_empty_list =
            |number: u32| get(number).filter(|v| v.as_array().is_some_and(|a| !a.is_empty()));
        Ok(match form {
            Form::Object => unreachable!("object forms are decoded field by field"),
            Form::Time | Form::MicroTime => {
                let (seconds, nanos) = (int(1), int(2));
                if seconds == 0 && nanos == 0 {
                    // Go's zero time, which its JSON encoder writes as null.
                    return Ok(Value::Null);
                }
                let time = i32::try_from(nanos)
                    .ok()
                    .and_then(|n| jiff::Timestamp::new(seconds, n).ok())
                    .ok_or_else(|| path.error("is not a valid time"))?;
                let format = if form == Form::Time {
                    "%Y-%m-%dT%H:%M:%SZ"
                } else {
                    "%Y-%m-%dT%H:%M:%S.%6fZ"
                };
                Value::String(time.strftime(format).to_string())
            }
            // Go's zero quantity.
            Form::Quantity => get(1).cloned().unwrap_or_else(|| Value::from("0")),
            Form::IntOrString => match int(1) {
                0 => Value::from(int(2)),
                1 => get(3).cloned().unwrap_or_else(|| Value::from("")),
                other => return Err(path.error(format!("has int-or-string type {other}"))),
            },
            Form::RawJson => unreachable!("raw JSON is read as bytes"),
            Form::SchemaOrArray | Form::SchemaOrStringArray => non_empty_list(2)
                .or_else(|| get(1))
                .cloned()
                .unwrap_or_default(),
            Form::SchemaOrBool => match get(2) {
                Some(schema) => schema.clone(),
                None => Value::Bool(get(1).and_then(Value::as_bool).unwrap_or(false)),
            },
        })
    }

    /// The fields of a special-form message by number, repeated ones gathered into arrays.
    fn raw_fields(
        &mut self,
        message: &'static Message,
        bytes: &[u8],
        path: &mut Path,
    ) -> Result<Vec<(u32, Value)>, ProtobufError> {
        let mut object = Map::new();
        self.merge_object_keeping_empty(message, bytes, &mut object, path)?;
        Ok(message
            .fields
            .iter()
            .filter_map(|f| object.remove(f.json_name).map(|v| (f.number, v)))
            .collect())
    }

    /// Like [`Self::merge_object`], keeping empty strings (a quantity or an int-or-string's
    /// string may be empty).
    fn merge_object_keeping_empty(
        &mut self,
        message: &'static Message,
        bytes: &[u8],
        object: &mut Map<String, Value>,
        path: &mut Path,
    ) -> Result<(), ProtobufError> {
        self.nested(path, |decoder, path| {
            decoder.merge_fields_keeping_empty(message, bytes, object, path)
        })
    }

    fn merge_fields_keeping_empty(
        &mut self,
        message: &'static Message,
        bytes: &[u8],
        object: &mut Map<String, Value>,
        path: &mut Path,
    ) -> Result<(), ProtobufError> {
        let mut reader = Reader::new(bytes);
        while !reader.is_empty() {
            let (number, wire_type) = reader.key().map_err(|e| path.error(e))?;
            match message.field(number) {
                Some(field) if field.label == Label::Optional => {
                    let value = self.single(field.ty, wire_type, &mut reader, path)?;
                    object.insert(field.json_name.to_owned(), value);
                }
                Some(field) => self.field(field, wire_type, &mut reader, object, path)?,
                None => reader.skip(wire_type).map_err(|e| path.error(e))?,
            }
        }
        Ok(())
    }
}

fn length_delimited<'a>(
    wire_type: WireType,
    reader: &mut Reader<'a>,
    path: &Path,
) -> Result<&'a [u8], ProtobufError> {
    if wire_type != WireType::LengthDelimited {
        return Err(path.error(format!(
            "has wire type {wire_type:?} where LengthDelimited was expected"
        )));
    }
    reader.length_delimited().map_err(|e| path.error(e))
}

/// The JSON held in field 1 (`raw`) of a `RawExtension`, `FieldsV1` or `JSON`.
fn raw_json(bytes: &[u8], path: &Path) -> Result<Value, ProtobufError> {
    let mut reader = Reader::new(bytes);
    let mut raw: &[u8] = &[];
    while !reader.is_empty() {
        match reader.key().map_err(|e| path.error(e))? {
            (1, wire_type) => raw = length_delimited(wire_type, &mut reader, path)?,
            (_, wire_type) => reader.skip(wire_type).map_err(|e| path.error(e))?,
        }
    }
    if raw.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(raw).map_err(|e| path.error(format!("does not hold JSON: {e}")))
}

fn text(bytes: &[u8], path: &Path) -> Result<String, ProtobufError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| path.error("is not valid UTF-8"))
}
