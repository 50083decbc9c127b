//! The scheduling framework: extension points as traits, plugins by name, profiles, and the
//! per-cycle state.
//!
//! Kubernetes' scheduler is a small loop around plugins: for each pod, PreFilter computes
//! what the pod needs, Filter drops nodes that cannot run it, Score ranks the rest, Reserve and
//! Permit hold the chosen node, and PreBind and Bind write the decision. Every step is a plugin
//! behind one small trait ([`plugin`]), so a researcher adds an algorithm by writing a plugin
//! and naming it in a profile — the loop does not change. [`Registry`] maps names to plugin
//! factories, [`Framework`] is one profile's plugins wired per extension point, [`CycleState`]
//! carries data between a pod's extension points, [`Status`] is what plugins answer.

pub mod cycle_state;
pub mod events;
pub mod handle;
pub mod node_to_status;
pub mod nominator;
pub mod plugin;
pub mod queued_pod_info;
pub mod registry;
pub mod runtime;
pub mod status;
pub mod waiting_pods;

pub use cycle_state::CycleState;
pub use events::{
    ActionType, ClusterEvent, ClusterEventWithHint, EventObject, EventResource, QueueingHint,
};
pub use handle::Handle;
pub use node_to_status::NodeToStatus;
pub use nominator::{NominatedOnNode, Nominator};
pub use plugin::{
    BindPlugin, EnqueueExtensions, FilterPlugin, MAX_NODE_SCORE, MIN_NODE_SCORE, PermitPlugin,
    Plugin, PluginInstance, PluginInstanceBuilder, PostBindPlugin, PostFilterContext,
    PostFilterPlugin, PostFilterResult, PreBindPlugin, PreEnqueuePlugin, PreFilterPlugin,
    PreFilterResult, PreScorePlugin, QueueSortPlugin, ReservePlugin, ScorePlugin,
};
pub use queued_pod_info::QueuedPodInfo;
pub use registry::{PluginFactory, Registry};
pub use runtime::{Framework, NodeScores, PreFilterOutcome};
pub use status::{Code, Reason, Status};
pub use waiting_pods::{WaitingPod, WaitingPods};
