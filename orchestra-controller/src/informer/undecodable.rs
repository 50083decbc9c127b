//! How an informer reports the objects it skips because they cannot be decoded.
//!
//! A remote client hands on an object that does not decode into the kind's type as an
//! [`UndecodableObject`] (see the [watcher](mod@super::watcher) for how it travels). The informer
//! keeps it out of its cache and its handlers, and tells the people running the cluster, once
//! per object and `resourceVersion`: a `tracing` warning and a core/v1 `Warning` Event with
//! reason [`FAILED_TO_DECODE`] about the object itself (`kubectl describe` on it, or `kubectl
//! get events`, shows it), whose message carries the decoder's error. The same object seen again
//! at the same `resourceVersion` (a re-list) is not reported again; a new `resourceVersion`
//! that still does not decode is, and the recorder's correlator counts the repeats. An object
//! without a name gets only the log line: there is nothing for an Event to refer to.
//!
//! Events go through the informer's [`Recorder`]: the one given with
//! [`Informer::set_recorder`](super::Informer::set_recorder) (a
//! [`SharedInformerFactory`](super::SharedInformerFactory) passes its own to its informers,
//! and a [`Manager`](crate::manager::Manager) gives the factory the manager's), or else one
//! made on first use over the informer's client, reporting as [`DEFAULT_REPORTER`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use orchestra_api::k8s_openapi::api::core::v1::ObjectReference;
use orchestra_api::{Client, Object, ResourceKind, UndecodableObject};

use super::cache::ObjectKey;
use super::watcher::Event;
use crate::events::{EventType, Recorder, Reporter};

/// The reason of the Event about an object that cannot be decoded.
pub const FAILED_TO_DECODE: &str = "FailedToDecode";

/// The reporter of an informer's Events when it was given no recorder.
pub const DEFAULT_REPORTER: &str = "orchestra-informer";

/// Where an informer's recorder lives: shared by the informer's handles (which may set it)
/// and its task (which uses it).
pub(crate) type RecorderSlot = Arc<Mutex<Option<Recorder>>>;

/// Remembers what an informer has reported, and reports what is new.
pub(crate) struct UndecodableReports {
    client: Arc<dyn Client>,
    kind: ResourceKind,
    namespace: Option<String>,
    recorder: RecorderSlot,
    /// The `resourceVersion` last reported, per object that is still undecodable.
    reported: HashMap<ObjectKey, Option<String>>,
    /// The undecodable objects of the list in progress.
    listing: Option<HashSet<ObjectKey>>,
}

impl UndecodableReports {
    pub(crate) fn new(
        client: Arc<dyn Client>,
        kind: ResourceKind,
        namespace: Option<String>,
        recorder: RecorderSlot,
    ) -> Self {
        Self {
            client,
            kind,
            namespace,
            recorder,
            reported: HashMap::new(),
            listing: None,
        }
    }

    /// Notes a decoded event: an object that reads again is forgotten, and a complete list
    /// forgets the objects it no longer has.
    pub(crate) fn observe<K: Object>(&mut self, event: &Event<K>) {
        match event {
            Event::Init => self.listing = Some(HashSet::new()),
            Event::InitDone => {
                let listed = self.listing.take().unwrap_or_default();
                self.reported.retain(|key, _| listed.contains(key));
            }
            Event::InitApply(object) | Event::Apply(object) | Event::Delete(object) => {
                if !self.reported.is_empty() {
                    self.reported.remove(&ObjectKey::of(&**object));
                }
            }
        }
    }

    /// Reports `object`, skipped by the informer, unless it was already reported at this
    /// `resourceVersion`. `deleted`: it came in a `DELETED` event, and is gone, so there is
    /// nothing to warn about any more.
    pub(crate) fn skipped(&mut self, object: &UndecodableObject, deleted: bool) {
        let key = ObjectKey::of(object);
        let kind = &*self.kind.plural;
        let namespace = self.namespace.as_deref();
        if deleted {
            self.reported.remove(&key);
            tracing::debug!(kind, namespace, %object, "an object that could not be decoded was deleted");
            return;
        }
        if let Some(listed) = self.listing.as_mut() {
            listed.insert(key.clone());
        }
        let version = object.metadata().resource_version.clone();
        if self.reported.get(&key) == Some(&version) {
            tracing::debug!(kind, namespace, %object, "skipping an object that cannot be decoded (already reported)");
            return;
        }
        tracing::warn!(kind, namespace, %object, "skipping an object that cannot be decoded");
        self.reported.insert(key, version);
        if object.metadata().name.is_none() {
            return;
        }
        let regarding = self.reference(object);
        let message = format!(
            "cannot decode this {} as the informer's type, so controllers skip it until it changes: {}",
            self.kind.kind,
            object.error()
        );
        let recorder = self.recorder();
        tokio::spawn(async move {
            if let Err(status) = recorder
                .publish(&regarding, EventType::Warning, FAILED_TO_DECODE, &message)
                .await
            {
                tracing::warn!(%status, "could not record an undecodable object as an Event");
            }
        });
    }

    /// The object's reference, with the watched kind's `apiVersion` and `kind` where its JSON
    /// had none (Kubernetes leaves them out of list items).
    fn reference(&self, object: &UndecodableObject) -> ObjectReference {
        let mut reference = object.object_reference();
        reference
            .api_version
            .get_or_insert_with(|| self.kind.api_version());
        reference
            .kind
            .get_or_insert_with(|| self.kind.kind.to_string());
        reference
    }

    /// The informer's recorder, made over its client on first use when it was given none.
    fn recorder(&self) -> Recorder {
        let mut slot = self.recorder.lock().unwrap_or_else(PoisonError::into_inner);
        slot.get_or_insert_with(|| {
            Recorder::new(Arc::clone(&self.client), Reporter::new(DEFAULT_REPORTER))
        })
        .clone()
    }
}
