//! The dependency graph: every object the collector's informers observed, linked to its
//! owners and dependents through `ownerReferences`, and the work each change creates.
//!
//! As in Kubernetes' graph builder, an owner that is referenced before it is observed (or that
//! does not exist) gets a *virtual* node with the coordinates the reference gives; the workers
//! verify it with a live read, and a virtual node whose object is gone is removed through an
//! [`GraphEvent::Absent`] event, which sends its dependents to be collected. Changes are
//! applied by one task, in order; each answers a [`Work`] list for the workers. Nothing here
//! does I/O, so the rules are tested without a server.

use std::collections::{HashMap, HashSet};

use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

/// Who an object is: its coordinates as an owner reference gives them, and its namespace
/// (empty for cluster-scoped objects; for a virtual node, the namespace of the dependent that
/// first referenced it, as in Kubernetes).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectIdentity {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// The namespace, empty for cluster-scoped objects.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.uid`.
    pub uid: String,
}

impl ObjectIdentity {
    /// The identity an owner reference names, seen from a dependent in `namespace`.
    pub fn of_reference(reference: &OwnerReference, namespace: &str) -> Self {
        Self {
            api_version: reference.api_version.clone(),
            kind: reference.kind.clone(),
            namespace: namespace.to_owned(),
            name: reference.name.clone(),
            uid: reference.uid.clone(),
        }
    }

    /// Whether `reference` names this object with the same apiVersion, kind, name and uid.
    pub fn matches(&self, reference: &OwnerReference) -> bool {
        reference.uid == self.uid
            && reference.name == self.name
            && reference.kind == self.kind
            && reference.api_version == self.api_version
    }
}

impl std::fmt::Display for ObjectIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{}/{}, namespace: {}, name: {}, uid: {}]",
            self.api_version, self.kind, self.namespace, self.name, self.uid
        )
    }
}

/// What the collector keeps of an object an informer delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedObject {
    /// Who it is.
    pub identity: ObjectIdentity,
    /// Its `ownerReferences`.
    pub owners: Vec<OwnerReference>,
    /// Whether it has a `deletionTimestamp`.
    pub being_deleted: bool,
    /// Whether it carries the `orphan` finalizer.
    pub orphan_finalizer: bool,
    /// Whether it carries the `foregroundDeletion` finalizer.
    pub foreground_finalizer: bool,
}

/// A change for the graph.
#[derive(Debug, Clone)]
pub enum GraphEvent {
    /// An informer added or updated an object (`previous`: its last state, on an update).
    Observed {
        /// The object now.
        object: ObservedObject,
        /// The object before, on an update.
        previous: Option<ObservedObject>,
    },
    /// An informer saw an object deleted.
    Deleted(ObservedObject),
    /// A live read found no object with this identity: a *virtual* delete.
    Absent(ObjectIdentity),
}

/// What applying a change asks of the collector's workers.
#[derive(Debug, Default, PartialEq)]
pub struct Work {
    /// Objects (uids) to check for collection now.
    pub attempt_to_delete: Vec<String>,
    /// Objects (uids) to check again after a back-off.
    pub attempt_to_delete_later: Vec<String>,
    /// Owners (uids) whose dependents are to be orphaned.
    pub attempt_to_orphan: Vec<String>,
    /// Owners confirmed absent, for the absent-owner cache.
    pub absent: Vec<ObjectIdentity>,
    /// Dependents whose owner reference points at an object in another namespace, with the
    /// reference: reported as `OwnerRefInvalidNamespace` Events.
    pub invalid_namespace: Vec<(ObjectIdentity, OwnerReference)>,
}

/// One object in the graph.
#[derive(Debug, Clone)]
struct Node {
    identity: ObjectIdentity,
    owners: Vec<OwnerReference>,
    dependents: HashSet<String>,
    /// Seen through an informer (not only referenced).
    observed: bool,
    being_deleted: bool,
    /// Being deleted in the foreground: waits for its blocking dependents.
    deleting_dependents: bool,
}

/// A worker's view of one node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeView {
    /// Who it is.
    pub identity: ObjectIdentity,
    /// Seen through an informer.
    pub observed: bool,
    /// Has a `deletionTimestamp`.
    pub being_deleted: bool,
    /// Deleted in the foreground, waiting for dependents.
    pub deleting_dependents: bool,
    /// How many dependents it has.
    pub dependents: usize,
}

/// The dependency graph. See the [module documentation](self).
#[derive(Debug, Default)]
pub struct Graph {
    nodes: HashMap<String, Node>,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many nodes (observed and virtual) the graph holds.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the graph is empty.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The node with `uid`, as a worker sees it.
    pub fn view(&self, uid: &str) -> Option<NodeView> {
        self.nodes.get(uid).map(|node| NodeView {
            identity: node.identity.clone(),
            observed: node.observed,
            being_deleted: node.being_deleted,
            deleting_dependents: node.deleting_dependents,
            dependents: node.dependents.len(),
        })
    }

    /// The identities of the dependents of `uid`.
    pub fn dependents(&self, uid: &str) -> Vec<ObjectIdentity> {
        let Some(node) = self.nodes.get(uid) else {
            return Vec::new();
        };
        let mut dependents: Vec<ObjectIdentity> = node
            .dependents
            .iter()
            .filter_map(|dep| self.nodes.get(dep))
            .map(|dep| dep.identity.clone())
            .collect();
        dependents.sort();
        dependents
    }

    /// The dependents of `uid` whose reference to it says `blockOwnerDeletion: true`, each with
    /// whether it is itself deleting its dependents.
    pub fn blocking_dependents(&self, uid: &str) -> Vec<(String, bool)> {
        let Some(node) = self.nodes.get(uid) else {
            return Vec::new();
        };
        let mut blocking: Vec<(String, bool)> = node
            .dependents
            .iter()
            .filter_map(|dep| self.nodes.get(dep))
            .filter(|dep| {
                dep.owners
                    .iter()
                    .any(|o| o.uid == uid && o.block_owner_deletion == Some(true))
            })
            .map(|dep| (dep.identity.uid.clone(), dep.deleting_dependents))
            .collect();
        blocking.sort();
        blocking
    }

    /// Whether some dependent of `uid` is itself deleting its dependents.
    pub fn has_dependent_deleting_dependents(&self, uid: &str) -> bool {
        self.nodes.get(uid).is_some_and(|node| {
            node.dependents
                .iter()
                .filter_map(|dep| self.nodes.get(dep))
                .any(|dep| dep.deleting_dependents)
        })
    }

    /// Applies a change; answers the work it creates.
    pub fn apply(&mut self, event: GraphEvent) -> Work {
        let mut work = Work::default();
        match event {
            GraphEvent::Observed { object, previous } => {
                self.observe(object, previous.as_ref(), &mut work);
            }
            GraphEvent::Deleted(object) => {
                if self.nodes.contains_key(&object.identity.uid) {
                    self.remove(&object.identity.uid, &object.identity, &mut work);
                }
            }
            GraphEvent::Absent(identity) => self.absent(identity, &mut work),
        }
        work
    }

    fn observe(
        &mut self,
        object: ObservedObject,
        previous: Option<&ObservedObject>,
        work: &mut Work,
    ) {
        let uid = object.identity.uid.clone();
        if let Some(node) = self.nodes.get(&uid)
            && !node.observed
        {
            self.observe_virtual(&object.identity, work);
        }
        match self.nodes.get_mut(&uid) {
            None => {
                self.nodes.insert(
                    uid.clone(),
                    Node {
                        identity: object.identity.clone(),
                        owners: object.owners.clone(),
                        dependents: HashSet::new(),
                        observed: true,
                        being_deleted: object.being_deleted,
                        deleting_dependents: object.being_deleted && object.foreground_finalizer,
                    },
                );
                self.add_dependent_to_owners(&uid, &object.owners, work);
            }
            Some(node) => {
                let (added, removed, changed) = references_diff(&node.owners, &object.owners);
                if object.being_deleted {
                    node.being_deleted = true;
                }
                if !(added.is_empty() && removed.is_empty() && changed.is_empty()) {
                    node.owners = object.owners.clone();
                    self.add_unblocked_owners(&removed, &changed, work);
                    self.add_dependent_to_owners(&uid, &added, work);
                    self.remove_dependent_from_owners(&uid, &removed);
                }
            }
        }
        self.process_transitions(previous, &object, &uid, work);
    }

    /// A virtual node's object was observed: its identity is now the observed one, and the
    /// dependents that named it otherwise are checked again.
    fn observe_virtual(&mut self, observed: &ObjectIdentity, work: &mut Work) {
        let Some(node) = self.nodes.get(&observed.uid) else {
            return;
        };
        if node.identity != *observed {
            let dependents: Vec<String> = node.dependents.iter().cloned().collect();
            let (_, mismatching) = self.partition_dependents(&dependents, observed);
            for dep in mismatching {
                if let Some(dependent) = self.nodes.get(&dep) {
                    if !observed.namespace.is_empty()
                        && dependent.identity.namespace != observed.namespace
                        && let Some(reference) =
                            dependent.owners.iter().find(|o| o.uid == observed.uid)
                    {
                        work.invalid_namespace
                            .push((dependent.identity.clone(), reference.clone()));
                    }
                }
                work.attempt_to_delete.push(dep);
            }
        }
        if let Some(node) = self.nodes.get_mut(&observed.uid) {
            node.identity = observed.clone();
            node.observed = true;
        }
    }

    fn process_transitions(
        &mut self,
        previous: Option<&ObservedObject>,
        object: &ObservedObject,
        uid: &str,
        work: &mut Work,
    ) {
        let starts = |has: fn(&ObservedObject) -> bool| {
            object.being_deleted
                && has(object)
                && previous.is_none_or(|old| !old.being_deleted || !has(old))
        };
        if starts(|o| o.orphan_finalizer) {
            work.attempt_to_orphan.push(uid.to_owned());
            return;
        }
        if starts(|o| o.foreground_finalizer)
            && let Some(node) = self.nodes.get_mut(uid)
        {
            node.deleting_dependents = true;
            let mut dependents: Vec<String> = node.dependents.iter().cloned().collect();
            dependents.sort();
            work.attempt_to_delete.extend(dependents);
            work.attempt_to_delete.push(uid.to_owned());
        }
    }

    /// Links `uid` to each of `owners`, creating virtual nodes for owners not seen yet.
    fn add_dependent_to_owners(&mut self, uid: &str, owners: &[OwnerReference], work: &mut Work) {
        let Some(dependent) = self.nodes.get(uid).map(|n| n.identity.clone()) else {
            return;
        };
        let mut potentially_invalid = false;
        for owner in owners {
            match self.nodes.get_mut(&owner.uid) {
                None => {
                    self.nodes.insert(
                        owner.uid.clone(),
                        Node {
                            identity: ObjectIdentity::of_reference(owner, &dependent.namespace),
                            owners: Vec::new(),
                            dependents: HashSet::from([uid.to_owned()]),
                            observed: false,
                            being_deleted: false,
                            deleting_dependents: false,
                        },
                    );
                    // A live read confirms the owner or removes the virtual node.
                    work.attempt_to_delete.push(owner.uid.clone());
                }
                Some(owner_node) => {
                    owner_node.dependents.insert(uid.to_owned());
                    if potentially_invalid {
                        continue;
                    }
                    let owner_namespaced = !owner_node.identity.namespace.is_empty();
                    if owner_namespaced && owner_node.identity.namespace != dependent.namespace {
                        if owner_node.observed {
                            work.invalid_namespace
                                .push((dependent.clone(), owner.clone()));
                        }
                        potentially_invalid = true;
                    } else if !owner_node.identity.matches(owner)
                        || (!owner_namespaced
                            && owner_node.identity.namespace != dependent.namespace
                            && !owner_node.observed)
                    {
                        // Coordinates that differ from what was observed, or a virtual
                        // cluster-scoped owner seen from another namespace: check again.
                        potentially_invalid = true;
                    }
                }
            }
        }
        if potentially_invalid {
            work.attempt_to_delete.push(uid.to_owned());
        }
    }

    fn remove_dependent_from_owners(&mut self, uid: &str, owners: &[OwnerReference]) {
        for owner in owners {
            if let Some(node) = self.nodes.get_mut(&owner.uid) {
                node.dependents.remove(uid);
            }
        }
    }

    /// Owners waiting for their dependents that a removed or unblocking reference frees.
    fn add_unblocked_owners(
        &self,
        removed: &[OwnerReference],
        changed: &[(OwnerReference, OwnerReference)],
        work: &mut Work,
    ) {
        let freed = removed
            .iter()
            .filter(|r| r.block_owner_deletion == Some(true))
            .chain(changed.iter().filter_map(|(old, new)| {
                (old.block_owner_deletion == Some(true) && new.block_owner_deletion != Some(true))
                    .then_some(new)
            }));
        for reference in freed {
            if self
                .nodes
                .get(&reference.uid)
                .is_some_and(|owner| owner.deleting_dependents)
            {
                work.attempt_to_delete.push(reference.uid.clone());
            }
        }
    }

    /// Removes the node `uid`, deleted as `identity`: its dependents are checked, and owners
    /// waiting for it are checked again.
    fn remove(&mut self, uid: &str, identity: &ObjectIdentity, work: &mut Work) {
        let Some(node) = self.nodes.remove(uid) else {
            return;
        };
        self.remove_dependent_from_owners(uid, &node.owners);
        if !node.dependents.is_empty() {
            work.absent.push(identity.clone());
        }
        let mut dependents: Vec<String> = node.dependents.into_iter().collect();
        dependents.sort();
        work.attempt_to_delete.extend(dependents);
        for owner in &node.owners {
            if self
                .nodes
                .get(&owner.uid)
                .is_some_and(|o| o.deleting_dependents)
            {
                work.attempt_to_delete.push(owner.uid.clone());
            }
        }
    }

    /// A live read found no object with `identity`.
    fn absent(&mut self, identity: ObjectIdentity, work: &mut Work) {
        let Some(node) = self.nodes.get(&identity.uid) else {
            return;
        };
        let dependents: Vec<String> = node.dependents.iter().cloned().collect();
        let (matching, mismatching) = self.partition_dependents(&dependents, &identity);
        if !node.observed {
            if !mismatching.is_empty() {
                // Some dependents name this uid otherwise: keep the node for them.
                if !matching.is_empty() {
                    work.absent.push(identity.clone());
                    work.attempt_to_delete.extend(matching);
                }
                if node.identity == identity
                    && let Some(alternate) = self.alternate_identity(&mismatching, &identity)
                    && let Some(node) = self.nodes.get_mut(&identity.uid)
                {
                    node.identity = alternate;
                    work.attempt_to_delete_later.push(identity.uid.clone());
                }
                return;
            }
        } else if node.identity != identity {
            // The object exists, only not under these coordinates.
            if !matching.is_empty() {
                work.absent.push(identity.clone());
                work.attempt_to_delete.extend(matching);
            }
            return;
        }
        self.remove(&identity.uid.clone(), &identity, work);
    }

    /// Splits `dependents` into those whose reference to `owner.uid` matches `owner`'s
    /// coordinates and namespace, and those whose reference does not.
    fn partition_dependents(
        &self,
        dependents: &[String],
        owner: &ObjectIdentity,
    ) -> (Vec<String>, Vec<String>) {
        let owner_namespaced = !owner.namespace.is_empty();
        let mut matching = Vec::new();
        let mut mismatching = Vec::new();
        for uid in dependents {
            let Some(dep) = self.nodes.get(uid) else {
                continue;
            };
            let (mut found_match, mut found_mismatch) = (false, false);
            if owner_namespaced && owner.namespace != dep.identity.namespace {
                found_mismatch = true;
            } else {
                for reference in dep.owners.iter().filter(|r| r.uid == owner.uid) {
                    if owner.matches(reference) {
                        found_match = true;
                    } else {
                        found_mismatch = true;
                    }
                }
            }
            if found_match {
                matching.push(uid.clone());
            }
            if found_mismatch {
                mismatching.push(uid.clone());
            }
        }
        matching.sort();
        mismatching.sort();
        (matching, mismatching)
    }

    /// Another identity the `dependents` give the absent `verified` owner, the least one in
    /// a stable order.
    fn alternate_identity(
        &self,
        dependents: &[String],
        verified: &ObjectIdentity,
    ) -> Option<ObjectIdentity> {
        let cluster_scoped = verified.namespace.is_empty();
        let mut best: Option<ObjectIdentity> = None;
        for dep in dependents.iter().filter_map(|uid| self.nodes.get(uid)) {
            for reference in dep.owners.iter().filter(|r| r.uid == verified.uid) {
                if verified.matches(reference)
                    && (cluster_scoped || verified.namespace == dep.identity.namespace)
                {
                    continue;
                }
                let mut candidate =
                    ObjectIdentity::of_reference(reference, &dep.identity.namespace);
                if cluster_scoped
                    && candidate.api_version == verified.api_version
                    && candidate.kind == verified.kind
                {
                    candidate.namespace.clear();
                }
                if candidate == *verified {
                    continue;
                }
                if best.as_ref().is_none_or(|b| candidate < *b) {
                    best = Some(candidate);
                }
            }
        }
        best
    }
}

/// The owner references added, removed and changed (same uid, other fields) from `old` to
/// `new`.
#[allow(clippy::type_complexity)]
fn references_diff(
    old: &[OwnerReference],
    new: &[OwnerReference],
) -> (
    Vec<OwnerReference>,
    Vec<OwnerReference>,
    Vec<(OwnerReference, OwnerReference)>,
) {
    let old_by_uid: HashMap<&str, &OwnerReference> =
        old.iter().map(|r| (r.uid.as_str(), r)).collect();
    let new_uids: HashSet<&str> = new.iter().map(|r| r.uid.as_str()).collect();
    let mut added = Vec::new();
    let mut changed = Vec::new();
    for reference in new {
        match old_by_uid.get(reference.uid.as_str()) {
            None => added.push(reference.clone()),
            Some(previous) if *previous != reference => {
                changed.push(((*previous).clone(), reference.clone()));
            }
            Some(_) => {}
        }
    }
    let removed = old
        .iter()
        .filter(|r| !new_uids.contains(r.uid.as_str()))
        .cloned()
        .collect();
    (added, removed, changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(kind: &str, namespace: &str, name: &str) -> ObjectIdentity {
        ObjectIdentity {
            api_version: if kind == "Pod" { "v1" } else { "apps/v1" }.to_owned(),
            kind: kind.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            uid: format!("uid-{name}"),
        }
    }

    fn reference(owner: &ObjectIdentity, block: bool) -> OwnerReference {
        OwnerReference {
            api_version: owner.api_version.clone(),
            kind: owner.kind.clone(),
            name: owner.name.clone(),
            uid: owner.uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(block),
        }
    }

    fn object(identity: &ObjectIdentity, owners: Vec<OwnerReference>) -> ObservedObject {
        ObservedObject {
            identity: identity.clone(),
            owners,
            being_deleted: false,
            orphan_finalizer: false,
            foreground_finalizer: false,
        }
    }

    fn added(graph: &mut Graph, object: ObservedObject) -> Work {
        graph.apply(GraphEvent::Observed {
            object,
            previous: None,
        })
    }

    #[test]
    fn a_dependent_seen_before_its_owner_makes_a_virtual_owner_to_verify() {
        let mut graph = Graph::new();
        let rs = identity("ReplicaSet", "ns", "web");
        let pod = identity("Pod", "ns", "web-1");
        let work = added(&mut graph, object(&pod, vec![reference(&rs, true)]));
        assert_eq!(work.attempt_to_delete, vec![rs.uid.clone()]);
        let virtual_owner = graph.view(&rs.uid).unwrap();
        assert!(!virtual_owner.observed);
        assert_eq!(virtual_owner.identity, rs);

        let work = added(&mut graph, object(&rs, vec![]));
        assert_eq!(
            work,
            Work::default(),
            "the reference matched what was observed"
        );
        assert!(graph.view(&rs.uid).unwrap().observed);
        assert_eq!(graph.dependents(&rs.uid), [pod]);
    }

    #[test]
    fn deleting_an_owner_sends_its_dependents_to_be_collected() {
        let mut graph = Graph::new();
        let rs = identity("ReplicaSet", "ns", "web");
        let pods: Vec<_> = (1..=2)
            .map(|i| identity("Pod", "ns", &format!("web-{i}")))
            .collect();
        added(&mut graph, object(&rs, vec![]));
        for pod in &pods {
            added(&mut graph, object(pod, vec![reference(&rs, true)]));
        }
        let work = graph.apply(GraphEvent::Deleted(object(&rs, vec![])));
        assert_eq!(
            work.attempt_to_delete,
            pods.iter().map(|p| p.uid.clone()).collect::<Vec<_>>()
        );
        assert_eq!(work.absent, vec![rs.clone()]);
        assert!(graph.view(&rs.uid).is_none());
    }

    #[test]
    fn an_absent_virtual_owner_is_removed_and_its_dependents_checked() {
        let mut graph = Graph::new();
        let gone = identity("ReplicaSet", "ns", "gone");
        let pod = identity("Pod", "ns", "p");
        added(&mut graph, object(&pod, vec![reference(&gone, false)]));
        let work = graph.apply(GraphEvent::Absent(gone.clone()));
        assert_eq!(work.attempt_to_delete, vec![pod.uid.clone()]);
        assert!(graph.view(&gone.uid).is_none());
        assert_eq!(graph.len(), 1);
    }

    #[test]
    fn foreground_deletion_marks_the_owner_and_checks_its_dependents() {
        let mut graph = Graph::new();
        let deploy = identity("Deployment", "ns", "web");
        let rs = identity("ReplicaSet", "ns", "web-1");
        let before = object(&deploy, vec![]);
        added(&mut graph, before.clone());
        added(&mut graph, object(&rs, vec![reference(&deploy, true)]));
        let mut deleting = before.clone();
        deleting.being_deleted = true;
        deleting.foreground_finalizer = true;
        let work = graph.apply(GraphEvent::Observed {
            object: deleting.clone(),
            previous: Some(before),
        });
        assert_eq!(work.attempt_to_delete, [rs.uid.clone(), deploy.uid.clone()]);
        assert!(graph.view(&deploy.uid).unwrap().deleting_dependents);
        assert_eq!(
            graph.blocking_dependents(&deploy.uid),
            [(rs.uid.clone(), false)]
        );

        // The same state again is no new transition.
        let again = graph.apply(GraphEvent::Observed {
            object: deleting.clone(),
            previous: Some(deleting),
        });
        assert_eq!(again, Work::default());

        // The blocking dependent going brings the owner back to the workers.
        let work = graph.apply(GraphEvent::Deleted(object(
            &rs,
            vec![reference(&deploy, true)],
        )));
        assert_eq!(work.attempt_to_delete, vec![deploy.uid.clone()]);
        assert!(graph.blocking_dependents(&deploy.uid).is_empty());
    }

    #[test]
    fn orphan_deletion_hands_the_owner_to_the_orphaning_workers() {
        let mut graph = Graph::new();
        let rs = identity("ReplicaSet", "ns", "web");
        let mut deleting = object(&rs, vec![]);
        deleting.being_deleted = true;
        deleting.orphan_finalizer = true;
        let work = added(&mut graph, deleting);
        assert_eq!(work.attempt_to_orphan, vec![rs.uid.clone()]);
    }

    #[test]
    fn dropping_a_blocking_reference_frees_an_owner_waiting_for_it() {
        let mut graph = Graph::new();
        let deploy = identity("Deployment", "ns", "web");
        let rs = identity("ReplicaSet", "ns", "web-1");
        let mut waiting = object(&deploy, vec![]);
        waiting.being_deleted = true;
        waiting.foreground_finalizer = true;
        added(&mut graph, waiting);
        added(&mut graph, object(&rs, vec![reference(&deploy, true)]));
        let work = graph.apply(GraphEvent::Observed {
            object: object(&rs, vec![reference(&deploy, false)]),
            previous: Some(object(&rs, vec![reference(&deploy, true)])),
        });
        assert_eq!(work.attempt_to_delete, vec![deploy.uid.clone()]);
        assert!(graph.blocking_dependents(&deploy.uid).is_empty());
    }

    #[test]
    fn a_reference_to_an_owner_in_another_namespace_is_reported_and_checked() {
        let mut graph = Graph::new();
        let owner = identity("ConfigMap", "a", "settings");
        added(&mut graph, object(&owner, vec![]));
        let dependent = identity("Pod", "b", "p");
        let work = added(
            &mut graph,
            object(&dependent, vec![reference(&owner, false)]),
        );
        assert_eq!(work.attempt_to_delete, vec![dependent.uid.clone()]);
        assert_eq!(work.invalid_namespace.len(), 1);
        assert_eq!(work.invalid_namespace[0].0, dependent);
    }

    #[test]
    fn a_virtual_owner_observed_elsewhere_reports_its_dependents() {
        let mut graph = Graph::new();
        let owner = identity("ConfigMap", "a", "settings");
        let dependent = identity("Pod", "b", "p");
        added(
            &mut graph,
            object(&dependent, vec![reference(&owner, false)]),
        );
        let work = added(&mut graph, object(&owner, vec![]));
        assert_eq!(work.attempt_to_delete, vec![dependent.uid.clone()]);
        assert_eq!(work.invalid_namespace.len(), 1);
        assert_eq!(graph.view(&owner.uid).unwrap().identity, owner);
    }

    #[test]
    fn identities_print_as_kubernetes_prints_object_references() {
        let id = identity("ReplicaSet", "ns", "web");
        assert_eq!(
            id.to_string(),
            "[apps/v1/ReplicaSet, namespace: ns, name: web, uid: uid-web]"
        );
    }
}
