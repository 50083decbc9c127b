//! Watches over HTTP that survive their connection.
//!
//! The server streams watch events as JSON objects, one per line (`{"type":"ADDED","object":
//! {…}}`), over a chunked HTTP/1.1 body or an HTTP/2 stream. A connection ends for ordinary
//! reasons — the server's `timeoutSeconds`, a restart, a load balancer's idle timeout, a
//! network fault — and a component that had to notice each time would re-list far more than
//! it needs to. So the stream here reconnects by itself and continues from the last
//! `resourceVersion` it delivered (an object's or a bookmark's), as client-go's
//! `RetryWatcher` does: the consumer sees one unbroken sequence of events.
//!
//! What it cannot hide it reports in-band, as the `Client` contract asks: when the server
//! answers `410 Gone` (the revision was compacted) — as an `ERROR` event or as the answer to
//! the reconnect — or any other error, or when reconnecting fails after the retry policy's
//! attempts, the stream yields one [`WatchEvent::Error`] and ends; an informer then re-lists.
//!
//! An object that does not decode into the kind's type (a field of another type, written by a
//! newer client) does not end the watch: it is delivered in its event as an
//! [`UndecodableObject`](orchestra_api::UndecodableObject), and the watch resumes past its
//! `resourceVersion` like past any other event. Only a line that is not a watch event at all
//! (or whose object is not a JSON object) is an error that ends the stream. client-go ends the
//! watch at such an object instead, and its reflector starts over, with back-off, for as long
//! as the object stays unreadable.
//!
//! A watch that asked for its initial state (`sendInitialEvents=true`) delivers it as `ADDED`
//! events that are not in revision order, so until the `k8s.io/initial-events-end` bookmark
//! the last revision is no resume point: a connection lost then is reopened with the original
//! parameters, the initial state is delivered again, and objects already seen come again as
//! `ADDED`. A watch that started without a revision resumes from the newest revision it has
//! delivered; before its first event it has none, and reopens as it started.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use futures::StreamExt;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use orchestra_api::object::ObjectCodec;
use orchestra_api::watch::Bookmark;
use orchestra_api::{ArcObject, ResourceKind, Status, WatchEvent, WatchParams, WatchStream};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::decode;
use crate::request::{collection_path, watch_query, with_query};
use crate::transport::{ApiRequest, Transport};

/// A connection that ends sooner than this without delivering anything counts as a failed
/// one: the next reconnect backs off.
const SHORT_CONNECTION: Duration = Duration::from_secs(1);

/// The wire shape of one event.
#[derive(Deserialize)]
struct RawEvent<'a> {
    #[serde(rename = "type")]
    event_type: &'a str,
    #[serde(borrow)]
    object: &'a RawValue,
}

/// Decodes every complete event at the front of `buffer`; returns them and how many bytes they
/// took. A malformed event ends the list with an `ERROR` event.
fn decode_events(codec: &dyn ObjectCodec, buffer: &[u8]) -> (Vec<WatchEvent<ArcObject>>, usize) {
    let mut events = Vec::new();
    let mut stream = serde_json::Deserializer::from_slice(buffer).into_iter::<RawEvent<'_>>();
    loop {
        match stream.next() {
            None => return (events, buffer.len()),
            Some(Ok(raw)) => {
                let event = decode_event(codec, &raw);
                let fatal = matches!(event, WatchEvent::Error(_));
                events.push(event);
                if fatal {
                    return (events, buffer.len());
                }
            }
            // The rest of the event has not arrived yet.
            Some(Err(err)) if err.is_eof() => return (events, stream.byte_offset()),
            Some(Err(err)) => {
                events.push(WatchEvent::Error(Status::internal(format!(
                    "cannot decode a watch event: {err}"
                ))));
                return (events, buffer.len());
            }
        }
    }
}

/// Decodes one event. An object that does not decode into the kind's type travels in its
/// event as an `UndecodableObject` (see [`decode::object_or_undecodable`]): the watch goes
/// on, and its `resourceVersion` still moves the resume point past it.
fn decode_event(codec: &dyn ObjectCodec, raw: &RawEvent<'_>) -> WatchEvent<ArcObject> {
    let object = || decode::object_or_undecodable(codec, raw.object.get().as_bytes());
    let event = match raw.event_type {
        "ADDED" => object().map(WatchEvent::Added),
        "MODIFIED" => object().map(WatchEvent::Modified),
        "DELETED" => object().map(WatchEvent::Deleted),
        "BOOKMARK" => serde_json::from_str::<Bookmark>(raw.object.get())
            .map(WatchEvent::Bookmark)
            .map_err(|err| Status::internal(format!("cannot decode a bookmark: {err}"))),
        "ERROR" => serde_json::from_str::<Status>(raw.object.get())
            .map(WatchEvent::Error)
            .map_err(|err| Status::internal(format!("cannot decode a watch error: {err}"))),
        other => Err(Status::internal(format!(
            "unexpected watch event type {other:?}"
        ))),
    };
    event.unwrap_or_else(WatchEvent::Error)
}

/// The state of one resuming watch.
struct ResumingWatch {
    transport: Transport,
    codec: &'static dyn ObjectCodec,
    path: String,
    params: WatchParams,
    /// The revision of the last event delivered.
    last_version: Option<String>,
    /// Still delivering the initial state (see the module docs).
    initial_phase: bool,
    body: Option<Incoming>,
    connected_at: Instant,
    delivered_on_connection: bool,
    short_connections: u32,
    buffer: Vec<u8>,
    pending: VecDeque<WatchEvent<ArcObject>>,
    ended: bool,
}

impl ResumingWatch {
    fn starts_with_initial_state(params: &WatchParams) -> bool {
        params.send_initial_events == Some(true)
    }

    /// Moves the resume point to `version` unless it is older than the current one.
    fn advance(&mut self, version: &str) {
        if version.is_empty() {
            return;
        }
        let older = match (&self.last_version, version.parse::<u64>()) {
            (Some(current), Ok(new)) => current.parse::<u64>().is_ok_and(|current| new < current),
            _ => false,
        };
        if !older {
            self.last_version = Some(version.to_owned());
        }
    }

    /// The request that (re)opens the watch.
    fn request(&self) -> ApiRequest {
        let params = match (&self.last_version, self.initial_phase) {
            (Some(version), false) => WatchParams {
                resource_version: Some(version.clone()),
                send_initial_events: None,
                ..self.params.clone()
            },
            _ => self.params.clone(),
        };
        ApiRequest::get(with_query(self.path.clone(), &watch_query(&params)))
    }

    /// Records what an event tells about the watch's position.
    fn observe(&mut self, event: &WatchEvent<ArcObject>) {
        match event {
            WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => {
                if let Some(rv) = o.metadata().resource_version.as_deref() {
                    self.advance(rv);
                }
            }
            WatchEvent::Bookmark(b) => {
                self.advance(&b.metadata.resource_version);
                if b.metadata
                    .annotations
                    .get("k8s.io/initial-events-end")
                    .is_some_and(|v| v == "true")
                {
                    self.initial_phase = false;
                }
            }
            WatchEvent::Error(_) => {
                self.ended = true;
                self.body = None;
            }
        }
    }

    fn disconnected(&mut self) {
        self.body = None;
        self.buffer.clear();
        if !self.delivered_on_connection && self.connected_at.elapsed() < SHORT_CONNECTION {
            self.short_connections += 1;
        } else {
            self.short_connections = 0;
        }
    }

    async fn reconnect(&mut self) -> Result<(), Status> {
        if self.short_connections > 0 {
            let wait = self.transport.retry.backoff(self.short_connections - 1);
            tokio::time::sleep(wait).await;
        }
        tracing::debug!(
            path = %self.path,
            resource_version = ?self.last_version,
            initial_phase = self.initial_phase,
            "watch connection ended; resuming"
        );
        let response = self.transport.send_streaming(&self.request()).await?;
        self.attach(response.into_body());
        Ok(())
    }

    fn attach(&mut self, body: Incoming) {
        self.body = Some(body);
        self.connected_at = Instant::now();
        self.delivered_on_connection = false;
    }

    async fn next_event(&mut self) -> Option<WatchEvent<ArcObject>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            if self.ended {
                return None;
            }
            let Some(body) = self.body.as_mut() else {
                if let Err(status) = self.reconnect().await {
                    self.ended = true;
                    return Some(WatchEvent::Error(status));
                }
                continue;
            };
            match body.frame().await {
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    self.buffer.extend_from_slice(&data);
                    let (events, consumed) = decode_events(self.codec, &self.buffer);
                    self.buffer.drain(..consumed);
                    if !events.is_empty() {
                        self.delivered_on_connection = true;
                    }
                    for event in events {
                        self.observe(&event);
                        self.pending.push_back(event);
                    }
                }
                Some(Err(err)) => {
                    tracing::debug!(%err, path = %self.path, "watch connection broke");
                    self.disconnected();
                }
                None => self.disconnected(),
            }
        }
    }
}

/// A watch stream over `first` (the answer to the first request) that resumes on its own.
pub(crate) fn resuming(
    transport: Transport,
    kind: &ResourceKind,
    namespace: Option<&str>,
    params: &WatchParams,
    first: Incoming,
) -> WatchStream {
    let mut state = ResumingWatch {
        transport,
        codec: kind.codec,
        path: collection_path(kind, namespace),
        params: params.clone(),
        last_version: None,
        initial_phase: ResumingWatch::starts_with_initial_state(params),
        body: None,
        connected_at: Instant::now(),
        delivered_on_connection: false,
        short_connections: 0,
        buffer: Vec::new(),
        pending: VecDeque::new(),
        ended: false,
    };
    if !state.initial_phase
        && let Some(version) = params.resource_version.as_deref().filter(|v| *v != "0")
    {
        state.advance(version);
    }
    state.attach(first);
    futures::stream::unfold(state, |mut state| async move {
        let event = state.next_event().await?;
        Some((event, state))
    })
    .boxed()
}

/// The first request of a watch.
pub(crate) fn first_request(
    kind: &ResourceKind,
    namespace: Option<&str>,
    params: &WatchParams,
) -> ApiRequest {
    ApiRequest::get(with_query(
        collection_path(kind, namespace),
        &watch_query(params),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use orchestra_api::Object;
    use orchestra_api::kinds;

    #[test]
    fn events_split_across_chunks_are_decoded_once_complete() {
        let line = br#"{"type":"ADDED","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","resourceVersion":"7"}}}
"#;
        let (head, tail) = line.split_at(30);
        let (events, consumed) = decode_events(kinds::PODS.codec, head);
        assert!(events.is_empty());
        assert_eq!(consumed, 0);
        let mut whole = head.to_vec();
        whole.extend_from_slice(tail);
        whole.extend_from_slice(br#"{"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"9"}}}"#);
        let (events, consumed) = decode_events(kinds::PODS.codec, &whole);
        assert_eq!(consumed, whole.len());
        assert!(
            matches!(&events[0], WatchEvent::Added(o) if o.metadata().name.as_deref() == Some("a"))
        );
        assert!(
            matches!(&events[1], WatchEvent::Bookmark(b) if b.metadata.resource_version == "9")
        );
    }

    #[test]
    fn garbage_and_unknown_event_types_end_in_an_error_event() {
        let (events, _) = decode_events(
            kinds::PODS.codec,
            b"{\"type\":\"ADDED\",\"object\":7}\n{\"type\":\"ADDED\",\"object\":{}}\n",
        );
        assert!(matches!(&events[..], [WatchEvent::Error(s)] if s.code == 500));
        let (events, _) = decode_events(kinds::PODS.codec, b"{\"type\":\"RENAMED\",\"object\":{}}");
        assert!(matches!(&events[..], [WatchEvent::Error(s)] if s.message.contains("RENAMED")));
        let (events, _) = decode_events(kinds::PODS.codec, b"not json");
        assert!(matches!(&events[..], [WatchEvent::Error(_)]));
    }

    #[test]
    fn an_error_event_carries_the_servers_status() {
        let (events, _) = decode_events(
            kinds::PODS.codec,
            br#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (5)","reason":"Expired","code":410}}"#,
        );
        assert!(matches!(&events[..], [WatchEvent::Error(s)] if s.code == 410));
    }

    #[test]
    fn an_undecodable_object_is_delivered_as_such_and_the_events_after_it_too() {
        let body = br#"{"type":"MODIFIED","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bad","namespace":"ns","uid":"u-2","resourceVersion":"8"},"spec":{"containers":"nginx"}}}
{"type":"ADDED","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"good","namespace":"ns","resourceVersion":"9"}}}
"#;
        let (events, consumed) = decode_events(kinds::PODS.codec, body);
        assert_eq!(consumed, body.len());
        let [WatchEvent::Modified(bad), WatchEvent::Added(good)] = &events[..] else {
            panic!("expected MODIFIED (undecodable) then ADDED, got {events:?}");
        };
        let bad = orchestra_api::UndecodableObject::of(&**bad).expect("undecodable");
        assert_eq!(bad.metadata().name.as_deref(), Some("bad"));
        assert_eq!(bad.metadata().uid.as_deref(), Some("u-2"));
        assert!(
            bad.error().contains("expected a sequence"),
            "{}",
            bad.error()
        );
        assert!(
            good.as_any()
                .is::<orchestra_api::k8s_openapi::api::core::v1::Pod>()
        );
    }
}
