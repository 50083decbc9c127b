//! Responses: objects, lists, tables and `Status` errors in Kubernetes' wire format: JSON,
//! or Kubernetes protobuf for objects and lists when the client accepts nothing else.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orchestra_api::{ArcObject, ObjectList, ResourceKind, Status, WatchEvent};

use super::table::{IncludeObject, table};
use crate::protobuf;

/// How a response should be rendered, from the request's `Accept` and query.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rendering {
    /// `Accept: application/json;as=Table;g=meta.k8s.io;v=v1`.
    pub as_table: bool,
    /// `includeObject` for tables.
    pub include: IncludeObject,
    /// `pretty=true`.
    pub pretty: bool,
    /// The `Accept` header names only `application/vnd.kubernetes.protobuf`: objects and
    /// lists are answered in protobuf (a client that also accepts JSON gets JSON).
    pub protobuf: bool,
}

impl Rendering {
    /// Reads the rendering a request asks for.
    pub fn from_request(accept: Option<&str>, include: Option<&str>, pretty: bool) -> Self {
        let as_table = accept.is_some_and(|a| {
            a.split(',').any(|media| {
                let params: Vec<&str> = media.split(';').map(str::trim).collect();
                params.contains(&"as=Table") && params.contains(&"g=meta.k8s.io")
            })
        });
        let include = match include {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        };
        let protobuf = accept.is_some_and(|a| {
            a.split(',')
                .all(|media| media.split(';').next().map(str::trim) == Some(protobuf::MEDIA_TYPE))
        });
        Self {
            as_table,
            include,
            pretty,
            protobuf: protobuf && !as_table,
        }
    }
}

/// A protobuf response with the given status code, for the JSON value of an object or list.
fn protobuf_response(code: StatusCode, value: &serde_json::Value, warnings: &[String]) -> Response {
    match protobuf::encode(value) {
        Ok(body) => {
            let mut response = json_response(code, body, warnings);
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(protobuf::MEDIA_TYPE),
            );
            response
        }
        Err(protobuf::ProtobufError::UnknownType { api_version, kind }) => {
            status_response(&Status::not_acceptable(format!(
                "{api_version} {kind} has no protobuf encoding; accept application/json"
            )))
        }
        Err(e) => status_response(&Status::internal(e)),
    }
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

/// A `Status` error response.
pub fn status_response(status: &Status) -> Response {
    let code = StatusCode::from_u16(status.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(status).unwrap_or_default();
    json_response(code, body, &[])
}

/// Any serializable value as a JSON response.
pub fn value_response(
    code: StatusCode,
    value: &impl serde::Serialize,
    rendering: Rendering,
) -> Response {
    match serde_json::to_value(value) {
        Ok(value) => json_response(code, maybe_pretty(&value, rendering.pretty), &[]),
        Err(e) => status_response(&Status::internal(format!(
            "cannot encode the response: {e}"
        ))),
    }
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
        return json_response(code, maybe_pretty(&t, rendering.pretty), warnings);
    }
    if rendering.protobuf {
        return match object.to_value() {
            Ok(value) => protobuf_response(code, &value, warnings),
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
        return json_response(StatusCode::OK, maybe_pretty(&t, rendering.pretty), &[]);
    }
    let mut metadata = serde_json::json!({ "resourceVersion": list.resource_version });
    if let Some(token) = &list.continue_token {
        metadata["continue"] = serde_json::Value::from(token.as_str());
    }
    if let Some(remaining) = list.remaining_item_count {
        metadata["remainingItemCount"] = serde_json::Value::from(remaining);
    }
    if rendering.pretty || rendering.protobuf {
        let items: Vec<serde_json::Value> = list
            .items
            .iter()
            .filter_map(|o| o.to_value().ok())
            .collect();
        let value = serde_json::json!({
            "kind": kind.list_kind, "apiVersion": kind.api_version(),
            "metadata": metadata, "items": items,
        });
        if rendering.protobuf {
            return protobuf_response(StatusCode::OK, &value, &[]);
        }
        return json_response(StatusCode::OK, maybe_pretty(&value, true), &[]);
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
        HeaderValue::from_static(if rendering.protobuf {
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
