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

/// The media type of a protobuf watch stream.
pub const WATCH_MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf;stream=watch";

/// One frame of a protobuf watch stream: a `meta/v1.WatchEvent` message (`type`, and the
/// object's own protobuf body as a `RawExtension`), after its length as four big-endian bytes.
pub fn encode_watch_event(event_type: &str, object: &Value) -> Result<Vec<u8>, ProtobufError> {
    let mut raw_extension = Vec::new();
    put_bytes(&mut raw_extension, 1, &encode(object)?);
    let mut event = Vec::new();
    put_bytes(&mut event, 1, event_type.as_bytes());
    put_bytes(&mut event, 2, &raw_extension);
    let length = u32::try_from(event.len()).map_err(|_| ProtobufError::Unencodable {
        path: "the watch event".to_owned(),
        reason: "is longer than 4 GiB".to_owned(),
    })?;
    let mut frame = length.to_be_bytes().to_vec();
    frame.extend(event);
    Ok(frame)
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

#[cfg(test)]
mod tests {
    use super::*;
    use orchestra_api::kinds;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn every_served_kind_and_its_list_has_a_message() {
        for kind in kinds::BUILTIN {
            let api_version = kind.api_version();
            assert!(supports(&api_version, &kind.kind), "{}", kind.kind);
            assert!(
                supports(&api_version, &kind.list_kind),
                "{}",
                kind.list_kind
            );
        }
        for (api_version, kind) in [
            ("autoscaling/v1", "Scale"),
            ("v1", "Binding"),
            ("policy/v1", "Eviction"),
            ("meta.k8s.io/v1", "DeleteOptions"),
            ("apps/v1", "DeleteOptions"),
        ] {
            assert!(supports(api_version, kind), "{api_version} {kind}");
        }
    }

    #[test]
    fn go_zero_values_are_left_out_and_pointer_zeros_kept() {
        // What client-go writes for `kubectl create deployment --replicas=0`: every plain
        // field, zero or not.
        let mut template_meta = Vec::new();
        wire::put_bytes(&mut template_meta, 2, b""); // generateName
        wire::put_varint_field(&mut template_meta, 7, 0); // generation
        wire::put_bytes(&mut template_meta, 8, b""); // creationTimestamp: Time{}
        let mut spec = Vec::new();
        wire::put_varint_field(&mut spec, 1, 0); // replicas: 0 (a pointer)
        wire::put_varint_field(&mut spec, 5, 0); // minReadySeconds: 0 (plain)
        wire::put_varint_field(&mut spec, 7, 0); // paused: false (plain)
        let mut deployment = Vec::new();
        wire::put_bytes(&mut deployment, 1, &template_meta);
        wire::put_bytes(&mut deployment, 2, &spec);
        let value = decode::message(&messages::APPS_V1_DEPLOYMENT, &deployment).unwrap();
        assert_eq!(value, json!({"metadata": {}, "spec": {"replicas": 0}}));
    }

    #[test]
    fn special_forms_read_back_what_was_written() {
        let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "l", "creationTimestamp": "2024-02-29T23:59:59Z"},
            "spec": {"renewTime": "1969-12-31T23:59:59.500000Z", "leaseDurationSeconds": -1}});
        assert_eq!(decode(&encode(&lease).unwrap()).unwrap(), lease);
        let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
            "spec": {"ports": [{"port": 80, "targetPort": "http"}, {"port": 81, "targetPort": 8081}]}});
        assert_eq!(decode(&encode(&service).unwrap()).unwrap(), service);
    }

    #[test]
    fn values_that_do_not_fit_their_message_are_encoding_errors() {
        let wrong = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": 7}});
        assert_eq!(
            encode(&wrong),
            Err(ProtobufError::Unencodable {
                path: "metadata.name".to_owned(),
                reason: "is not a string".to_owned()
            })
        );
        let unknown = json!({"apiVersion": "example.com/v1", "kind": "Widget"});
        assert!(matches!(
            encode(&unknown),
            Err(ProtobufError::UnknownType { .. })
        ));
    }

    #[test]
    fn compressed_payloads_are_refused() {
        let mut body = encode(&json!({"apiVersion": "v1", "kind": "ConfigMap"})).unwrap();
        body.truncate(body.len() - 4); // drop the empty contentEncoding and contentType
        wire::put_bytes(&mut body, 3, b"gzip");
        assert!(matches!(
            decode(&body),
            Err(ProtobufError::UnsupportedContent { .. })
        ));
    }

    #[test]
    fn errors_name_the_field_they_are_in() {
        // spec.containers[1].image (field 2 of Container) as a varint.
        let mut second = Vec::new();
        put_bytes(&mut second, 1, b"b");
        wire::put_varint_field(&mut second, 2, 7);
        let mut first = Vec::new();
        put_bytes(&mut first, 1, b"a");
        let mut spec = Vec::new();
        put_bytes(&mut spec, 2, &first);
        put_bytes(&mut spec, 2, &second);
        let mut volume = Vec::new();
        put_bytes(&mut volume, 1, b"v");
        put_bytes(&mut volume, 2, &[0x0a, 0x01, 0xff]); // volumeSource.hostPath: not a message
        put_bytes(&mut spec, 1, &volume);
        let mut pod = Vec::new();
        put_bytes(&mut pod, 2, &spec);
        let error = decode::message(&messages::CORE_V1_POD, &pod).unwrap_err();
        assert_eq!(
            error.to_string(),
            "spec.containers[1].image: has wire type Varint where LengthDelimited was expected"
        );
        let mut pod = Vec::new();
        let mut only_volume = Vec::new();
        put_bytes(&mut only_volume, 1, &volume);
        put_bytes(&mut pod, 2, &only_volume);
        let error = decode::message(&messages::CORE_V1_POD, &pod).unwrap_err();
        assert!(
            error.to_string().starts_with("spec.volumes[0].hostPath: "),
            "{error}"
        );
    }

    #[test]
    fn deeply_nested_messages_are_refused_without_exhausting_the_stack() {
        // JSONSchemaProps.not (field 28), each level sent twice so that the second merges
        // into the first.
        let mut nested = Vec::new();
        for _ in 0..10_000 {
            let mut outer = Vec::new();
            put_bytes(&mut outer, 28, b"");
            put_bytes(&mut outer, 28, &nested);
            nested = outer;
        }
        let error =
            decode::message(&messages::APIEXTENSIONS_V1_JSON_SCHEMA_PROPS, &nested).unwrap_err();
        assert!(error.to_string().contains("nest deeper than"), "{error}");
    }

    proptest! {
        #[test]
        fn arbitrary_payloads_never_panic_the_decoder(
            raw in proptest::collection::vec(any::<u8>(), 0..512),
            kind in prop::sample::select(vec![
                ("v1", "Pod"), ("apps/v1", "Deployment"), ("v1", "Secret"),
                ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
                ("coordination.k8s.io/v1", "Lease"), ("v1", "Service"),
            ]),
        ) {
            let mut body = MAGIC.to_vec();
            let mut type_meta = Vec::new();
            put_bytes(&mut type_meta, 1, kind.0.as_bytes());
            put_bytes(&mut type_meta, 2, kind.1.as_bytes());
            put_bytes(&mut body, 1, &type_meta);
            put_bytes(&mut body, 2, &raw);
            let _ = decode(&body);
        }

        #[test]
        fn corrupted_bodies_never_panic_the_decoder(
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        ) {
            let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}],
                    "livenessProbe": {"httpGet": {"port": "http"}}}],
                    "volumes": [{"name": "v", "emptyDir": {"sizeLimit": "1Gi"}}]}});
            let mut body = encode(&pod).unwrap();
            for (index, byte) in flips {
                let i = index.index(body.len());
                body[i] = byte;
            }
            let _ = decode(&body);
        }

        #[test]
        fn config_maps_round_trip(
            name in "[a-z][a-z0-9-]{0,20}",
            data in proptest::collection::btree_map("[A-Za-z0-9._-]{1,10}", ".{0,20}", 0..5),
            binary in proptest::collection::btree_map("[a-z]{1,5}", proptest::collection::vec(any::<u8>(), 0..16), 0..3),
            immutable in any::<bool>(),
        ) {
            use base64::Engine;
            let binary: serde_json::Map<String, Value> = binary
                .into_iter()
                .map(|(k, v)| (k, Value::from(base64::engine::general_purpose::STANDARD.encode(v))))
                .collect();
            let mut config_map = json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name}, "immutable": immutable});
            if !data.is_empty() {
                config_map["data"] = json!(data);
            }
            if !binary.is_empty() {
                config_map["binaryData"] = Value::Object(binary);
            }
            prop_assert_eq!(decode(&encode(&config_map).unwrap()).unwrap(), config_map);
        }
    }
}
