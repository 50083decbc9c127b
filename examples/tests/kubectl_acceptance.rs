//! The acceptance suite of the API server: the real `kubectl` (1.32 on PATH and 1.33 beside
//! it), unchanged, against the `orchestra apiserver` binary on a temp data dir, as a new user
//! would drive it. Each test asserts what kubectl printed or what the API holds afterwards.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use support::session::Session;
use support::{STARTUP, kubectls};

/// Runs `test` once per kubectl version, each against a server of its own.
fn with_each_kubectl(test: impl Fn(&Session)) {
    for binary in kubectls() {
        test(&Session::start(binary));
    }
}

const WEB_PODS: &str = r#"
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: web-1, namespace: shop, labels: {app: web, tier: front}}
  spec: {containers: [{name: nginx, image: "nginx:1.27", ports: [{containerPort: 80}]}]}
- apiVersion: v1
  kind: Pod
  metadata: {name: web-2, namespace: shop, labels: {app: web, tier: front}}
  spec: {containers: [{name: nginx, image: "nginx:1.27"}]}
- apiVersion: v1
  kind: Pod
  metadata: {name: db-1, namespace: shop, labels: {app: db}}
  spec: {containers: [{name: postgres, image: "postgres:17"}]}
"#;

const SHOP_NAMESPACE: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n";

fn with_shop(session: &Session) {
    let ns = session.file("ns.yaml", SHOP_NAMESPACE);
    session.ok(&["create", "-f", &ns]);
    let pods = session.file("pods.yaml", WEB_PODS);
    let created = session.ok(&["create", "-f", &pods]);
    assert_eq!(
        created.lines().collect::<Vec<_>>(),
        ["pod/web-1 created", "pod/web-2 created", "pod/db-1 created"]
    );
}

fn header(table: &str) -> Vec<&str> {
    table
        .lines()
        .next()
        .unwrap_or_default()
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

fn first_column(table: &str) -> Vec<&str> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().next())
        .collect()
}

#[test]
fn get_prints_tables_wide_yaml_json_and_jsonpath_and_filters() {
    with_each_kubectl(|s| {
        with_shop(s);
        let table = s.ok(&["get", "pods", "-n", "shop"]);
        assert_eq!(
            header(&table),
            ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        );
        assert_eq!(first_column(&table), ["db-1", "web-1", "web-2"]);
        assert!(table.contains("0/1"), "{table}");
        assert!(table.contains("Pending"), "{table}");

        let wide = s.ok(&["get", "pods", "-n", "shop", "-o", "wide"]);
        assert_eq!(
            header(&wide),
            [
                "NAME",
                "READY",
                "STATUS",
                "RESTARTS",
                "AGE",
                "IP",
                "NODE",
                "NOMINATED NODE",
                "READINESS GATES"
            ]
        );

        let yaml = s.ok(&["get", "pod", "web-1", "-n", "shop", "-o", "yaml"]);
        assert!(yaml.contains("kind: Pod"), "{yaml}");
        assert!(yaml.contains("  name: web-1"), "{yaml}");
        assert!(yaml.contains("restartPolicy: Always"), "{yaml}");

        let json = s.json(&["get", "pods", "-n", "shop"]);
        assert_eq!(json["kind"], "List");
        assert_eq!(json["items"].as_array().map(Vec::len), Some(3));

        let names = s.ok(&[
            "get",
            "pods",
            "-n",
            "shop",
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ]);
        assert_eq!(names, "db-1 web-1 web-2");

        let labelled = s.ok(&["get", "pods", "-n", "shop", "-l", "app=web,tier in (front)"]);
        assert_eq!(first_column(&labelled), ["web-1", "web-2"]);
        let by_field = s.ok(&[
            "get",
            "pods",
            "-n",
            "shop",
            "--field-selector",
            "metadata.name!=web-1",
        ]);
        assert_eq!(first_column(&by_field), ["db-1", "web-2"]);

        let all = s.ok(&["get", "pods", "-A"]);
        assert_eq!(header(&all)[..2], ["NAMESPACE", "NAME"]);
        assert!(all.lines().skip(1).all(|l| l.starts_with("shop ")), "{all}");

        let labels = s.ok(&["get", "pod", "db-1", "-n", "shop", "--show-labels"]);
        assert_eq!(header(&labels).last(), Some(&"LABELS"));
        assert!(labels.contains("app=db"), "{labels}");

        let missing = s.fails(&["get", "pod", "nope", "-n", "shop"]);
        assert!(
            missing.contains(r#"Error from server (NotFound): pods "nope" not found"#),
            "{missing}"
        );
    });
}

#[test]
fn get_watch_prints_a_change_as_it_arrives() {
    with_each_kubectl(|s| {
        with_shop(s);
        let mut watch = Command::new(&s.kubectl)
            .arg("--kubeconfig")
            .arg(s.server.kubeconfig())
            .args(["get", "pods", "-n", "shop", "-w", "-o", "name"])
            .env("HOME", s.dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl watch starts");
        let stdout = watch.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        for expected in ["pod/db-1", "pod/web-1", "pod/web-2"] {
            assert_eq!(rx.recv_timeout(STARTUP).expect("listed"), expected);
        }
        let later = s.file(
            "later.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: later, namespace: shop}\nspec: {containers: [{name: c, image: busybox}]}\n",
        );
        s.ok(&["create", "-f", &later]);
        assert_eq!(rx.recv_timeout(STARTUP).expect("the change"), "pod/later");
        let _ = watch.kill();
        let _ = watch.wait();
    });
}

#[test]
fn describe_shows_the_object_in_sections() {
    with_each_kubectl(|s| {
        with_shop(s);
        let described = s.ok(&["describe", "pod", "web-1", "-n", "shop"]);
        for expected in [
            "Name:",
            "web-1",
            "Namespace:",
            "shop",
            "Labels:",
            "app=web",
            "Containers:",
            "nginx:",
            "Image:",
            "nginx:1.27",
            "80/TCP",
        ] {
            assert!(
                described.contains(expected),
                "{expected} missing:\n{described}"
            );
        }
    });
}

#[test]
fn label_and_annotate_add_overwrite_and_remove() {
    with_each_kubectl(|s| {
        with_shop(s);
        assert_eq!(
            s.ok(&["label", "pod", "db-1", "-n", "shop", "env=prod"])
                .trim(),
            "pod/db-1 labeled"
        );
        let refused = s.fails(&["label", "pod", "db-1", "-n", "shop", "env=dev"]);
        assert!(refused.contains("--overwrite is false"), "{refused}");
        s.ok(&[
            "label",
            "pod",
            "db-1",
            "-n",
            "shop",
            "env=dev",
            "--overwrite",
        ]);
        let labels = s.json(&["get", "pod", "db-1", "-n", "shop"])["metadata"]["labels"].clone();
        assert_eq!(labels, serde_json::json!({"app": "db", "env": "dev"}));
        s.ok(&["label", "pod", "db-1", "-n", "shop", "env-"]);
        let labels = s.json(&["get", "pod", "db-1", "-n", "shop"])["metadata"]["labels"].clone();
        assert_eq!(labels, serde_json::json!({"app": "db"}));

        s.ok(&["annotate", "pod", "db-1", "-n", "shop", "owner=team-a"]);
        s.ok(&[
            "annotate",
            "pod",
            "db-1",
            "-n",
            "shop",
            "owner=team-b",
            "--overwrite",
        ]);
        let pod = s.json(&["get", "pod", "db-1", "-n", "shop"]);
        assert_eq!(pod["metadata"]["annotations"]["owner"], "team-b");
        s.ok(&["annotate", "pod", "db-1", "-n", "shop", "owner-"]);
        let pod = s.json(&["get", "pod", "db-1", "-n", "shop"]);
        assert!(
            pod["metadata"]["annotations"].get("owner").is_none(),
            "{pod}"
        );
    });
}

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: "nginx:1.27"
        env: [{name: MODE, value: blue}]
"#;

fn with_deployment(s: &Session) {
    let ns = s.file("ns.yaml", SHOP_NAMESPACE);
    s.ok(&["create", "-f", &ns]);
    let deployment = s.file("deployment.yaml", DEPLOYMENT);
    s.ok(&["create", "-f", &deployment]);
}

#[test]
fn patch_with_merge_json_and_strategic_patches() {
    with_each_kubectl(|s| {
        with_deployment(s);
        s.ok(&[
            "patch",
            "deployment",
            "web",
            "-n",
            "shop",
            "--type=merge",
            "-p",
            r#"{"metadata":{"labels":{"patched":"merge"}}}"#,
        ]);
        s.ok(&[
            "patch",
            "deployment",
            "web",
            "-n",
            "shop",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/replicas","value":4}]"#,
        ]);
        // Strategic: the sidecar joins nginx (containers merge by name) instead of replacing it.
        s.ok(&[
            "patch", "deployment", "web", "-n", "shop", "--type=strategic", "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"envoy:1.31"}]}}}}"#,
        ]);
        let deployment = s.json(&["get", "deployment", "web", "-n", "shop"]);
        assert_eq!(deployment["metadata"]["labels"]["patched"], "merge");
        assert_eq!(deployment["spec"]["replicas"], 4);
        let names: Vec<&str> = deployment["spec"]["template"]["spec"]["containers"]
            .as_array()
            .expect("containers")
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(names, ["sidecar", "nginx"]);

        let invalid = s.fails(&[
            "patch",
            "deployment",
            "web",
            "-n",
            "shop",
            "--type=merge",
            "-p",
            r#"{"spec":{"replicas":-1}}"#,
        ]);
        assert!(invalid.contains("spec.replicas"), "{invalid}");
    });
}

#[test]
fn edit_through_kube_editor_patches_the_object() {
    with_each_kubectl(|s| {
        with_deployment(s);
        let output = Command::new(&s.kubectl)
            .arg("--kubeconfig")
            .arg(s.server.kubeconfig())
            .args(["edit", "deployment", "web", "-n", "shop"])
            .env("HOME", s.dir.path())
            .env("KUBE_EDITOR", "sed -i s/value:\\ blue/value:\\ green/")
            .output()
            .expect("kubectl edit runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            "deployment.apps/web edited"
        );
        let env = s.ok(&[
            "get",
            "deployment",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].env[0].value}",
        ]);
        assert_eq!(env, "green");
    });
}

#[test]
fn scale_sets_replicas_through_the_scale_subresource() {
    with_each_kubectl(|s| {
        with_deployment(s);
        assert_eq!(
            s.ok(&["scale", "deployment", "web", "-n", "shop", "--replicas=5"])
                .trim(),
            "deployment.apps/web scaled"
        );
        let replicas = s.ok(&[
            "get",
            "deployment",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.replicas}",
        ]);
        assert_eq!(replicas, "5");
        let stale = s.fails(&[
            "scale",
            "deployment",
            "web",
            "-n",
            "shop",
            "--replicas=6",
            "--current-replicas=2",
        ]);
        assert!(
            stale.contains("Expected replicas to be 2, was 5"),
            "{stale}"
        );
        let unchanged = s.ok(&[
            "get",
            "deployment",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.replicas}",
        ]);
        assert_eq!(unchanged, "5");
    });
}

#[test]
fn delete_by_name_by_label_and_with_orphan_cascade() {
    with_each_kubectl(|s| {
        with_shop(s);
        // A pod no node runs is deleted at once, so kubectl's wait for it ends.
        assert_eq!(
            s.ok(&["delete", "pod", "db-1", "-n", "shop", "--timeout=60s"])
                .trim(),
            r#"pod "db-1" deleted"#
        );
        let deleted = s.ok(&[
            "delete",
            "pods",
            "-n",
            "shop",
            "-l",
            "app=web",
            "--timeout=60s",
        ]);
        assert_eq!(
            deleted.lines().collect::<Vec<_>>(),
            [r#"pod "web-1" deleted"#, r#"pod "web-2" deleted"#]
        );
        let left = s.ok(&["get", "pods", "-n", "shop", "-o", "name"]);
        assert_eq!(left, "");

        // Orphaning is the garbage collector's job (the controller manager's): the API server
        // marks the deployment deleted and holds it with the `orphan` finalizer until then, as
        // Kubernetes does. This server runs alone, so kubectl is told not to wait.
        let deployment = s.file("deployment.yaml", DEPLOYMENT);
        s.ok(&["create", "-f", &deployment]);
        let orphaned = s.ok(&[
            "delete",
            "deployment",
            "web",
            "-n",
            "shop",
            "--cascade=orphan",
            "--wait=false",
        ]);
        assert_eq!(orphaned.trim(), r#"deployment.apps "web" deleted"#);
        let held = s.json(&["get", "deployment", "web", "-n", "shop"]);
        assert_eq!(
            held["metadata"]["finalizers"],
            serde_json::json!(["orphan"])
        );
        assert!(held["metadata"]["deletionTimestamp"].is_string(), "{held}");
    });
}

#[test]
fn typed_create_commands_send_protobuf_and_create_the_objects() {
    with_each_kubectl(|s| {
        s.ok(&["create", "namespace", "shop"]);
        s.ok(&[
            "create",
            "deployment",
            "web",
            "-n",
            "shop",
            "--image=nginx:1.27",
            "--replicas=2",
        ]);
        s.ok(&[
            "create",
            "configmap",
            "settings",
            "-n",
            "shop",
            "--from-literal=mode=blue",
        ]);
        s.ok(&[
            "create",
            "secret",
            "generic",
            "token",
            "-n",
            "shop",
            "--from-literal=key=s3cret",
        ]);
        s.ok(&[
            "create",
            "service",
            "clusterip",
            "web",
            "-n",
            "shop",
            "--tcp=80:8080",
        ]);
        let deployment = s.json(&["get", "deployment", "web", "-n", "shop"]);
        assert_eq!(deployment["spec"]["replicas"], 2);
        assert_eq!(
            deployment["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:1.27"
        );
        let cm = s.json(&["get", "configmap", "settings", "-n", "shop"]);
        assert_eq!(cm["data"]["mode"], "blue");
        let secret = s.json(&["get", "secret", "token", "-n", "shop"]);
        assert_eq!(secret["data"]["key"], "czNjcmV0");
        let svc = s.json(&["get", "service", "web", "-n", "shop"]);
        assert_eq!(svc["spec"]["ports"][0]["port"], 80);
        assert_eq!(svc["spec"]["ports"][0]["targetPort"], 8080);
        assert!(
            svc["spec"]["clusterIP"]
                .as_str()
                .is_some_and(|ip| ip.starts_with("10."))
        );
    });
}

#[test]
fn discovery_commands_list_the_served_kinds() {
    with_each_kubectl(|s| {
        let resources = s.ok(&["api-resources"]);
        let row = |name: &str| {
            resources
                .lines()
                .find(|line| line.split_whitespace().next() == Some(name))
                .map(|line| line.split_whitespace().collect::<Vec<_>>())
                .unwrap_or_else(|| panic!("no {name} row:\n{resources}"))
        };
        assert_eq!(
            row("deployments"),
            ["deployments", "deploy", "apps/v1", "true", "Deployment"]
        );
        assert_eq!(row("nodes"), ["nodes", "no", "v1", "false", "Node"]);
        let versions = s.ok(&["api-versions"]);
        for expected in ["apps/v1", "batch/v1", "v1", "rbac.authorization.k8s.io/v1"] {
            assert!(
                versions.lines().any(|l| l == expected),
                "{expected}:\n{versions}"
            );
        }
        let explained = s.ok(&["explain", "pod.spec.containers"]);
        assert!(
            explained.contains("KIND:       Pod") || explained.contains("KIND:     Pod"),
            "{explained}"
        );
        assert!(
            explained.contains("containers <[]Container>"),
            "{explained}"
        );
        assert!(explained.contains("image\t<string>"), "{explained}");
    });
}
