//! The example manifests the suite applies, and how they are dealt into rounds of kubectl
//! invocations.
//!
//! The examples reuse names (eleven Deployments are called `nginx-deployment`), so each round
//! applies into a namespace of its own. Files that name their namespaces, and cluster-scoped
//! objects, cannot be separated that way: a round deletes those that a later round applies
//! again.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use orchestra_api::kinds::{self, ResourceKind};
use serde::Deserialize;
use serde_json::Value;

use crate::example_catalog::{INVALID_YAML, REJECTED_BY_KUBERNETES, unserved_reason};
use crate::kubernetes::{REFUSED_ON_AN_IPV4_CLUSTER, REFUSED_WITHOUT_THEIR_PRIORITY_CLASS};

/// The folders of the examples this suite applies: workloads (`application`, `controllers`,
/// `pods`), services (`service`), configuration (`configmap`, `secret`), storage (`storage`),
/// policy (`policy`) and RBAC (`access`).
pub const FOLDERS: &[&str] = &[
    "access",
    "application",
    "configmap",
    "controllers",
    "pods",
    "policy",
    "secret",
    "service",
    "storage",
];

fn examples_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ORCHESTRA_K8S_EXAMPLES") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/k8s-examples")
}

/// Where an object lands.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Placement {
    /// A namespaced object without a namespace: the round's (`kubectl apply -n`).
    Round,
    /// A namespaced object of a file that names namespaces: its own, or `default`.
    Namespace(String),
    /// A cluster-scoped object.
    Cluster,
}

/// One object of an example file.
pub struct Object {
    /// Its kind, as Orchestra serves it.
    pub kind: &'static ResourceKind,
    /// `metadata.name`.
    pub name: String,
    /// Where it lands.
    pub placement: Placement,
}

impl Object {
    /// How kubectl names the object in what it prints: `deployment.apps/web`, `service/web`.
    pub fn printed(&self) -> String {
        let kind = self.kind.kind.to_lowercase();
        if self.kind.group.is_empty() {
            format!("{kind}/{}", self.name)
        } else {
            format!("{kind}.{}/{}", self.kind.group, self.name)
        }
    }

    /// The namespace the object lands in when its round applies into `round_namespace`.
    pub fn namespace<'a>(&'a self, round_namespace: &'a str) -> Option<&'a str> {
        match &self.placement {
            Placement::Round => Some(round_namespace),
            Placement::Namespace(namespace) => Some(namespace),
            Placement::Cluster => None,
        }
    }

    /// What identifies the object among those of its round.
    fn identity(&self) -> (String, String, Placement, String) {
        (
            self.kind.group.to_string(),
            self.kind.kind.to_string(),
            self.placement.clone(),
            self.name.clone(),
        )
    }

    /// Whether the object is the same one in every round (not separated by the round's
    /// namespace).
    fn is_global(&self) -> bool {
        self.placement != Placement::Round
    }
}

/// One example file and its objects, in the order kubectl applies them.
pub struct Manifest {
    /// The path below the examples folder, as INDEX.tsv lists it.
    pub file: String,
    /// Where the file is.
    pub path: PathBuf,
    /// Its objects, the items of a `List` flattened.
    pub objects: Vec<Object>,
}

impl Manifest {
    /// Whether the file names namespaces, so it is applied without `-n`.
    fn names_namespaces(&self) -> bool {
        self.objects
            .iter()
            .any(|o| matches!(o.placement, Placement::Namespace(_)))
    }
}

/// The examples of [`FOLDERS`], sorted by what the suite does with them.
#[derive(Default)]
pub struct Selection {
    /// The files the suite applies.
    pub applied: Vec<Manifest>,
    /// Files Kubernetes refuses on a cluster with Orchestra's configuration, with the error.
    pub refused: Vec<(Manifest, &'static str)>,
    /// Files not applied at all, with the reason why.
    pub skipped: Vec<(String, String)>,
}

/// Reads INDEX.tsv and the files of [`FOLDERS`] it lists.
pub fn select_manifests() -> Selection {
    let dir = examples_dir();
    let index = std::fs::read_to_string(dir.join("INDEX.tsv")).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; the Kubernetes example manifests are expected in shared/ \
             beside the checkout (or set ORCHESTRA_K8S_EXAMPLES)",
            dir.join("INDEX.tsv").display()
        )
    });
    let mut selection = Selection::default();
    for line in index.lines().filter(|l| !l.trim().is_empty()) {
        let file = line.split('\t').next().unwrap_or(line);
        let folder = file.split('/').next().unwrap_or_default();
        if !FOLDERS.contains(&folder) {
            continue;
        }
        let refused = INVALID_YAML
            .iter()
            .map(|(f, why)| (*f, *why))
            .chain(REJECTED_BY_KUBERNETES.iter().map(|(f, _, why)| (*f, *why)))
            .find(|(f, _)| *f == file);
        if let Some((_, why)) = refused {
            let why = format!("Kubernetes v1.33 refuses it: {why}");
            selection.skipped.push((file.to_owned(), why));
            continue;
        }
        let path = dir.join(file);
        let objects = match read_manifest(file, &path) {
            Ok(objects) => objects,
            Err(why) => {
                selection.skipped.push((file.to_owned(), why));
                continue;
            }
        };
        let manifest = Manifest {
            file: file.to_owned(),
            path,
            objects,
        };
        let refused_as_in_kubernetes = REFUSED_ON_AN_IPV4_CLUSTER
            .iter()
            .chain(REFUSED_WITHOUT_THEIR_PRIORITY_CLASS)
            .find(|(f, _)| *f == file);
        match refused_as_in_kubernetes {
            Some((_, error)) => selection.refused.push((manifest, error)),
            None => selection.applied.push(manifest),
        }
    }
    selection
}

/// The objects of one file, or why the file is not applied (a kind Kubernetes v1.33 does not
/// serve). Panics on a kind that is neither served nor explained by the catalog.
fn read_manifest(file: &str, path: &Path) -> Result<Vec<Object>, String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {file}: {e}"));
    let mut values = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(&text) {
        let value = Value::deserialize(document)
            .unwrap_or_else(|e| panic!("{file} is not YAML and not in the catalog: {e}"));
        match value {
            Value::Null => {}
            list if list["kind"] == "List" => {
                values.extend(list["items"].as_array().cloned().unwrap_or_default());
            }
            value => values.push(value),
        }
    }
    let names_namespaces = values
        .iter()
        .any(|v| v.pointer("/metadata/namespace").is_some());
    let mut objects = Vec::new();
    for value in values {
        let api_version = value["apiVersion"].as_str().unwrap_or_default();
        let kind_name = value["kind"].as_str().unwrap_or_default();
        let Some(kind) = kinds::lookup_kind(api_version, kind_name) else {
            let why = unserved_reason(api_version, kind_name).unwrap_or_else(|| {
                panic!("{file}: {api_version} {kind_name} is neither served nor in the catalog")
            });
            return Err(format!("{api_version} {kind_name}: {why}"));
        };
        let name = value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{file}: a {kind_name} without a name"))
            .to_owned();
        let placement = match value.pointer("/metadata/namespace").and_then(Value::as_str) {
            _ if !kind.is_namespaced() => Placement::Cluster,
            Some(namespace) => Placement::Namespace(namespace.to_owned()),
            None if names_namespaces => Placement::Namespace("default".to_owned()),
            None => Placement::Round,
        };
        objects.push(Object {
            kind,
            name,
            placement,
        });
    }
    Ok(objects)
}

/// Files applied together, each step with one kubectl invocation per [`ApplySet`].
pub struct Round<'a> {
    /// The namespace the round applies into.
    pub namespace: String,
    /// Its files.
    pub manifests: Vec<&'a Manifest>,
    /// Files whose global objects a later round applies again: deleted when this round ends.
    pub delete_after: Vec<&'a Manifest>,
}

/// Deals the files into rounds so that no two objects of a round coincide, and global objects
/// of one round are deleted before a later round applies them again.
pub fn deal_into_rounds(manifests: &[Manifest]) -> Vec<Round<'_>> {
    let mut taken: Vec<BTreeSet<_>> = Vec::new();
    let mut members: Vec<Vec<&Manifest>> = Vec::new();
    for manifest in manifests {
        let identities: BTreeSet<_> = manifest.objects.iter().map(Object::identity).collect();
        assert_eq!(
            identities.len(),
            manifest.objects.len(),
            "{} holds one object twice",
            manifest.file
        );
        let round = match taken.iter().position(|t| t.is_disjoint(&identities)) {
            Some(round) => round,
            None => {
                taken.push(BTreeSet::new());
                members.push(Vec::new());
                taken.len() - 1
            }
        };
        taken[round].extend(identities);
        members[round].push(manifest);
    }
    let global_later = |round: usize| -> BTreeSet<_> {
        members[round + 1..]
            .iter()
            .flatten()
            .flat_map(|m| m.objects.iter().filter(|o| o.is_global()))
            .map(Object::identity)
            .collect()
    };
    members
        .iter()
        .enumerate()
        .map(|(round, manifests)| {
            let later = global_later(round);
            Round {
                namespace: format!("apply-{}", round + 1),
                delete_after: manifests
                    .iter()
                    .copied()
                    .filter(|m| m.objects.iter().any(|o| later.contains(&o.identity())))
                    .collect(),
                manifests: manifests.clone(),
            }
        })
        .collect()
}

/// The files of a round that one kubectl invocation applies: those without namespaces into
/// the round's namespace (`-n`), or those that name their own.
pub struct ApplySet<'a> {
    /// The round's namespace.
    pub round_namespace: &'a str,
    /// Whether kubectl gets `-n` with the round's namespace (the files name none).
    pub into_round_namespace: bool,
    /// The files.
    pub manifests: Vec<&'a Manifest>,
}

impl<'a> ApplySet<'a> {
    /// `manifests` of `round` split by how kubectl applies them: into the round's namespace,
    /// then into their own (leaving out an empty set).
    pub fn of(round: &'a Round<'a>, manifests: &[&'a Manifest]) -> Vec<ApplySet<'a>> {
        [true, false]
            .into_iter()
            .map(|into_round_namespace| ApplySet {
                round_namespace: &round.namespace,
                into_round_namespace,
                manifests: manifests
                    .iter()
                    .copied()
                    .filter(|m| m.names_namespaces() != into_round_namespace)
                    .collect(),
            })
            .filter(|set| !set.manifests.is_empty())
            .collect()
    }

    /// The objects, in the order kubectl applies them.
    pub fn objects(&self) -> impl Iterator<Item = &'a Object> + '_ {
        self.manifests.iter().flat_map(|m| &m.objects)
    }

    /// Each object with its file, in the order kubectl applies them.
    pub fn entries(&self) -> impl Iterator<Item = (&'a Manifest, &'a Object)> + '_ {
        self.manifests
            .iter()
            .flat_map(|m| m.objects.iter().map(move |o| (*m, o)))
    }

    /// kubectl arguments: `args`, then the namespace and the files.
    pub fn command(&self, args: &[&str], files: &[String]) -> Vec<String> {
        let mut command: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        if self.into_round_namespace {
            command.extend(["-n".to_owned(), self.round_namespace.to_owned()]);
        }
        for file in files {
            command.extend(["-f".to_owned(), file.clone()]);
        }
        command
    }

    /// The paths of the files, for `-f`.
    pub fn files(&self) -> Vec<String> {
        self.manifests
            .iter()
            .map(|m| m.path.to_str().expect("UTF-8 path").to_owned())
            .collect()
    }

    /// The key of an object in what the server holds.
    pub fn key(&self, object: &Object) -> ObjectKey {
        (
            object.kind.kind.to_string(),
            object.namespace(self.round_namespace).map(str::to_owned),
            object.name.clone(),
        )
    }
}

/// Kind, namespace and name of an object the server holds.
pub type ObjectKey = (String, Option<String>, String);
