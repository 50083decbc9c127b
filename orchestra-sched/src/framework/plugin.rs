//! The extension points: one small trait each.
//!
//! A plugin implements [`Plugin`] (its name) and the traits of the points it cares about, then
//! says which those are when it is built into a [`PluginInstance`]. The points, in the order a
//! pod meets them:
//!
//! | point | trait | when |
//! |---|---|---|
//! | PreEnqueue | [`PreEnqueuePlugin`] | before the pod may enter the active queue |
//! | QueueSort | [`QueueSortPlugin`] | orders the active queue |
//! | PreFilter | [`PreFilterPlugin`] | once per cycle; may narrow the nodes to evaluate |
//! | Filter | [`FilterPlugin`] | per node: can the pod run there? |
//! | PostFilter | [`PostFilterPlugin`] | no node fits: make room (preemption) |
//! | PreScore | [`PreScorePlugin`] | once per cycle, before scoring the feasible nodes |
//! | Score | [`ScorePlugin`] | per feasible node, then normalized to 0–100 |
//! | Reserve | [`ReservePlugin`] | the node is chosen; reserve plugin-side state (Unreserve undoes) |
//! | Permit | [`PermitPlugin`] | allow, reject, or wait (with a timeout) before binding |
//! | PreBind | [`PreBindPlugin`] | async work before the binding (volumes) |
//! | Bind | [`BindPlugin`] | async: write the binding |
//! | PostBind | [`PostBindPlugin`] | informational, after a successful binding |
//!
//! Filter and Score are plain synchronous functions over a precomputed [`PodInfo`] and
//! [`NodeInfo`], called in parallel across nodes; only PreBind and Bind (and waiting in Permit)
//! are async. [`EnqueueExtensions`] tells the queue which cluster events may make a pod this
//! plugin rejected schedulable.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::framework::cycle_state::CycleState;
use crate::framework::events::ClusterEventWithHint;
use crate::framework::node_to_status::NodeToStatus;
use crate::framework::queued_pod_info::QueuedPodInfo;
use crate::framework::runtime::Framework;
use crate::framework::status::Status;
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;
use crate::snapshot::Snapshot;

/// The highest score a Score plugin may give after normalization.
pub const MAX_NODE_SCORE: i64 = 100;
/// The lowest score.
pub const MIN_NODE_SCORE: i64 = 0;

/// Every plugin has a name, unique in a registry.
pub trait Plugin: Send + Sync {
    /// The plugin's name, as profiles refer to it.
    fn name(&self) -> &str;
}

/// Decides whether a pod may enter the active queue (e.g. scheduling gates).
pub trait PreEnqueuePlugin: Plugin {
    /// `Success` to let the pod in; a rejection keeps it out until a registered event.
    fn pre_enqueue(&self, pod: &PodInfo) -> Status;
}

/// Orders the active queue.
pub trait QueueSortPlugin: Plugin {
    /// Whether `a` should be scheduled before `b`.
    fn less(&self, a: &QueuedPodInfo, b: &QueuedPodInfo) -> bool;
}

/// Which nodes PreFilter allows: all, or a set by name (node pre-selection).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreFilterResult {
    /// `None` for all nodes.
    pub node_names: Option<BTreeSet<String>>,
}

impl PreFilterResult {
    /// All nodes.
    pub fn all_nodes() -> PreFilterResult {
        PreFilterResult { node_names: None }
    }

    /// Only these nodes.
    pub fn nodes(names: impl IntoIterator<Item = String>) -> PreFilterResult {
        PreFilterResult {
            node_names: Some(names.into_iter().collect()),
        }
    }

    /// Whether all nodes are allowed.
    pub fn is_all_nodes(&self) -> bool {
        self.node_names.is_none()
    }

    /// The intersection of two results.
    pub fn merge(self, other: PreFilterResult) -> PreFilterResult {
        match (self.node_names, other.node_names) {
            (None, n) | (n, None) => PreFilterResult { node_names: n },
            (Some(a), Some(b)) => PreFilterResult {
                node_names: Some(a.intersection(&b).cloned().collect()),
            },
        }
    }
}

/// Computes per-pod state once per cycle, may reject the pod outright or narrow the nodes.
pub trait PreFilterPlugin: Plugin {
    /// Computes the state. `Skip` means the plugin's Filter will not run for this pod.
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> (PreFilterResult, Status);

    /// Whether [`PreFilterPlugin::add_pod`] and [`PreFilterPlugin::remove_pod`] do anything
    /// (lets preemption skip calling them).
    fn has_extensions(&self) -> bool {
        false
    }

    /// Updates the state as if `added` were on `node` (preemption and nominated pods).
    fn add_pod(
        &self,
        _state: &mut CycleState,
        _pod: &PodInfo,
        _added: &Arc<PodInfo>,
        _node: &NodeInfo,
    ) -> Status {
        Status::success()
    }

    /// Updates the state as if `removed` were no longer on `node`.
    fn remove_pod(
        &self,
        _state: &mut CycleState,
        _pod: &PodInfo,
        _removed: &Arc<PodInfo>,
        _node: &NodeInfo,
    ) -> Status {
        Status::success()
    }
}

/// Can the pod run on this node?
pub trait FilterPlugin: Plugin {
    /// `Success`, or a rejection with reasons.
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status;
}

/// What a PostFilter plugin proposes: a node to nominate and the pods to evict there.
#[derive(Debug, Clone, Default)]
pub struct PostFilterResult {
    /// The node the pod should wait for.
    pub nominated_node_name: Option<String>,
    /// The pods to evict to make room.
    pub victims: Vec<Arc<PodInfo>>,
}

/// What a PostFilter plugin may use: the framework (to run Filter again on modified nodes)
/// and the cycle's snapshot.
pub struct PostFilterContext<'a> {
    /// The framework of the pod's profile.
    pub framework: &'a Framework,
    /// The cycle's snapshot.
    pub snapshot: &'a Snapshot,
    /// A random number for choices such as where to start looking (from the scheduler's
    /// seeded generator).
    pub random: u64,
}

/// Runs when no node fits; may propose a node and evictions (preemption).
pub trait PostFilterPlugin: Plugin {
    /// `Success` with a result when room can be made; a rejection otherwise.
    fn post_filter(
        &self,
        context: &PostFilterContext<'_>,
        state: &CycleState,
        pod: &Arc<PodInfo>,
        statuses: &NodeToStatus,
    ) -> (Option<PostFilterResult>, Status);
}

/// Computes per-pod state once per cycle before scoring the feasible nodes.
pub trait PreScorePlugin: Plugin {
    /// `Skip` means the plugin's Score will not run for this pod.
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        nodes: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> Status;
}

/// Ranks feasible nodes.
pub trait ScorePlugin: Plugin {
    /// The node's raw score.
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status>;

    /// The raw scores of several nodes at once, into `scores` (same order). The default calls
    /// [`ScorePlugin::score`] per node; a plugin may override it to read its cycle state once
    /// for the whole batch. The framework calls it on chunks of the feasible nodes, in
    /// parallel.
    fn score_nodes(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        nodes: &[&NodeInfo],
        scores: &mut [i64],
    ) -> Result<(), Status> {
        for (node, score) in nodes.iter().zip(scores.iter_mut()) {
            *score = self.score(state, pod, node)?;
        }
        Ok(())
    }

    /// Brings the raw scores (in the order of `nodes`) into
    /// [`MIN_NODE_SCORE`]..=[`MAX_NODE_SCORE`]; the default keeps them.
    fn normalize_score(
        &self,
        _state: &CycleState,
        _pod: &PodInfo,
        _nodes: &[&NodeInfo],
        _scores: &mut [i64],
    ) -> Status {
        Status::success()
    }
}

/// Keeps plugin-side state in step with the scheduler's assumption of the pod.
pub trait ReservePlugin: Plugin {
    /// The pod is assumed onto `node` (of the cycle's `snapshot`).
    fn reserve(
        &self,
        state: &mut CycleState,
        pod: &Arc<PodInfo>,
        node: &str,
        snapshot: &Snapshot,
    ) -> Status;
    /// A later step failed: undo [`ReservePlugin::reserve`]. Must be idempotent.
    fn unreserve(&self, state: &mut CycleState, pod: &Arc<PodInfo>, node: &str);
}

/// Allows, rejects or holds the pod before binding.
pub trait PermitPlugin: Plugin {
    /// `Success`, a rejection, or `Wait` with the longest time to wait.
    fn permit(&self, state: &CycleState, pod: &Arc<PodInfo>, node: &str) -> (Status, Duration);
}

/// Async work before binding.
#[async_trait]
pub trait PreBindPlugin: Plugin {
    /// `Success`, `Skip`, or a failure that unreserves the pod.
    async fn pre_bind(&self, state: &CycleState, pod: &Arc<PodInfo>, node: &str) -> Status;
}

/// Writes the binding.
#[async_trait]
pub trait BindPlugin: Plugin {
    /// `Success` when bound, `Skip` to let the next Bind plugin do it, or a failure.
    async fn bind(&self, state: &CycleState, pod: &Arc<PodInfo>, node: &str) -> Status;
}

/// Learns of successful bindings.
pub trait PostBindPlugin: Plugin {
    /// The pod is bound to `node`.
    fn post_bind(&self, state: &CycleState, pod: &Arc<PodInfo>, node: &str);
}

/// Says which cluster events may make a pod this plugin rejected schedulable.
pub trait EnqueueExtensions: Plugin {
    /// The events, each with an optional queueing hint.
    fn events_to_register(&self) -> Vec<ClusterEventWithHint>;
}

/// A built plugin: its name and the extension points it implements.
#[derive(Clone)]
pub struct PluginInstance {
    pub(crate) name: String,
    pub(crate) pre_enqueue: Option<Arc<dyn PreEnqueuePlugin>>,
    pub(crate) queue_sort: Option<Arc<dyn QueueSortPlugin>>,
    pub(crate) pre_filter: Option<Arc<dyn PreFilterPlugin>>,
    pub(crate) filter: Option<Arc<dyn FilterPlugin>>,
    pub(crate) post_filter: Option<Arc<dyn PostFilterPlugin>>,
    pub(crate) pre_score: Option<Arc<dyn PreScorePlugin>>,
    pub(crate) score: Option<Arc<dyn ScorePlugin>>,
    pub(crate) reserve: Option<Arc<dyn ReservePlugin>>,
    pub(crate) permit: Option<Arc<dyn PermitPlugin>>,
    pub(crate) pre_bind: Option<Arc<dyn PreBindPlugin>>,
    pub(crate) bind: Option<Arc<dyn BindPlugin>>,
    pub(crate) post_bind: Option<Arc<dyn PostBindPlugin>>,
    pub(crate) enqueue_extensions: Option<Arc<dyn EnqueueExtensions>>,
}

impl std::fmt::Debug for PluginInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginInstance")
            .field("name", &self.name)
            .field("points", &self.extension_points())
            .finish()
    }
}

/// Builds a [`PluginInstance`] from a plugin, one extension point at a time; each method
/// compiles only if the plugin implements that point's trait.
///
/// ```
/// use std::sync::Arc;
/// use orchestra_sched::framework::{
///     CycleState, FilterPlugin, Plugin, PluginInstance, Status,
/// };
/// use orchestra_sched::{NodeInfo, PodInfo};
///
/// struct OnlyEvenNodes;
/// impl Plugin for OnlyEvenNodes {
///     fn name(&self) -> &str { "OnlyEvenNodes" }
/// }
/// impl FilterPlugin for OnlyEvenNodes {
///     fn filter(&self, _: &CycleState, _: &PodInfo, node: &NodeInfo) -> Status {
///         if node.name().ends_with(['0', '2', '4', '6', '8']) {
///             Status::success()
///         } else {
///             Status::unschedulable("node(s) had an odd name")
///         }
///     }
/// }
/// let instance = PluginInstance::builder(Arc::new(OnlyEvenNodes)).filter().build();
/// assert_eq!(instance.extension_points(), ["Filter"]);
/// ```
pub struct PluginInstanceBuilder<P> {
    plugin: Arc<P>,
    instance: PluginInstance,
}

impl PluginInstance {
    /// Starts building an instance of `plugin`.
    pub fn builder<P: Plugin + 'static>(plugin: Arc<P>) -> PluginInstanceBuilder<P> {
        PluginInstanceBuilder {
            instance: PluginInstance {
                name: plugin.name().to_owned(),
                pre_enqueue: None,
                queue_sort: None,
                pre_filter: None,
                filter: None,
                post_filter: None,
                pre_score: None,
                score: None,
                reserve: None,
                permit: None,
                pre_bind: None,
                bind: None,
                post_bind: None,
                enqueue_extensions: None,
            },
            plugin,
        }
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The extension points the instance implements, in the order a pod meets them.
    pub fn extension_points(&self) -> Vec<&'static str> {
        let mut points = Vec::new();
        let mut add = |present: bool, name: &'static str| {
            if present {
                points.push(name);
            }
        };
        add(self.pre_enqueue.is_some(), "PreEnqueue");
        add(self.queue_sort.is_some(), "QueueSort");
        add(self.pre_filter.is_some(), "PreFilter");
        add(self.filter.is_some(), "Filter");
        add(self.post_filter.is_some(), "PostFilter");
        add(self.pre_score.is_some(), "PreScore");
        add(self.score.is_some(), "Score");
        add(self.reserve.is_some(), "Reserve");
        add(self.permit.is_some(), "Permit");
        add(self.pre_bind.is_some(), "PreBind");
        add(self.bind.is_some(), "Bind");
        add(self.post_bind.is_some(), "PostBind");
        points
    }
}

impl<P: Plugin + 'static> PluginInstanceBuilder<P> {
    /// The plugin implements PreEnqueue.
    pub fn pre_enqueue(mut self) -> Self
    where
        P: PreEnqueuePlugin,
    {
        self.instance.pre_enqueue = Some(self.plugin.clone());
        self
    }
    /// The plugin implements QueueSort.
    pub fn queue_sort(mut self) -> Self
    where
        P: QueueSortPlugin,
    {
        self.instance.queue_sort = Some(self.plugin.clone());
        self
    }
    /// The plugin implements PreFilter.
    pub fn pre_filter(mut self) -> Self
    where
        P: PreFilterPlugin,
    {
        self.instance.pre_filter = Some(self.plugin.clone());
        self
    }
    /// The plugin implements Filter.
    pub fn filter(mut self) -> Self
    where
        P: FilterPlugin,
    {
        self.instance.filter = Some(self.plugin.clone());
        self
    }
    /// The plugin implements PostFilter.
    pub fn post_filter(mut self) -> Self
    where
        P: PostFilterPlugin,
    {
        self.instance.post_filter = Some(self.plugin.clone());
        self
    }
    /// The plugin implements PreScore.
    pub fn pre_score(mut self) -> Self
    where
        P: PreScorePlugin,
    {
        self.instance.pre_score = Some(self.plugin.clone());
        self
    }
    /// The plugin implements Score.
    pub fn score(mut self) -> Self
    where
        P: ScorePlugin,
    {
        self.instance.score = Some(self.plugin.clone());
        self
    }
    /// The plugin implements Reserve.
    pub fn reserve(mut self) -> Self
    where
        P: ReservePlugin,
    {
        self.instance.reserve = Some(self.plugin.clone());
        self
    }
    /// The plugin implements Permit.
    pub fn permit(mut self) -> Self
    where
        P: PermitPlugin,
    {
        self.instance.permit = Some(self.plugin.clone());
        self
    }
    /// The plugin implements PreBind.
    pub fn pre_bind(mut self) -> Self
    where
        P: PreBindPlugin,
    {
        self.instance.pre_bind = Some(self.plugin.clone());
        self
    }
    /// The plugin implements Bind.
    pub fn bind(mut self) -> Self
    where
        P: BindPlugin,
    {
        self.instance.bind = Some(self.plugin.clone());
        self
    }
    /// The plugin implements PostBind.
    pub fn post_bind(mut self) -> Self
    where
        P: PostBindPlugin,
    {
        self.instance.post_bind = Some(self.plugin.clone());
        self
    }
    /// The plugin registers cluster events.
    pub fn enqueue_extensions(mut self) -> Self
    where
        P: EnqueueExtensions,
    {
        self.instance.enqueue_extensions = Some(self.plugin.clone());
        self
    }
    /// The instance.
    pub fn build(self) -> PluginInstance {
        self.instance
    }
}
