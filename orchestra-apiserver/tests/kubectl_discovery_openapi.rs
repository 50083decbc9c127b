//! The real `kubectl` (1.32 at `/usr/bin/kubectl`, 1.33 beside the binary it links to)
//! against the REST router served over plain HTTP on a loopback port: discovery
//! (`api-resources`, `api-versions`), OpenAPI (`explain` from v3 and from the protobuf v2
//! document) and `apply` with client-side validation on, which reads the OpenAPI v3
//! documents to learn that the server validates fields itself, or, for a `List`, validates
//! client-side against the protobuf OpenAPI v2 document.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::process::Command;

/// kubectl 1.32 (on PATH) and 1.33 (beside the binary `/usr/bin/kubectl` links to).
fn kubectls() -> Vec<PathBuf> {
    let default = Path::new("/usr/bin/kubectl");
    let resolved = std::fs::canonicalize(default)
        .expect("/usr/bin/kubectl is missing: install the Debian package `kubectl`");
    let newer = resolved.with_file_name("kubectl.1.33");
    assert!(
        newer.exists(),
        "{} is missing: install the Debian package `kubectl`",
        newer.display()
    );
    vec![default.to_path_buf(), newer]
}

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/k8s-examples")
}

/// A server on a loopback port and a kubeconfig reaching it.
struct Cluster {
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    server: tokio::task::JoinHandle<()>,
}

impl Cluster {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let address = listener.local_addr().expect("local address");
        let app = support::app().await;
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: http://{address}\n\
                 users:\n- name: local\n  user: {{}}\ncontexts:\n- name: local\n  context:\n    cluster: local\n    user: local\n\
                 current-context: local\n"
            ),
        )
        .expect("write kubeconfig");
        Self {
            dir,
            kubeconfig,
            server,
        }
    }

    /// Runs kubectl with this cluster's kubeconfig and its own discovery cache.
    async fn kubectl(&self, binary: &Path, args: &[&str]) -> Output {
        let cache = self.dir.path().join("cache");
        let run = Command::new(binary)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&cache)
            .args(args)
            .env("HOME", self.dir.path())
            .kill_on_drop(true)
            .output();
        tokio::time::timeout(Duration::from_secs(120), run)
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} did not finish in 120 s"))
            .expect("kubectl runs")
    }

    /// Runs kubectl and returns its standard output, failing the test if it fails.
    async fn ok(&self, binary: &Path, args: &[&str]) -> String {
        let output = self.kubectl(binary, args).await;
        assert!(
            output.status.success(),
            "{} {args:?} failed: {}",
            binary.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8 output")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The row of `kubectl api-resources` for `name`, split on whitespace.
fn row<'a>(table: &'a str, name: &str) -> Vec<&'a str> {
    table
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&name))
        .unwrap_or_else(|| panic!("no row {name} in\n{table}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_api_resources_and_api_versions_list_every_served_kind() {
    for kubectl in kubectls() {
        let cluster = Cluster::start().await;
        let table = cluster.ok(&kubectl, &["api-resources"]).await;
        assert_eq!(
            row(&table, "deployments"),
            ["deployments", "deploy", "apps/v1", "true", "Deployment"]
        );
        assert_eq!(row(&table, "pods"), ["pods", "po", "v1", "true", "Pod"]);
        assert_eq!(
            row(&table, "namespaces"),
            ["namespaces", "ns", "v1", "false", "Namespace"]
        );
        assert_eq!(
            row(&table, "customresourcedefinitions"),
            [
                "customresourcedefinitions",
                "crd,crds",
                "apiextensions.k8s.io/v1",
                "false",
                "CustomResourceDefinition"
            ]
        );
        // A header and one row per served kind.
        assert_eq!(
            table.lines().count(),
            orchestra_api::kinds::BUILTIN.len() + 1,
            "{table}"
        );
        let all = cluster
            .ok(
                &kubectl,
                &["api-resources", "--categories=all", "-o", "name"],
            )
            .await;
        for resource in ["pods", "deployments.apps", "services", "jobs.batch"] {
            assert!(
                all.lines().any(|l| l == resource),
                "{resource} not in\n{all}"
            );
        }
        assert!(!all.lines().any(|l| l == "configmaps"), "{all}");

        let versions = cluster.ok(&kubectl, &["api-versions"]).await;
        let mut expected: Vec<String> = orchestra_api::kinds::BUILTIN
            .iter()
            .map(|k| k.api_version())
            .collect();
        expected.sort();
        expected.dedup();
        let listed: Vec<&str> = versions.lines().collect();
        assert_eq!(listed, expected, "{}", kubectl.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_explain_reads_descriptions_from_openapi_v3_and_v2() {
    for kubectl in kubectls() {
        let cluster = Cluster::start().await;
        let v3 = cluster
            .ok(&kubectl, &["explain", "pod.spec.containers"])
            .await;
        assert!(v3.contains("FIELD: containers <[]Container>"), "{v3}");
        assert!(
            v3.contains("List of containers belonging to the pod."),
            "{v3}"
        );
        assert!(v3.contains("image\t<string>"), "{v3}");
        let deployment = cluster
            .ok(&kubectl, &["explain", "deployments.spec.strategy"])
            .await;
        assert!(deployment.contains("GROUP:      apps"), "{deployment}");
        assert!(
            deployment.contains("rollingUpdate\t<RollingUpdateDeployment>"),
            "{deployment}"
        );

        // The Swagger 2.0 document, which kubectl fetches as protobuf.
        let v2 = cluster
            .ok(
                &kubectl,
                &[
                    "explain",
                    "--output",
                    "plaintext-openapiv2",
                    "pod.spec.containers",
                ],
            )
            .await;
        assert!(v2.contains("RESOURCE: containers <[]Object>"), "{v2}");
        assert!(
            v2.contains("List of containers belonging to the pod."),
            "{v2}"
        );
    }
}

fn deployments(json: &str) -> Vec<Value> {
    let list: Value = serde_json::from_str(json).expect("kubectl printed JSON");
    list["items"].as_array().expect("items").clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_with_validation_creates_then_patches_a_deployment() {
    let manifest = examples_dir().join("controllers/nginx-deployment.yaml");
    let original = std::fs::read_to_string(&manifest)
        .unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
    for kubectl in kubectls() {
        let cluster = Cluster::start().await;
        let manifest_arg = manifest.to_str().unwrap();
        let created = cluster
            .ok(
                &kubectl,
                &["apply", "--validate=strict", "-f", manifest_arg],
            )
            .await;
        assert_eq!(created.trim(), "deployment.apps/nginx-deployment created");
        let items = deployments(&cluster.ok(&kubectl, &["get", "deploy", "-o", "json"]).await);
        assert_eq!(items.len(), 1);
        let deployment = &items[0];
        assert_eq!(deployment["metadata"]["name"], "nginx-deployment");
        assert_eq!(deployment["spec"]["replicas"], 3);
        assert!(
            deployment["metadata"]["annotations"]
                .get("kubectl.kubernetes.io/last-applied-configuration")
                .is_some()
        );

        // Re-applying a modified copy patches the Deployment (strategic merge, containers
        // merged by name) rather than recreating it.
        let modified = original
            .replace("replicas: 3", "replicas: 4")
            .replace("nginx:1.14.2", "nginx:1.16.1");
        assert_ne!(modified, original, "the example changed: adjust the edit");
        let copy = cluster.dir.path().join("nginx-deployment.yaml");
        std::fs::write(&copy, modified).expect("write the copy");
        let configured = cluster
            .ok(&kubectl, &["apply", "-f", copy.to_str().unwrap()])
            .await;
        assert_eq!(
            configured.trim(),
            "deployment.apps/nginx-deployment configured"
        );
        let items = deployments(&cluster.ok(&kubectl, &["get", "deploy", "-o", "json"]).await);
        let patched = &items[0];
        assert_eq!(patched["metadata"]["uid"], deployment["metadata"]["uid"]);
        assert_eq!(patched["spec"]["replicas"], 4);
        let containers = patched["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap();
        assert_eq!(containers.len(), 1);
        assert_eq!(containers[0]["image"], "nginx:1.16.1");

        // Validation is on (kubectl leaves it to the server, which the PATCH operations of
        // the OpenAPI v3 document say validates fields): an unknown field is refused and
        // nothing is created.
        let invalid = original
            .replace("name: nginx-deployment", "name: nginx-invalid")
            .replace("replicas: 3", "replicas: 3\n  replicaz: 5");
        let bad = cluster.dir.path().join("bad.yaml");
        std::fs::write(&bad, invalid).expect("write the bad copy");
        let refused = cluster
            .kubectl(&kubectl, &["apply", "-f", bad.to_str().unwrap()])
            .await;
        assert!(!refused.status.success());
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains("replicaz"), "{stderr}");
        let items = deployments(&cluster.ok(&kubectl, &["get", "deploy", "-o", "json"]).await);
        let names: Vec<&Value> = items.iter().map(|d| &d["metadata"]["name"]).collect();
        assert_eq!(names, ["nginx-deployment"]);
    }
}

/// A `List` holding a ConfigMap and a Deployment whose quantities are written as a number and
/// a string, as manifests do.
const LIST: &str = "apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: listed
  data:
    a: \"1\"
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: listed
  spec:
    replicas: 2
    selector:
      matchLabels: {app: listed}
    template:
      metadata:
        labels: {app: listed}
      spec:
        containers:
        - name: c
          image: nginx
          ports:
          - containerPort: 80
          resources:
            limits: {cpu: 1, memory: 128Mi}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_validates_a_list_client_side_against_the_protobuf_v2_document() {
    for kubectl in kubectls() {
        let cluster = Cluster::start().await;
        // kubectl cannot ask the server to validate a `List`, so it validates each item
        // against the Swagger 2.0 document itself.
        let cases = [
            (
                "unknown.yaml",
                LIST.replace("replicas: 2", "replicas: 2\n    replicaz: 3"),
                "unknown field \"replicaz\" in io.k8s.api.apps.v1.DeploymentSpec",
            ),
            (
                "mistyped.yaml",
                LIST.replace("replicas: 2", "replicas: two"),
                "expected \"integer\"",
            ),
        ];
        for (file, manifest, complaint) in cases {
            let path = cluster.dir.path().join(file);
            std::fs::write(&path, manifest).expect("write the manifest");
            let refused = cluster
                .kubectl(&kubectl, &["apply", "-f", path.to_str().unwrap()])
                .await;
            assert!(!refused.status.success(), "{file} was accepted");
            let stderr = String::from_utf8_lossy(&refused.stderr);
            assert!(stderr.contains(complaint), "{file}: {stderr}");
            assert!(stderr.contains("error validating data"), "{file}: {stderr}");
        }
        // Client-side validation refuses the whole file before sending anything.
        let none = cluster
            .ok(&kubectl, &["get", "configmaps", "-o", "name"])
            .await;
        assert!(!none.contains("configmap/listed"), "{none}");

        let path = cluster.dir.path().join("list.yaml");
        std::fs::write(&path, LIST).expect("write the manifest");
        let created = cluster
            .ok(&kubectl, &["apply", "-f", path.to_str().unwrap()])
            .await;
        assert_eq!(
            created.lines().collect::<Vec<_>>(),
            ["configmap/listed created", "deployment.apps/listed created"]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_explains_every_served_kind() {
    for kubectl in kubectls() {
        let cluster = Cluster::start().await;
        for kind in orchestra_api::kinds::BUILTIN {
            let resource = if kind.group.is_empty() {
                kind.plural.to_string()
            } else {
                format!("{}.{}", kind.plural, kind.group)
            };
            let explained = cluster.ok(&kubectl, &["explain", &resource]).await;
            assert!(
                explained.contains(&format!("KIND:       {}\n", kind.kind)),
                "{resource}: {explained}"
            );
            assert!(explained.contains("FIELDS:"), "{resource}: {explained}");
            assert!(
                explained.contains("metadata\t<ObjectMeta>"),
                "{resource}: {explained}"
            );
        }
    }
}
