//! `Framework`: one profile's plugins, wired per extension point, and the code that runs them.
//!
//! Building a framework instantiates every plugin the profile names (once, even when it serves
//! several extension points), expands `multiPoint` into the extension points each plugin
//! implements (a plugin enabled explicitly at a point keeps its place there, as in
//! kube-scheduler's `expandMultiPointPlugins`), and resolves score weights. Running it follows
//! Kubernetes' rules: Filter stops at the first rejecting plugin, a PreFilter `Skip` skips that
//! plugin's Filter (and a PreScore `Skip` its Score), Filter and Score run in parallel across
//! nodes on the handle's thread pool, normalized scores must lie in 0–100 and are multiplied by
//! the plugin's weight.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use orchestra_api::validation::{FieldError, FieldPath};
use rayon::prelude::*;

use crate::config::args::PluginArgs;
use crate::config::{ConfigError, KubeSchedulerProfile, PluginRef, PluginSet};
use crate::framework::cycle_state::CycleState;
use crate::framework::events::{ActionType, ClusterEventWithHint, EventResource};
use crate::framework::handle::Handle;
use crate::framework::node_to_status::NodeToStatus;
use crate::framework::nominator::NominatedOnNode;
use crate::framework::plugin::{
    BindPlugin, FilterPlugin, MAX_NODE_SCORE, MIN_NODE_SCORE, PermitPlugin, PluginInstance,
    PostBindPlugin, PostFilterContext, PostFilterPlugin, PostFilterResult, PreBindPlugin,
    PreEnqueuePlugin, PreFilterPlugin, PreFilterResult, PreScorePlugin, QueueSortPlugin,
    ReservePlugin, ScorePlugin,
};
use crate::framework::queued_pod_info::QueuedPodInfo;
use crate::framework::registry::Registry;
use crate::framework::status::{Code, Status};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;
use crate::snapshot::Snapshot;

/// The longest a Permit plugin may make a pod wait (Kubernetes' `maxTimeout`).
pub const MAX_PERMIT_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Below this many nodes, Filter and Score run on the calling thread: a few hundred nodes take
/// tens of microseconds, less than handing work to other threads costs (and a descheduled
/// worker on a busy machine would stall the whole cycle).
const PARALLEL_THRESHOLD: usize = 1024;

/// A plugin at one extension point, with its name ready for statuses.
struct Entry<T: ?Sized> {
    name: Arc<str>,
    plugin: Arc<T>,
}

impl<T: ?Sized> Clone for Entry<T> {
    fn clone(&self) -> Self {
        Entry {
            name: self.name.clone(),
            plugin: self.plugin.clone(),
        }
    }
}

/// What PreFilter decided for a pod.
#[derive(Debug, Clone)]
pub struct PreFilterOutcome {
    /// The nodes to evaluate.
    pub result: PreFilterResult,
    /// Success, or the rejection (or error) of the first failing plugin.
    pub status: Status,
    /// The plugins that narrowed the nodes.
    pub plugins_with_nodes: Vec<String>,
}

/// Scores of the feasible nodes.
#[derive(Debug, Clone, Default)]
pub struct NodeScores {
    /// Weighted total per node, in the order of the nodes scored.
    pub totals: Vec<i64>,
}

/// One profile's plugins and the code that runs them. See the module docs.
pub struct Framework {
    profile_name: String,
    handle: Arc<Handle>,
    percentage_of_nodes_to_score: Option<i32>,
    pre_enqueue: Vec<Entry<dyn PreEnqueuePlugin>>,
    queue_sort: Entry<dyn QueueSortPlugin>,
    pre_filter: Vec<Entry<dyn PreFilterPlugin>>,
    pre_filter_to_filter: Vec<Option<usize>>,
    filter: Vec<Entry<dyn FilterPlugin>>,
    post_filter: Vec<Entry<dyn PostFilterPlugin>>,
    pre_score: Vec<Entry<dyn PreScorePlugin>>,
    pre_score_to_score: Vec<Option<usize>>,
    score: Vec<(Entry<dyn ScorePlugin>, i64)>,
    reserve: Vec<Entry<dyn ReservePlugin>>,
    permit: Vec<Entry<dyn PermitPlugin>>,
    pre_bind: Vec<Entry<dyn PreBindPlugin>>,
    bind: Vec<Entry<dyn BindPlugin>>,
    post_bind: Vec<Entry<dyn PostBindPlugin>>,
    events: Vec<(String, Vec<ClusterEventWithHint>)>,
}

impl std::fmt::Debug for Framework {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |v: &[Entry<dyn FilterPlugin>]| {
            v.iter().map(|e| e.name.to_string()).collect::<Vec<_>>()
        };
        f.debug_struct("Framework")
            .field("profile", &self.profile_name)
            .field("filter", &names(&self.filter))
            .field(
                "score",
                &self
                    .score
                    .iter()
                    .map(|(e, w)| format!("{}×{w}", e.name))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Which trait-object field of a [`PluginInstance`] an extension point uses.
fn implements(instance: &PluginInstance, point: &str) -> bool {
    match point {
        "preEnqueue" => instance.pre_enqueue.is_some(),
        "queueSort" => instance.queue_sort.is_some(),
        "preFilter" => instance.pre_filter.is_some(),
        "filter" => instance.filter.is_some(),
        "postFilter" => instance.post_filter.is_some(),
        "preScore" => instance.pre_score.is_some(),
        "score" => instance.score.is_some(),
        "reserve" => instance.reserve.is_some(),
        "permit" => instance.permit.is_some(),
        "preBind" => instance.pre_bind.is_some(),
        "bind" => instance.bind.is_some(),
        "postBind" => instance.post_bind.is_some(),
        _ => false,
    }
}

/// The plugin names of one extension point after expanding `multiPoint`
/// (kube-scheduler's `expandMultiPointPlugins`).
fn expand_point(
    point: &str,
    set: &PluginSet,
    multi_point: &PluginSet,
    instances: &BTreeMap<String, PluginInstance>,
    path: &FieldPath,
    errors: &mut Vec<FieldError>,
) -> Vec<String> {
    let explicit: Vec<&str> = set.enabled.iter().map(|p| p.name.as_str()).collect();
    for (i, name) in explicit.iter().enumerate() {
        if let Some(instance) = instances.get(*name) {
            if !implements(instance, point) {
                errors.push(FieldError::invalid(
                    path.child(point).child("enabled").index(i).child("name"),
                    *name,
                    format!("plugin does not implement the {point} extension point"),
                ));
            }
        }
    }
    let disabled: BTreeSet<&str> = set.disabled.iter().map(|p| p.name.as_str()).collect();
    if disabled.contains("*") {
        return explicit.iter().map(|s| s.to_string()).collect();
    }
    let mut overrides = Vec::new();
    let mut from_multi_point: Vec<String> = Vec::new();
    for (i, plugin) in multi_point.enabled.iter().enumerate() {
        let Some(instance) = instances.get(&plugin.name) else {
            continue;
        };
        if !implements(instance, point) || disabled.contains(plugin.name.as_str()) {
            continue;
        }
        if explicit.contains(&plugin.name.as_str()) {
            overrides.push(plugin.name.clone());
            continue;
        }
        if from_multi_point.contains(&plugin.name) {
            errors.push(FieldError::duplicate(
                path.child("multiPoint")
                    .child("enabled")
                    .index(i)
                    .child("name"),
                plugin.name.as_str(),
            ));
            continue;
        }
        from_multi_point.push(plugin.name.clone());
    }
    let mut out: Vec<String> = explicit
        .iter()
        .filter(|n| overrides.iter().any(|o| o == *n))
        .map(|s| s.to_string())
        .collect();
    out.extend(from_multi_point);
    out.extend(
        explicit
            .iter()
            .filter(|n| !overrides.iter().any(|o| o == *n))
            .map(|s| s.to_string()),
    );
    out
}

fn weight_of(refs: &[PluginRef], name: &str) -> Option<i64> {
    refs.iter()
        .find(|p| p.name == name)
        .map(|p| i64::from(p.weight.unwrap_or(0)).max(0))
        .map(|w| if w == 0 { 1 } else { w })
}

impl Framework {
    /// Builds the framework of a (defaulted) profile. `profile_path` locates the profile in
    /// the configuration file for error messages (`profiles[0]`).
    pub fn new(
        profile: &KubeSchedulerProfile,
        profile_path: &FieldPath,
        default_percentage_of_nodes_to_score: Option<i32>,
        registry: &Registry,
        handle: Arc<Handle>,
    ) -> Result<Framework, ConfigError> {
        let plugins = profile.plugins.clone().unwrap_or_default();
        let plugins_path = profile_path.child("plugins");
        let mut errors = Vec::new();
        // Instantiate every plugin named as enabled anywhere, once.
        let mut instances: BTreeMap<String, PluginInstance> = BTreeMap::new();
        let mut named: Vec<(String, FieldPath)> = Vec::new();
        for (i, p) in plugins.multi_point.enabled.iter().enumerate() {
            named.push((
                p.name.clone(),
                plugins_path.child("multiPoint").child("enabled").index(i),
            ));
        }
        for (field, set) in plugins.points() {
            for (i, p) in set.enabled.iter().enumerate() {
                named.push((
                    p.name.clone(),
                    plugins_path.child(field).child("enabled").index(i),
                ));
            }
        }
        for (name, at) in &named {
            if instances.contains_key(name) {
                continue;
            }
            if !registry.contains(name) {
                errors.push(FieldError::not_found(at.child("name"), name.as_str()));
                continue;
            }
            let (value, path) = profile.args_of(name, profile_path);
            match registry.build(name, &PluginArgs { value, path }, &handle) {
                Ok(instance) => {
                    instances.insert(name.clone(), instance);
                }
                Err(e) => {
                    if let Some(message) = e.message {
                        errors.push(FieldError::invalid(
                            at.child("name"),
                            name.as_str(),
                            message,
                        ));
                    }
                    errors.extend(e.errors);
                }
            }
        }
        let mut expanded: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
        for (field, set) in plugins.points() {
            expanded.insert(
                field,
                expand_point(
                    field,
                    set,
                    &plugins.multi_point,
                    &instances,
                    &plugins_path,
                    &mut errors,
                ),
            );
        }
        let list = |field: &str| expanded.get(field).cloned().unwrap_or_default();
        macro_rules! entries {
            ($field:literal, $member:ident) => {
                list($field)
                    .iter()
                    .filter_map(|name| {
                        let instance = instances.get(name)?;
                        Some(Entry {
                            name: Arc::from(name.as_str()),
                            plugin: instance.$member.clone()?,
                        })
                    })
                    .collect::<Vec<_>>()
            };
        }
        let queue_sort = entries!("queueSort", queue_sort);
        let bind = entries!("bind", bind);
        if queue_sort.len() != 1 {
            errors.push(FieldError::invalid(
                plugins_path.child("queueSort"),
                serde_json::json!(list("queueSort")),
                "exactly one queue sort plugin must be enabled",
            ));
        }
        if bind.is_empty() {
            errors.push(FieldError::required(
                plugins_path.child("bind"),
                "at least one bind plugin must be enabled",
            ));
        }
        let score_names = list("score");
        let mut score = Vec::new();
        for name in &score_names {
            let Some(plugin) = instances.get(name).and_then(|i| i.score.clone()) else {
                continue;
            };
            let weight = weight_of(&plugins.score.enabled, name)
                .or_else(|| weight_of(&plugins.multi_point.enabled, name))
                .unwrap_or(1);
            score.push((
                Entry {
                    name: Arc::from(name.as_str()),
                    plugin,
                },
                weight,
            ));
        }
        if !errors.is_empty() {
            return Err(ConfigError::fields(errors));
        }
        let Some(queue_sort) = queue_sort.into_iter().next() else {
            return Err(ConfigError::message("no queue sort plugin"));
        };
        let filter = entries!("filter", filter);
        let pre_filter = entries!("preFilter", pre_filter);
        let pre_score = entries!("preScore", pre_score);
        let pre_filter_to_filter = pre_filter
            .iter()
            .map(|p| filter.iter().position(|f| f.name == p.name))
            .collect();
        let pre_score_to_score = pre_score
            .iter()
            .map(|p| score.iter().position(|(s, _)| s.name == p.name))
            .collect();
        // Plugins that can reject a pod and register no events get every event (Kubernetes
        // does the same for plugins without EnqueueExtensions).
        let mut events = Vec::new();
        for (name, instance) in &instances {
            let rejects = instance.pre_enqueue.is_some()
                || instance.pre_filter.is_some()
                || instance.filter.is_some()
                || instance.reserve.is_some()
                || instance.permit.is_some();
            match &instance.enqueue_extensions {
                Some(ext) => events.push((name.clone(), ext.events_to_register())),
                None if rejects => events.push((
                    name.clone(),
                    vec![ClusterEventWithHint::new(
                        EventResource::Wildcard,
                        ActionType::ALL,
                    )],
                )),
                None => {}
            }
        }
        Ok(Framework {
            profile_name: profile.scheduler_name.clone().unwrap_or_default(),
            percentage_of_nodes_to_score: profile
                .percentage_of_nodes_to_score
                .or(default_percentage_of_nodes_to_score),
            pre_enqueue: entries!("preEnqueue", pre_enqueue),
            queue_sort,
            pre_filter,
            pre_filter_to_filter,
            filter,
            post_filter: entries!("postFilter", post_filter),
            pre_score,
            pre_score_to_score,
            score,
            reserve: entries!("reserve", reserve),
            permit: entries!("permit", permit),
            pre_bind: entries!("preBind", pre_bind),
            bind,
            post_bind: entries!("postBind", post_bind),
            events,
            handle,
        })
    }

    /// The scheduler name of the profile.
    pub fn profile_name(&self) -> &str {
        &self.profile_name
    }

    /// The handle plugins were built with.
    pub fn handle(&self) -> &Arc<Handle> {
        &self.handle
    }

    /// The profile's `percentageOfNodesToScore`, when set (0 or unset: adaptive).
    pub fn percentage_of_nodes_to_score(&self) -> Option<i32> {
        self.percentage_of_nodes_to_score
    }

    /// The plugin names per extension point, for inspection.
    pub fn plugins_by_point(&self) -> BTreeMap<&'static str, Vec<String>> {
        fn names<T: ?Sized>(v: &[Entry<T>]) -> Vec<String> {
            v.iter().map(|e| e.name.to_string()).collect()
        }
        BTreeMap::from([
            ("preEnqueue", names(&self.pre_enqueue)),
            ("queueSort", vec![self.queue_sort.name.to_string()]),
            ("preFilter", names(&self.pre_filter)),
            ("filter", names(&self.filter)),
            ("postFilter", names(&self.post_filter)),
            ("preScore", names(&self.pre_score)),
            (
                "score",
                self.score
                    .iter()
                    .map(|(e, w)| format!("{}:{w}", e.name))
                    .collect(),
            ),
            ("reserve", names(&self.reserve)),
            ("permit", names(&self.permit)),
            ("preBind", names(&self.pre_bind)),
            ("bind", names(&self.bind)),
            ("postBind", names(&self.post_bind)),
        ])
    }

    /// The cluster events each plugin registered.
    pub fn events_to_register(&self) -> &[(String, Vec<ClusterEventWithHint>)] {
        &self.events
    }

    /// Whether any Filter plugin is enabled.
    pub fn has_filter_plugins(&self) -> bool {
        !self.filter.is_empty()
    }

    /// Whether any PostFilter plugin is enabled.
    pub fn has_post_filter_plugins(&self) -> bool {
        !self.post_filter.is_empty()
    }

    /// Whether any Score plugin is enabled.
    pub fn has_score_plugins(&self) -> bool {
        !self.score.is_empty()
    }

    /// Runs PreEnqueue; the first rejection wins.
    pub fn run_pre_enqueue(&self, pod: &PodInfo) -> Status {
        for entry in &self.pre_enqueue {
            let status = entry.plugin.pre_enqueue(pod);
            if !status.is_success() {
                return status.with_plugin(entry.name.clone());
            }
        }
        Status::success()
    }

    /// The QueueSort plugin's order.
    pub fn queue_less(&self, a: &QueuedPodInfo, b: &QueuedPodInfo) -> bool {
        self.queue_sort.plugin.less(a, b)
    }

    /// The QueueSort plugin's name.
    pub fn queue_sort_name(&self) -> &str {
        &self.queue_sort.name
    }

    /// Runs PreFilter.
    pub fn run_pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> PreFilterOutcome {
        state.skip_filter = vec![false; self.filter.len()];
        let mut result = PreFilterResult::all_nodes();
        let mut plugins_with_nodes = Vec::new();
        for (i, entry) in self.pre_filter.iter().enumerate() {
            let (r, status) = entry.plugin.pre_filter(state, pod, snapshot);
            if status.is_skip() {
                if let Some(f) = self.pre_filter_to_filter[i] {
                    state.skip_filter[f] = true;
                }
                continue;
            }
            if !status.is_success() {
                let status = if status.is_rejected() {
                    status.with_plugin(entry.name.clone())
                } else {
                    Status::error(format!(
                        "running PreFilter plugin {:?}: {status}",
                        entry.name
                    ))
                    .with_plugin(entry.name.clone())
                };
                return PreFilterOutcome {
                    result: PreFilterResult::all_nodes(),
                    status,
                    plugins_with_nodes,
                };
            }
            if !r.is_all_nodes() {
                plugins_with_nodes.push(entry.name.to_string());
            }
            result = result.merge(r);
            if result.node_names.as_ref().is_some_and(|n| n.is_empty()) {
                let message = if plugins_with_nodes.len() == 1 {
                    format!("node(s) didn't satisfy plugin {}", plugins_with_nodes[0])
                } else {
                    format!(
                        "node(s) didn't satisfy plugin(s) [{}] simultaneously",
                        plugins_with_nodes.join(" ")
                    )
                };
                return PreFilterOutcome {
                    result,
                    status: Status::unresolvable(message),
                    plugins_with_nodes,
                };
            }
        }
        PreFilterOutcome {
            result,
            status: Status::success(),
            plugins_with_nodes,
        }
    }

    /// Runs the PreFilter extensions' `add_pod`: the state as if `added` were on `node`.
    pub fn run_pre_filter_add_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        added: &Arc<PodInfo>,
        node: &NodeInfo,
    ) -> Status {
        for (i, entry) in self.pre_filter.iter().enumerate() {
            if !entry.plugin.has_extensions() || self.is_filter_skipped(state, i) {
                continue;
            }
            let status = entry.plugin.add_pod(state, pod, added, node);
            if !status.is_success() {
                return Status::error(format!(
                    "running AddPod on PreFilter plugin {:?}: {status}",
                    entry.name
                ));
            }
        }
        Status::success()
    }

    /// Runs the PreFilter extensions' `remove_pod`: the state as if `removed` were gone.
    pub fn run_pre_filter_remove_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        removed: &Arc<PodInfo>,
        node: &NodeInfo,
    ) -> Status {
        for (i, entry) in self.pre_filter.iter().enumerate() {
            if !entry.plugin.has_extensions() || self.is_filter_skipped(state, i) {
                continue;
            }
            let status = entry.plugin.remove_pod(state, pod, removed, node);
            if !status.is_success() {
                return Status::error(format!(
                    "running RemovePod on PreFilter plugin {:?}: {status}",
                    entry.name
                ));
            }
        }
        Status::success()
    }

    /// Whether a PreFilter plugin that this cycle did not skip keeps state that depends on
    /// the pods of a node (it has AddPod/RemovePod extensions). When none does, adding or
    /// removing pods leaves the cycle state as it is, and copies of it for "what if" checks
    /// (nominated pods, preemption) are not needed.
    pub fn has_active_pre_filter_extensions(&self, state: &CycleState) -> bool {
        self.pre_filter
            .iter()
            .enumerate()
            .any(|(i, entry)| entry.plugin.has_extensions() && !self.is_filter_skipped(state, i))
    }

    fn is_filter_skipped(&self, state: &CycleState, pre_filter_index: usize) -> bool {
        self.pre_filter_to_filter[pre_filter_index]
            .is_some_and(|f| state.skip_filter.get(f).copied().unwrap_or(false))
    }

    /// Runs Filter on one node; the first rejecting plugin answers.
    pub fn run_filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let active = self.active_filters(state);
        Self::run_active_filters(&active, state, pod, node)
    }

    /// The Filter plugins PreFilter did not skip.
    fn active_filters(&self, state: &CycleState) -> Vec<&Entry<dyn FilterPlugin>> {
        self.filter
            .iter()
            .enumerate()
            .filter(|(i, _)| !state.skip_filter.get(*i).copied().unwrap_or(false))
            .map(|(_, e)| e)
            .collect()
    }

    fn run_active_filters(
        active: &[&Entry<dyn FilterPlugin>],
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeInfo,
    ) -> Status {
        for entry in active {
            let status = entry.plugin.filter(state, pod, node);
            if !status.is_success() {
                if status.is_rejected() {
                    return status.with_plugin(entry.name.clone());
                }
                return Status::error(format!("running {:?} filter plugin: {status}", entry.name))
                    .with_plugin(entry.name.clone());
            }
        }
        Status::success()
    }

    /// Runs Filter on one node with the pods nominated to it of at least the pod's priority
    /// counted in (Kubernetes' `RunFilterPluginsWithNominatedPods`): first with them, and if
    /// that passes, again without them (some filters, like pod affinity, may need them absent).
    pub fn run_filter_with_nominated(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeInfo,
    ) -> Status {
        let nominator = self.handle.nominator();
        if nominator.is_empty() {
            return self.run_filter(state, pod, node);
        }
        self.run_filter_with_nominated_pods(state, pod, node)
    }

    fn run_filter_with_nominated_pods(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeInfo,
    ) -> Status {
        let nominated =
            self.handle
                .nominator()
                .pods_for_node_at_least(node.name(), pod.priority, pod.uid());
        self.run_filter_with_these_nominated(state, pod, node, &nominated)
    }

    /// Filter with `nominated` (pods of at least the pod's priority nominated to the node)
    /// counted in, then without them if that passes.
    fn run_filter_with_these_nominated(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeInfo,
        nominated: &[Arc<PodInfo>],
    ) -> Status {
        if nominated.is_empty() {
            return self.run_filter(state, pod, node);
        }
        let mut node_with = node.clone();
        let status = if self.has_active_pre_filter_extensions(state) {
            let mut state_with = state.clone();
            for added in nominated {
                node_with.add_pod(added.clone());
                let status = self.run_pre_filter_add_pod(&mut state_with, pod, added, &node_with);
                if !status.is_success() {
                    return status;
                }
            }
            self.run_filter(&state_with, pod, &node_with)
        } else {
            // No PreFilter state depends on the pods of a node: the cycle's state serves as is.
            for added in nominated {
                node_with.add_pod(added.clone());
            }
            self.run_filter(state, pod, &node_with)
        };
        if !status.is_success() {
            return status;
        }
        self.run_filter(state, pod, node)
    }

    /// Runs Filter across `nodes` in parallel on the handle's threads.
    pub fn run_filter_on_nodes(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        nodes: &[&NodeInfo],
    ) -> Vec<Status> {
        // One view of the nominations for the whole pass: each node looks up its own
        // nominated pods, and nodes without any run the plain filters.
        // When no PreFilter state depends on a node's pods, a node whose nominated pods all
        // count is checked on the nominator's kept copy of it with those pods added.
        let view = self.handle.nominator().view();
        let nominated = (!view.is_empty()).then_some(&view);
        let copies_state = nominated.is_some() && self.has_active_pre_filter_extensions(state);
        let active = self.active_filters(state);
        let run = |n: &&NodeInfo| {
            let Some(view) = nominated else {
                return Self::run_active_filters(&active, state, pod, n);
            };
            if copies_state {
                let pods = view.pods_for_node_at_least(n.name(), pod.priority, pod.uid());
                return self.run_filter_with_these_nominated(state, pod, n, &pods);
            }
            match view.for_node(n, pod.priority, pod.uid()) {
                NominatedOnNode::Nothing => Self::run_active_filters(&active, state, pod, n),
                NominatedOnNode::All(with_nominated) => {
                    let status = Self::run_active_filters(&active, state, pod, &with_nominated);
                    if !status.is_success() {
                        return status;
                    }
                    Self::run_active_filters(&active, state, pod, n)
                }
                NominatedOnNode::Some(pods) => {
                    self.run_filter_with_these_nominated(state, pod, n, &pods)
                }
            }
        };
        if nodes.len() < PARALLEL_THRESHOLD || self.handle.parallelism() == 1 {
            return nodes.iter().map(run).collect();
        }
        let min_len = nodes.len().div_ceil(self.handle.parallelism() * 2).max(16);
        self.handle
            .install(|| nodes.par_iter().with_min_len(min_len).map(run).collect())
    }

    /// Runs PostFilter (Kubernetes' `RunPostFilterPlugins`): the first success or
    /// unresolvable answer wins; otherwise the reasons of all add up.
    pub fn run_post_filter(
        &self,
        context: &PostFilterContext<'_>,
        state: &CycleState,
        pod: &Arc<PodInfo>,
        statuses: &NodeToStatus,
    ) -> (Option<PostFilterResult>, Status) {
        let mut result = None;
        let mut reasons = Vec::new();
        let mut rejector: Option<Arc<str>> = None;
        for entry in &self.post_filter {
            let (r, status) = entry.plugin.post_filter(context, state, pod, statuses);
            match status.code() {
                Code::Success => return (r, status),
                Code::UnschedulableAndUnresolvable => {
                    return (r, status.with_plugin(entry.name.clone()));
                }
                _ if !status.is_rejected() => {
                    return (
                        None,
                        Status::error(status.message()).with_plugin(entry.name.clone()),
                    );
                }
                _ => {}
            }
            if r.is_some() {
                result = r;
            }
            reasons.extend(status.reasons().iter().cloned());
            rejector.get_or_insert_with(|| entry.name.clone());
        }
        let mut status = Status::with_reasons(Code::Unschedulable, reasons);
        if let Some(plugin) = rejector {
            status = status.with_plugin(plugin);
        }
        (result, status)
    }

    /// Runs PreScore over the feasible nodes.
    pub fn run_pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        nodes: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> Status {
        state.skip_score = vec![false; self.score.len()];
        for (i, entry) in self.pre_score.iter().enumerate() {
            let status = entry.plugin.pre_score(state, pod, nodes, snapshot);
            if status.is_skip() {
                if let Some(s) = self.pre_score_to_score[i] {
                    state.skip_score[s] = true;
                }
                continue;
            }
            if !status.is_success() {
                return Status::error(format!(
                    "running PreScore plugin {:?}: {status}",
                    entry.name
                ))
                .with_plugin(entry.name.clone());
            }
        }
        Status::success()
    }

    /// Runs Score, NormalizeScore and weights over the feasible nodes.
    pub fn run_score(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        nodes: &[&NodeInfo],
    ) -> Result<NodeScores, Status> {
        let active: Vec<usize> = (0..self.score.len())
            .filter(|&i| !state.skip_score.get(i).copied().unwrap_or(false))
            .collect();
        let n = nodes.len();
        // Plugin-major: the raw scores of plugin k are columns[k * n .. (k + 1) * n].
        let mut columns = vec![0i64; active.len() * n];
        let score_chunk =
            |start: usize, chunk: &[&NodeInfo], out: &mut [i64]| -> Result<(), Status> {
                // `out` is this chunk's scores, plugin-major: chunk.len() per plugin.
                for (k, &p) in active.iter().enumerate() {
                    let (entry, _) = &self.score[p];
                    let slot = &mut out[k * chunk.len()..(k + 1) * chunk.len()];
                    entry
                        .plugin
                        .score_nodes(state, pod, chunk, slot)
                        .map_err(|status| {
                            Status::error(format!(
                                "running Score plugin {:?} on nodes from {:?}: {status}",
                                entry.name,
                                nodes.get(start).map(|n| n.name()).unwrap_or_default()
                            ))
                            .with_plugin(entry.name.clone())
                        })?;
                }
                Ok(())
            };
        if !active.is_empty() {
            if n < PARALLEL_THRESHOLD || self.handle.parallelism() == 1 {
                let mut out = vec![0i64; active.len() * n];
                score_chunk(0, nodes, &mut out)?;
                columns = out;
            } else {
                let chunk = n.div_ceil(self.handle.parallelism() * 2).max(16);
                let parts: Vec<Result<(usize, Vec<i64>), Status>> = self.handle.install(|| {
                    nodes
                        .par_chunks(chunk)
                        .enumerate()
                        .map(|(c, part)| {
                            let mut out = vec![0i64; active.len() * part.len()];
                            score_chunk(c * chunk, part, &mut out).map(|()| (c * chunk, out))
                        })
                        .collect()
                });
                for part in parts {
                    let (start, out) = part?;
                    let len = out.len() / active.len();
                    for k in 0..active.len() {
                        columns[k * n + start..k * n + start + len]
                            .copy_from_slice(&out[k * len..(k + 1) * len]);
                    }
                }
            }
        }
        let mut totals = vec![0i64; n];
        for (k, &p) in active.iter().enumerate() {
            let (entry, weight) = &self.score[p];
            let column = &mut columns[k * n..(k + 1) * n];
            let status = entry.plugin.normalize_score(state, pod, nodes, column);
            if !status.is_success() {
                return Err(Status::error(format!(
                    "running Normalize on Score plugin {:?}: {status}",
                    entry.name
                ))
                .with_plugin(entry.name.clone()));
            }
            for (i, value) in column.iter_mut().enumerate() {
                if !(MIN_NODE_SCORE..=MAX_NODE_SCORE).contains(value) {
                    return Err(Status::error(format!(
                        "plugin {:?} returns an invalid score {value} for node {:?}, it should in the range of [{MIN_NODE_SCORE}, {MAX_NODE_SCORE}] after normalizing",
                        entry.name,
                        nodes[i].name()
                    ))
                    .with_plugin(entry.name.clone()));
                }
                *value *= weight;
                totals[i] += *value;
            }
        }
        Ok(NodeScores { totals })
    }

    /// Runs Reserve; on failure the caller runs [`Framework::run_unreserve`].
    pub fn run_reserve(
        &self,
        state: &mut CycleState,
        pod: &Arc<PodInfo>,
        node: &str,
        snapshot: &Snapshot,
    ) -> Status {
        for entry in &self.reserve {
            let status = entry.plugin.reserve(state, pod, node, snapshot);
            if !status.is_success() {
                if status.is_rejected() {
                    return status.with_plugin(entry.name.clone());
                }
                return Status::error(format!("running Reserve plugin {:?}: {status}", entry.name))
                    .with_plugin(entry.name.clone());
            }
        }
        Status::success()
    }

    /// Runs Unreserve, in reverse order.
    pub fn run_unreserve(&self, state: &mut CycleState, pod: &Arc<PodInfo>, node: &str) {
        for entry in self.reserve.iter().rev() {
            entry.plugin.unreserve(state, pod, node);
        }
    }

    /// Runs Permit. A `Wait` answer registers the pod with the handle's waiting pods, with
    /// deadlines counted from `now`.
    pub fn run_permit(
        &self,
        state: &CycleState,
        pod: &Arc<PodInfo>,
        node: &str,
        now: Instant,
    ) -> Status {
        let mut waits = Vec::new();
        for entry in &self.permit {
            let (status, timeout) = entry.plugin.permit(state, pod, node);
            match status.code() {
                Code::Success => {}
                Code::Wait => waits.push((entry.name.to_string(), timeout.min(MAX_PERMIT_TIMEOUT))),
                _ if status.is_rejected() => return status.with_plugin(entry.name.clone()),
                _ => {
                    return Status::error(format!(
                        "running Permit plugin {:?}: {status}",
                        entry.name
                    ))
                    .with_plugin(entry.name.clone());
                }
            }
        }
        if waits.is_empty() {
            return Status::success();
        }
        self.handle
            .waiting_pods()
            .add(pod.clone(), node, &waits, now);
        Status::new(
            Code::Wait,
            "one or more plugins asked to wait and no plugin rejected pod",
        )
    }

    /// Waits until a pod held by Permit is allowed or rejected. Timeouts are enforced by
    /// whoever calls [`WaitingPods::expire`](crate::framework::WaitingPods::expire).
    pub async fn wait_on_permit(&self, pod: &PodInfo) -> Status {
        let Some(waiting) = self.handle.waiting_pods().get(pod.uid()) else {
            return Status::success();
        };
        let status = waiting.wait().await;
        self.handle.waiting_pods().remove(pod.uid());
        status
    }

    /// Runs PreBind.
    pub async fn run_pre_bind(&self, state: &CycleState, pod: &Arc<PodInfo>, node: &str) -> Status {
        for entry in &self.pre_bind {
            let status = entry.plugin.pre_bind(state, pod, node).await;
            if status.is_skip() {
                continue;
            }
            if !status.is_success() {
                if status.is_rejected() {
                    return status.with_plugin(entry.name.clone());
                }
                return Status::error(format!("running PreBind plugin {:?}: {status}", entry.name))
                    .with_plugin(entry.name.clone());
            }
        }
        Status::success()
    }

    /// Runs Bind: the first plugin that does not skip decides.
    pub async fn run_bind(&self, state: &CycleState, pod: &Arc<PodInfo>, node: &str) -> Status {
        for entry in &self.bind {
            let status = entry.plugin.bind(state, pod, node).await;
            if status.is_skip() {
                continue;
            }
            if !status.is_success() {
                if status.is_rejected() {
                    return status.with_plugin(entry.name.clone());
                }
                return Status::error(format!("running Bind plugin {:?}: {status}", entry.name))
                    .with_plugin(entry.name.clone());
            }
            return status;
        }
        Status::error("all bind plugins skipped the pod")
    }

    /// Runs PostBind.
    pub fn run_post_bind(&self, state: &CycleState, pod: &Arc<PodInfo>, node: &str) {
        for entry in &self.post_bind {
            entry.plugin.post_bind(state, pod, node);
        }
    }
}
