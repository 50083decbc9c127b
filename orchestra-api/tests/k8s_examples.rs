//! Every manifest of the Kubernetes documentation (`../shared/k8s-examples`, listed in its
//! INDEX.tsv) parses into its typed struct and serializes back to the same JSON value, and every
//! served object validates after defaulting, except the ones Kubernetes v1.33 itself rejects.

mod example_catalog;

use std::path::PathBuf;

use orchestra_api::kinds;
use orchestra_api::object::Object;
use orchestra_api::{DynamicObject, defaulting, validation};
use serde::Deserialize;
use serde_json::Value;

use example_catalog::{INVALID_YAML, Rejection, rejection, unserved_reason};

/// One YAML document of one example file.
struct Document {
    file: String,
    index: usize,
    value: Value,
}

impl Document {
    fn api_version(&self) -> &str {
        self.value["apiVersion"].as_str().unwrap_or("")
    }
    fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or("")
    }
    fn label(&self) -> String {
        format!(
            "{}#{} ({}/{})",
            self.file,
            self.index,
            self.api_version(),
            self.kind()
        )
    }
}

fn examples_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ORCHESTRA_K8S_EXAMPLES") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/k8s-examples")
}

/// Every document of every file in INDEX.tsv, with `List` objects flattened into their items,
/// and the files that fail to parse as YAML with the parser's error.
fn documents() -> Vec<Document> {
    let (docs, invalid) = read_documents();
    let invalid_files: Vec<&str> = invalid.iter().map(|(file, _)| file.as_str()).collect();
    let expected: Vec<&str> = INVALID_YAML.iter().map(|(file, _)| *file).collect();
    assert_eq!(invalid_files, expected, "YAML errors: {invalid:?}");
    docs
}

fn read_documents() -> (Vec<Document>, Vec<(String, String)>) {
    let dir = examples_dir();
    let index = std::fs::read_to_string(dir.join("INDEX.tsv")).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; the Kubernetes example manifests are expected in shared/ beside \
             the checkout (or set ORCHESTRA_K8S_EXAMPLES)",
            dir.join("INDEX.tsv").display()
        )
    });
    let mut docs = Vec::new();
    let mut invalid = Vec::new();
    'files: for line in index.lines().filter(|l| !l.trim().is_empty()) {
        let file = line.split('\t').next().unwrap_or(line);
        let text = std::fs::read_to_string(dir.join(file))
            .unwrap_or_else(|e| panic!("cannot read example {file}: {e}"));
        let mut file_docs = Vec::new();
        for (index, de) in serde_yaml_ng::Deserializer::from_str(&text).enumerate() {
            let value = match Value::deserialize(de) {
                Ok(value) => value,
                Err(e) => {
                    invalid.push((file.to_owned(), e.to_string()));
                    continue 'files;
                }
            };
            if value.is_null() {
                continue;
            }
            if value["kind"] == "List" {
                for item in value["items"].as_array().cloned().unwrap_or_default() {
                    file_docs.push(Document {
                        file: file.to_owned(),
                        index,
                        value: item,
                    });
                }
            } else {
                file_docs.push(Document {
                    file: file.to_owned(),
                    index,
                    value,
                });
            }
        }
        docs.append(&mut file_docs);
    }
    (docs, invalid)
}

/// Fields Kubernetes itself adds when it serializes an object: an empty `metadata`, and the
/// `apiVersion`/`kind` of the PersistentVolumeClaims embedded in a StatefulSet.
fn added_by_kubernetes(path: &str, key: &str) -> bool {
    (path.is_empty() && key == "metadata")
        || (path.starts_with(".spec.volumeClaimTemplates[") && matches!(key, "apiVersion" | "kind"))
}

/// Where `round` differs from `original`, allowing what Kubernetes itself changes on the way
/// through: `null` fields disappear, numbers in quantity fields come back as strings, and the
/// fields of [`added_by_kubernetes`] appear.
fn first_difference(original: &Value, round: &Value, path: &str) -> Option<String> {
    match (original, round) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let child = format!("{path}.{key}");
                match b.get(key) {
                    None if value.is_null() => {}
                    None => return Some(format!("{child}: dropped")),
                    Some(other) => {
                        if let Some(diff) = first_difference(value, other, &child) {
                            return Some(diff);
                        }
                    }
                }
            }
            b.keys()
                .find(|key| !a.contains_key(*key) && !added_by_kubernetes(path, key))
                .map(|key| format!("{path}.{key}: invented"))
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Some(format!("{path}: {} items became {}", a.len(), b.len()));
            }
            a.iter()
                .zip(b)
                .enumerate()
                .find_map(|(i, (x, y))| first_difference(x, y, &format!("{path}[{i}]")))
        }
        (Value::Number(n), Value::String(s)) if n.to_string() == *s => None,
        (a, b) if a == b => None,
        (a, b) => Some(format!("{path}: {a} became {b}")),
    }
}

/// Decodes a document into its typed struct (or `DynamicObject` for kinds without one).
fn decode(doc: &Document) -> Result<Box<dyn Object>, serde_json::Error> {
    use orchestra_api::object::ObjectCodec;
    match kinds::lookup_kind(doc.api_version(), doc.kind()) {
        Some(kind) => kind.codec.decode_value(doc.value.clone()),
        None if (doc.api_version(), doc.kind())
            == ("autoscaling/v1", "HorizontalPodAutoscaler") =>
        {
            let hpa: k8s_openapi::api::autoscaling::v1::HorizontalPodAutoscaler =
                serde_json::from_value(doc.value.clone())?;
            Ok(Box::new(DynamicObject {
                ..serde_json::from_value(serde_json::to_value(hpa)?)?
            }))
        }
        None => orchestra_api::object::DynamicCodec.decode_value(doc.value.clone()),
    }
}

#[test]
fn every_example_round_trips_through_its_typed_struct_without_dropping_or_inventing_fields() {
    let docs = documents();
    assert!(
        docs.len() > 300,
        "expected the whole example set, found {} documents",
        docs.len()
    );
    let mut failures = Vec::new();
    let mut typed = 0;
    for doc in &docs {
        let served = kinds::lookup_kind(doc.api_version(), doc.kind()).is_some();
        let outcome = decode(doc).and_then(|obj| obj.to_value());
        match (outcome, rejection(&doc.file)) {
            (Err(e), Some(Rejection::Decode(expected))) if e.to_string().contains(expected) => {}
            (Err(e), _) => failures.push(format!("{}: does not parse: {e}", doc.label())),
            (Ok(round), expected) => {
                typed += usize::from(served);
                let diff = first_difference(&doc.value, &round, "");
                let expected_diff = match expected {
                    Some(Rejection::UnknownField(path)) => Some(format!("{path}: dropped")),
                    _ => None,
                };
                if diff != expected_diff {
                    failures.push(format!(
                        "{}: {diff:?}, expected {expected_diff:?}",
                        doc.label()
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} documents changed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(typed > 300, "only {typed} documents were of served kinds");
}

#[test]
fn every_served_example_validates_after_defaulting_except_those_kubernetes_rejects() {
    let mut unexpected = Vec::new();
    let mut checked = 0;
    for doc in documents() {
        let how = rejection(&doc.file);
        if matches!(how, Some(Rejection::Decode(_) | Rejection::UnknownField(_))) {
            continue;
        }
        let rejected = how == Some(Rejection::Validation);
        if kinds::lookup_kind(doc.api_version(), doc.kind()).is_none() {
            assert!(
                rejected || unserved_reason(doc.api_version(), doc.kind()).is_some(),
                "{} is of a kind Orchestra does not serve and no reason is listed",
                doc.label()
            );
            continue;
        }
        let Ok(mut obj) = decode(&doc) else {
            unexpected.push(format!("{}: does not parse", doc.label()));
            continue;
        };
        defaulting::default_object(obj.as_mut());
        let errors = validation::validate_create(obj.as_ref());
        match (errors.is_empty(), rejected) {
            (true, false) | (false, true) => checked += 1,
            (false, false) => unexpected.push(format!(
                "{}: {}",
                doc.label(),
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
            (true, true) => unexpected.push(format!(
                "{}: listed as rejected by Kubernetes but validates",
                doc.label()
            )),
        }
    }
    assert!(unexpected.is_empty(), "{}", unexpected.join("\n"));
    assert!(checked > 300, "only {checked} documents were checked");
}
