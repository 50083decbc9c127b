//! The event correlator: what keeps a controller that reports the same thing again and again
//! from flooding the API server with Events, as client-go's `EventCorrelator` does.
//!
//! Every Event a [`Recorder`](super::Recorder) is asked to publish passes three stages, in
//! client-go's order:
//!
//! 1. **Aggregation.** Events that differ only in their message (same source, object, type
//!    and reason) are *similar*. Once [`max_similar`](CorrelatorConfig::max_similar) (10)
//!    distinct messages were seen within [`similar_interval`](CorrelatorConfig::similar_interval)
//!    (10 minutes) of each other, the next similar Event is replaced by one aggregate Event
//!    whose message is prefixed `(combined from similar events): `, and further similar
//!    Events count on that one.
//! 2. **De-duplication.** An Event identical to one already published (same message too) is
//!    not created again: the existing Event's `count` goes up by one and its
//!    `lastTimestamp` and message are updated with a patch.
//! 3. **Spam filter.** Each source may publish [`spam_burst`](CorrelatorConfig::spam_burst)
//!    (25) Events about one object at once, then one every 5 minutes
//!    ([`spam_qps`](CorrelatorConfig::spam_qps)); the rest are dropped.
//!
//! Each stage remembers at most [`cache_size`](CorrelatorConfig::cache_size) (4,096) keys,
//! forgetting the least recently used. Intervals are measured on tokio's clock, so paused
//! time drives them in tests.

use std::time::Duration;

use orchestra_api::k8s_openapi::api::core::v1::Event;
use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use orchestra_api::k8s_openapi::jiff::Timestamp;
use serde_json::json;
use tokio::time::Instant;

use super::lru::Lru;

/// The prefix of an aggregate Event's message.
pub const AGGREGATE_MESSAGE_PREFIX: &str = "(combined from similar events): ";

/// The correlator's limits; the defaults are client-go's.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrelatorConfig {
    /// Keys each stage remembers (4,096).
    pub cache_size: usize,
    /// Events a source may publish about one object at once (25).
    pub spam_burst: u32,
    /// Events per second a source's budget for one object refills at (one per 300 s).
    pub spam_qps: f64,
    /// Distinct messages of similar Events before they are aggregated (10).
    pub max_similar: usize,
    /// How long after the last similar Event a new one starts a fresh count (10 minutes).
    pub similar_interval: Duration,
}

impl Default for CorrelatorConfig {
    fn default() -> Self {
        Self {
            cache_size: 4096,
            spam_burst: 25,
            spam_qps: 1.0 / 300.0,
            max_similar: 10,
            similar_interval: Duration::from_secs(600),
        }
    }
}

/// What to do with an Event after correlation.
#[derive(Debug, Clone, PartialEq)]
pub enum Correlated {
    /// Create this Event.
    Create(Event),
    /// Patch the existing Event (`event` names it) with this JSON merge patch; if it is gone,
    /// create `event` instead.
    Patch {
        /// The Event as it should now be.
        event: Event,
        /// `count`, `lastTimestamp` and `message`, as a JSON merge patch.
        patch: serde_json::Value,
    },
    /// Drop it: its source exceeded its budget for the object.
    Skip,
}

/// Similar Events seen recently.
#[derive(Debug)]
struct SimilarRecord {
    messages: Vec<String>,
    last_seen: Instant,
}

/// An Event already published.
#[derive(Debug, Clone)]
struct Published {
    count: i32,
    first_timestamp: Option<Time>,
    name: String,
}

/// A token bucket: `burst` tokens, refilled at `qps`.
#[derive(Debug)]
struct TokenBucket {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn full(burst: u32, now: Instant) -> Self {
        Self {
            tokens: f64::from(burst),
            last: now,
        }
    }

    fn try_take(&mut self, burst: u32, qps: f64, now: Instant) -> bool {
        let refill = now.saturating_duration_since(self.last).as_secs_f64() * qps;
        self.tokens = (self.tokens + refill).min(f64::from(burst));
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Aggregates, de-duplicates and rate-limits Events. See the [module documentation](self).
#[derive(Debug)]
pub struct EventCorrelator {
    config: CorrelatorConfig,
    similar: Lru<String, SimilarRecord>,
    published: Lru<String, Published>,
    spam: Lru<String, TokenBucket>,
    /// The last name suffix handed out, so names stay unique within a nanosecond.
    last_suffix: i128,
}

impl Default for EventCorrelator {
    fn default() -> Self {
        Self::new(CorrelatorConfig::default())
    }
}

impl EventCorrelator {
    /// A correlator with the given limits.
    pub fn new(config: CorrelatorConfig) -> Self {
        Self {
            similar: Lru::new(config.cache_size),
            published: Lru::new(config.cache_size),
            spam: Lru::new(config.cache_size),
            config,
            last_suffix: 0,
        }
    }

    /// A fresh Event name for an Event about `object_name`: `<object>.<hex nanoseconds>`,
    /// as client-go names them, strictly increasing within this correlator.
    pub fn event_name(&mut self, object_name: &str, now: Timestamp) -> String {
        let suffix = now.as_nanosecond().max(self.last_suffix + 1);
        self.last_suffix = suffix;
        format!("{object_name}.{suffix:x}")
    }

    /// Decides what to do with `event` (a new Event at `wall`, `now` on tokio's clock).
    pub fn correlate(&mut self, event: Event, now: Instant, wall: Timestamp) -> Correlated {
        let (event, key) = self.aggregate(event, now, wall);
        let (event, patch) = self.observe(event, key);
        if !self.within_budget(&event, now) {
            return Correlated::Skip;
        }
        match patch {
            Some(patch) => Correlated::Patch { event, patch },
            None => Correlated::Create(event),
        }
    }

    /// Remembers the Event as the server stored it, for the next de-duplication.
    pub fn update_state(&mut self, event: &Event) {
        self.published.put(
            event_key(event),
            Published {
                count: event.count.unwrap_or(1),
                first_timestamp: event.first_timestamp.clone(),
                name: event.metadata.name.clone().unwrap_or_default(),
            },
        );
    }

    /// Stage 1: answers the Event to publish (the same, or an aggregate) and its key.
    fn aggregate(&mut self, event: Event, now: Instant, wall: Timestamp) -> (Event, String) {
        let full_key = event_key(&event);
        let similar_key = similar_key(&event);
        let message = event.message.clone().unwrap_or_default();
        let interval = self.config.similar_interval;
        let record = match self.similar.get_mut(&similar_key) {
            Some(record) if now.saturating_duration_since(record.last_seen) <= interval => record,
            _ => {
                self.similar.put(
                    similar_key.clone(),
                    SimilarRecord {
                        messages: Vec::new(),
                        last_seen: now,
                    },
                );
                // Just inserted: present.
                let Some(record) = self.similar.get_mut(&similar_key) else {
                    return (event, full_key);
                };
                record
            }
        };
        if !record.messages.contains(&message) {
            record.messages.push(message);
        }
        record.last_seen = now;
        if record.messages.len() < self.config.max_similar {
            return (event, full_key);
        }
        // Keep the set bounded, as client-go does.
        record.messages.remove(0);
        let time = Time(wall);
        let object_name = event.involved_object.name.clone().unwrap_or_default();
        let aggregate = Event {
            metadata: ObjectMeta {
                name: Some(self.event_name(&object_name, wall)),
                namespace: event.metadata.namespace.clone(),
                ..ObjectMeta::default()
            },
            count: Some(1),
            first_timestamp: Some(time.clone()),
            last_timestamp: Some(time),
            involved_object: event.involved_object.clone(),
            message: Some(format!(
                "{AGGREGATE_MESSAGE_PREFIX}{}",
                event.message.as_deref().unwrap_or_default()
            )),
            type_: event.type_.clone(),
            reason: event.reason.clone(),
            source: event.source.clone(),
            reporting_component: event.reporting_component.clone(),
            reporting_instance: event.reporting_instance.clone(),
            ..Event::default()
        };
        (aggregate, similar_key)
    }

    /// Stage 2: a repeat of a published Event becomes a patch of it.
    fn observe(&mut self, mut event: Event, key: String) -> (Event, Option<serde_json::Value>) {
        let mut patch = None;
        if let Some(last) = self.published.get_mut(&key).filter(|last| last.count > 0) {
            event.metadata.name = Some(last.name.clone());
            event.first_timestamp = last.first_timestamp.clone();
            event.count = Some(last.count.saturating_add(1));
            patch = Some(json!({
                "count": event.count,
                "lastTimestamp": event.last_timestamp,
                "message": event.message,
            }));
        }
        self.published.put(
            key,
            Published {
                count: event.count.unwrap_or(1),
                first_timestamp: event.first_timestamp.clone(),
                name: event.metadata.name.clone().unwrap_or_default(),
            },
        );
        (event, patch)
    }

    /// Stage 3: whether the Event's source still has budget for its object.
    fn within_budget(&mut self, event: &Event, now: Instant) -> bool {
        let key = spam_key(event);
        let (burst, qps) = (self.config.spam_burst, self.config.spam_qps);
        if self.spam.get_mut(&key).is_none() {
            self.spam.put(key.clone(), TokenBucket::full(burst, now));
        }
        self.spam
            .get_mut(&key)
            .is_some_and(|bucket| bucket.try_take(burst, qps, now))
    }
}

fn join(parts: &[Option<&str>]) -> String {
    parts
        .iter()
        .map(|part| part.unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\u{1f}")
}

/// Source and involved object: what the spam budget is kept per.
fn spam_key(event: &Event) -> String {
    let source = event.source.as_ref();
    let object = &event.involved_object;
    join(&[
        source.and_then(|s| s.component.as_deref()),
        source.and_then(|s| s.host.as_deref()),
        object.kind.as_deref(),
        object.namespace.as_deref(),
        object.name.as_deref(),
        object.uid.as_deref(),
        object.api_version.as_deref(),
    ])
}

/// Everything but the message: what makes Events similar.
fn similar_key(event: &Event) -> String {
    let source = event.source.as_ref();
    let object = &event.involved_object;
    join(&[
        source.and_then(|s| s.component.as_deref()),
        source.and_then(|s| s.host.as_deref()),
        object.kind.as_deref(),
        object.namespace.as_deref(),
        object.name.as_deref(),
        object.uid.as_deref(),
        object.api_version.as_deref(),
        event.type_.as_deref(),
        event.reason.as_deref(),
        event.reporting_component.as_deref(),
        event.reporting_instance.as_deref(),
    ])
}

/// Everything, the message and field path included: what makes Events identical.
fn event_key(event: &Event) -> String {
    let source = event.source.as_ref();
    let object = &event.involved_object;
    join(&[
        source.and_then(|s| s.component.as_deref()),
        source.and_then(|s| s.host.as_deref()),
        object.kind.as_deref(),
        object.namespace.as_deref(),
        object.name.as_deref(),
        object.field_path.as_deref(),
        object.uid.as_deref(),
        object.api_version.as_deref(),
        event.type_.as_deref(),
        event.reason.as_deref(),
        event.message.as_deref(),
    ])
}

#[cfg(test)]
mod tests {
    use orchestra_api::k8s_openapi::api::core::v1::{EventSource, ObjectReference};

    use super::*;

    fn event(correlator: &mut EventCorrelator, reason: &str, message: &str) -> Event {
        let wall = Timestamp::now();
        Event {
            metadata: ObjectMeta {
                name: Some(correlator.event_name("web", wall)),
                namespace: Some("default".into()),
                ..ObjectMeta::default()
            },
            involved_object: ObjectReference {
                kind: Some("Pod".into()),
                name: Some("web".into()),
                namespace: Some("default".into()),
                uid: Some("u1".into()),
                api_version: Some("v1".into()),
                ..ObjectReference::default()
            },
            reason: Some(reason.into()),
            message: Some(message.into()),
            type_: Some("Normal".into()),
            count: Some(1),
            first_timestamp: Some(Time(wall)),
            last_timestamp: Some(Time(wall)),
            source: Some(EventSource {
                component: Some("test".into()),
                host: None,
            }),
            ..Event::default()
        }
    }

    fn publish(correlator: &mut EventCorrelator, event: Event, now: Instant) -> Correlated {
        let result = correlator.correlate(event, now, Timestamp::now());
        // What the server would answer: the Event as created or patched.
        match &result {
            Correlated::Create(event) | Correlated::Patch { event, .. } => {
                correlator.update_state(event)
            }
            Correlated::Skip => {}
        }
        result
    }

    #[test]
    fn identical_events_become_a_count_on_the_first() {
        let mut correlator = EventCorrelator::default();
        let now = Instant::now();
        let first = event(&mut correlator, "Pulled", "image pulled");
        let Correlated::Create(created) = publish(&mut correlator, first, now) else {
            panic!("the first is created");
        };
        for count in 2..=3 {
            let again = event(&mut correlator, "Pulled", "image pulled");
            match publish(&mut correlator, again, now) {
                Correlated::Patch { event, patch } => {
                    assert_eq!(event.metadata.name, created.metadata.name);
                    assert_eq!(patch["count"], count);
                    assert_eq!(patch["message"], "image pulled");
                    assert!(patch.get("lastTimestamp").is_some());
                }
                other => panic!("a repeat is a patch: {other:?}"),
            }
        }
    }

    #[test]
    fn the_tenth_similar_message_within_ten_minutes_starts_an_aggregate() {
        let mut correlator = EventCorrelator::default();
        let now = Instant::now();
        for i in 0..9 {
            let similar = event(&mut correlator, "Failed", &format!("attempt {i}"));
            assert!(matches!(
                publish(&mut correlator, similar, now),
                Correlated::Create(_)
            ));
        }
        let tenth = event(&mut correlator, "Failed", "attempt 9");
        let Correlated::Create(aggregate) = publish(&mut correlator, tenth, now) else {
            panic!("the aggregate is created");
        };
        assert_eq!(
            aggregate.message.as_deref(),
            Some("(combined from similar events): attempt 9")
        );
        let eleventh = event(&mut correlator, "Failed", "attempt 10");
        match publish(&mut correlator, eleventh, now) {
            Correlated::Patch { event, patch } => {
                assert_eq!(event.metadata.name, aggregate.metadata.name);
                assert_eq!(patch["count"], 2);
                assert_eq!(
                    patch["message"],
                    "(combined from similar events): attempt 10"
                );
            }
            other => panic!("later similar events count on the aggregate: {other:?}"),
        }
    }

    #[test]
    fn similar_events_more_than_ten_minutes_apart_are_not_aggregated() {
        let mut correlator = EventCorrelator::default();
        let mut now = Instant::now();
        for i in 0..20 {
            let similar = event(&mut correlator, "Failed", &format!("attempt {i}"));
            let result = publish(&mut correlator, similar, now);
            assert!(
                matches!(result, Correlated::Create(ref e) if !e.message.as_deref().unwrap().starts_with('(')),
                "{result:?}"
            );
            now += Duration::from_secs(601);
        }
    }

    #[test]
    fn a_source_gets_25_events_per_object_then_one_every_five_minutes() {
        let mut correlator = EventCorrelator::default();
        let start = Instant::now();
        let created = (0..30)
            .filter(|i| {
                let distinct = event(&mut correlator, &format!("Reason{i}"), "m");
                !matches!(publish(&mut correlator, distinct, start), Correlated::Skip)
            })
            .count();
        assert_eq!(created, 25);
        let later = event(&mut correlator, "Later", "m");
        assert_eq!(
            publish(&mut correlator, later, start + Duration::from_secs(299)),
            Correlated::Skip
        );
        let refilled = event(&mut correlator, "Refilled", "m");
        assert!(matches!(
            publish(&mut correlator, refilled, start + Duration::from_secs(300)),
            Correlated::Create(_)
        ));
    }

    #[test]
    fn names_are_unique_even_within_one_nanosecond() {
        let mut correlator = EventCorrelator::default();
        let now = Timestamp::now();
        let a = correlator.event_name("web", now);
        let b = correlator.event_name("web", now);
        assert_ne!(a, b);
        assert!(a.starts_with("web."));
    }
}
