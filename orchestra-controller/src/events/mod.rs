//! Events: what controllers tell the people watching a cluster (`kubectl describe`, `kubectl
//! get events`) about the objects they act on.
//!
//! A [`Recorder`] publishes core/v1 Events about an object — `Normal` for things worth
//! knowing ("Created pod web-1"), `Warning` for things that went wrong ("FailedCreate") —
//! under a [`Reporter`]'s name, through the [`Client`] like any other write. Like client-go's
//! recorder it runs every Event through an [`EventCorrelator`] first, so a controller stuck
//! on one object produces one Event with a growing `count`, an aggregate of similar ones,
//! or nothing once it exceeds its budget — never a flood.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::sync::Arc;
//! use orchestra_api::{Api, Client, PostParams, kinds};
//! use orchestra_api::k8s_openapi::api::core::v1::{ConfigMap, Event};
//! use orchestra_controller::events::{EventType, Published, Recorder, Reporter};
//! use orchestra_store::{LocalClient, MemoryKv, Store, StoreConfig};
//!
//! let store = Store::open(Arc::new(MemoryKv::new()), kinds::BUILTIN.iter().map(|k| (*k).clone()), StoreConfig::default())
//!     .await
//!     .unwrap();
//! let client: Arc<dyn Client> = Arc::new(LocalClient::new(store));
//! let mut cm = ConfigMap::default();
//! cm.metadata.name = Some("settings".into());
//! let cm = Api::<ConfigMap>::namespaced(client.clone(), "default")
//!     .create(&PostParams::default(), &cm)
//!     .await
//!     .unwrap();
//!
//! let recorder = Recorder::new(client.clone(), Reporter::new("settings-controller"));
//! for _ in 0..3 {
//!     recorder.publish_about(&*cm, EventType::Warning, "InvalidKey", "key 'a b' is not valid").await.unwrap();
//! }
//! let events = Api::<Event>::namespaced(client, "default").list(&Default::default()).await.unwrap();
//! assert_eq!(events.items.len(), 1, "one Event, counted three times");
//! assert_eq!(events.items[0].count, Some(3));
//! assert_eq!(events.items[0].source.as_ref().unwrap().component.as_deref(), Some("settings-controller"));
//! # }
//! ```

pub mod correlator;
mod lru;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use orchestra_api::k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use orchestra_api::k8s_openapi::jiff::Timestamp;
use orchestra_api::object::downcast_arc;
use orchestra_api::{Client, Object, Patch, PatchParams, PostParams, Served, Status};
use tokio::time::Instant;

pub use self::correlator::{
    AGGREGATE_MESSAGE_PREFIX, Correlated, CorrelatorConfig, EventCorrelator,
};

/// Whether an Event reports something normal or something wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// Worth knowing; nothing is wrong.
    Normal,
    /// Something went wrong, or may go wrong.
    Warning,
}

impl EventType {
    /// The type as Kubernetes spells it (`Normal`, `Warning`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "Normal",
            Self::Warning => "Warning",
        }
    }
}

/// Who publishes Events: the controller (`source.component`, `reportingComponent`) and,
/// optionally, which instance of it (`source.host`, `reportingInstance`; a pod or host name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reporter {
    /// The controller's name, such as `replicaset-controller`.
    pub controller: String,
    /// The instance, such as the host name of the process.
    pub instance: Option<String>,
}

impl Reporter {
    /// A reporter named `controller`, without an instance.
    pub fn new(controller: impl Into<String>) -> Self {
        Self {
            controller: controller.into(),
            instance: None,
        }
    }

    /// The same reporter, naming its instance.
    #[must_use]
    pub fn instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }
}

/// What became of a published Event.
#[derive(Debug, Clone)]
pub enum Published {
    /// A new Event was created.
    Created(Arc<Event>),
    /// An existing Event (a repeat, or the aggregate of similar ones) had its count raised.
    Counted(Arc<Event>),
    /// The reporter exceeded its budget for the object; nothing was written.
    Dropped,
}

/// A reference to `object` for the `involvedObject` of an Event.
pub fn object_reference(object: &dyn Object) -> ObjectReference {
    let meta = object.metadata();
    ObjectReference {
        api_version: Some(object.api_version().into_owned()),
        kind: Some(object.kind().into_owned()),
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        field_path: None,
    }
}

/// Publishes core/v1 Events for one [`Reporter`]. Cheap to clone; clones share the
/// correlator. See the [module documentation](self).
#[derive(Clone)]
pub struct Recorder {
    client: Arc<dyn Client>,
    reporter: Reporter,
    correlator: Arc<Mutex<EventCorrelator>>,
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder")
            .field("reporter", &self.reporter)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// A recorder with client-go's correlation limits.
    pub fn new(client: Arc<dyn Client>, reporter: Reporter) -> Self {
        Self::with_correlator(client, reporter, CorrelatorConfig::default())
    }

    /// A recorder with its own correlation limits.
    pub fn with_correlator(
        client: Arc<dyn Client>,
        reporter: Reporter,
        config: CorrelatorConfig,
    ) -> Self {
        Self {
            client,
            reporter,
            correlator: Arc::new(Mutex::new(EventCorrelator::new(config))),
        }
    }

    /// Who this recorder publishes as.
    pub fn reporter(&self) -> &Reporter {
        &self.reporter
    }

    fn correlator(&self) -> MutexGuard<'_, EventCorrelator> {
        self.correlator
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes an Event about `object`.
    pub async fn publish_about(
        &self,
        object: &dyn Object,
        event_type: EventType,
        reason: &str,
        message: &str,
    ) -> Result<Published, Status> {
        self.publish(&object_reference(object), event_type, reason, message)
            .await
    }

    /// Publishes an Event about the object `regarding` refers to. The Event lives in that
    /// object's namespace (`default` for cluster-scoped objects), as Kubernetes requires.
    ///
    /// Errors are the server's answers; a caller that must not fail on reporting logs them
    /// and goes on.
    pub async fn publish(
        &self,
        regarding: &ObjectReference,
        event_type: EventType,
        reason: &str,
        message: &str,
    ) -> Result<Published, Status> {
        let wall = Timestamp::now();
        let correlated = {
            let mut correlator = self.correlator();
            let object_name = regarding.name.as_deref().unwrap_or_default();
            let name = correlator.event_name(object_name, wall);
            let event = self.event(name, regarding, event_type, reason, message, wall);
            correlator.correlate(event, Instant::now(), wall)
        };
        let events = Event::resource_kind();
        let published = match correlated {
            Correlated::Skip => {
                tracing::debug!(reason, "event dropped by the spam filter");
                return Ok(Published::Dropped);
            }
            Correlated::Create(event) => Published::Created(self.create(event).await?),
            Correlated::Patch { event, patch } => {
                let namespace = event.metadata.namespace.as_deref();
                let name = event.metadata.name.as_deref().unwrap_or_default();
                match self
                    .client
                    .patch(
                        events,
                        namespace,
                        name,
                        None,
                        &Patch::Merge(patch),
                        &PatchParams::default(),
                    )
                    .await
                {
                    Ok(updated) => Published::Counted(typed(updated)?),
                    // Expired or deleted meanwhile: create it again, count kept.
                    Err(status) if status.code == 404 => {
                        let mut event = event;
                        event.metadata.resource_version = None;
                        Published::Created(self.create(event).await?)
                    }
                    Err(status) => return Err(status),
                }
            }
        };
        if let Published::Created(event) | Published::Counted(event) = &published {
            self.correlator().update_state(event);
        }
        Ok(published)
    }

    async fn create(&self, event: Event) -> Result<Arc<Event>, Status> {
        let namespace = event.metadata.namespace.clone();
        let created = self
            .client
            .create(
                Event::resource_kind(),
                namespace.as_deref(),
                Arc::new(event),
                &PostParams::default(),
            )
            .await?;
        typed(created)
    }

    fn event(
        &self,
        name: String,
        regarding: &ObjectReference,
        event_type: EventType,
        reason: &str,
        message: &str,
        wall: Timestamp,
    ) -> Event {
        let namespace = regarding
            .namespace
            .clone()
            .filter(|ns| !ns.is_empty())
            .unwrap_or_else(|| "default".to_owned());
        let time = Time(wall);
        Event {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: Some(namespace),
                ..ObjectMeta::default()
            },
            involved_object: regarding.clone(),
            reason: Some(reason.to_owned()),
            message: Some(message.to_owned()),
            type_: Some(event_type.as_str().to_owned()),
            count: Some(1),
            first_timestamp: Some(time.clone()),
            last_timestamp: Some(time),
            source: Some(EventSource {
                component: Some(self.reporter.controller.clone()),
                host: self.reporter.instance.clone(),
            }),
            reporting_component: Some(self.reporter.controller.clone()),
            reporting_instance: self.reporter.instance.clone(),
            ..Event::default()
        }
    }
}

fn typed(object: orchestra_api::ArcObject) -> Result<Arc<Event>, Status> {
    downcast_arc::<Event>(object).map_err(Status::internal)
}
