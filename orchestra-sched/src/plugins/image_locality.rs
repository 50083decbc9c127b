//! ImageLocality: prefers nodes that already have the pod's images, weighting each image's
//! size by the share of nodes that have it (so a ubiquitous image does not decide), clamped
//! between 23 MiB and 1000 MiB per container and scaled to 0–100.

use std::sync::Arc;

use crate::config::ConfigError;
use crate::config::args::PluginArgs;
use crate::framework::{
    CycleState, Handle, MAX_NODE_SCORE, Plugin, PluginInstance, PreScorePlugin, ScorePlugin, Status,
};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;
use crate::snapshot::Snapshot;

/// The plugin's name.
pub const NAME: &str = "ImageLocality";

const MB: i64 = 1024 * 1024;
/// Images smaller than this in total score 0.
pub const MIN_THRESHOLD: i64 = 23 * MB;
/// Per container, images above this score no more.
pub const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

/// Scores image presence.
#[derive(Debug, Default)]
pub struct ImageLocality;

/// Per image of the pod: its name and the share of nodes that have it; and the sum of the
/// shares.
#[derive(Clone)]
struct PreScoreState(Arc<Vec<(String, f64)>>, f64);

impl Plugin for ImageLocality {
    fn name(&self) -> &str {
        NAME
    }
}

impl PreScorePlugin for ImageLocality {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> Status {
        let total = snapshot.len().max(1) as f64;
        let spread = pod
            .images
            .iter()
            .map(|image| {
                (
                    image.clone(),
                    snapshot.image_num_nodes(image) as f64 / total,
                )
            })
            .collect::<Vec<_>>();
        let shares = spread.iter().map(|(_, share)| share).sum();
        state.write(PreScoreState(Arc::new(spread), shares));
        Status::success()
    }
}

/// `100 × (clamp(sum) − min) / (max − min)` with `max = 1000 MiB × containers`.
pub fn calculate_priority(sum: i64, containers: usize) -> i64 {
    let max = MAX_CONTAINER_THRESHOLD * containers as i64;
    let sum = sum.clamp(MIN_THRESHOLD, max.max(MIN_THRESHOLD));
    if max <= MIN_THRESHOLD {
        return 0;
    }
    MAX_NODE_SCORE * (sum - MIN_THRESHOLD) / (max - MIN_THRESHOLD)
}

fn node_score(spread: &[(String, f64)], shares: f64, containers: usize, node: &NodeInfo) -> i64 {
    // Every image of the node is at most its largest: when even that many bytes over all
    // the shares stay under the threshold, the node scores 0 without a lookup (a cluster whose
    // nodes hold only small images, such as the pause image, never looks one up).
    if !node.has_images()
        || spread.is_empty()
        || node.largest_image() as f64 * shares <= MIN_THRESHOLD as f64
    {
        return 0;
    }
    let sum: i64 = spread
        .iter()
        .filter_map(|(image, share)| {
            node.image_sizes
                .get(image)
                .map(|size| (*size as f64 * share) as i64)
        })
        .sum();
    calculate_priority(sum, containers)
}

impl ScorePlugin for ImageLocality {
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let Some(spread) = state.read::<PreScoreState>() else {
            return Err(Status::error("ImageLocality PreScore did not run"));
        };
        Ok(node_score(&spread.0, spread.1, pod.images.len(), node))
    }

    fn score_nodes(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        nodes: &[&NodeInfo],
        scores: &mut [i64],
    ) -> Result<(), Status> {
        let Some(spread) = state.read::<PreScoreState>() else {
            return Err(Status::error("ImageLocality PreScore did not run"));
        };
        for (node, score) in nodes.iter().zip(scores.iter_mut()) {
            *score = node_score(&spread.0, spread.1, pod.images.len(), node);
        }
        Ok(())
    }
}

/// The factory.
pub fn factory(_: &PluginArgs<'_>, _: &Arc<Handle>) -> Result<PluginInstance, ConfigError> {
    Ok(PluginInstance::builder(Arc::new(ImageLocality))
        .pre_score()
        .score()
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster_objects::ClusterObjects;
    use crate::plugins::testing::{node_object, pod};
    use serde_json::json;

    /// Runs PreScore for `p` over every node of `snapshot`; the result scores a node by name.
    fn scorer<'a>(p: &'a PodInfo, snapshot: &'a Snapshot) -> impl Fn(&str) -> i64 + 'a {
        let mut state = CycleState::new();
        let nodes: Vec<&NodeInfo> = snapshot.nodes().iter().collect();
        assert!(
            ImageLocality
                .pre_score(&mut state, p, &nodes, snapshot)
                .is_success()
        );
        move |name| {
            let node = snapshot.get(name).expect("node");
            ImageLocality.score(&state, p, node).expect("score")
        }
    }

    #[test]
    fn scores_match_kubernetes() {
        // Kubernetes' image_locality_test "two images spread on two nodes, prefer the larger
        // image one": node1 has gcr.io/40 (40 MB) and gcr.io/300 (300 MB); node2 has
        // gcr.io/300 and gcr.io/2000 (2000 MB); pod uses gcr.io/40 and gcr.io/300.
        let mb = 1024 * 1024;
        let n1 = NodeInfo::new(node_object(
            "node1",
            json!({}),
            json!({"images": [
            {"names": ["gcr.io/40:latest", "gcr.io/40:v1"], "sizeBytes": 40 * mb},
            {"names": ["gcr.io/300:latest", "gcr.io/300:v1"], "sizeBytes": 300 * mb}]}),
        ));
        let n2 = NodeInfo::new(node_object(
            "node2",
            json!({}),
            json!({"images": [
            {"names": ["gcr.io/300:latest"], "sizeBytes": 300 * mb},
            {"names": ["gcr.io/2000:latest"], "sizeBytes": 2000 * mb}]}),
        ));
        let snapshot = Snapshot::from_node_infos([n1, n2], ClusterObjects::new());
        let p = pod(json!({"containers": [
            {"name": "a", "image": "gcr.io/40"}, {"name": "b", "image": "gcr.io/300"}]}));
        let score = scorer(&p, &snapshot);
        // node1: 40MB×1/2 + 300MB×2/2 = 320 MB → 100×(320−23)/(2000−23) = 15.
        assert_eq!(score("node1"), 15);
        // node2: 300 MB → 100×(300−23)/(2000−23) = 14.
        assert_eq!(score("node2"), 14);
    }

    #[test]
    fn nodes_with_only_small_images_score_zero_as_the_full_sum_does() {
        // node-small holds the pod's image at 20 MB (under the 23 MB threshold), node-big at
        // 600 MB: the bound skips node-small's lookup; both answers are the full sums'.
        let mb = 1024 * 1024;
        let node = |name: &str, size: i64| {
            NodeInfo::new(node_object(
                name,
                json!({}),
                json!({"images": [{"names": ["app:1"], "sizeBytes": size}]}),
            ))
        };
        let snapshot = Snapshot::from_node_infos(
            [node("node-small", 20 * mb), node("node-big", 600 * mb)],
            ClusterObjects::new(),
        );
        let p = pod(json!({"containers": [{"name": "a", "image": "app:1"}]}));
        let score = scorer(&p, &snapshot);
        // 20 MB × 2/2 shares = 20 MB ≤ 23 MB → 0.
        assert_eq!(score("node-small"), 0);
        // 600 MB → 100 × (600 − 23) / (1000 − 23) = 59.
        assert_eq!(score("node-big"), 59);
    }
}
