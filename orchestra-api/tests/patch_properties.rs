//! Invariants of the three patch types, over generated JSON documents.

use orchestra_api::patch::{PatchSchema, json_merge_patch, json_patch, strategic_merge};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// A JSON document without nulls: the shape of a stored Kubernetes object.
fn document() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        (-1000i64..1000).prop_map(Value::from),
        "[a-z]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-e]{1,2}", inner, 0..5)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// An object document (the top level of every patch target).
fn object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-e]{1,2}", document(), 0..6)
        .prop_map(|map| Value::Object(map.into_iter().collect()))
}

/// The RFC 7386 merge patch that turns `source` into `target`.
fn merge_diff(source: &Value, target: &Value) -> Value {
    match (source, target) {
        (Value::Object(source), Value::Object(target)) => {
            let mut patch = Map::new();
            for key in source.keys() {
                if !target.contains_key(key) {
                    patch.insert(key.clone(), Value::Null);
                }
            }
            for (key, value) in target {
                match source.get(key) {
                    Some(old) if old == value => {}
                    Some(old) if old.is_object() && value.is_object() => {
                        patch.insert(key.clone(), merge_diff(old, value));
                    }
                    _ => {
                        patch.insert(key.clone(), value.clone());
                    }
                }
            }
            Value::Object(patch)
        }
        (_, target) => target.clone(),
    }
}

/// A list of containers, each named uniquely.
fn containers() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::btree_map("[a-d]", "[a-z]{1,4}", 0..4).prop_map(|named| {
        named
            .into_iter()
            .map(|(name, image)| json!({"name": name, "image": image}))
            .collect()
    })
}

proptest! {
    #[test]
    fn merge_patch_of_a_diff_reproduces_the_target(source in object(), target in object()) {
        let patch = merge_diff(&source, &target);
        prop_assert_eq!(json_merge_patch(&source, &patch), target);
    }

    #[test]
    fn json_patch_of_a_diff_reproduces_the_target(source in object(), target in object()) {
        let diff = serde_json::to_value(json_patch::diff(&source, &target)).unwrap();
        prop_assert_eq!(json_patch(&source, &diff).unwrap(), target);
    }

    #[test]
    fn merge_patches_are_idempotent(source in object(), patch in object()) {
        let once = json_merge_patch(&source, &patch);
        prop_assert_eq!(json_merge_patch(&once, &patch), once);
    }

    #[test]
    fn strategic_merge_without_list_strategies_is_a_merge_patch(
        source in object(),
        target in object(),
    ) {
        // Over a type with no patch metadata, a strategic merge patch is RFC 7386.
        let patch = merge_diff(&source, &target);
        let strategic = strategic_merge(&source, &patch, PatchSchema::schemaless()).unwrap();
        prop_assert_eq!(strategic, target);
    }

    #[test]
    fn strategic_container_patches_keep_every_live_container_and_are_idempotent(
        live in containers(),
        patch in containers(),
    ) {
        let schema = PatchSchema::for_kind("", "v1", "Pod").unwrap();
        let pod = json!({"spec": {"containers": live}});
        let patch = json!({"spec": {"containers": patch}});
        let once = strategic_merge(&pod, &patch, schema).unwrap();
        let merged = once["spec"]["containers"].as_array().unwrap();
        let name_of = |c: &Value| c["name"].as_str().unwrap().to_owned();
        for container in live.iter().chain(patch["spec"]["containers"].as_array().unwrap()) {
            prop_assert!(merged.iter().any(|m| name_of(m) == name_of(container)));
        }
        for container in patch["spec"]["containers"].as_array().unwrap() {
            let stored = merged.iter().find(|m| name_of(m) == name_of(container)).unwrap();
            prop_assert_eq!(&stored["image"], &container["image"]);
        }
        prop_assert_eq!(strategic_merge(&once, &patch, schema).unwrap(), once);
    }

    #[test]
    fn deleting_a_container_by_name_removes_exactly_it(live in containers(), at in 0usize..4) {
        prop_assume!(!live.is_empty());
        let victim = live[at % live.len()]["name"].clone();
        let schema = PatchSchema::for_kind("", "v1", "Pod").unwrap();
        let patched = strategic_merge(
            &json!({"spec": {"containers": live.clone()}}),
            &json!({"spec": {"containers": [{"name": victim, "$patch": "delete"}]}}),
            schema,
        )
        .unwrap();
        let expected: Vec<Value> = live.into_iter().filter(|c| c["name"] != victim).collect();
        prop_assert_eq!(&patched["spec"]["containers"], &Value::Array(expected));
    }
}
