//! `kubectl apply -f` of every workload, service, configuration, storage, policy and RBAC
//! manifest of the Kubernetes documentation (`../shared/k8s-examples`), with the real kubectl
//! 1.32 and 1.33 against the `orchestra apiserver` binary, as a user would run it:
//!
//! 1. client-side apply: every object is `created`, carries the
//!    `kubectl.kubernetes.io/last-applied-configuration` annotation and the managed fields of
//!    `kubectl-client-side-apply`;
//! 2. the same files with `--server-side` (kubectl's default field manager): every object
//!    `serverside-applied` with the same uid, the annotation kept in step, `kubectl` an `Apply`
//!    manager — except where Kubernetes itself answers with a conflict, which the suite asserts
//!    before applying those files with `--force-conflicts`;
//! 3. a modified copy (a new label, one more replica, one more data key), client-side: every
//!    object `configured`, patched in place (same uid), the change and the new annotation
//!    visible, the changed fields owned by `kubectl-client-side-apply`;
//! 4. the modified copy again: `unchanged`, except where kubectl always finds something to patch
//!    in Kubernetes too.
//!
//! What Kubernetes answers differently from the plain case is listed, with the reasons, in
//! [`kubernetes`]; how the files are dealt into rounds of kubectl invocations in
//! [`manifests`]. Files Kubernetes v1.33 itself refuses, and kinds it does not serve, are
//! skipped with the reasons of orchestra-api's example catalog.

mod support;

#[path = "../../orchestra-api/tests/example_catalog/mod.rs"]
mod example_catalog;
#[path = "kubectl_apply_examples/kubernetes.rs"]
mod kubernetes;
#[path = "kubectl_apply_examples/manifests.rs"]
mod manifests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::kubectls;
use support::session::Session;

use manifests::{ApplySet, Manifest, Object, ObjectKey, Placement};

/// Namespaces every cluster starts with.
const BUILT_IN_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// The label the modified copies add.
const REAPPLIED_LABEL: &str = "orchestra.example/reapplied";

/// The data key the modified copies add to ConfigMaps and Secrets that are not immutable.
const REAPPLIED_KEY: &str = "reapplied";

/// The annotation of client-side apply.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// The field manager of client-side `kubectl apply`.
const CLIENT_SIDE_MANAGER: &str = "kubectl-client-side-apply";
/// kubectl's default field manager for `--server-side`.
const SERVER_SIDE_MANAGER: &str = "kubectl";

/// The copy of a live object's last-applied configuration with the suite's change: a new label,
/// one more replica, one more data key.
fn modified_copy(last_applied: &Value) -> Value {
    let mut copy = last_applied.clone();
    let metadata = copy["metadata"]
        .as_object_mut()
        .expect("the configuration has metadata");
    let labels = metadata.entry("labels").or_insert_with(|| json!({}));
    labels[REAPPLIED_LABEL] = json!("true");
    if let Some(replicas) = copy.pointer("/spec/replicas").and_then(Value::as_i64) {
        copy["spec"]["replicas"] = json!(replicas + 1);
    }
    let immutable = copy["immutable"] == true;
    let data_value = match copy["kind"].as_str() {
        Some("ConfigMap") => Some("true"),
        Some("Secret") => Some("dHJ1ZQ=="), // base64 of "true"
        _ => None,
    };
    if let (Some(value), false) = (data_value, immutable) {
        let object = copy.as_object_mut().expect("an object");
        let data = object.entry("data").or_insert_with(|| json!({}));
        data[REAPPLIED_KEY] = json!(value);
    }
    copy
}

/// Removes what kubectl leaves out of or adds to an annotation without meaning: an empty
/// `metadata.annotations`.
fn normalized_configuration(mut configuration: Value) -> Value {
    if let Some(metadata) = configuration["metadata"].as_object_mut()
        && metadata
            .get("annotations")
            .and_then(Value::as_object)
            .is_some_and(|a| a.is_empty())
    {
        metadata.remove("annotations");
    }
    configuration
}

fn last_applied(live: &Value) -> Option<Value> {
    let text = live
        .pointer("/metadata/annotations")?
        .get(LAST_APPLIED)?
        .as_str()?;
    serde_json::from_str(text)
        .ok()
        .map(normalized_configuration)
}

/// The managedFields entry of `manager` with `operation`.
fn managed_entry<'v>(live: &'v Value, manager: &str, operation: &str) -> Option<&'v Value> {
    live.pointer("/metadata/managedFields")?
        .as_array()?
        .iter()
        .find(|e| e["manager"] == manager && e["operation"] == operation)
}

/// Whether a managedFields entry owns the field at `path` (`["f:spec", "f:replicas"]`).
fn owns(entry: &Value, path: &[&str]) -> bool {
    path.iter()
        .try_fold(&entry["fieldsV1"], |fields, key| fields.get(*key))
        .is_some()
}

/// The paths of `manifests`, for `-f`.
fn paths(manifests: &[&Manifest]) -> Vec<String> {
    manifests
        .iter()
        .map(|m| m.path.to_str().expect("UTF-8 path").to_owned())
        .collect()
}

/// `<object> <verb>` for each object, as kubectl prints it.
fn printed<'a>(objects: impl IntoIterator<Item = &'a Object>, verb: &str) -> Vec<String> {
    objects
        .into_iter()
        .map(|o| format!("{} {verb}", o.printed()))
        .collect()
}

/// The suite run with one kubectl binary against its own server, collecting every deviation.
struct Suite {
    session: Session,
    version: String,
    failures: Vec<String>,
    /// Each object's uid when client-side apply created it.
    uids: BTreeMap<ObjectKey, String>,
    /// Each object's last-applied configuration after client-side apply.
    configurations: BTreeMap<ObjectKey, Value>,
    /// The modified copy of each object.
    modified: BTreeMap<ObjectKey, Value>,
    invocations: usize,
    /// Time spent in kubectl, by command.
    timings: BTreeMap<String, Duration>,
}

impl Suite {
    fn run(&mut self, args: &[String]) -> Output {
        self.invocations += 1;
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let started = Instant::now();
        let output = self.session.run(&args);
        let command = args
            .iter()
            .take_while(|a| !a.starts_with("-n") && !a.starts_with("-f"));
        let command = command.copied().collect::<Vec<_>>().join(" ");
        *self.timings.entry(command).or_default() += started.elapsed();
        output
    }

    fn fail(&mut self, what: String) {
        self.failures
            .push(format!("[kubectl {}] {what}", self.version));
    }

    /// Runs `kubectl apply <args>` on `files` into the set's namespace and checks that it
    /// printed exactly `expected`, and, on stderr, each of `errors` (failing exactly when there
    /// are errors to expect).
    fn apply(
        &mut self,
        set: &ApplySet,
        args: &[&str],
        files: &[String],
        expected: Vec<String>,
        errors: &[String],
    ) {
        let output = self.run(&set.command(&[&["apply"], args].concat(), files));
        let printed: Vec<String> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        let stderr = String::from_utf8_lossy(&output.stderr);
        let missing_errors: Vec<&String> = errors
            .iter()
            .filter(|e| !stderr.contains(e.as_str()))
            .collect();
        if output.status.success() == errors.is_empty()
            && printed == expected
            && missing_errors.is_empty()
        {
            return;
        }
        let missing: Vec<_> = expected.iter().filter(|l| !printed.contains(l)).collect();
        let unexpected: Vec<_> = printed.iter().filter(|l| !expected.contains(l)).collect();
        self.fail(format!(
            "apply {} into {}: {} lines expected; missing {missing:?}, unexpected \
             {unexpected:?}{}; errors expected but not printed: {missing_errors:?}; stderr: {}",
            args.join(" "),
            if set.into_round_namespace {
                set.round_namespace
            } else {
                "their namespaces"
            },
            expected.len(),
            if missing.is_empty() && unexpected.is_empty() && printed != expected {
                " (order differs)"
            } else {
                ""
            },
            stderr.trim()
        ));
    }

    /// What the server holds for the set's objects, with managed fields.
    fn live(&mut self, set: &ApplySet) -> BTreeMap<ObjectKey, Value> {
        let output = self.run(&set.command(
            &["get", "-o", "json", "--show-managed-fields"],
            &set.files(),
        ));
        if !output.status.success() {
            self.fail(format!(
                "get of {:?}: {}",
                set.manifests.iter().map(|m| &m.file).collect::<Vec<_>>(),
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        let printed: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
        let items = match printed["kind"].as_str() {
            Some("List") => printed["items"].as_array().cloned().unwrap_or_default(),
            Some(_) => vec![printed],
            None => Vec::new(),
        };
        items
            .into_iter()
            .map(|item| {
                let key = (
                    item["kind"].as_str().unwrap_or_default().to_owned(),
                    item.pointer("/metadata/namespace")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    item.pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                );
                (key, item)
            })
            .collect()
    }

    /// Each object of the set as the server holds it, or a failure naming the missing ones.
    fn each_live<'s>(
        &mut self,
        set: &ApplySet<'s>,
        step: &str,
    ) -> Vec<(&'s Object, ObjectKey, Value)> {
        let mut live = self.live(set);
        let mut found = Vec::new();
        for object in set.objects() {
            let key = set.key(object);
            match live.remove(&key) {
                Some(value) => found.push((object, key, value)),
                None => self.fail(format!("{step}: {} is not on the server", object.printed())),
            }
        }
        found
    }

    /// Files Kubernetes refuses on a cluster like this one: kubectl reports each error and
    /// nothing is stored.
    fn apply_refused(&mut self, set: &ApplySet, errors: &[String]) {
        self.apply(set, &[], &set.files(), Vec::new(), errors);
        let output = self.run(&set.command(&["get", "all", "-o", "name"], &[]));
        let stored = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() || !stored.trim().is_empty() {
            self.fail(format!(
                "refused files left objects behind: {stored}{}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }

    /// Step 1: client-side apply creates every object.
    fn apply_client_side(&mut self, set: &ApplySet) {
        let expected = printed(set.objects(), "created");
        self.apply(set, &[], &set.files(), expected, &[]);
        for (object, key, live) in self.each_live(set, "client-side apply") {
            let what = format!("client-side apply of {}", object.printed());
            if let Some(uid) = live.pointer("/metadata/uid").and_then(Value::as_str) {
                self.uids.insert(key.clone(), uid.to_owned());
            } else {
                self.fail(format!("{what}: no uid"));
            }
            match last_applied(&live) {
                Some(configuration) => {
                    if configuration.pointer("/metadata/name") != Some(&json!(object.name)) {
                        self.fail(format!("{what}: last-applied {configuration}"));
                    }
                    self.configurations.insert(key, configuration);
                }
                None => self.fail(format!("{what}: no last-applied annotation")),
            }
            if managed_entry(&live, CLIENT_SIDE_MANAGER, "Update").is_none() {
                self.fail(format!(
                    "{what}: no managedFields entry of {CLIENT_SIDE_MANAGER}: {}",
                    live["metadata"]["managedFields"]
                ));
            }
        }
    }

    /// Step 2: server-side apply of the same files takes the objects over; where Kubernetes
    /// answers with a conflict, the conflict is asserted and the files are applied again with
    /// `--force-conflicts`.
    fn apply_server_side(&mut self, set: &ApplySet) {
        let conflicts =
            |m: &Manifest, o: &Object| kubernetes::server_side_conflicts(&m.file, &o.printed());
        let manifests: Vec<&Manifest> = set.manifests.to_vec();
        if !manifests.is_empty() {
            let mut expected = Vec::new();
            let mut errors = Vec::new();
            for manifest in &manifests {
                for object in &manifest.objects {
                    match conflicts(manifest, object) {
                        Some(fields) => errors.extend(fields.iter().map(|f| f.to_string())),
                        None => expected.push(format!("{} serverside-applied", object.printed())),
                    }
                }
            }
            self.apply(
                set,
                &["--server-side"],
                &paths(&manifests),
                expected,
                &errors,
            );
        }
        let forced: Vec<&Manifest> = set
            .manifests
            .iter()
            .copied()
            .filter(|m| m.objects.iter().any(|o| conflicts(m, o).is_some()))
            .collect();
        if !forced.is_empty() {
            let expected = printed(forced.iter().flat_map(|m| &m.objects), "serverside-applied");
            let args = ["--server-side", "--force-conflicts"];
            self.apply(set, &args, &paths(&forced), expected, &[]);
        }
        for (object, key, live) in self.each_live(set, "server-side apply") {
            let what = format!("server-side apply of {}", object.printed());
            self.check_uid(&what, &key, &live);
            if last_applied(&live).as_ref() != self.configurations.get(&key) {
                self.fail(format!(
                    "{what}: the last-applied annotation became {:?}, was {:?}",
                    last_applied(&live),
                    self.configurations.get(&key)
                ));
            }
            match managed_entry(&live, SERVER_SIDE_MANAGER, "Apply") {
                Some(entry) if entry["apiVersion"] == object.kind.api_version() => {}
                _ => self.fail(format!(
                    "{what}: no Apply entry of {SERVER_SIDE_MANAGER} for {}: {}",
                    object.kind.api_version(),
                    live["metadata"]["managedFields"]
                )),
            }
        }
    }

    /// Writes the modified copies of the set's objects as a YAML stream of JSON documents.
    /// Answers the file with its objects, or `None` when there is nothing to write.
    fn write_modified<'s>(
        &mut self,
        set: &ApplySet<'s>,
        name: &str,
    ) -> Option<(String, Vec<(&'s Manifest, &'s Object)>)> {
        let mut documents = Vec::new();
        let mut objects = Vec::new();
        for (manifest, object) in set.entries() {
            let key = set.key(object);
            let Some(configuration) = self.configurations.get(&key) else {
                continue; // already a failure of step 1
            };
            let copy = modified_copy(configuration);
            // `---` first: kubectl reads a file that starts with `{` as one JSON object.
            let json = serde_json::to_string_pretty(&copy).expect("JSON");
            documents.push(format!("---\n{json}\n"));
            self.modified.insert(key, copy);
            objects.push((manifest, object));
        }
        if documents.is_empty() {
            return None;
        }
        let path = self
            .session
            .file(&format!("{name}.yaml"), &documents.concat());
        Some((path, objects))
    }

    /// Step 3: client-side apply of the modified copies patches the live objects.
    fn apply_modified(&mut self, set: &ApplySet, file: &(String, Vec<(&Manifest, &Object)>)) {
        let (path, objects) = file;
        let expected = printed(objects.iter().map(|(_, o)| *o), "configured");
        self.apply(set, &[], std::slice::from_ref(path), expected, &[]);
        for (object, key, live) in self.each_live(set, "apply of the modified copy") {
            let what = format!("modified copy of {}", object.printed());
            self.check_uid(&what, &key, &live);
            let Some(expected) = self.modified.get(&key).cloned() else {
                continue;
            };
            let label_pointer = format!("/metadata/labels/{}", REAPPLIED_LABEL.replace('/', "~1"));
            if live.pointer(&label_pointer) != Some(&json!("true")) {
                self.fail(format!(
                    "{what}: no {REAPPLIED_LABEL} label: {}",
                    live["metadata"]
                ));
            }
            let replicas = expected.pointer("/spec/replicas");
            if replicas.is_some() && live.pointer("/spec/replicas") != replicas {
                self.fail(format!(
                    "{what}: spec.replicas {:?}, applied {replicas:?}",
                    live.pointer("/spec/replicas")
                ));
            }
            let data = expected.pointer(&format!("/data/{REAPPLIED_KEY}"));
            if data.is_some() && live.pointer(&format!("/data/{REAPPLIED_KEY}")) != data {
                self.fail(format!("{what}: data {}, applied {data:?}", live["data"]));
            }
            if last_applied(&live) != Some(normalized_configuration(expected.clone())) {
                self.fail(format!(
                    "{what}: the last-applied annotation is {:?}",
                    last_applied(&live)
                ));
            }
            let label_path = ["f:metadata", "f:labels", &format!("f:{REAPPLIED_LABEL}")];
            let client_side = managed_entry(&live, CLIENT_SIDE_MANAGER, "Update");
            if !client_side.is_some_and(|e| owns(e, &label_path)) {
                self.fail(format!(
                    "{what}: {CLIENT_SIDE_MANAGER} does not own the new label: {}",
                    live["metadata"]["managedFields"]
                ));
            }
            let server_side = managed_entry(&live, SERVER_SIDE_MANAGER, "Apply");
            if server_side.is_none() {
                self.fail(format!(
                    "{what}: the Apply entry of {SERVER_SIDE_MANAGER} is gone"
                ));
            }
            let replicas_path = ["f:spec", "f:replicas"];
            if replicas.is_some()
                && (!client_side.is_some_and(|e| owns(e, &replicas_path))
                    || server_side.is_some_and(|e| owns(e, &replicas_path)))
            {
                self.fail(format!(
                    "{what}: spec.replicas should have moved to {CLIENT_SIDE_MANAGER}: {}",
                    live["metadata"]["managedFields"]
                ));
            }
        }
    }

    /// Step 4: the modified copies again: nothing left to patch, except where kubectl finds
    /// something in Kubernetes too.
    fn reapply_modified(&mut self, set: &ApplySet, file: &(String, Vec<(&Manifest, &Object)>)) {
        let (path, objects) = file;
        let expected = objects
            .iter()
            .map(|(manifest, object)| {
                let verb = kubernetes::reapplied(&manifest.file, &object.printed());
                format!("{} {verb}", object.printed())
            })
            .collect();
        self.apply(set, &[], std::slice::from_ref(path), expected, &[]);
    }

    fn check_uid(&mut self, what: &str, key: &ObjectKey, live: &Value) {
        let uid = live.pointer("/metadata/uid").and_then(Value::as_str);
        if let Some(created) = self.uids.get(key)
            && uid != Some(created.as_str())
        {
            self.fail(format!(
                "{what}: uid {uid:?}, created as {created} (recreated?)"
            ));
        }
    }

    /// Deletes the objects of files that a later round applies again.
    fn delete(&mut self, set: &ApplySet) {
        let output = self.run(&set.command(&["delete", "--wait=true"], &set.files()));
        let deleted = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|l| l.ends_with(" deleted"))
            .count();
        if !output.status.success() || deleted != set.objects().count() {
            self.fail(format!(
                "delete of {:?}: {}{}",
                set.manifests.iter().map(|m| &m.file).collect::<Vec<_>>(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
}

/// Applies every selected example with `kubectl`, through the four steps, round by round.
fn apply_every_example(kubectl: PathBuf) {
    let selection = manifests::select_manifests();
    let rounds = manifests::deal_into_rounds(&selection.applied);
    let session = Session::start(kubectl);
    let version = session
        .ok(&["version", "--client", "-o", "json"])
        .parse::<Value>()
        .ok()
        .and_then(|v| v.pointer("/clientVersion/gitVersion").cloned())
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut suite = Suite {
        session,
        version,
        failures: Vec::new(),
        uids: BTreeMap::new(),
        configurations: BTreeMap::new(),
        modified: BTreeMap::new(),
        invocations: 0,
        timings: BTreeMap::new(),
    };

    const REFUSED_NAMESPACE: &str = "apply-refused";
    let namespaces: BTreeSet<String> = rounds
        .iter()
        .map(|r| r.namespace.clone())
        .chain([REFUSED_NAMESPACE.to_owned()])
        .chain(selection.applied.iter().flat_map(|m| {
            m.objects.iter().filter_map(|o| match &o.placement {
                Placement::Namespace(namespace) => Some(namespace.clone()),
                _ => None,
            })
        }))
        .filter(|n| !BUILT_IN_NAMESPACES.contains(&n.as_str()))
        .collect();
    let list = json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": namespaces.iter().map(|n| json!({
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}
        })).collect::<Vec<_>>(),
    });
    let file = suite.session.file("namespaces.json", &list.to_string());
    suite.session.ok(&["create", "-f", &file]);

    let refused = ApplySet {
        round_namespace: REFUSED_NAMESPACE,
        into_round_namespace: true,
        manifests: selection.refused.iter().map(|(m, _)| m).collect(),
    };
    let errors: Vec<String> = selection
        .refused
        .iter()
        .map(|(_, e)| e.to_string())
        .collect();
    suite.apply_refused(&refused, &errors);

    for (number, round) in rounds.iter().enumerate() {
        for (set_number, set) in ApplySet::of(round, &round.manifests).iter().enumerate() {
            suite.apply_client_side(set);
            suite.apply_server_side(set);
            let modified = suite.write_modified(set, &format!("modified-{number}-{set_number}"));
            if let Some(modified) = &modified {
                suite.apply_modified(set, modified);
                suite.reapply_modified(set, modified);
            }
        }
        for set in ApplySet::of(round, &round.delete_after) {
            suite.delete(&set);
        }
    }

    let objects: usize = selection.applied.iter().map(|m| m.objects.len()).sum();
    eprintln!(
        "kubectl {}: {} files ({objects} objects) in {} rounds, {} refused as Kubernetes \
         refuses them, with {} kubectl invocations; {} files skipped:",
        suite.version,
        selection.applied.len(),
        rounds.len(),
        selection.refused.len(),
        suite.invocations,
        selection.skipped.len()
    );
    for (command, time) in &suite.timings {
        eprintln!("  kubectl {command}: {time:.1?}");
    }
    for (file, why) in &selection.skipped {
        eprintln!("  {file}: {why}");
    }
    assert!(
        suite.failures.is_empty(),
        "{} deviations:\n{}",
        suite.failures.len(),
        suite.failures.join("\n")
    );
    assert!(
        selection.applied.len() > 250 && objects > 280,
        "expected the whole example set, applied {} files ({objects} objects)",
        selection.applied.len()
    );
}

#[test]
fn every_example_applies_client_side_then_server_side_then_patches_with_kubectl_1_32() {
    apply_every_example(kubectls().swap_remove(0));
}

#[test]
fn every_example_applies_client_side_then_server_side_then_patches_with_kubectl_1_33() {
    apply_every_example(kubectls().swap_remove(1));
}
