//! Responses: objects, lists, tables, discovery documents and `Status` errors in Kubernetes'
//! wire format, in the encoding the request's `Accept` header negotiates (see
//! [`super::negotiation`]): JSON, YAML, or Kubernetes protobuf.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orchestra_api::{ArcObject, ObjectList, ResourceKind, Status, WatchEvent};

use super::negotiation::{self, Encoding, Endpoint};
use super::table::{IncludeObject, table};
use crate::protobuf;

/// How a response should be rendered, from the request's `Accept` and query.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rendering {
    /// `Accept: application/json;as=Table;g=meta.k8s.io;v=v1` (or YAML).
    pub as_table: bool,
    /// `includeObject` for tables.
    pub include: IncludeObject,
    /// `pretty=true`.
    pub pretty: bool,
    /// The negotiated encoding. Protobuf only when the client accepts nothing else (a client
    /// that also accepts JSON gets JSON).
    pub encoding: Encoding,
}

impl Rendering {
    /// The rendering a request asks for from `endpoint`, or Kubernetes' `406` when its
    /// `Accept` header names nothing the endpoint can write.
    pub fn negotiate(
        accept: Option<&str>,
        endpoint: Endpoint,
        include: Option<&str>,
        pretty: bool,
    ) -> Result<Self, Status> {
        let negotiated = negotiation::negotiate(accept, endpoint)
            .ok_or_else(|| negotiation::not_acceptable(endpoint))?;
        let include = match include {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        };
        Ok(Self {
            as_table: negotiated.as_table,
            include,
            pretty,
            encoding: negotiated.encoding,
        })
    }

    /// Whether bodies are Kubernetes protobuf.
    pub fn protobuf(&self) -> bool {
        self.encoding == Encoding::Protobuf
    }
}

/// A protobuf response with the given status code, for the JSON value of an object or list.
fn protobuf_response(code: StatusCode, value: &serde_json::Value, warnings: &[String]) -> Response {
    match protobuf::encode(value) {
        Ok(body) => encoded_response(code, body, Encoding::Protobuf, warnings),
        Err(protobuf::ProtobufError::UnknownType { api_version, kind }) => {
            status_response(&Status::not_acceptable(format!(
                "{api_version} {kind} has no protobuf encoding; accept application/json"
            )))
        }
        Err(e) => status_response(&Status::internal(e)),
    }
}

/// A YAML response with the given status code.
fn yaml_response(code: StatusCode, value: &serde_json::Value, warnings: &[String]) -> Response {
    match serde_yaml_ng::to_string(value) {
        Ok(text) => encoded_response(code, text.into_bytes(), Encoding::Yaml, warnings),
        Err(e) => status_response(&Status::internal(format!(
            "cannot encode the response as YAML: {e}"
        ))),
    }
}

/// A JSON or YAML response for a value (a table, a list built as a value, a discovery
/// document), as the rendering asks; protobuf is not for these.
fn text_response(
    code: StatusCode,
    value: &serde_json::Value,
    rendering: Rendering,
    warnings: &[String],
) -> Response {
    match rendering.encoding {
        Encoding::Yaml => yaml_response(code, value, warnings),
        Encoding::Json | Encoding::Protobuf => {
            json_response(code, maybe_pretty(value, rendering.pretty), warnings)
        }
    }
}

/// A response with a body in `encoding`, and a `Warning` header per warning.
fn encoded_response(
    code: StatusCode,
    body: Vec<u8>,
    encoding: Encoding,
    warnings: &[String],
) -> Response {
    let mut response = json_response(code, body, warnings);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(encoding.media_type()),
    );
    response
}

/// A JSON response with the given status code.
pub fn json_response(code: StatusCode, body: Vec<u8>, warnings: &[String]) -> Response {
    let mut response = (code, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for warning in warnings {
        let text = format!("299 - {:?}", warning);
        if let Ok(value) = HeaderValue::from_str(&text) {
            headers.append(header::WARNING, value);
        }
    }
    response
}

fn maybe_pretty(value: &serde_json::Value, pretty: bool) -> Vec<u8> {
    let encoded = if pretty {
        serde_json::to_vec_pretty(value)
    } else {
        serde_json::to_vec(value)
    };
    encoded.unwrap_or_default()
}

/// A `Status` error response in JSON.
pub fn status_response(status: &Status) -> Response {
    let code = StatusCode::from_u16(status.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(status).unwrap_or_default();
    json_response(code, body, &[])
}

/// A `Status` error response in the encoding the request's `Accept` header negotiates (YAML
/// for a client that accepts only YAML, a `k8s\0`-enveloped `meta.v1.Status` for one that
/// accepts only protobuf). Tables are not errors' to give: a header that names nothing else
/// writable, or nothing writable at all, gets JSON, and the error keeps its own code.
pub fn negotiated_status_response(status: &Status, accept: Option<&str>) -> Response {
    let encoding = negotiation::negotiate(accept, Endpoint::Plain)
        .map(|negotiated| negotiated.encoding)
        .unwrap_or_default();
    let code = StatusCode::from_u16(status.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let value = match serde_json::to_value(status) {
        Ok(value) => value,
        Err(_) => return status_response(status),
    };
    match encoding {
        Encoding::Json => status_response(status),
        Encoding::Yaml => yaml_response(code, &value, &[]),
        Encoding::Protobuf => match protobuf::encode(&value) {
            Ok(body) => encoded_response(code, body, Encoding::Protobuf, &[]),
            Err(_) => status_response(status),
        },
    }
}

/// Any serializable value (a discovery document, a `Status` of success) as a response in the
/// negotiated encoding; a value without a protobuf encoding is answered in JSON.
pub fn value_response(
    code: StatusCode,
    value: &impl serde::Serialize,
    rendering: Rendering,
) -> Response {
    let value = match serde_json::to_value(value) {
        Ok(value) => value,
        Err(e) => {
            return status_response(&Status::internal(format!(
                "cannot encode the response: {e}"
            )));
        }
    };
    if rendering.protobuf()
        && let Ok(body) = protobuf::encode(&value)
    {
        return encoded_response(code, body, Encoding::Protobuf, &[]);
    }
    text_response(code, &value, rendering, &[])
}

/// One object (or a one-row table).
pub fn object_response(
    code: StatusCode,
    kind: &ResourceKind,
    object: &ArcObject,
    rendering: Rendering,
    warnings: &[String],
) -> Response {
    if rendering.as_table {
        let rv = object
            .metadata()
            .resource_version
            .clone()
            .unwrap_or_default();
        let t = table(
            kind,
            std::slice::from_ref(object),
            &rv,
            None,
            rendering.include,
        );
        return text_response(code, &t, rendering, warnings);
    }
    if rendering.encoding != Encoding::Json {
        return match object.to_value() {
            Ok(value) if rendering.protobuf() => protobuf_response(code, &value, warnings),
            Ok(value) => yaml_response(code, &value, warnings),
            Err(e) => status_response(&Status::internal(format!("cannot encode the object: {e}"))),
        };
    }
    let body = if rendering.pretty {
        object.to_value().map(|v| maybe_pretty(&v, true))
    } else {
        object.to_json()
    };
    match body {
        Ok(body) => json_response(code, body, warnings),
        Err(e) => status_response(&Status::internal(format!("cannot encode the object: {e}"))),
    }
}

/// A list (`PodList`, …) or a table of its items.
pub fn list_response(kind: &ResourceKind, list: &ObjectList, rendering: Rendering) -> Response {
    if rendering.as_table {
        let t = table(
            kind,
            &list.items,
            &list.resource_version,
            list.continue_token.as_deref(),
            rendering.include,
        );
        return text_response(StatusCode::OK, &t, rendering, &[]);
    }
    let mut metadata = serde_json::json!({ "resourceVersion": list.resource_version });
    if let Some(token) = &list.continue_token {
        metadata["continue"] = serde_json::Value::from(token.as_str());
    }
    if let Some(remaining) = list.remaining_item_count {
        metadata["remainingItemCount"] = serde_json::Value::from(remaining);
    }
    if rendering.pretty || rendering.encoding != Encoding::Json {
        let items: Vec<serde_json::Value> = list
            .items
            .iter()
            .filter_map(|o| o.to_value().ok())
            .collect();
        let value = serde_json::json!({
            "kind": kind.list_kind, "apiVersion": kind.api_version(),
            "metadata": metadata, "items": items,
        });
        if rendering.protobuf() {
            return protobuf_response(StatusCode::OK, &value, &[]);
        }
        return text_response(StatusCode::OK, &value, rendering, &[]);
    }
    // Each item is encoded once and spliced in, without an intermediate value.
    let mut body = Vec::with_capacity(64 + list.items.len() * 1024);
    body.extend_from_slice(b"{\"kind\":");
    body.extend_from_slice(&serde_json::to_vec(kind.list_kind.as_ref()).unwrap_or_default());
    body.extend_from_slice(b",\"apiVersion\":");
    body.extend_from_slice(&serde_json::to_vec(&kind.api_version()).unwrap_or_default());
    body.extend_from_slice(b",\"metadata\":");
    body.extend_from_slice(&serde_json::to_vec(&metadata).unwrap_or_default());
    body.extend_from_slice(b",\"items\":[");
    for (i, item) in list.items.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        match item.to_json() {
            Ok(json) => body.extend_from_slice(&json),
            Err(e) => {
                return status_response(&Status::internal(format!("cannot encode an item: {e}")));
            }
        }
    }
    body.extend_from_slice(b"]}");
    json_response(StatusCode::OK, body, &[])
}

/// A streaming response (watch): newline-delimited JSON events, or length-prefixed protobuf
/// frames (see [`protobuf_watch_frame`]) for clients that accept only protobuf.
pub fn stream_response(body: Body, rendering: Rendering) -> Response {
    let mut response = Response::new(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if rendering.protobuf() {
            protobuf::WATCH_MEDIA_TYPE
        } else {
            "application/json"
        }),
    );
    response
}

/// One watch event as a frame of Kubernetes' protobuf watch stream; an object that cannot be
/// encoded becomes an `ERROR` event.
pub fn protobuf_watch_frame(kind: &ResourceKind, event: WatchEvent<ArcObject>) -> Vec<u8> {
    let (event_type, object) = match event {
        WatchEvent::Added(o) => ("ADDED", o.to_value()),
        WatchEvent::Modified(o) => ("MODIFIED", o.to_value()),
        WatchEvent::Deleted(o) => ("DELETED", o.to_value()),
        WatchEvent::Bookmark(mut bookmark) => {
            if bookmark.kind.is_empty() {
                bookmark.kind = kind.kind.to_string();
                bookmark.api_version = kind.api_version();
            }
            ("BOOKMARK", serde_json::to_value(bookmark))
        }
        WatchEvent::Error(status) => ("ERROR", serde_json::to_value(status)),
    };
    let frame = object
        .map_err(|e| Status::internal(format!("cannot encode the object: {e}")))
        .and_then(|value| {
            protobuf::encode_watch_event(event_type, &value).map_err(Status::internal)
        });
    frame.unwrap_or_else(|status| {
        serde_json::to_value(status)
            .ok()
            .and_then(|value| protobuf::encode_watch_event("ERROR", &value).ok())
            .unwrap_or_default()
    })
}
