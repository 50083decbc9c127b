//! The Kubernetes REST surface: every served kind on Kubernetes' paths, with discovery,
//! list/watch streaming, patches, subresources and `Table` output, in front of any
//! `orchestra_api::Client` (in the all-in-one server, the store's `LocalClient`).
//!
//! ```no_run
//! # async fn demo(client: std::sync::Arc<dyn orchestra_api::Client>) {
//! use std::sync::Arc;
//! use orchestra_apiserver::rest::{router, RestState};
//! let app: axum::Router = router(Arc::new(RestState::new(client, "127.0.0.1:6443")));
//! # }
//! ```

pub mod aggregated_discovery;
pub mod body;
pub mod discovery;
pub mod etagged;
pub mod negotiation;
pub mod params;
pub mod patch_body;
pub mod path;
pub mod response;
pub mod table;
pub mod watch_frames;

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use futures::StreamExt;
use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::api::core::v1::Binding;
use k8s_openapi::api::policy::v1::Eviction;
use orchestra_api::{
    ArcObject, Client, DeleteOutcome, DeleteParams, FieldValidation, Patch, Preconditions,
    ResourceKind, Status, Subresource, WatchEvent,
};
use serde_json::Value;

use crate::serve::ShutdownSignal;
use body::{BodyFormat, MAX_BODY_BYTES};
use negotiation::Endpoint;
use params::Query;
use patch_body::PatchBody;
use path::{ApiPath, ResourcePath};
use response::{
    Rendering, json_response, list_response, negotiated_status_response, object_response,
    stream_response, value_response,
};
use watch_frames::{FrameEncoding, WatchFrames};

/// What the REST handlers serve from.
pub struct RestState {
    client: Arc<dyn Client>,
    server_address: String,
    frames: Arc<watch_frames::WatchFrames>,
}

impl RestState {
    /// Handlers over `client`, advertising `server_address` in discovery.
    pub fn new(client: Arc<dyn Client>, server_address: impl Into<String>) -> Self {
        Self {
            client,
            server_address: server_address.into(),
            frames: Arc::default(),
        }
    }
}

/// The version this server reports: the Kubernetes version whose API it serves.
pub fn version_info() -> Value {
    serde_json::json!({
        "major": "1",
        "minor": "33",
        "gitVersion": concat!("v1.33.0-orchestra.", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "n/a",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
    })
}

/// The router serving the Kubernetes API under `/api` and `/apis`, plus `/version` and the
/// health endpoints.
pub fn router(state: Arc<RestState>) -> Router {
    Router::new()
        .route("/version", get(|| async { axum::Json(version_info()) }))
        .route("/readyz", get(|| async { "ok" }))
        .route("/livez", get(|| async { "ok" }))
        .route("/healthz", get(|| async { "ok" }))
        .merge(crate::openapi::routes())
        .fallback(dispatch)
        .with_state(state)
}

/// Kubernetes' answer for a path that addresses nothing.
fn not_found_path(path: &str) -> Status {
    tracing::debug!(path, "no such API path");
    Status::failure(
        orchestra_api::StatusReason::NotFound,
        "the server could not find the requested resource",
    )
    .with_details(orchestra_api::status::StatusDetails::default())
}

async fn dispatch(State(state): State<Arc<RestState>>, request: Request) -> Response {
    let accept = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match handle(&state, request).await {
        Ok(response) => response,
        Err(status) => negotiated_status_response(&status, accept.as_deref()),
    }
}

/// Everything a handler needs from the request.
struct Call {
    method: Method,
    query: Query,
    content_type: Option<String>,
    /// The `Accept` header.
    accept: Option<String>,
    /// How objects and lists are written (negotiated for object endpoints).
    rendering: Rendering,
    body: Bytes,
    /// Fires when the server shuts down; open watches end then.
    shutdown: Option<ShutdownSignal>,
}

async fn handle(state: &RestState, request: Request) -> Result<Response, Status> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let query = Query::parse(parts.uri.query()).with_user_agent(
        parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
    );
    let header_text = |name| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let accept = header_text(header::ACCEPT);
    let parsed = path::parse(&path).map_err(|_| not_found_path(&path))?;
    if let Some(aggregated) = aggregated_discovery::respond(
        &parsed,
        accept.as_deref(),
        header_text(header::IF_NONE_MATCH).as_deref(),
    ) {
        return if parts.method == Method::GET {
            Ok(aggregated)
        } else {
            Err(Status::method_not_allowed())
        };
    }
    let endpoint = match parsed {
        ApiPath::Resource(_) => Endpoint::Object,
        _ => Endpoint::Plain,
    };
    let rendering = Rendering::negotiate(
        accept.as_deref(),
        endpoint,
        query.get("includeObject"),
        query.pretty(),
    )?;
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES + 1)
        .await
        .map_err(|_| Status::request_entity_too_large(MAX_BODY_BYTES))?;
    if body.len() > MAX_BODY_BYTES {
        return Err(Status::request_entity_too_large(MAX_BODY_BYTES));
    }
    let call = Call {
        method: parts.method.clone(),
        query,
        content_type: header_text(header::CONTENT_TYPE),
        accept,
        rendering,
        body,
        shutdown: parts.extensions.get::<ShutdownSignal>().cloned(),
    };
    let get_only = |response: Response| {
        if call.method == Method::GET {
            Ok(response)
        } else {
            Err(Status::method_not_allowed())
        }
    };
    match parsed {
        ApiPath::LegacyRoot => get_only(value_response(
            StatusCode::OK,
            &discovery::legacy_versions(&state.server_address),
            call.rendering,
        )),
        ApiPath::GroupsRoot => get_only(value_response(
            StatusCode::OK,
            &discovery::group_list(),
            call.rendering,
        )),
        ApiPath::Group(group) => {
            let found = discovery::group(&group).ok_or_else(|| not_found_path(&path))?;
            get_only(value_response(StatusCode::OK, &found, call.rendering))
        }
        ApiPath::GroupVersion { group, version } => {
            let found =
                discovery::resource_list(&group, &version).ok_or_else(|| not_found_path(&path))?;
            get_only(value_response(StatusCode::OK, &found, call.rendering))
        }
        ApiPath::Resource(resource) => resource_call(state, resource, call).await,
    }
}

fn subresource_of(name: &str) -> Option<Subresource> {
    match name {
        "status" => Some(Subresource::Status),
        "scale" => Some(Subresource::Scale),
        "binding" => Some(Subresource::Binding),
        "eviction" => Some(Subresource::Eviction),
        "finalize" => Some(Subresource::Finalize),
        _ => None,
    }
}

/// The field validation a write gets: Kubernetes' server default is `Warn`; kubectl asks
/// for `Strict` explicitly.
fn field_validation(params: Option<FieldValidation>) -> FieldValidation {
    params.unwrap_or(FieldValidation::Warn)
}

async fn resource_call(state: &RestState, r: ResourcePath, call: Call) -> Result<Response, Status> {
    let kind: &'static ResourceKind = r.kind;
    let ns = r.namespace.as_deref();
    let client = &state.client;
    let sub = match r.subresource.as_deref() {
        None => None,
        Some(name) => match (kind.subresource(name), subresource_of(name)) {
            (Some(_), Some(sub)) => Some(sub),
            _ => {
                return Err(Status::not_found(
                    &kind.group,
                    &format!("{}/{name}", kind.plural),
                    r.name.as_deref().unwrap_or(""),
                ));
            }
        },
    };
    let rendering = call.rendering;
    match (call.method.clone(), r.name.as_deref(), sub) {
        // Collections.
        (Method::GET, None, None) => {
            if call.query.is_watch()? {
                let rendering = stream_rendering(&call)?;
                let params = call.query.watch_params()?;
                let stream = client.watch(kind, ns, &params).await?;
                return Ok(watch_response(
                    kind,
                    stream,
                    rendering,
                    call.shutdown.clone(),
                    state.frames.clone(),
                ));
            }
            let list = client.list(kind, ns, &call.query.list_params()?).await?;
            Ok(list_response(kind, &list, rendering))
        }
        (Method::POST, None, None) => {
            let params = call.query.post_params()?;
            let decoded = body::decode_object(
                kind,
                &call.body,
                BodyFormat::of(call.content_type.as_deref())?,
                field_validation(params.field_validation),
            )?;
            let created = client
                .create(kind, ns, Arc::from(decoded.value), &params)
                .await?;
            Ok(object_response(
                StatusCode::CREATED,
                kind,
                &created,
                rendering,
                &decoded.warnings,
            ))
        }
        (Method::DELETE, None, None) => {
            let params = delete_params(&call)?;
            let list = call.query.list_params()?;
            let deleted = client.delete_collection(kind, ns, &list, &params).await?;
            Ok(list_response(kind, &deleted, rendering))
        }
        // One object.
        (Method::GET, Some(name), None) => {
            if call.query.is_watch()? {
                let rendering = stream_rendering(&call)?;
                let mut params = call.query.watch_params()?;
                let by_name = format!("metadata.name={name}");
                params.field_selector = Some(match params.field_selector.take() {
                    Some(f) if !f.is_empty() => format!("{f},{by_name}"),
                    _ => by_name,
                });
                let stream = client.watch(kind, ns, &params).await?;
                return Ok(watch_response(
                    kind,
                    stream,
                    rendering,
                    call.shutdown.clone(),
                    state.frames.clone(),
                ));
            }
            let obj = client.get(kind, ns, name, &call.query.get_params()).await?;
            Ok(object_response(StatusCode::OK, kind, &obj, rendering, &[]))
        }
        (Method::PUT, Some(name), None | Some(Subresource::Status | Subresource::Finalize)) => {
            let params = call.query.post_params()?;
            let decoded = body::decode_object(
                kind,
                &call.body,
                BodyFormat::of(call.content_type.as_deref())?,
                field_validation(params.field_validation),
            )?;
            let updated = client
                .replace(kind, ns, name, sub, Arc::from(decoded.value), &params)
                .await?;
            Ok(object_response(
                StatusCode::OK,
                kind,
                &updated,
                rendering,
                &decoded.warnings,
            ))
        }
        (Method::PATCH, Some(name), None | Some(Subresource::Status | Subresource::Scale)) => {
            let body = PatchBody::parse(call.content_type.as_deref(), &call.body)?;
            let mut params = call
                .query
                .patch_params(matches!(body.patch, Patch::Apply(_)))?;
            let validation = field_validation(params.field_validation);
            params.field_validation = Some(validation);
            let mut warnings = body.validate(validation)?;
            let mut patched = client
                .patch_outcome(kind, ns, name, sub, &body.patch, &params)
                .await?;
            warnings.append(&mut patched.warnings);
            // An apply that created the object is answered as a create.
            let code = if patched.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(object_response(
                code,
                kind,
                &patched.object,
                rendering,
                &warnings,
            ))
        }
        (Method::DELETE, Some(name), None) => {
            let params = delete_params(&call)?;
            let outcome = client.delete(kind, ns, name, &params).await?;
            let (code, obj) = match outcome {
                DeleteOutcome::Deleted(obj) => (StatusCode::OK, obj),
                DeleteOutcome::Pending(obj) => (StatusCode::OK, obj),
            };
            Ok(object_response(code, kind, &obj, rendering, &[]))
        }
        // Subresources.
        (Method::GET, Some(name), Some(sub @ (Subresource::Status | Subresource::Scale))) => {
            let obj = client.get_subresource(kind, ns, name, sub).await?;
            Ok(object_response(StatusCode::OK, kind, &obj, rendering, &[]))
        }
        (Method::PUT, Some(name), Some(Subresource::Scale)) => {
            let scale: Scale = body::decode_typed(&call.body, call.content_type.as_deref())?;
            let params = call.query.post_params()?;
            let obj = client
                .replace(
                    kind,
                    ns,
                    name,
                    Some(Subresource::Scale),
                    Arc::new(scale),
                    &params,
                )
                .await?;
            Ok(object_response(StatusCode::OK, kind, &obj, rendering, &[]))
        }
        (Method::POST, Some(name), Some(Subresource::Binding)) => {
            let binding: Binding = body::decode_typed(&call.body, call.content_type.as_deref())?;
            let params = call.query.post_params()?;
            client
                .create_subresource(
                    kind,
                    ns,
                    name,
                    Subresource::Binding,
                    Arc::new(binding) as ArcObject,
                    &params,
                )
                .await?;
            Ok(value_response(
                StatusCode::CREATED,
                &Status::success(None),
                rendering,
            ))
        }
        (Method::POST, Some(name), Some(Subresource::Eviction)) => {
            let eviction: Eviction = body::decode_typed(&call.body, call.content_type.as_deref())?;
            let params = call.query.post_params()?;
            client
                .create_subresource(
                    kind,
                    ns,
                    name,
                    Subresource::Eviction,
                    Arc::new(eviction) as ArcObject,
                    &params,
                )
                .await?;
            Ok(value_response(
                StatusCode::CREATED,
                &Status::success(None),
                rendering,
            ))
        }
        _ => Err(Status::method_not_allowed()),
    }
}

/// The rendering of a watch: its `Accept` header negotiated again for a stream, which cannot
/// be YAML.
fn stream_rendering(call: &Call) -> Result<Rendering, Status> {
    Rendering::negotiate(
        call.accept.as_deref(),
        Endpoint::Stream,
        call.query.get("includeObject"),
        call.query.pretty(),
    )
}

/// Delete parameters from the query and a `DeleteOptions` body.
fn delete_params(call: &Call) -> Result<DeleteParams, Status> {
    let mut params = call.query.delete_params()?;
    if call.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(params);
    }
    let format = BodyFormat::of(call.content_type.as_deref())?;
    let (options, _) = body::parse_value(&call.body, format)?;
    if let Some(grace) = options.get("gracePeriodSeconds").and_then(Value::as_i64) {
        params.grace_period_seconds = Some(grace);
    }
    if let Some(policy) = options.get("propagationPolicy").and_then(Value::as_str) {
        params.propagation_policy = Some(params::parse_propagation(policy)?);
    }
    if options.get("orphanDependents").and_then(Value::as_bool) == Some(true) {
        params.propagation_policy = Some(orchestra_api::PropagationPolicy::Orphan);
    }
    if let Some(dry) = options.get("dryRun").and_then(Value::as_array) {
        params.dry_run = dry.iter().any(|d| d == "All");
    }
    if let Some(pre) = options.get("preconditions").filter(|p| p.is_object()) {
        params.preconditions = Some(Preconditions {
            uid: pre.get("uid").and_then(Value::as_str).map(str::to_owned),
            resource_version: pre
                .get("resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_owned),
        });
    }
    Ok(params)
}

/// A watch as a chunked stream of newline-delimited watch events, ending cleanly when the
/// server shuts down.
fn watch_response(
    kind: &'static ResourceKind,
    stream: orchestra_api::WatchStream,
    rendering: Rendering,
    shutdown: Option<ShutdownSignal>,
    frames: Arc<WatchFrames>,
) -> Response {
    let stream = match shutdown {
        Some(signal) => stream
            .take_until(async move { signal.triggered().await })
            .boxed(),
        None => stream,
    };
    let lines = stream.map(move |event| {
        Ok::<Bytes, std::convert::Infallible>(watch_frame(&frames, kind, event, rendering))
    });
    stream_response(Body::from_stream(lines), rendering)
}

/// One event as the watch sends it; the frames of objects are shared with every other watch
/// that sends the same event in the same encoding ([`WatchFrames`]).
fn watch_frame(
    frames: &WatchFrames,
    kind: &'static ResourceKind,
    event: WatchEvent<ArcObject>,
    rendering: Rendering,
) -> Bytes {
    let encode = move |event| {
        if rendering.protobuf() {
            response::protobuf_watch_frame(kind, event)
        } else {
            encode_event(kind, event, rendering)
        }
    };
    let (event_type, object) = match &event {
        WatchEvent::Added(o) => ("ADDED", o.clone()),
        WatchEvent::Modified(o) => ("MODIFIED", o.clone()),
        WatchEvent::Deleted(o) => ("DELETED", o.clone()),
        // Tables depend on the request's columns; bookmarks and errors are the watch's own.
        WatchEvent::Bookmark(_) | WatchEvent::Error(_) => return Bytes::from(encode(event)),
    };
    if rendering.as_table {
        return Bytes::from(encode(event));
    }
    let encoding = if rendering.protobuf() {
        FrameEncoding::Protobuf
    } else {
        FrameEncoding::Json
    };
    frames.frame(&object, event_type, encoding, || encode(event))
}

fn encode_event(
    kind: &ResourceKind,
    event: WatchEvent<ArcObject>,
    rendering: Rendering,
) -> Vec<u8> {
    let (kind_name, object) = match event {
        WatchEvent::Added(o) => ("ADDED", o),
        WatchEvent::Modified(o) => ("MODIFIED", o),
        WatchEvent::Deleted(o) => ("DELETED", o),
        WatchEvent::Bookmark(b) => {
            let value = serde_json::json!({"type": "BOOKMARK", "object": b});
            return line(&value);
        }
        WatchEvent::Error(status) => {
            let value = serde_json::json!({"type": "ERROR", "object": status});
            return line(&value);
        }
    };
    if rendering.as_table {
        let rv = object
            .metadata()
            .resource_version
            .clone()
            .unwrap_or_default();
        let table = table::table(
            kind,
            std::slice::from_ref(&object),
            &rv,
            None,
            rendering.include,
        );
        return line(&serde_json::json!({"type": kind_name, "object": table}));
    }
    match object.to_json() {
        // The object's own encoding, as a GET answers it, inside the event.
        Ok(json) => {
            let mut line = Vec::with_capacity(json.len() + 32);
            line.extend_from_slice(b"{\"type\":\"");
            line.extend_from_slice(kind_name.as_bytes());
            line.extend_from_slice(b"\",\"object\":");
            line.extend_from_slice(&json);
            line.extend_from_slice(b"}\n");
            line
        }
        Err(e) => line(&serde_json::json!({
            "type": "ERROR",
            "object": Status::internal(format!("cannot encode the object: {e}")),
        })),
    }
}

fn line(value: &Value) -> Vec<u8> {
    let mut out = serde_json::to_vec(value).unwrap_or_default();
    out.push(b'\n');
    out
}

/// A 404 body for paths outside the API, as JSON.
pub fn not_found_response(path: &str) -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        serde_json::to_vec(&not_found_path(path)).unwrap_or_default(),
        &[],
    )
}
