//! InterPodAffinity's `namespaceSelector`, as Kubernetes v1.33 defines it: a term is about the
//! pods of the namespaces it lists plus those whose labels its namespace selector matches; an
//! absent selector adds no namespace, an empty one (`{}`) means every namespace; a term with
//! neither is about the pod's own namespace. An existing pod's term is matched against the
//! labels of the incoming pod's namespace. Namespace labels are those of the Namespace objects
//! the scheduler knows (`ClusterObjects` in a simulation, the Namespace informer in the
//! `Scheduler`).

mod cluster;
mod support;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use orchestra_api::{Api, PostParams};
use orchestra_sched::config::KubeSchedulerConfiguration;
use orchestra_sched::{ClusterObjects, Simulation};
use serde_json::{Value, json};
use support::{feasible, filter_statuses, in_namespace, pod, rejection, simple_node};

const ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
const AFFINITY: &str = "node(s) didn't match pod affinity rules";
const EXISTING_ANTI_AFFINITY: &str = "node(s) didn't satisfy existing pods anti-affinity rules";

fn namespace(name: &str, team: Option<&str>) -> Namespace {
    let labels = match team {
        Some(team) => json!({"team": team}),
        None => json!({}),
    };
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}}))
        .expect("namespace")
}

/// Namespaces `team-a-1` and `team-a-2` (team=a), `team-b` (team=b), and `default`.
fn namespaces() -> ClusterObjects {
    let mut objects = ClusterObjects::new();
    for (name, team) in [
        ("team-a-1", Some("a")),
        ("team-a-2", Some("a")),
        ("team-b", Some("b")),
        ("default", None),
    ] {
        objects.add_namespace(&namespace(name, team));
    }
    objects
}

fn nodes() -> Vec<Node> {
    ["n1", "n2", "n3"]
        .iter()
        .map(|n| simple_node(n, "4", "8Gi"))
        .collect()
}

/// A pod labelled `app` in `namespace` on `node`, with extra spec.
fn app_pod(name: &str, app: &str, namespace: &str, node: Option<&str>, extra: Value) -> Pod {
    let mut spec = extra;
    if let Some(node) = node {
        spec["nodeName"] = json!(node);
    }
    in_namespace(
        pod(name, "100m", "64Mi", json!({"app": app}), spec),
        namespace,
    )
}

/// `app=db` pods: one of team-b on n1, one of team-a-1 on n2; n3 is empty.
fn databases() -> Vec<Pod> {
    vec![
        app_pod("db-b", "db", "team-b", Some("n1"), json!({})),
        app_pod("db-a", "db", "team-a-1", Some("n2"), json!({})),
    ]
}

/// A required term about `app=db` pods per hostname, with `extra` fields (`namespaces`,
/// `namespaceSelector`).
fn db_term(extra: Value) -> Value {
    let mut term = json!({"labelSelector": {"matchLabels": {"app": "db"}},
                          "topologyKey": "kubernetes.io/hostname"});
    if let (Some(t), Some(e)) = (term.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            t.insert(k.clone(), v.clone());
        }
    }
    term
}

fn avoiding_db(namespace: &str, term_extra: Value) -> Pod {
    app_pod(
        "web",
        "web",
        namespace,
        None,
        json!({"affinity": {"podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [db_term(term_extra)]}}}),
    )
}

#[test]
fn anti_affinity_with_a_namespace_selector_is_blocked_only_by_pods_of_selected_namespaces() {
    let incoming = avoiding_db(
        "default",
        json!({"namespaceSelector": {"matchLabels": {"team": "a"}}}),
    );
    let statuses = filter_statuses(&nodes(), &databases(), namespaces(), &incoming);
    // The team-b database on n1 does not block; the team-a one on n2 does.
    assert_eq!(feasible(&statuses), ["n1", "n3"]);
    assert_eq!(
        rejection(&statuses, "n2"),
        Some(("InterPodAffinity", ANTI_AFFINITY.to_owned()))
    );
}

#[test]
fn a_namespace_selector_matching_no_namespace_blocks_nothing() {
    let incoming = avoiding_db(
        "default",
        json!({"namespaceSelector": {"matchLabels": {"team": "c"}}}),
    );
    let statuses = filter_statuses(&nodes(), &databases(), namespaces(), &incoming);
    assert_eq!(feasible(&statuses), ["n1", "n2", "n3"]);
}

#[test]
fn an_empty_namespace_selector_means_every_namespace() {
    let incoming = avoiding_db("default", json!({"namespaceSelector": {}}));
    let statuses = filter_statuses(&nodes(), &databases(), namespaces(), &incoming);
    assert_eq!(feasible(&statuses), ["n3"]);
    for node in ["n1", "n2"] {
        assert_eq!(
            rejection(&statuses, node),
            Some(("InterPodAffinity", ANTI_AFFINITY.to_owned()))
        );
    }
    // Even namespaces the scheduler has no Namespace object for.
    let statuses = filter_statuses(&nodes(), &databases(), ClusterObjects::new(), &incoming);
    assert_eq!(feasible(&statuses), ["n3"]);
}

#[test]
fn listed_namespaces_and_a_namespace_selector_are_a_union() {
    let listed_only = avoiding_db("default", json!({"namespaces": ["team-b"]}));
    let statuses = filter_statuses(&nodes(), &databases(), namespaces(), &listed_only);
    assert_eq!(feasible(&statuses), ["n2", "n3"]);

    let both = avoiding_db(
        "default",
        json!({"namespaces": ["team-b"], "namespaceSelector": {"matchLabels": {"team": "a"}}}),
    );
    let statuses = filter_statuses(&nodes(), &databases(), namespaces(), &both);
    assert_eq!(feasible(&statuses), ["n3"]);
}

#[test]
fn a_term_without_namespaces_or_selector_is_about_the_pods_own_namespace() {
    let from_team_b = avoiding_db("team-b", json!({}));
    let statuses = filter_statuses(&nodes(), &databases(), namespaces(), &from_team_b);
    assert_eq!(feasible(&statuses), ["n2", "n3"]);

    let from_default = avoiding_db("default", json!({}));
    let statuses = filter_statuses(&nodes(), &databases(), namespaces(), &from_default);
    assert_eq!(feasible(&statuses), ["n1", "n2", "n3"]);
}

#[test]
fn required_affinity_with_a_namespace_selector_needs_a_pod_of_a_selected_namespace() {
    let incoming = app_pod(
        "web",
        "web",
        "default",
        None,
        json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            db_term(json!({"namespaceSelector": {"matchLabels": {"team": "a"}}}))]}}}),
    );
    let statuses = filter_statuses(&nodes(), &databases(), namespaces(), &incoming);
    assert_eq!(feasible(&statuses), ["n2"]);
    for node in ["n1", "n3"] {
        assert_eq!(
            rejection(&statuses, node),
            Some(("InterPodAffinity", AFFINITY.to_owned()))
        );
    }
}

#[test]
fn an_existing_pods_namespace_selector_is_matched_against_the_incoming_pods_namespace() {
    // A guard on n1 keeps `app=web` pods of team=a namespaces off its node.
    let guard = app_pod(
        "guard",
        "guard",
        "team-b",
        Some("n1"),
        json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
            "labelSelector": {"matchLabels": {"app": "web"}},
            "namespaceSelector": {"matchLabels": {"team": "a"}},
            "topologyKey": "kubernetes.io/hostname"}]}}}),
    );
    let web = |namespace: &str| app_pod("web", "web", namespace, None, json!({}));
    let statuses = filter_statuses(
        &nodes(),
        std::slice::from_ref(&guard),
        namespaces(),
        &web("team-a-2"),
    );
    assert_eq!(feasible(&statuses), ["n2", "n3"]);
    assert_eq!(
        rejection(&statuses, "n1"),
        Some(("InterPodAffinity", EXISTING_ANTI_AFFINITY.to_owned()))
    );
    let statuses = filter_statuses(&nodes(), &[guard], namespaces(), &web("team-b"));
    assert_eq!(feasible(&statuses), ["n1", "n2", "n3"]);
}

#[test]
fn a_simulation_takes_namespace_labels_from_its_cluster_objects() {
    let web = avoiding_db(
        "default",
        json!({"namespaceSelector": {"matchLabels": {"team": "a"}}}),
    );
    let mut pods = databases();
    pods.push(web.clone());
    let two_nodes = vec![simple_node("n1", "4", "8Gi"), simple_node("n2", "4", "8Gi")];
    let result = Simulation::default()
        .with_objects(namespaces())
        .run(two_nodes, pods)
        .expect("simulate");
    assert_eq!(
        result
            .placement("default/web")
            .and_then(|p| p.node.as_deref()),
        Some("n1")
    );
    // Next to the team-a database alone: the Namespace objects decide.
    let only_n2 = vec![simple_node("n2", "4", "8Gi")];
    let pods = vec![databases().remove(1), web];
    let with_namespaces = Simulation::default()
        .with_objects(namespaces())
        .run(only_n2.clone(), pods.clone())
        .expect("simulate");
    let placement = with_namespaces.placement("default/web").expect("web");
    assert_eq!(placement.node, None);
    assert_eq!(
        placement.message.as_deref(),
        Some(
            "0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
        )
    );
    // Without them, no namespace is known to carry team=a.
    let without_namespaces = Simulation::default().run(only_n2, pods).expect("simulate");
    assert_eq!(
        without_namespaces
            .placement("default/web")
            .and_then(|p| p.node.as_deref()),
        Some("n2")
    );
}

fn api_pod(name: &str, app: &str, node: Option<&str>, affinity: Value) -> Pod {
    let mut spec = json!({"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9",
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]});
    if let Some(node) = node {
        spec["nodeName"] = json!(node);
    }
    if !affinity.is_null() {
        spec["affinity"] = affinity;
    }
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": app}}, "spec": spec}))
    .expect("pod")
}

fn api_node(name: &str) -> Node {
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                   "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"}}}))
    .expect("node")
}

fn bound_node(pod: Option<&Pod>) -> Option<&str> {
    pod.and_then(|p| p.spec.as_ref())
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_reads_namespace_labels_from_namespace_objects() {
    let client = cluster::client().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for (name, team) in [("alpha", "a"), ("beta", "b")] {
        let mut object = namespace(name, Some(team));
        object
            .metadata
            .labels
            .as_mut()
            .map(|l| l.remove("kubernetes.io/metadata.name"));
        namespaces
            .create(&PostParams::default(), &object)
            .await
            .expect("namespace");
    }
    let nodes: Api<Node> = Api::all(client.clone());
    for name in ["n1", "n2"] {
        nodes
            .create(&PostParams::default(), &api_node(name))
            .await
            .expect("node");
    }
    // A team-a database on n1 and a team-b one on n2, both already running there.
    for (namespace, node) in [("alpha", "n1"), ("beta", "n2")] {
        Api::<Pod>::namespaced(client.clone(), namespace)
            .create(
                &PostParams::default(),
                &api_pod("db", "db", Some(node), Value::Null),
            )
            .await
            .expect("db pod");
    }
    let running =
        cluster::start_scheduler(client.clone(), KubeSchedulerConfiguration::default_config());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let avoid = |selector: Value| {
        json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            db_term(json!({"namespaceSelector": selector}))]}})
    };
    pods.create(
        &PostParams::default(),
        &api_pod(
            "web",
            "web",
            None,
            avoid(json!({"matchLabels": {"team": "a"}})),
        ),
    )
    .await
    .expect("web");
    let web = cluster::wait_for(&pods, "web", "web bound", |p| bound_node(p).is_some()).await;
    assert_eq!(
        bound_node(web.as_deref()),
        Some("n2"),
        "only the team-a database repels web"
    );

    // Every namespace: both nodes are ruled out, and the pod says why.
    pods.create(
        &PostParams::default(),
        &api_pod("web-everywhere", "web", None, avoid(json!({}))),
    )
    .await
    .expect("web-everywhere");
    let pending = cluster::wait_for(&pods, "web-everywhere", "PodScheduled=False", |p| {
        p.and_then(|p| p.status.as_ref())
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c.type_ == "PodScheduled" && c.status == "False")
            })
    })
    .await;
    let message = pending
        .as_ref()
        .and_then(|p| p.status.as_ref())
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"))
        .and_then(|c| c.message.clone())
        .unwrap_or_default();
    assert!(
        message.starts_with(&format!("0/2 nodes are available: 2 {ANTI_AFFINITY}.")),
        "{message}"
    );
    assert_eq!(bound_node(pending.as_deref()), None);
    running.stop().await;
}
