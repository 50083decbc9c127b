//! Strategic-merge-patch metadata in the OpenAPI definitions, taken from the one source the
//! patch engine uses, [`PatchSchema`]: `x-kubernetes-patch-strategy`,
//! `x-kubernetes-patch-merge-key`, and the list types they imply
//! (`x-kubernetes-list-type`, `x-kubernetes-list-map-keys`). `kubectl` reads them to build
//! the strategic merge patches of `kubectl apply`, `edit` and `patch`.
//!
//! Each served kind's [`PatchSchema`] tree is walked alongside the kind's definition,
//! following each field's `$ref` (or its list items' `$ref`) into the definition of the
//! nested type, so a shared type such as `io.k8s.api.core.v1.Container` is annotated once,
//! whichever kind leads to it.
//!
//! A list merged by a key is published as `x-kubernetes-list-type: map` keyed by the merge
//! key, and a list of scalars merged as a set as `set`. Kubernetes keys a few map lists by
//! more than one field (container ports by `containerPort` and `protocol`); the patch metadata
//! names the merge key only, and so does the published `x-kubernetes-list-map-keys`.

use serde_json::{Value, json};

use super::definitions::{Definitions, REF_PREFIX};
use orchestra_api::patch::{PatchMeta, PatchSchema, PatchStrategy};

/// The `x-kubernetes-patch-strategy` value of `meta`, if it has one.
pub fn strategy_text(meta: PatchMeta) -> Option<&'static str> {
    match (meta.strategy, meta.retain_keys) {
        (PatchStrategy::Default, false) => None,
        (PatchStrategy::Default, true) => Some("retainKeys"),
        (PatchStrategy::Merge, false) => Some("merge"),
        (PatchStrategy::Merge, true) => Some("merge,retainKeys"),
        (PatchStrategy::Replace, false) => Some("replace"),
        (PatchStrategy::Replace, true) => Some("replace,retainKeys"),
    }
}

/// Annotates `definitions` with the patch metadata of every served kind (and of `Scale`).
pub fn annotate(definitions: &mut Definitions) {
    let roots: Vec<(String, &'static PatchSchema)> = PatchSchema::kinds()
        .filter_map(|(group, version, kind)| {
            let name = definitions.definition_of(group, version, kind)?.to_owned();
            Some((name, PatchSchema::for_kind(group, version, kind)?))
        })
        .collect();
    for (name, schema) in roots {
        annotate_definition(definitions, &name, schema);
    }
}

/// The definition a property leads to: its own `$ref`, its list items' or its map values'.
fn target_of(property: &Value) -> Option<String> {
    let reference = property
        .get("$ref")
        .or_else(|| property.get("items").and_then(|items| items.get("$ref")))
        .or_else(|| {
            property
                .get("additionalProperties")
                .and_then(|values| values.get("$ref"))
        })?;
    reference
        .as_str()?
        .strip_prefix(REF_PREFIX)
        .map(str::to_owned)
}

fn annotate_definition(definitions: &mut Definitions, name: &str, schema: &'static PatchSchema) {
    for field in schema.fields() {
        let Some(property) = definitions
            .schemas
            .get_mut(name)
            .and_then(|definition| definition.get_mut("properties"))
            .and_then(|properties| properties.get_mut(field.name()))
            .and_then(Value::as_object_mut)
        else {
            tracing::debug!(
                definition = name,
                field = field.name(),
                "patch metadata names a field the definition does not have"
            );
            continue;
        };
        let meta = field.meta();
        if let Some(strategy) = strategy_text(meta) {
            property.insert("x-kubernetes-patch-strategy".to_owned(), json!(strategy));
        }
        if let Some(key) = meta.merge_key {
            property.insert("x-kubernetes-patch-merge-key".to_owned(), json!(key));
        }
        let is_list = property.get("type").and_then(Value::as_str) == Some("array");
        if is_list && meta.strategy == PatchStrategy::Merge {
            match meta.merge_key {
                Some(key) => {
                    property.insert("x-kubernetes-list-type".to_owned(), json!("map"));
                    property.insert("x-kubernetes-list-map-keys".to_owned(), json!([key]));
                }
                None => {
                    property.insert("x-kubernetes-list-type".to_owned(), json!("set"));
                }
            }
        }
        let target = target_of(&Value::Object(property.clone()));
        if let (Some(nested), Some(target)) = (field.schema(), target) {
            annotate_definition(definitions, &target, nested);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn property<'a>(definitions: &'a Definitions, definition: &str, field: &str) -> &'a Value {
        &definitions.schemas[definition]["properties"][field]
    }

    #[test]
    fn containers_merge_by_name_and_their_ports_by_container_port() {
        let definitions = Definitions::generate();
        let containers = property(&definitions, "io.k8s.api.core.v1.PodSpec", "containers");
        assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
        assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
        assert_eq!(containers["x-kubernetes-list-type"], "map");
        assert_eq!(containers["x-kubernetes-list-map-keys"], json!(["name"]));
        let ports = property(&definitions, "io.k8s.api.core.v1.Container", "ports");
        assert_eq!(ports["x-kubernetes-patch-merge-key"], "containerPort");
        let volumes = property(&definitions, "io.k8s.api.core.v1.PodSpec", "volumes");
        assert_eq!(volumes["x-kubernetes-patch-strategy"], "merge,retainKeys");
    }

    #[test]
    fn fields_without_a_strategy_get_no_extension() {
        let definitions = Definitions::generate();
        let tolerations = property(&definitions, "io.k8s.api.core.v1.PodSpec", "tolerations");
        assert!(tolerations.get("x-kubernetes-patch-strategy").is_none());
        let strategy = property(
            &definitions,
            "io.k8s.api.apps.v1.DeploymentSpec",
            "strategy",
        );
        assert_eq!(strategy["x-kubernetes-patch-strategy"], "retainKeys");
        assert!(strategy.get("x-kubernetes-list-type").is_none());
        let finalizers = property(
            &definitions,
            "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
            "finalizers",
        );
        assert_eq!(finalizers["x-kubernetes-patch-strategy"], "merge");
        assert_eq!(finalizers["x-kubernetes-list-type"], "set");
    }

    /// Every field the patch metadata names exists in the definitions, so no metadata is
    /// silently dropped.
    #[test]
    fn every_patch_schema_field_lands_on_a_property() {
        let definitions = Definitions::generate();
        fn check(definitions: &Definitions, name: &str, schema: &'static PatchSchema, path: &str) {
            for field in schema.fields() {
                let property = definitions.schemas[name]
                    .get("properties")
                    .and_then(|p| p.get(field.name()))
                    .unwrap_or_else(|| panic!("{path}.{} missing in {name}", field.name()));
                if let Some(nested) = field.schema() {
                    let target = target_of(property)
                        .unwrap_or_else(|| panic!("{path}.{} refers to nothing", field.name()));
                    check(
                        definitions,
                        &target,
                        nested,
                        &format!("{path}.{}", field.name()),
                    );
                } else if field.meta() != PatchMeta::DEFAULT {
                    assert!(
                        property.get("x-kubernetes-patch-strategy").is_some(),
                        "{path}.{}",
                        field.name()
                    );
                }
            }
        }
        for (group, version, kind) in PatchSchema::kinds() {
            let name = definitions
                .definition_of(group, version, kind)
                .unwrap_or_else(|| panic!("{group}/{version} {kind} has no definition"));
            check(
                &definitions,
                name,
                PatchSchema::for_kind(group, version, kind).unwrap(),
                kind,
            );
        }
    }
}
