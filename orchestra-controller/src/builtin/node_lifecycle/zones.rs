//! Zones and the pace of tainting: Kubernetes taints unhealthy nodes zone by zone, at a rate
//! that depends on how much of the zone is down, so a network partition does not evict
//! everything at once.
//!
//! Each zone (the node's `topology.kubernetes.io/region` and `zone` labels) is in a state
//! computed from its nodes' `Ready` conditions ([`zone_state`]): `Normal`, `PartialDisruption`
//! (more than two nodes and at least `unhealthy_zone_threshold` of them not ready) or
//! `FullDisruption` (none ready). Nodes waiting for their `NoExecute` taint sit in their
//! zone's [`TaintQueue`], drained through a token bucket of `node_eviction_rate` nodes per
//! second in a normal zone, `secondary_node_eviction_rate` in a partially disrupted large zone
//! (none in a small one), and the normal rate again in a fully disrupted zone — unless every
//! zone is fully disrupted, which looks like the control plane's own network failing: then no
//! node is tainted at all.

use std::collections::{HashSet, VecDeque};

use orchestra_api::k8s_openapi::api::core::v1::Node;
use tokio::time::Instant;

/// The label excluding a node from the zone-disruption counts.
pub const LABEL_EXCLUDE_DISRUPTION: &str = "node.kubernetes.io/exclude-disruption";

/// How disrupted a zone is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneState {
    /// Just seen; not judged yet.
    Initial,
    /// Healthy enough.
    Normal,
    /// More than two nodes and at least the threshold share of them not ready.
    PartialDisruption,
    /// No node ready.
    FullDisruption,
}

/// The zone key of a node: region and zone labels (the deprecated beta labels first), `""`
/// when it has neither (Kubernetes' `GetZoneKey`).
pub fn zone_key(node: &Node) -> String {
    let Some(labels) = node.metadata.labels.as_ref() else {
        return String::new();
    };
    let zone = labels
        .get("failure-domain.beta.kubernetes.io/zone")
        .or_else(|| labels.get("topology.kubernetes.io/zone"))
        .cloned()
        .unwrap_or_default();
    let region = labels
        .get("failure-domain.beta.kubernetes.io/region")
        .or_else(|| labels.get("topology.kubernetes.io/region"))
        .cloned()
        .unwrap_or_default();
    if zone.is_empty() && region.is_empty() {
        return String::new();
    }
    format!("{region}:\0:{zone}")
}

/// Whether the node is left out of zone-disruption counts.
pub fn excluded_from_disruption(node: &Node) -> bool {
    node.metadata
        .labels
        .as_ref()
        .is_some_and(|l| l.contains_key(LABEL_EXCLUDE_DISRUPTION))
}

/// The state of a zone whose nodes are ready (`true`) or not, with the share of not-ready
/// nodes that makes a disruption partial.
pub fn zone_state(ready: &[bool], unhealthy_threshold: f64) -> ZoneState {
    let ready_nodes = ready.iter().filter(|r| **r).count();
    let not_ready = ready.len() - ready_nodes;
    if ready_nodes == 0 && not_ready > 0 {
        ZoneState::FullDisruption
    } else if not_ready > 2 && not_ready as f64 / ready.len() as f64 >= unhealthy_threshold {
        ZoneState::PartialDisruption
    } else {
        ZoneState::Normal
    }
}

/// A token bucket with a burst of one (Kubernetes' eviction limiter); a rate of zero or less
/// never lets anything through.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    qps: f64,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket refilling at `qps` tokens per second.
    pub fn new(qps: f64, now: Instant) -> Self {
        Self {
            qps,
            tokens: 1.0,
            updated: now,
        }
    }

    /// The refill rate.
    pub fn qps(&self) -> f64 {
        self.qps
    }

    fn refill(&mut self, now: Instant) {
        if self.qps > 0.0 {
            let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.qps).min(1.0);
        }
        self.updated = now;
    }

    /// Takes a token if one is there.
    pub fn try_accept(&mut self, now: Instant) -> bool {
        if self.qps <= 0.0 {
            return false;
        }
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether a token is there, without taking it.
    fn has_token(&mut self, now: Instant) -> bool {
        if self.qps <= 0.0 {
            return false;
        }
        self.refill(now);
        self.tokens >= 1.0
    }
}

/// The nodes of one zone waiting for a `NoExecute` taint, in order, behind the zone's token
/// bucket (Kubernetes' `RateLimitedTimedQueue`). A node is queued once: after it has been
/// taken out to be tainted it stays known, so queueing it again does nothing until it is
/// [`remove`](Self::remove)d — which the controller does when the node lacks the taint it
/// should have, or is healthy again.
#[derive(Debug, Clone)]
pub struct TaintQueue {
    queue: VecDeque<(String, Instant)>,
    /// Queued or already handed out.
    members: HashSet<String>,
    limiter: TokenBucket,
}

impl TaintQueue {
    /// An empty queue drained at `qps` nodes per second.
    pub fn new(qps: f64, now: Instant) -> Self {
        Self {
            queue: VecDeque::new(),
            members: HashSet::new(),
            limiter: TokenBucket::new(qps, now),
        }
    }

    /// Queues the node unless it is known already; whether it was added.
    pub fn add(&mut self, node: &str, now: Instant) -> bool {
        if !self.members.insert(node.to_owned()) {
            return false;
        }
        self.queue.push_back((node.to_owned(), now));
        true
    }

    /// Forgets the node (queued or handed out); whether it was known.
    pub fn remove(&mut self, node: &str) -> bool {
        if !self.members.remove(node) {
            return false;
        }
        self.queue.retain(|(name, _)| name != node);
        true
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Changes the rate (Kubernetes' `SwapLimiter`): a new bucket, drained if the old one had
    /// no token, so a rate change never lets an extra node through.
    pub fn set_rate(&mut self, qps: f64, now: Instant) {
        if self.limiter.qps() == qps {
            return;
        }
        let had_token = self.limiter.has_token(now);
        self.limiter = TokenBucket::new(qps, now);
        if !had_token {
            self.limiter.try_accept(now);
        }
    }

    /// The next node due, if the bucket lets one through now.
    pub fn pop_due(&mut self, now: Instant) -> Option<String> {
        let (_, due) = self.queue.front()?;
        if *due > now || !self.limiter.try_accept(now) {
            return None;
        }
        let (node, _) = self.queue.pop_front()?;
        Some(node)
    }

    /// Puts a node handed out back, to be tried again after `due`.
    pub fn retry(&mut self, node: String, due: Instant) {
        self.members.insert(node.clone());
        self.queue.retain(|(name, _)| *name != node);
        self.queue.push_back((node, due));
    }

    /// Forgets every node `keep` answers false for.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.members.retain(|name| keep(name));
        self.queue.retain(|(name, _)| keep(name));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn zone_states_follow_kubernetes_thresholds() {
        assert_eq!(zone_state(&[false, false], 0.55), ZoneState::FullDisruption);
        assert_eq!(zone_state(&[true, false], 0.55), ZoneState::Normal);
        // Two of three down: not more than two, so still normal.
        assert_eq!(zone_state(&[true, false, false], 0.55), ZoneState::Normal);
        assert_eq!(
            zone_state(&[true, false, false, false], 0.55),
            ZoneState::PartialDisruption
        );
        assert_eq!(
            zone_state(&[true, true, false, false, false, true, true], 0.55),
            ZoneState::Normal
        );
        assert_eq!(zone_state(&[], 0.55), ZoneState::Normal);
    }

    #[test]
    fn the_queue_lets_one_node_through_per_token() {
        let start = Instant::now();
        let mut queue = TaintQueue::new(0.1, start);
        assert!(queue.add("a", start));
        assert!(!queue.add("a", start), "each node once");
        queue.add("b", start);
        assert_eq!(queue.pop_due(start).as_deref(), Some("a"));
        assert_eq!(queue.pop_due(start + Duration::from_secs(9)), None);
        assert_eq!(
            queue.pop_due(start + Duration::from_secs(10)).as_deref(),
            Some("b")
        );
        assert!(queue.is_empty());
        assert!(!queue.add("a", start), "handed out, it stays known");
        assert!(queue.remove("a") && queue.add("a", start));
    }

    #[test]
    fn a_zero_rate_stops_tainting_and_a_rate_change_gives_no_extra_token() {
        let start = Instant::now();
        let mut queue = TaintQueue::new(0.1, start);
        queue.add("a", start);
        queue.add("b", start);
        queue.set_rate(0.0, start);
        assert_eq!(queue.pop_due(start + Duration::from_secs(100)), None);
        // Coming back from zero, the bucket starts empty: the next node waits a full period.
        let at = |s| start + Duration::from_secs(s);
        queue.set_rate(0.1, at(100));
        assert_eq!(queue.pop_due(at(100)), None);
        assert_eq!(queue.pop_due(at(110)).as_deref(), Some("a"));
        queue.set_rate(0.2, at(110));
        assert_eq!(queue.pop_due(at(110)), None);
        assert_eq!(queue.pop_due(at(115)).as_deref(), Some("b"));
    }

    #[test]
    fn zone_keys_combine_region_and_zone() {
        let mut node = Node::default();
        assert_eq!(zone_key(&node), "");
        node.metadata.labels =
            Some([("topology.kubernetes.io/zone".to_owned(), "a".to_owned())].into());
        assert_eq!(zone_key(&node), ":\0:a");
    }
}
