//! Response bodies into Orchestra values: objects through their kind's codec (so they are the
//! same Rust types `LocalClient` hands out), lists, and `Status` errors.
//!
//! An error answer is decoded as the `metav1.Status` the server sent; a body that is not a
//! Status (a proxy's HTML page, plain text, nothing) becomes a Status with the HTTP code, the
//! reason Kubernetes pairs with it and, as client-go does, the body's text when it is short
//! text.

use std::sync::Arc;
use std::time::Duration;

use orchestra_api::object::ObjectCodec;
use orchestra_api::status::StatusDetails;
use orchestra_api::{ArcObject, ObjectList, Status, StatusReason, UndecodableObject};
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

/// Decodes one object of a list or a watch with `codec`. An object that does not decode into
/// the kind's type but is a JSON object becomes an [`UndecodableObject`] (its identity, the
/// error and the JSON), so that one bad object fails neither the list nor the watch; only an
/// item that is not a JSON object at all is an error.
pub fn object_or_undecodable(codec: &dyn ObjectCodec, json: &[u8]) -> Result<ArcObject, Status> {
    let error = match codec.decode_json(json) {
        Ok(object) => return Ok(ArcObject::from(object)),
        Err(error) => error,
    };
    match UndecodableObject::from_json(json, error.to_string()) {
        Some(skipped) => {
            tracing::debug!(object = %skipped, "the server sent an object that cannot be decoded");
            Ok(Arc::new(skipped))
        }
        None => Err(Status::internal(format!(
            "cannot decode the server's answer: {error}"
        ))),
    }
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

/// Decodes a list (`PodList`, …), each item with `codec`; an item that does not decode into
/// the kind's type is an [`UndecodableObject`] among the items (see
/// [`object_or_undecodable`]).
pub fn list(codec: &dyn ObjectCodec, body: &[u8]) -> Result<ObjectList, Status> {
    let raw: RawList<'_> = serde_json::from_slice(body)
        .map_err(|err| Status::internal(format!("cannot decode the server's list: {err}")))?;
    let items = raw
        .items
        .unwrap_or_default()
        .into_iter()
        .map(|item| object_or_undecodable(codec, item.get().as_bytes()))
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
    use orchestra_api::Object;
    use orchestra_api::k8s_openapi::api::core::v1::Pod;
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

    #[test]
    fn a_list_with_one_undecodable_item_keeps_the_others_and_names_the_bad_one() {
        // Kubernetes list items carry no apiVersion/kind; the bad one has a string where
        // `spec.containers` is a list.
        let body = br#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"40"},"items":[
            {"metadata":{"name":"good-1","namespace":"shop","uid":"u-1","resourceVersion":"31"},"spec":{"containers":[{"name":"c","image":"nginx"}]}},
            {"metadata":{"name":"bad","namespace":"shop","uid":"u-2","resourceVersion":"32"},"spec":{"containers":"nginx"}},
            {"metadata":{"name":"good-2","namespace":"shop","uid":"u-3","resourceVersion":"33"}}]}"#;
        let decoded = list(kinds::PODS.codec, body).expect("one bad item does not fail the list");
        assert_eq!(decoded.resource_version, "40");
        assert_eq!(decoded.items.len(), 3, "the bad item keeps its place");
        let good: Vec<_> = decoded
            .items
            .iter()
            .filter(|o| o.as_any().is::<Pod>())
            .map(|o| o.metadata().name.clone().unwrap_or_default())
            .collect();
        assert_eq!(good, ["good-1", "good-2"]);
        let bad: Vec<_> = decoded
            .items
            .iter()
            .filter_map(|o| UndecodableObject::of(&**o))
            .collect();
        let [bad] = bad[..] else {
            panic!("expected one undecodable item, got {bad:?}");
        };
        let meta = bad.metadata();
        assert_eq!(meta.name.as_deref(), Some("bad"));
        assert_eq!(meta.namespace.as_deref(), Some("shop"));
        assert_eq!(meta.uid.as_deref(), Some("u-2"));
        assert_eq!(meta.resource_version.as_deref(), Some("32"));
        assert!(
            bad.error()
                .contains("invalid type: string \"nginx\", expected a sequence"),
            "{}",
            bad.error()
        );
        assert_eq!(bad.raw()["spec"]["containers"], "nginx");
    }

    #[test]
    fn a_list_item_that_is_not_an_object_still_fails_the_list() {
        let body = br#"{"metadata":{"resourceVersion":"1"},"items":[{"metadata":{"name":"a"}},7]}"#;
        let status = list(kinds::PODS.codec, body).expect_err("7 is no object");
        assert_eq!(status.code, 500);
        assert!(
            status.message.contains("cannot decode"),
            "{}",
            status.message
        );
    }
}
