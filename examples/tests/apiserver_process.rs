//! `orchestra apiserver` as a user starts it: the real binary on a temp data dir, driven by the
//! real `kubectl` (1.32 on PATH and 1.33 beside it) through the kubeconfig it writes.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use orchestra_apiserver::kubeconfig::Kubeconfig;
use orchestra_apiserver::pki::Pki;
use support::{ApiServer, STARTUP, kubectl, kubectls, stdout_of, wait_with_timeout};

#[test]
fn kubectl_reaches_the_server_through_the_written_kubeconfig() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ApiServer::start(dir.path());
    for kubectl_bin in kubectls() {
        let namespaces = stdout_of(&kubectl(
            &kubectl_bin,
            &server.kubeconfig(),
            &["get", "namespaces", "-o", "name"],
        ));
        let mut names: Vec<&str> = namespaces.lines().collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "namespace/default",
                "namespace/kube-node-lease",
                "namespace/kube-public",
                "namespace/kube-system"
            ],
            "{}",
            kubectl_bin.display()
        );
        let version = stdout_of(&kubectl(
            &kubectl_bin,
            &server.kubeconfig(),
            &["version", "-o", "json"],
        ));
        let version: serde_json::Value = serde_json::from_str(&version).expect("version JSON");
        assert_eq!(version["serverVersion"]["major"], "1");
        assert_eq!(version["serverVersion"]["minor"], "33");
    }
    assert!(
        server.address.starts_with("127.0.0.1:"),
        "{}",
        server.address
    );
}

#[test]
fn the_cluster_starts_with_the_kubernetes_service_and_system_priority_classes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ApiServer::start(dir.path());
    let kubectl_bin = &kubectls()[0];
    let get = |args: &[&str]| stdout_of(&kubectl(kubectl_bin, &server.kubeconfig(), args));
    assert_eq!(
        get(&[
            "get",
            "service",
            "kubernetes",
            "-o",
            "jsonpath={.spec.clusterIP} {.spec.ports[0].port}"
        ]),
        "10.96.0.1 443"
    );
    // Kubernetes refuses loopback endpoints: a server on 127.0.0.1 advertises none.
    let endpoints = kubectl(
        kubectl_bin,
        &server.kubeconfig(),
        &["get", "endpoints", "kubernetes"],
    );
    assert!(!endpoints.status.success());
    let stderr = String::from_utf8_lossy(&endpoints.stderr);
    assert!(
        stderr.contains(r#"endpoints "kubernetes" not found"#),
        "{stderr}"
    );
    assert_eq!(
        get(&[
            "get",
            "priorityclasses",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}={.value} {end}"
        ]),
        "system-cluster-critical=2000000000 system-node-critical=2000001000 "
    );
}

#[test]
fn requests_without_a_trusted_client_certificate_are_unauthorized() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ApiServer::start(dir.path());
    let admin = Kubeconfig::load(&server.kubeconfig()).expect("kubeconfig");

    // Without a client certificate (a token this server does not know stands in for "no
    // credentials": with none at all kubectl would prompt for a password).
    let mut anonymous = admin.clone();
    for user in &mut anonymous.users {
        user.user = Default::default();
        user.user.token = Some("not-a-token-this-server-knows".to_owned());
    }
    let anonymous_path = dir.path().join("anonymous.kubeconfig");
    std::fs::write(&anonymous_path, anonymous.to_yaml().expect("yaml")).expect("write");

    let foreign_dir = tempfile::tempdir().expect("temp dir");
    let foreign = Pki::load_or_create(foreign_dir.path(), ([127, 0, 0, 1], 0).into(), &[])
        .expect("a second, unrelated PKI");
    let mut untrusted = admin.clone();
    for user in &mut untrusted.users {
        user.user.client_certificate_data = Some(base64_of(foreign.admin().cert_pem()));
        user.user.client_key_data = Some(base64_of(foreign.admin().key_pem()));
        user.user.client_certificate = None;
        user.user.client_key = None;
    }
    let untrusted_path = dir.path().join("untrusted.kubeconfig");
    std::fs::write(&untrusted_path, untrusted.to_yaml().expect("yaml")).expect("write");

    let kubectl_bin = &kubectls()[0];
    for kubeconfig in [&anonymous_path, &untrusted_path] {
        let output = kubectl(kubectl_bin, kubeconfig, &["get", "pods"]);
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("error: You must be logged in to the server"),
            "{}: {stderr}",
            kubeconfig.display()
        );
    }
    // Health stays readable without credentials, as system:public-info-viewer allows.
    let ready = kubectl(kubectl_bin, &anonymous_path, &["get", "--raw", "/readyz"]);
    assert_eq!(stdout_of(&ready), "ok");
}

/// The kubeconfig's `*-data` fields hold base64 of the PEM text.
fn base64_of(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[test]
fn a_second_server_on_a_locked_data_dir_or_a_taken_port_fails_with_one_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ApiServer::start(dir.path());

    let locked = ApiServer::try_start(dir.path(), "127.0.0.1:0")
        .err()
        .expect("a second server on the same data dir fails");
    let other_dir = tempfile::tempdir().expect("temp dir");
    let taken = ApiServer::try_start(other_dir.path(), &server.address)
        .err()
        .expect("a second server on the same port fails");
    for (what, error) in [("locked", &locked), ("taken", &taken)] {
        assert!(
            error.starts_with("exit Some(1): orchestra: "),
            "{what}: {error}"
        );
        assert_eq!(error.trim_end().lines().count(), 1, "{what}: {error}");
    }
    assert!(locked.contains("in use"), "{locked}");
    assert!(taken.contains(&server.address), "{taken}");
}

#[test]
fn sigterm_ends_watches_and_a_restart_keeps_the_state_and_the_pki() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ApiServer::start(dir.path());
    let kubectl_bin = &kubectls()[0];
    let kubeconfig = server.kubeconfig();
    let manifest = dir.path().join("kept.yaml");
    std::fs::write(
        &manifest,
        r#"{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kept"}}"#,
    )
    .expect("write the manifest");
    let created = stdout_of(&kubectl(
        kubectl_bin,
        &kubeconfig,
        &[
            "create",
            "--raw",
            "/api/v1/namespaces",
            "-f",
            manifest.to_str().expect("UTF-8 path"),
        ],
    ));
    assert!(created.contains(r#""name":"kept""#), "{created}");
    let ca_before = Kubeconfig::load(&kubeconfig).expect("kubeconfig").clusters[0]
        .cluster
        .certificate_authority_data
        .clone();

    let mut watch = Command::new(kubectl_bin)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["get", "namespaces", "--watch", "-o", "name"])
        .env("HOME", dir.path())
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
    // The watch is established once the initial list has been printed.
    let first = rx.recv_timeout(STARTUP).expect("the watch lists first");
    assert!(first.starts_with("namespace/"), "{first}");

    let status = server.terminate();
    assert!(
        status.success(),
        "the server exits cleanly on SIGTERM: {status:?}"
    );
    // kubectl's watch ends because the server closed it.
    wait_with_timeout(&mut watch, STARTUP);

    let restarted = ApiServer::start(dir.path());
    let namespaces = stdout_of(&kubectl(
        kubectl_bin,
        &restarted.kubeconfig(),
        &["get", "namespace", "kept", "-o", "name"],
    ));
    assert_eq!(namespaces.trim(), "namespace/kept");
    let ca_after = Kubeconfig::load(&restarted.kubeconfig())
        .expect("kubeconfig")
        .clusters[0]
        .cluster
        .certificate_authority_data
        .clone();
    assert_eq!(ca_before, ca_after, "the CA is reused across restarts");
}

#[test]
fn metrics_count_requests_time_the_store_and_track_open_watches() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ApiServer::start(dir.path());
    let kubectl_bin = &kubectls()[0];
    let kubeconfig = server.kubeconfig();
    stdout_of(&kubectl(kubectl_bin, &kubeconfig, &["get", "namespaces"]));
    let mut watch = Command::new(kubectl_bin)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["get", "namespaces", "--watch"])
        .env("HOME", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl watch starts");
    let open_watch = r#"apiserver_longrunning_requests{verb="watch",group="",version="v1",resource="namespaces",subresource="",scope="cluster"} 1"#;
    let deadline = std::time::Instant::now() + STARTUP;
    let metrics = loop {
        let metrics = stdout_of(&kubectl(
            kubectl_bin,
            &kubeconfig,
            &["get", "--raw", "/metrics"],
        ));
        if metrics.lines().any(|line| line == open_watch) {
            break metrics;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no open watch in the metrics:\n{metrics}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = watch.kill();
    let _ = watch.wait();
    let listed = metrics
        .lines()
        .find(|line| {
            line.starts_with(r#"apiserver_request_total{verb="list",group="",version="v1",resource="namespaces",subresource="",scope="cluster",code="200"}"#)
        })
        .unwrap_or_else(|| panic!("no list count:\n{metrics}"));
    let count: f64 = listed
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a count");
    assert!(count >= 1.0, "{listed}");
    assert!(
        metrics.contains(
            r#"etcd_request_duration_seconds_count{operation="create",type="namespaces"}"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"apiserver_request_duration_seconds_bucket{le="#)
            || metrics.contains("apiserver_request_duration_seconds_bucket{verb="),
        "{metrics}"
    );
}
