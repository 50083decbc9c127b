//! Static pods: pods the agent runs from manifest files, and their mirror pods in the API.
//!
//! Kubernetes' kubelet reads every manifest in its `--pod-manifest-path` directory (one pod,
//! or a `PodList`, in YAML or JSON per file) and runs those pods itself, whatever the API
//! says. Each gets the name `<name>-<node>`, a uid derived from the manifest and the node (so
//! it survives restarts), `spec.nodeName`, a toleration of every `NoExecute` taint, and the
//! `kubernetes.io/config.*` annotations. So that the cluster can see them, the agent creates
//! a *mirror pod* for each: a copy in the API with the annotation
//! `kubernetes.io/config.mirror` and the Node as owner. The mirror only reports; deleting it
//! does not stop the static pod (the agent creates it again), removing the manifest does.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;
use std::sync::Arc;

use orchestra_api::k8s_openapi::api::core::v1::{Node, Pod, Toleration};
use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use orchestra_api::{defaulting, validation};
use serde::Deserialize;

use crate::error::NodeError;

/// Annotation: where a pod came from (`file` for static pods, `api` otherwise).
pub const CONFIG_SOURCE_ANNOTATION: &str = "kubernetes.io/config.source";
/// Annotation: the hash of a static pod's manifest (also its uid).
pub const CONFIG_HASH_ANNOTATION: &str = "kubernetes.io/config.hash";
/// Annotation: marks a mirror pod; its value is the static pod's hash.
pub const CONFIG_MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";
/// Annotation: when the agent first saw the manifest.
pub const CONFIG_SEEN_ANNOTATION: &str = "kubernetes.io/config.seen";

/// Whether a pod from the API is a mirror pod.
pub fn is_mirror_pod(pod: &Pod) -> bool {
    pod.metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(CONFIG_MIRROR_ANNOTATION))
}

/// The hash a static or mirror pod carries.
pub fn config_hash(pod: &Pod) -> Option<&str> {
    let annotations = pod.metadata.annotations.as_ref()?;
    annotations
        .get(CONFIG_MIRROR_ANNOTATION)
        .or_else(|| annotations.get(CONFIG_HASH_ANNOTATION))
        .map(String::as_str)
}

/// A uid-shaped hash of a manifest's content on a node.
fn hash_uid(content: &str, node_name: &str) -> String {
    let part = |seed: u64| {
        let mut hasher = DefaultHasher::new();
        seed.hash(&mut hasher);
        content.hash(&mut hasher);
        node_name.hash(&mut hasher);
        hasher.finish()
    };
    let (a, b) = (part(1), part(2));
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

#[derive(Deserialize)]
struct KindProbe {
    #[serde(default)]
    kind: String,
}

#[derive(Deserialize)]
struct PodList {
    #[serde(default)]
    items: Vec<Pod>,
}

/// Turns a manifest's pod into the static pod the agent runs.
fn static_pod(mut pod: Pod, content: &str, node_name: &str, index: usize) -> Pod {
    let uid = hash_uid(&format!("{index}:{content}"), node_name);
    let name = pod.metadata.name.clone().unwrap_or_default();
    pod.metadata.name = Some(format!("{name}-{node_name}"));
    if pod.metadata.namespace.as_deref().is_none_or(str::is_empty) {
        pod.metadata.namespace = Some("default".to_owned());
    }
    pod.metadata.uid = Some(uid.clone());
    let annotations = pod.metadata.annotations.get_or_insert_with(BTreeMap::new);
    annotations.insert(CONFIG_SOURCE_ANNOTATION.to_owned(), "file".to_owned());
    annotations.insert(CONFIG_HASH_ANNOTATION.to_owned(), uid);
    annotations.insert(
        CONFIG_SEEN_ANNOTATION.to_owned(),
        crate::clock::now().to_string(),
    );
    defaulting::default_object(&mut pod);
    if let Some(spec) = pod.spec.as_mut() {
        spec.node_name = Some(node_name.to_owned());
        let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
        let all_no_execute = Toleration {
            operator: Some("Exists".to_owned()),
            effect: Some("NoExecute".to_owned()),
            ..Toleration::default()
        };
        if !tolerations.contains(&all_no_execute) {
            tolerations.push(all_no_execute);
        }
    }
    pod
}

/// Reads the static pods of one manifest file.
pub fn read_manifest(path: &Path, node_name: &str) -> Result<Vec<Pod>, NodeError> {
    let error = |message: String| NodeError::Manifest {
        path: path.display().to_string(),
        message,
    };
    let content = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    let kind: KindProbe =
        serde_yaml_ng::from_str(&content).map_err(|e| error(format!("not a manifest: {e}")))?;
    let pods = match kind.kind.as_str() {
        "Pod" => vec![
            serde_yaml_ng::from_str::<Pod>(&content)
                .map_err(|e| error(format!("invalid pod: {e}")))?,
        ],
        "PodList" => {
            serde_yaml_ng::from_str::<PodList>(&content)
                .map_err(|e| error(format!("invalid pod list: {e}")))?
                .items
        }
        other => return Err(error(format!("kind {other:?} is not Pod or PodList"))),
    };
    pods.into_iter()
        .enumerate()
        .map(|(index, pod)| {
            if pod.metadata.name.as_deref().is_none_or(str::is_empty) {
                return Err(error("the pod has no name".to_owned()));
            }
            let pod = static_pod(pod, &content, node_name, index);
            let problems = validation::validate_create(&pod);
            if problems.is_empty() {
                Ok(pod)
            } else {
                Err(error(format!(
                    "invalid pod: {}",
                    problems
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                )))
            }
        })
        .collect()
}

/// Reads every manifest in `dir` (files ending in `.yaml`, `.yml` or `.json`, not hidden).
/// Files that cannot be used are reported and skipped, as the kubelet does.
pub fn read_manifest_dir(dir: &Path, node_name: &str) -> (Vec<Arc<Pod>>, Vec<NodeError>) {
    let mut pods = Vec::new();
    let mut errors = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            errors.push(NodeError::Manifest {
                path: dir.display().to_string(),
                message: e.to_string(),
            });
            return (pods, errors);
        }
    };
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            !name.starts_with('.')
                && [".yaml", ".yml", ".json"]
                    .iter()
                    .any(|ext| name.ends_with(ext))
                && path.is_file()
        })
        .collect();
    paths.sort();
    for path in paths {
        match read_manifest(&path, node_name) {
            Ok(found) => pods.extend(found.into_iter().map(Arc::new)),
            Err(error) => errors.push(error),
        }
    }
    (pods, errors)
}

/// The mirror pod of a static pod on `node`.
pub fn mirror_pod(static_pod: &Pod, node: &Node) -> Pod {
    let mut mirror = static_pod.clone();
    mirror.metadata.uid = None;
    mirror.metadata.resource_version = None;
    mirror.metadata.creation_timestamp = None;
    mirror.status = None;
    let hash = config_hash(static_pod).unwrap_or_default().to_owned();
    mirror
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(CONFIG_MIRROR_ANNOTATION.to_owned(), hash);
    mirror.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "v1".to_owned(),
        kind: "Node".to_owned(),
        name: node.metadata.name.clone().unwrap_or_default(),
        uid: node.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: None,
    }]);
    mirror
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: etcd\n  namespace: kube-system\nspec:\n  containers:\n  - name: etcd\n    image: registry.k8s.io/etcd:3.5.21-0\n";

    #[test]
    fn manifests_become_static_pods_named_after_the_node_with_a_stable_uid() {
        let dir = std::env::temp_dir().join(format!("orchestra-static-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("etcd.yaml"), MANIFEST).unwrap();
        std::fs::write(dir.join(".hidden.yaml"), MANIFEST).unwrap();
        std::fs::write(dir.join("notes.txt"), "not a manifest").unwrap();
        std::fs::write(dir.join("broken.yaml"), "kind: Pod\nmetadata: [").unwrap();
        let (pods, errors) = read_manifest_dir(&dir, "node-1");
        assert_eq!(pods.len(), 1);
        assert_eq!(errors.len(), 1, "{errors:?}");
        let pod = &pods[0];
        assert_eq!(pod.metadata.name.as_deref(), Some("etcd-node-1"));
        assert_eq!(pod.metadata.namespace.as_deref(), Some("kube-system"));
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.node_name.as_deref(), Some("node-1"));
        assert!(
            spec.tolerations
                .as_ref()
                .unwrap()
                .iter()
                .any(|t| t.effect.as_deref() == Some("NoExecute"))
        );
        let (again, _) = read_manifest_dir(&dir, "node-1");
        assert_eq!(again[0].metadata.uid, pod.metadata.uid, "the uid is stable");
        let (elsewhere, _) = read_manifest_dir(&dir, "node-2");
        assert_ne!(elsewhere[0].metadata.uid, pod.metadata.uid);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn mirror_pods_carry_the_hash_and_the_node_as_owner() {
        let dir = std::env::temp_dir().join(format!("orchestra-mirror-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("etcd.yaml"), MANIFEST).unwrap();
        let (pods, _) = read_manifest_dir(&dir, "node-1");
        std::fs::remove_dir_all(&dir).unwrap();
        let mut node = Node::default();
        node.metadata.name = Some("node-1".into());
        node.metadata.uid = Some("node-uid".into());
        let mirror = mirror_pod(&pods[0], &node);
        assert!(is_mirror_pod(&mirror));
        assert_eq!(config_hash(&mirror), pods[0].metadata.uid.as_deref());
        assert_eq!(mirror.metadata.uid, None);
        let owner = &mirror.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("Node", "node-uid")
        );
    }
}
