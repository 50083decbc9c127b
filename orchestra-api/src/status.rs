//! The `Status` error: what every failed request answers, shaped exactly as Kubernetes'
//! `metav1.Status` so that `kubectl` and every client library print it as they would print an
//! error from a real API server.
//!
//! Constructors follow the wording of Kubernetes' `k8s.io/apimachinery/pkg/api/errors`, so a
//! message reads the same here as there (`pods "web" not found`,
//! `Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or
//! equal to 0`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::validation::FieldError;

/// Why a request failed: the machine-readable `reason` of a `Status`.
///
/// Serialized as Kubernetes' `StatusReason` string (`"NotFound"`, `"Invalid"`, …); a reason this
/// enum does not know survives a round trip as [`StatusReason::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum StatusReason {
    /// 404: the named object does not exist.
    NotFound,
    /// 409: an object of that name already exists.
    AlreadyExists,
    /// 409: the write lost an optimistic-concurrency race (stale `resourceVersion`).
    Conflict,
    /// 422: the object failed validation; `details.causes` lists every offending field.
    Invalid,
    /// 410: the requested resourceVersion has been compacted; re-list.
    Expired,
    /// 410: the resource is gone.
    Gone,
    /// 403: the caller may not do this.
    Forbidden,
    /// 401: the caller is not authenticated.
    Unauthorized,
    /// 400: the request itself is malformed.
    BadRequest,
    /// 405: the resource does not support this verb.
    MethodNotAllowed,
    /// 406: none of the accepted response encodings can be produced.
    NotAcceptable,
    /// 415: the request body's encoding is not supported.
    UnsupportedMediaType,
    /// 413: the request body is larger than the server accepts.
    RequestEntityTooLarge,
    /// 429: too many requests; retry after the indicated delay.
    TooManyRequests,
    /// 500: an unexpected server-side failure.
    InternalError,
    /// 504: the request could not complete in the time allowed.
    Timeout,
    /// 500: the server could not finish the request in time and may still be doing it.
    ServerTimeout,
    /// 503: the server is temporarily unable to serve.
    ServiceUnavailable,
    /// Any other reason string, kept as received.
    Other(String),
}

impl StatusReason {
    /// The reason as Kubernetes spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::NotFound => "NotFound",
            Self::AlreadyExists => "AlreadyExists",
            Self::Conflict => "Conflict",
            Self::Invalid => "Invalid",
            Self::Expired => "Expired",
            Self::Gone => "Gone",
            Self::Forbidden => "Forbidden",
            Self::Unauthorized => "Unauthorized",
            Self::BadRequest => "BadRequest",
            Self::MethodNotAllowed => "MethodNotAllowed",
            Self::NotAcceptable => "NotAcceptable",
            Self::UnsupportedMediaType => "UnsupportedMediaType",
            Self::RequestEntityTooLarge => "RequestEntityTooLarge",
            Self::TooManyRequests => "TooManyRequests",
            Self::InternalError => "InternalError",
            Self::Timeout => "Timeout",
            Self::ServerTimeout => "ServerTimeout",
            Self::ServiceUnavailable => "ServiceUnavailable",
            Self::Other(s) => s,
        }
    }

    /// The HTTP status code Kubernetes pairs with this reason.
    pub fn default_code(&self) -> u16 {
        match self {
            Self::NotFound => 404,
            Self::AlreadyExists | Self::Conflict => 409,
            Self::Invalid => 422,
            Self::Expired | Self::Gone => 410,
            Self::Forbidden => 403,
            Self::Unauthorized => 401,
            Self::BadRequest => 400,
            Self::MethodNotAllowed => 405,
            Self::NotAcceptable => 406,
            Self::UnsupportedMediaType => 415,
            Self::RequestEntityTooLarge => 413,
            Self::TooManyRequests => 429,
            Self::Timeout => 504,
            Self::ServiceUnavailable => 503,
            Self::InternalError | Self::ServerTimeout | Self::Other(_) => 500,
        }
    }
}

impl From<String> for StatusReason {
    fn from(s: String) -> Self {
        match s.as_str() {
            "NotFound" => Self::NotFound,
            "AlreadyExists" => Self::AlreadyExists,
            "Conflict" => Self::Conflict,
            "Invalid" => Self::Invalid,
            "Expired" => Self::Expired,
            "Gone" => Self::Gone,
            "Forbidden" => Self::Forbidden,
            "Unauthorized" => Self::Unauthorized,
            "BadRequest" => Self::BadRequest,
            "MethodNotAllowed" => Self::MethodNotAllowed,
            "NotAcceptable" => Self::NotAcceptable,
            "UnsupportedMediaType" => Self::UnsupportedMediaType,
            "RequestEntityTooLarge" => Self::RequestEntityTooLarge,
            "TooManyRequests" => Self::TooManyRequests,
            "InternalError" => Self::InternalError,
            "Timeout" => Self::Timeout,
            "ServerTimeout" => Self::ServerTimeout,
            "ServiceUnavailable" => Self::ServiceUnavailable,
            _ => Self::Other(s),
        }
    }
}

impl From<StatusReason> for String {
    fn from(r: StatusReason) -> Self {
        match r {
            StatusReason::Other(s) => s,
            known => known.as_str().to_owned(),
        }
    }
}

impl fmt::Display for StatusReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One cause of a failure, usually one invalid field (`metav1.StatusCause`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct StatusCause {
    /// Machine-readable cause, e.g. `FieldValueRequired`.
    #[serde(rename = "reason", default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Human-readable description of the cause, e.g. `Required value`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The field path the cause refers to, e.g. `spec.containers[0].image`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub field: String,
}

/// Extra detail about the object a `Status` refers to (`metav1.StatusDetails`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct StatusDetails {
    /// Name of the object concerned.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// API group of the object concerned.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// The resource (plural) or kind of the object concerned.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// UID of the object concerned, when known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// Every individual cause, e.g. one per invalid field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<StatusCause>,
    /// Seconds the client should wait before retrying.
    #[serde(
        rename = "retryAfterSeconds",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub retry_after_seconds: Option<i32>,
}

/// The outcome of a request as Kubernetes reports it: the error type of every Orchestra API.
///
/// Serializes exactly as `metav1.Status`:
///
/// ```
/// use orchestra_api::Status;
/// let status = Status::not_found("", "pods", "web");
/// assert_eq!(
///     serde_json::to_string(&status).unwrap(),
///     r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"web\" not found","reason":"NotFound","details":{"name":"web","kind":"pods"},"code":404}"#
/// );
/// ```
///
/// It is kept small (details are boxed) because every fallible call returns it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Status {
    /// Whether the request succeeded (`"Success"`) rather than failed (`"Failure"`).
    pub success: bool,
    /// Human-readable description of what happened.
    pub message: String,
    /// Machine-readable reason.
    pub reason: StatusReason,
    /// The object concerned and individual causes.
    pub details: Option<Box<StatusDetails>>,
    /// The HTTP status code.
    pub code: u16,
}

/// `metav1.ListMeta` as it appears (empty) in a `Status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
struct StatusListMeta {
    #[serde(
        rename = "resourceVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    resource_version: Option<String>,
}

/// The wire form of a `Status`, field order as Kubernetes writes it.
#[derive(Serialize)]
struct StatusOut<'a> {
    kind: &'static str,
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    metadata: StatusListMeta,
    status: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    message: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a StatusDetails>,
    code: u16,
}

#[derive(Deserialize)]
struct StatusIn {
    #[serde(default)]
    status: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    details: Option<StatusDetails>,
    #[serde(default)]
    code: u16,
}

impl Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        StatusOut {
            kind: "Status",
            api_version: "v1",
            metadata: StatusListMeta::default(),
            status: if self.success { "Success" } else { "Failure" },
            message: &self.message,
            reason: self.reason.as_str(),
            details: self.details.as_deref(),
            code: self.code,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = StatusIn::deserialize(deserializer)?;
        Ok(Status {
            success: wire.status == "Success",
            message: wire.message,
            reason: StatusReason::from(wire.reason),
            details: wire.details.map(Box::new),
            code: wire.code,
        })
    }
}

/// `"pods"` or `"deployments.apps"`: how Kubernetes names a group-qualified resource.
fn qualified(group: &str, name: &str) -> String {
    if group.is_empty() {
        name.to_owned()
    } else {
        format!("{name}.{group}")
    }
}

impl Status {
    /// A failure with the given reason and message, and the reason's usual HTTP code.
    pub fn failure(reason: StatusReason, message: impl Into<String>) -> Self {
        let code = reason.default_code();
        Self {
            success: false,
            message: message.into(),
            reason,
            details: None,
            code,
        }
    }

    /// A `Success` status, as a delete that removed the object immediately answers.
    pub fn success(details: Option<StatusDetails>) -> Self {
        Self {
            success: true,
            message: String::new(),
            reason: StatusReason::Other(String::new()),
            details: details.map(Box::new),
            code: 200,
        }
    }

    /// Attaches details to this status.
    pub fn with_details(mut self, details: StatusDetails) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    /// Overrides the HTTP code.
    pub fn with_code(mut self, code: u16) -> Self {
        self.code = code;
        self
    }

    fn for_object(
        reason: StatusReason,
        message: String,
        group: &str,
        resource: &str,
        name: &str,
    ) -> Self {
        Self::failure(reason, message).with_details(StatusDetails {
            name: name.to_owned(),
            group: group.to_owned(),
            kind: resource.to_owned(),
            ..StatusDetails::default()
        })
    }

    /// 404 `NotFound`: `pods "web" not found`.
    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        let message = format!("{} \"{name}\" not found", qualified(group, resource));
        Self::for_object(StatusReason::NotFound, message, group, resource, name)
    }

    /// 409 `AlreadyExists`: `pods "web" already exists`.
    pub fn already_exists(group: &str, resource: &str, name: &str) -> Self {
        let message = format!("{} \"{name}\" already exists", qualified(group, resource));
        Self::for_object(StatusReason::AlreadyExists, message, group, resource, name)
    }

    /// 409 `Conflict`: `Operation cannot be fulfilled on pods "web": <why>`.
    pub fn conflict(group: &str, resource: &str, name: &str, why: impl fmt::Display) -> Self {
        let message = format!(
            "Operation cannot be fulfilled on {} \"{name}\": {why}",
            qualified(group, resource)
        );
        Self::for_object(StatusReason::Conflict, message, group, resource, name)
    }

    /// 422 `Invalid`, listing every field error as a cause:
    /// `Pod "web" is invalid: spec.containers[0].image: Required value`.
    ///
    /// `kind` is the object's kind (`Deployment`), qualified by `group` as Kubernetes does.
    pub fn invalid(group: &str, kind: &str, name: &str, errors: &[FieldError]) -> Self {
        let summary = match errors {
            [one] => one.to_string(),
            many => {
                let parts: Vec<String> = many.iter().map(ToString::to_string).collect();
                format!("[{}]", parts.join(", "))
            }
        };
        let message = format!(
            "{} \"{name}\" is invalid: {summary}",
            qualified(group, kind)
        );
        Self::failure(StatusReason::Invalid, message).with_details(StatusDetails {
            name: name.to_owned(),
            group: group.to_owned(),
            kind: kind.to_owned(),
            causes: errors.iter().map(FieldError::to_cause).collect(),
            ..StatusDetails::default()
        })
    }

    /// 410 `Expired`: the requested resourceVersion is older than the store keeps.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::failure(StatusReason::Expired, message)
    }

    /// 410 `Gone`.
    pub fn gone(message: impl Into<String>) -> Self {
        Self::failure(StatusReason::Gone, message)
    }

    /// 403 `Forbidden`: `pods "web" is forbidden: <why>` (or `pods is forbidden: …` without a
    /// name).
    pub fn forbidden(group: &str, resource: &str, name: &str, why: impl fmt::Display) -> Self {
        let what = qualified(group, resource);
        let message = if name.is_empty() {
            format!("{what} is forbidden: {why}")
        } else {
            format!("{what} \"{name}\" is forbidden: {why}")
        };
        Self::for_object(StatusReason::Forbidden, message, group, resource, name)
    }

    /// 401 `Unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::failure(StatusReason::Unauthorized, message)
    }

    /// 400 `BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::failure(StatusReason::BadRequest, message)
    }

    /// 405 `MethodNotAllowed`.
    pub fn method_not_allowed() -> Self {
        Self::failure(
            StatusReason::MethodNotAllowed,
            "the server does not allow this method on the requested resource",
        )
    }

    /// 406 `NotAcceptable`.
    pub fn not_acceptable(message: impl Into<String>) -> Self {
        Self::failure(StatusReason::NotAcceptable, message)
    }

    /// 415 `UnsupportedMediaType`.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::failure(
            StatusReason::UnsupportedMediaType,
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf; got {content_type:?}"
            ),
        )
    }

    /// 413 `RequestEntityTooLarge`.
    pub fn request_entity_too_large(limit_bytes: usize) -> Self {
        Self::failure(
            StatusReason::RequestEntityTooLarge,
            format!("Request entity too large: limit is {limit_bytes}"),
        )
    }

    /// 429 `TooManyRequests`, asking the client to retry after `retry_after_seconds`.
    pub fn too_many_requests(message: impl Into<String>, retry_after_seconds: i32) -> Self {
        Self::failure(StatusReason::TooManyRequests, message).with_details(StatusDetails {
            retry_after_seconds: Some(retry_after_seconds),
            ..StatusDetails::default()
        })
    }

    /// 500 `InternalError`: `Internal error occurred: <why>`.
    pub fn internal(why: impl fmt::Display) -> Self {
        let why = why.to_string();
        Self::failure(
            StatusReason::InternalError,
            format!("Internal error occurred: {why}"),
        )
        .with_details(StatusDetails {
            causes: vec![StatusCause {
                message: why,
                ..StatusCause::default()
            }],
            ..StatusDetails::default()
        })
    }

    /// 504 `Timeout`.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::failure(StatusReason::Timeout, message)
    }

    /// Whether this status reports the given reason.
    pub fn is(&self, reason: &StatusReason) -> bool {
        &self.reason == reason
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::{FieldError, FieldPath};

    #[test]
    fn invalid_lists_every_field_as_a_cause_and_in_the_message() {
        let path = FieldPath::new("spec").child("containers").index(0);
        let errors = vec![
            FieldError::required(path.child("image"), ""),
            FieldError::invalid(path.child("name"), "Web", "must be lower case"),
        ];
        let status = Status::invalid("", "Pod", "web", &errors);
        assert_eq!(status.code, 422);
        assert_eq!(
            status.message,
            "Pod \"web\" is invalid: [spec.containers[0].image: Required value, spec.containers[0].name: Invalid value: \"Web\": must be lower case]"
        );
        let causes = &status.details.as_ref().unwrap().causes;
        assert_eq!(causes[0].reason, "FieldValueRequired");
        assert_eq!(causes[0].field, "spec.containers[0].image");
        assert_eq!(
            causes[1].message,
            "Invalid value: \"Web\": must be lower case"
        );
    }

    #[test]
    fn group_qualifies_resource_names_in_messages() {
        let status = Status::not_found("apps", "deployments", "web");
        assert_eq!(status.message, "deployments.apps \"web\" not found");
        assert_eq!(status.details.unwrap().group, "apps");
    }

    #[test]
    fn round_trips_through_json_including_unknown_reasons() {
        let json = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"m","reason":"SomethingNew","code":418}"#;
        let status: Status = serde_json::from_str(json).unwrap();
        assert_eq!(status.reason, StatusReason::Other("SomethingNew".into()));
        assert_eq!(serde_json::to_string(&status).unwrap(), json);
    }
}
