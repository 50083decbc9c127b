//! Response bodies into Orchestra values: objects through their kind's codec (so they are the
//! same Rust types `LocalClient` hands out), lists, and `Status` errors.
//!
//! An error answer is decoded as the `metav1.Status` the server sent; a body that is not a
//! Status (a proxy's HTML page, plain text, nothing) becomes a Status with the HTTP code, the
//! reason Kubernetes pairs with it and, as client-go does, the body's text when it is short
//! text.

use std::time::Duration;

use orchestra_api::object::ObjectCodec;
use orchestra_api::status::StatusDetails;
use orchestra_api::{ArcObject, ObjectList, Status, StatusReason};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The reason Kubernetes pairs with an HTTP status code (client-go's
/// `NewGenericServerResponse`).
pub fn reason_for_code(code: u16) -> StatusReason {
    match code {
        400 => StatusReason::BadRequest,
        401 => StatusReason::Unauthorized,
        403 => StatusReason::Forbidden,
        404 => StatusReason::NotFound,
        405 => StatusReason::MethodNotAllowed,
        406 => StatusReason::NotAcceptable,
        409 => StatusReason::Conflict,
        410 => StatusReason::Gone,
        413 => StatusReason::RequestEntityTooLarge,
        415 => StatusReason::UnsupportedMediaType,
        422 => StatusReason::Invalid,
        429 => StatusReason::TooManyRequests,
        503 => StatusReason::ServiceUnavailable,
        504 => StatusReason::Timeout,
        _ => StatusReason::InternalError,
    }
}

#[derive(Deserialize)]
struct KindProbe<'a> {
    #[serde(default, borrow)]
    kind: Option<std::borrow::Cow<'a, str>>,
}

/// Whether a JSON body is a `Status` object.
pub fn is_status_body(body: &[u8]) -> bool {
    serde_json::from_slice::<KindProbe<'_>>(body)
        .ok()
        .and_then(|probe| probe.kind)
        .is_some_and(|kind| kind == "Status")
}

/// The `Status` of an error answer with HTTP `code`.
pub fn error_status(code: u16, body: &[u8], retry_after: Option<Duration>) -> Status {
    if is_status_body(body)
        && let Ok(mut status) = serde_json::from_slice::<Status>(body)
    {
        if status.code == 0 {
            status.code = code;
        }
        return status;
    }
    let text = std::str::from_utf8(body).unwrap_or("").trim();
    let message = if !text.is_empty() && text.len() <= 1024 && !text.starts_with('<') {
        format!("the server responded with the status code {code}: {text}")
    } else {
        format!(
            "the server responded with the status code {code} but did not return more information"
        )
    };
    let status = Status::failure(reason_for_code(code), message).with_code(code);
    match retry_after {
        Some(wait) => status.with_details(StatusDetails {
            retry_after_seconds: Some(i32::try_from(wait.as_secs()).unwrap_or(i32::MAX)),
            ..StatusDetails::default()
        }),
        None => status,
    }
}

/// Decodes one object with `codec`.
pub fn object(codec: &dyn ObjectCodec, body: &[u8]) -> Result<ArcObject, Status> {
    codec
        .decode_json(body)
        .map(ArcObject::from)
        .map_err(|err| Status::internal(format!("cannot decode the server's answer: {err}")))
}

#[derive(Deserialize, Default)]
struct ListMeta {
    #[serde(default, rename = "resourceVersion")]
    resource_version: Option<String>,
    #[serde(default, rename = "continue")]
    continue_token: Option<String>,
    #[serde(default, rename = "remainingItemCount")]
    remaining_item_count: Option<i64>,
}

#[derive(Deserialize)]
struct RawList<'a> {
    #[serde(default)]
    metadata: ListMeta,
    #[serde(default, borrow)]
    items: Option<Vec<&'a RawValue>>,
}

/// Decodes a list (`PodList`, …), each item with `codec`.
pub fn list(codec: &dyn ObjectCodec, body: &[u8]) -> Result<ObjectList, Status> {
    let raw: RawList<'_> = serde_json::from_slice(body)
        .map_err(|err| Status::internal(format!("cannot decode the server's list: {err}")))?;
    let items = raw
        .items
        .unwrap_or_default()
        .into_iter()
        .map(|item| object(codec, item.get().as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ObjectList {
        resource_version: raw.metadata.resource_version.unwrap_or_default(),
        continue_token: raw.metadata.continue_token.filter(|t| !t.is_empty()),
        remaining_item_count: raw.metadata.remaining_item_count,
        items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use orchestra_api::kinds;

    #[test]
    fn a_status_body_is_decoded_as_sent() {
        let sent = Status::not_found("apps", "deployments", "web");
        let body = serde_json::to_vec(&sent).expect("encode");
        assert_eq!(error_status(404, &body, None), sent);
    }

    #[test]
    fn other_bodies_become_a_status_with_the_http_code() {
        let status = error_status(503, b"upstream connect error", Some(Duration::from_secs(2)));
        assert_eq!(status.code, 503);
        assert_eq!(status.reason, StatusReason::ServiceUnavailable);
        assert!(
            status.message.contains("upstream connect error"),
            "{}",
            status.message
        );
        assert_eq!(
            status.details.expect("details").retry_after_seconds,
            Some(2)
        );
        let html = error_status(502, b"<html>bad gateway</html>", None);
        assert_eq!(html.reason, StatusReason::InternalError);
        assert!(html.message.contains("did not return more information"));
        // A JSON body that is some other object is not mistaken for a Status.
        let other = error_status(409, br#"{"kind":"Pod","code":1}"#, None);
        assert_eq!((other.code, other.reason), (409, StatusReason::Conflict));
    }

    #[test]
    fn lists_keep_their_metadata_and_decode_items_to_the_kinds_type() {
        let body = br#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"42","continue":"tok","remainingItemCount":3},
            "items":[{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"}},{"metadata":{"name":"b"}}]}"#;
        let decoded = list(kinds::PODS.codec, body).expect("list");
        assert_eq!(decoded.resource_version, "42");
        assert_eq!(decoded.continue_token.as_deref(), Some("tok"));
        assert_eq!(decoded.remaining_item_count, Some(3));
        let names: Vec<_> = decoded
            .items
            .iter()
            .map(|o| o.metadata().name.clone().unwrap_or_default())
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert!(
            decoded.items[0]
                .as_any()
                .is::<orchestra_api::k8s_openapi::api::core::v1::Pod>()
        );
    }
}
