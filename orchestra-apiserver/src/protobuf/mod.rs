//! Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`), which client-go's
//! typed clients (kubectl's `create deployment`, `run`, `drain`, …) send and do not fall back
//! from.
//!
//! A body is the four magic bytes `k8s\0` followed by a `runtime.Unknown` message: the
//! object's `apiVersion` and `kind`, and the object itself as `raw` bytes in the protobuf
//! message of its kind. This module turns such a body into the JSON value Kubernetes' JSON
//! encoding gives for the same object, so that the REST layer decodes, defaults and
//! validates it exactly as a JSON body, and back again for clients that accept only
//! protobuf.
//!
//! The message layouts are a generated table (`messages.rs`, from the `k8s-pb` crate's field
//! numbers and `k8s-openapi`'s JSON names), walked by a small codec: no per-kind code.
//!
//! ```
//! use orchestra_apiserver::protobuf;
//! use serde_json::json;
//!
//! let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap",
//!                         "metadata": {"name": "settings"}, "data": {"mode": "fast"}});
//! let body = protobuf::encode(&config_map).unwrap();
//! assert!(body.starts_with(b"k8s\0"));
//! assert_eq!(protobuf::decode(&body).unwrap(), config_map);
//! ```

mod decode;
mod encode;
#[rustfmt::skip]
mod messages;
mod schema;
mod wire;

use serde_json::Value;

use schema::Message;
use wire::{Reader, put_bytes};

/// The media type of Kubernetes' protobuf encoding.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The bytes every Kubernetes protobuf body starts with.
const MAGIC: &[u8] = b"k8s\0";

/// Why a body could not be decoded or a value not encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    /// The body does not start with `k8s\0`.
    #[error("the body does not start with the Kubernetes protobuf magic bytes \"k8s\\x00\"")]
    MissingMagic,
    /// The bytes are not a valid message.
    #[error("{path}: {reason}")]
    Malformed {
        /// Where in the object (`spec.template.spec.containers[0]`), or `the message`.
        path: String,
        /// What is wrong there.
        reason: String,
    },
    /// The envelope names a type this server has no message for.
    #[error("{api_version:?} {kind:?} is not a type this server decodes from protobuf")]
    UnknownType {
        /// The envelope's `apiVersion`.
        api_version: String,
        /// The envelope's `kind`.
        kind: String,
    },
    /// The envelope's payload is compressed or in another encoding.
    #[error(
        "the envelope's content encoding {encoding:?} and type {content_type:?} are not supported"
    )]
    UnsupportedContent {
        /// `contentEncoding`.
        encoding: String,
        /// `contentType`.
        content_type: String,
    },
    /// A JSON value does not fit its protobuf message.
    #[error("cannot encode {path} as protobuf: it {reason}")]
    Unencodable {
        /// Where in the object.
        path: String,
        /// What does not fit.
        reason: String,
    },
}

/// Decodes a Kubernetes protobuf body into the object's JSON value, `apiVersion` and `kind`
/// included.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or(ProtobufError::MissingMagic)?;
    let unknown = Unknown::decode(envelope)?;
    if !unknown.content_encoding.is_empty()
        || !(unknown.content_type.is_empty() || unknown.content_type == MEDIA_TYPE)
    {
        return Err(ProtobufError::UnsupportedContent {
            encoding: unknown.content_encoding,
            content_type: unknown.content_type,
        });
    }
    let message = message_for(&unknown.api_version, &unknown.kind).ok_or_else(|| {
        ProtobufError::UnknownType {
            api_version: unknown.api_version.clone(),
            kind: unknown.kind.clone(),
        }
    })?;
    let mut value = decode::message(message, unknown.raw)?;
    if let Value::Object(object) = &mut value {
        object.insert("apiVersion".to_owned(), Value::from(unknown.api_version));
        object.insert("kind".to_owned(), Value::from(unknown.kind));
    }
    Ok(value)
}

/// Encodes an object's JSON value (with its `apiVersion` and `kind`) as a Kubernetes
/// protobuf body.
pub fn encode(value: &Value) -> Result<Vec<u8>, ProtobufError> {
    let text = |name: &str| value.get(name).and_then(Value::as_str).unwrap_or("");
    let (api_version, kind) = (text("apiVersion"), text("kind"));
    let message = message_for(api_version, kind).ok_or_else(|| ProtobufError::UnknownType {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
    })?;
    let raw = encode::message(message, value)?;
    let mut type_meta = Vec::new();
    put_bytes(&mut type_meta, 1, api_version.as_bytes());
    put_bytes(&mut type_meta, 2, kind.as_bytes());
    let mut body = Vec::with_capacity(raw.len() + type_meta.len() + 16);
    body.extend_from_slice(MAGIC);
    put_bytes(&mut body, 1, &type_meta);
    put_bytes(&mut body, 2, &raw);
    // Go writes the (empty) content encoding and type too.
    put_bytes(&mut body, 3, b"");
    put_bytes(&mut body, 4, b"");
    Ok(body)
}

/// Whether the server has a protobuf message for this type.
pub fn supports(api_version: &str, kind: &str) -> bool {
    message_for(api_version, kind).is_some()
}

/// The message of a body's type: a served kind or its list, a subresource body, or one of
/// the option and status types every group version carries.
fn message_for(api_version: &str, kind: &str) -> Option<&'static Message> {
    messages::by_type(api_version, kind).or(match (api_version, kind) {
        (_, "DeleteOptions") => Some(&messages::META_V1_DELETE_OPTIONS),
        (_, "Status") => Some(&messages::META_V1_STATUS),
        ("autoscaling/v1", "Scale") => Some(&messages::AUTOSCALING_V1_SCALE),
        ("v1", "Binding") => Some(&messages::CORE_V1_BINDING),
        ("policy/v1", "Eviction") => Some(&messages::POLICY_V1_EVICTION),
        _ => None,
    })
}

/// `runtime.Unknown`: the envelope of every Kubernetes protobuf body.
struct Unknown<'a> {
    /// `typeMeta.apiVersion` (field 1.1).
    api_version: String,
    /// `typeMeta.kind` (field 1.2).
    kind: String,
    /// The object's message (field 2).
    raw: &'a [u8],
    /// `contentEncoding` (field 3): empty for an uncompressed payload.
    content_encoding: String,
    /// `contentType` (field 4): empty for a protobuf payload.
    content_type: String,
}

impl<'a> Unknown<'a> {
    fn decode(bytes: &'a [u8]) -> Result<Self, ProtobufError> {
        let malformed = |reason: &str| ProtobufError::Malformed {
            path: "the envelope".to_owned(),
            reason: reason.to_owned(),
        };
        let text = |bytes: &[u8]| {
            String::from_utf8(bytes.to_vec()).map_err(|_| malformed("holds text that is not UTF-8"))
        };
        let mut unknown = Unknown {
            api_version: String::new(),
            kind: String::new(),
            raw: &[],
            content_encoding: String::new(),
            content_type: String::new(),
        };
        let mut reader = Reader::new(bytes);
        while !reader.is_empty() {
            let (number, wire_type) = reader.key().map_err(malformed)?;
            if !matches!(number, 1..=4) {
                reader.skip(wire_type).map_err(malformed)?;
                continue;
            }
            if wire_type != wire::WireType::LengthDelimited {
                return Err(malformed("has a field of the wrong wire type"));
            }
            let value = reader.length_delimited().map_err(malformed)?;
            match number {
                1 => {
                    let mut type_meta = Reader::new(value);
                    while !type_meta.is_empty() {
                        let (number, wire_type) = type_meta.key().map_err(malformed)?;
                        match (number, wire_type) {
                            (1 | 2, wire::WireType::LengthDelimited) => {
                                let field = text(type_meta.length_delimited().map_err(malformed)?)?;
                                if number == 1 {
                                    unknown.api_version = field;
                                } else {
                                    unknown.kind = field;
                                }
                            }
                            _ => type_meta.skip(wire_type).map_err(malformed)?,
                        }
                    }
                }
                2 => unknown.raw = value,
                3 => unknown.content_encoding = text(value)?,
                _ => unknown.content_type = text(value)?,
            }
        }
        Ok(unknown)
    }
}
