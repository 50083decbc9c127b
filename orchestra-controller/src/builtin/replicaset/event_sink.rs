//! A bounded, asynchronous outlet for the Events a workload controller emits.
//!
//! A reconcile should not wait for its Events to be written, and a controller creating
//! thousands of pods should not queue thousands of Event writes in front of them. Like
//! client-go's event broadcaster (a queue of 1,000 that drops when full), an [`EventSink`]
//! takes Events without waiting, hands them to one background task that publishes them
//! through a [`Recorder`] (which correlates and rate-limits them), and drops Events — with a
//! debug log — when the queue is full. The task starts with the first Event and ends when the
//! sink is dropped.

use std::sync::{Arc, Mutex, PoisonError};

use orchestra_api::Object;
use orchestra_api::k8s_openapi::api::core::v1::ObjectReference;
use tokio::sync::mpsc;

use crate::events::{EventType, Recorder, object_reference};

/// How many Events may wait to be written (client-go's `maxQueuedEvents`).
pub const MAX_QUEUED_EVENTS: usize = 1000;

struct Pending {
    regarding: ObjectReference,
    event_type: EventType,
    reason: &'static str,
    message: String,
}

/// The publishing task's inputs, until it starts.
type Idle = Option<(mpsc::Receiver<Pending>, Recorder)>;

/// Takes Events without waiting and publishes them in the background. Cheap to clone; see
/// the [module documentation](self).
#[derive(Clone)]
pub struct EventSink {
    tx: mpsc::Sender<Pending>,
    idle: Arc<Mutex<Idle>>,
}

impl std::fmt::Debug for EventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSink")
            .field("queued", &(MAX_QUEUED_EVENTS - self.tx.capacity()))
            .finish()
    }
}

impl EventSink {
    /// A sink publishing through `recorder`.
    pub fn new(recorder: Recorder) -> Self {
        let (tx, rx) = mpsc::channel(MAX_QUEUED_EVENTS);
        Self {
            tx,
            idle: Arc::new(Mutex::new(Some((rx, recorder)))),
        }
    }

    /// Queues an Event about `object`; drops it if the queue is full. Must be called within
    /// a Tokio runtime (the first call starts the publishing task).
    pub fn record(
        &self,
        object: &dyn Object,
        event_type: EventType,
        reason: &'static str,
        message: String,
    ) {
        self.start();
        let pending = Pending {
            regarding: object_reference(object),
            event_type,
            reason,
            message,
        };
        if let Err(mpsc::error::TrySendError::Full(dropped)) = self.tx.try_send(pending) {
            tracing::debug!(
                reason = dropped.reason,
                "the event queue is full; event dropped"
            );
        }
    }

    fn start(&self) {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some((mut rx, recorder)) = idle {
            tokio::spawn(async move {
                while let Some(event) = rx.recv().await {
                    let published = recorder
                        .publish(
                            &event.regarding,
                            event.event_type,
                            event.reason,
                            &event.message,
                        )
                        .await;
                    if let Err(status) = published {
                        tracing::debug!(%status, reason = event.reason, "could not write an event");
                    }
                }
            });
        }
    }
}
