//! Watch events encoded once for all their watchers.
//!
//! Every watcher of a collection receives the same events, and the watch cache hands each of
//! them the same shared object (`Arc`) for one change. Encoding that object for every watcher
//! is what limits how many watchers a server can feed: a thousand watchers of pods would
//! serialize each pod a thousand times. Kubernetes' watch cache keeps the serialized form of
//! each event's object beside it for that reason (its `cachingObject`); [`WatchFrames`] does
//! the same in front of the streams: the first watcher to send an event encodes it, the
//! others send the same bytes.
//!
//! Frames are found by the identity of the shared object (the `Arc`'s address, kept alive
//! while the frame is remembered, so that it cannot be reused by another object), the event
//! type and the encoding. The most recent [`CAPACITY`] frames are remembered, enough for
//! watchers that lag a burst of writes behind the first one.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use orchestra_api::ArcObject;

/// How many encoded events are remembered.
pub const CAPACITY: usize = 2048;

/// The wire encodings a watch event is framed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameEncoding {
    /// A JSON line (`{"type":…,"object":…}` and a newline).
    Json,
    /// A length-prefixed protobuf `WatchEvent`.
    Protobuf,
}

/// Which frame: the object's identity, the event type, the encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FrameKey {
    object: usize,
    event_type: &'static str,
    encoding: FrameEncoding,
}

#[derive(Default)]
struct Recent {
    frames: HashMap<FrameKey, (ArcObject, Bytes)>,
    order: VecDeque<FrameKey>,
}

/// The recently encoded watch events, shared by every watch the server streams.
#[derive(Default)]
pub struct WatchFrames {
    recent: Mutex<Recent>,
}

impl std::fmt::Debug for WatchFrames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let remembered = self
            .recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .order
            .len();
        f.debug_struct("WatchFrames")
            .field("remembered", &remembered)
            .finish()
    }
}

impl WatchFrames {
    /// The frame of an `event_type` event of `object` in `encoding`: the one already encoded
    /// for another watcher, or `encode()`'s, which is remembered for the next ones.
    pub fn frame(
        &self,
        object: &ArcObject,
        event_type: &'static str,
        encoding: FrameEncoding,
        encode: impl FnOnce() -> Vec<u8>,
    ) -> Bytes {
        let key = FrameKey {
            object: Arc::as_ptr(object).cast::<()>() as usize,
            event_type,
            encoding,
        };
        if let Some((_, frame)) = self.lock().frames.get(&key) {
            return frame.clone();
        }
        // Encoded outside the lock; two watchers racing both encode, and one frame stays.
        let frame = Bytes::from(encode());
        let mut recent = self.lock();
        if recent
            .frames
            .insert(key, (object.clone(), frame.clone()))
            .is_none()
        {
            recent.order.push_back(key);
            while recent.order.len() > CAPACITY {
                if let Some(oldest) = recent.order.pop_front() {
                    recent.frames.remove(&oldest);
                }
            }
        }
        frame
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use std::cell::Cell;

    fn config_map(name: &str) -> ArcObject {
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some(name.to_owned());
        Arc::new(cm)
    }

    #[test]
    fn an_event_is_encoded_once_for_every_watcher() {
        let frames = WatchFrames::default();
        let object = config_map("a");
        let encoded = Cell::new(0);
        let encode = || {
            encoded.set(encoded.get() + 1);
            b"frame".to_vec()
        };
        for _ in 0..3 {
            let frame = frames.frame(&object, "ADDED", FrameEncoding::Json, encode);
            assert_eq!(&frame[..], b"frame");
        }
        assert_eq!(encoded.get(), 1);
        // Another event type, encoding or object is another frame.
        frames.frame(&object, "DELETED", FrameEncoding::Json, encode);
        frames.frame(&object, "ADDED", FrameEncoding::Protobuf, encode);
        frames.frame(&config_map("a"), "ADDED", FrameEncoding::Json, encode);
        assert_eq!(encoded.get(), 4);
    }

    #[test]
    fn only_the_most_recent_frames_are_remembered() {
        let frames = WatchFrames::default();
        let objects: Vec<ArcObject> = (0..=CAPACITY).map(|i| config_map(&i.to_string())).collect();
        for object in &objects {
            frames.frame(object, "ADDED", FrameEncoding::Json, Vec::new);
        }
        assert_eq!(frames.lock().frames.len(), CAPACITY);
        assert_eq!(frames.lock().order.len(), CAPACITY);
        let encoded = Cell::new(false);
        frames.frame(&objects[0], "ADDED", FrameEncoding::Json, || {
            encoded.set(true);
            Vec::new()
        });
        assert!(encoded.get(), "the oldest frame was forgotten");
    }
}
