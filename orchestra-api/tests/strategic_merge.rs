//! Strategic merge patch, case by case, against the behaviour of Kubernetes'
//! `strategicpatch` package (`StrategicMergeMapPatch` as the API server runs it).
//!
//! The first table uses a small test type shaped like the one Kubernetes' own tests use (a
//! list merged by `name`, a merged list of scalars, a list without strategy, a
//! `retainKeys` map, a `replace` map); the second runs the same semantics through the served
//! kinds' schemas (pods, deployments, services, metadata).

use orchestra_api::patch::{FieldSchema, PatchMeta, PatchSchema, strategic_merge};
use serde_json::Value;

/// The element of `mergingList`: its own `nestedList` merges by `name` too.
static ITEM: PatchSchema = PatchSchema::new(
    "item",
    &[
        FieldSchema::merge_list("mergingList", "name", &ITEM),
        FieldSchema::merge_scalars("mergingIntList"),
        FieldSchema::new(
            "retainKeysMergingList",
            PatchMeta::merge_by("name").with_retain_keys(),
            None,
        ),
    ],
);

/// The test type.
static TEST_TYPE: PatchSchema = PatchSchema::new(
    "test",
    &[
        FieldSchema::merge_list("mergingList", "name", &ITEM),
        FieldSchema::merge_scalars("mergingIntList"),
        FieldSchema::new("retainKeysMap", PatchMeta::DEFAULT.with_retain_keys(), None),
        FieldSchema::new("replacingMap", PatchMeta::REPLACE, None),
        FieldSchema::nested("simpleMap", &ITEM),
    ],
);

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).expect("test YAML parses")
}

/// One case: the live object, the patch, and what Kubernetes stores.
struct Case {
    name: &'static str,
    current: &'static str,
    patch: &'static str,
    result: &'static str,
}

fn run(cases: &[Case], schema: &PatchSchema) {
    for case in cases {
        let merged = strategic_merge(&yaml(case.current), &yaml(case.patch), schema)
            .unwrap_or_else(|error| panic!("{}: {error}", case.name));
        assert_eq!(
            merged,
            yaml(case.result),
            "{}: got {}",
            case.name,
            serde_json::to_string_pretty(&merged).unwrap_or_default()
        );
    }
}

#[test]
fn strategic_merge_matches_kubernetes_on_the_test_type() {
    run(
        &[
            Case {
                name: "a null deletes a key, other keys merge",
                current: "{a: 1, b: 2, simpleMap: {x: 1}}",
                patch: "{a: null, c: 3, simpleMap: {y: 2}}",
                result: "{b: 2, c: 3, simpleMap: {x: 1, y: 2}}",
            },
            Case {
                name: "deleting an absent key is a no-op",
                current: "{a: 1}",
                patch: "{z: null}",
                result: "{a: 1}",
            },
            Case {
                name: "a list without strategy is replaced",
                current: "{nonMergingList: [{name: 1}, {name: 2}]}",
                patch: "{nonMergingList: [{name: 3}]}",
                result: "{nonMergingList: [{name: 3}]}",
            },
            Case {
                name: "a merged list gains a new element first, live-only elements follow",
                current: "{mergingList: [{name: 1, value: 1}, {name: 2}]}",
                patch: "{mergingList: [{name: 3, value: 3}]}",
                result: "{mergingList: [{name: 3, value: 3}, {name: 1, value: 1}, {name: 2}]}",
            },
            Case {
                name: "a merged element keeps live fields and takes patched ones",
                current: "{mergingList: [{name: 1, value: 1, other: a}, {name: 2, value: 2}]}",
                patch: "{mergingList: [{name: 1, value: x, other: null}]}",
                result: "{mergingList: [{name: 1, value: x}, {name: 2, value: 2}]}",
            },
            Case {
                name: "$patch delete removes the element with that key",
                current: "{mergingList: [{name: 1}, {name: 2, value: 2}, {name: 3}]}",
                patch: "{mergingList: [{name: 2, $patch: delete}]}",
                result: "{mergingList: [{name: 1}, {name: 3}]}",
            },
            Case {
                name: "$patch delete of an absent element is a no-op",
                current: "{mergingList: [{name: 1}]}",
                patch: "{mergingList: [{name: 9, $patch: delete}]}",
                result: "{mergingList: [{name: 1}]}",
            },
            Case {
                name: "$patch replace in a list replaces it with the rest of the patch list",
                current: "{mergingList: [{name: 1}, {name: 2}]}",
                patch: "{mergingList: [{name: 3, value: 3}, {$patch: replace}]}",
                result: "{mergingList: [{name: 3, value: 3}]}",
            },
            Case {
                name: "$patch replace alone empties the list",
                current: "{mergingList: [{name: 1}, {name: 2}]}",
                patch: "{mergingList: [{$patch: replace}]}",
                result: "{mergingList: []}",
            },
            Case {
                name: "$patch replace on a map replaces it",
                current: "{simpleMap: {a: 1, b: 2}}",
                patch: "{simpleMap: {$patch: replace, c: 3}}",
                result: "{simpleMap: {c: 3}}",
            },
            Case {
                name: "$patch delete on a map empties it",
                current: "{simpleMap: {a: 1, b: 2}, other: 1}",
                patch: "{simpleMap: {$patch: delete}}",
                result: "{simpleMap: {}, other: 1}",
            },
            Case {
                name: "a replace-strategy map is replaced whole",
                current: "{replacingMap: {a: 1, b: 2}}",
                patch: "{replacingMap: {c: 3}}",
                result: "{replacingMap: {c: 3}}",
            },
            Case {
                name: "a merged list of scalars is a union, patch values first",
                current: "{mergingIntList: [1, 2]}",
                patch: "{mergingIntList: [2, 3]}",
                result: "{mergingIntList: [1, 2, 3]}",
            },
            Case {
                name: "$deleteFromPrimitiveList removes scalars",
                current: "{mergingIntList: [1, 2, 3]}",
                patch: "{$deleteFromPrimitiveList/mergingIntList: [2, 9]}",
                result: "{mergingIntList: [1, 3]}",
            },
            Case {
                name: "$deleteFromPrimitiveList and additions in one patch",
                current: "{mergingIntList: [1, 3, 2]}",
                patch: "{$setElementOrder/mergingIntList: [4, 2, 1], mergingIntList: [4], $deleteFromPrimitiveList/mergingIntList: [3]}",
                result: "{mergingIntList: [4, 2, 1]}",
            },
            Case {
                name: "$setElementOrder adds elements where listed",
                current: "{mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}]}",
                patch: "{$setElementOrder/mergingList: [{name: 1}, {name: 4}, {name: 2}, {name: 3}], mergingList: [{name: 4, value: 4}, {name: 3, value: 3}]}",
                result: "{mergingList: [{name: 1, other: a}, {name: 4, value: 4}, {name: 2, value: 2, other: b}, {name: 3, value: 3}]}",
            },
            Case {
                name: "$setElementOrder with a deletion reorders the rest",
                current: "{mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}, {name: 3, value: 3}]}",
                patch: "{$setElementOrder/mergingList: [{name: 2}, {name: 1}], mergingList: [{name: 3, $patch: delete}]}",
                result: "{mergingList: [{name: 2, value: 2, other: b}, {name: 1, other: a}]}",
            },
            Case {
                name: "$setElementOrder alone reorders, server-only elements keep their place",
                current: "{mergingList: [{name: 1, other: a}, {name: 2, value: 2}, {name: 9}, {name: 3, value: 3}, {name: 4, value: 4}]}",
                patch: "{$setElementOrder/mergingList: [{name: 2}, {name: 1}, {name: 4}, {name: 3}]}",
                result: "{mergingList: [{name: 2, value: 2}, {name: 1, other: a}, {name: 9}, {name: 4, value: 4}, {name: 3, value: 3}]}",
            },
            Case {
                name: "$setElementOrder of scalars with server-only values",
                current: "{mergingIntList: [1, 2, 7, 9, 8, 3, 4]}",
                patch: "{$setElementOrder/mergingIntList: [2, 1, 4, 3]}",
                result: "{mergingIntList: [2, 1, 7, 9, 8, 4, 3]}",
            },
            Case {
                name: "$retainKeys clears the keys it does not list",
                current: "{retainKeysMap: {name: type1, value: foo}}",
                patch: "{retainKeysMap: {$retainKeys: [name, other], name: type2, other: bar}}",
                result: "{retainKeysMap: {name: type2, other: bar}}",
            },
            Case {
                name: "$retainKeys keeps listed live keys the patch does not set",
                current: "{retainKeysMap: {name: foo, other: a}}",
                patch: "{retainKeysMap: {$retainKeys: [name, value], value: bar}}",
                result: "{retainKeysMap: {name: foo, value: bar}}",
            },
            Case {
                name: "nested merged lists merge at every level",
                current: "{mergingList: [{name: 1, mergingList: [{name: a, v: 1}, {name: b}]}]}",
                patch: "{mergingList: [{name: 1, mergingList: [{name: a, v: 2}]}]}",
                result: "{mergingList: [{name: 1, mergingList: [{name: a, v: 2}, {name: b}]}]}",
            },
            Case {
                name: "a new element is stored without its nulls",
                current: "{}",
                patch: "{mergingList: [{name: 1, value: null, simpleMap: {a: 1, b: null}}]}",
                result: "{mergingList: [{name: 1, simpleMap: {a: 1}}]}",
            },
            Case {
                name: "a new map drops its nulls",
                current: "{}",
                patch: "{simpleMap: {a: 1, b: null}}",
                result: "{simpleMap: {a: 1}}",
            },
            Case {
                name: "a scalar replaced by a map takes the map",
                current: "{simpleMap: 3}",
                patch: "{simpleMap: {a: 1}}",
                result: "{simpleMap: {a: 1}}",
            },
        ],
        &TEST_TYPE,
    );
}

#[test]
fn strategic_merge_errors_are_those_of_kubernetes() {
    let cases: &[(&str, &str, &str, u16)] = &[
        (
            "an element without its merge key",
            "{mergingList: [{name: 1}]}",
            "{mergingList: [{value: 1}]}",
            500,
        ),
        (
            "an unknown $patch value in a map",
            "{simpleMap: {a: 1}}",
            "{simpleMap: {$patch: explode}}",
            500,
        ),
        (
            "$patch merge in a list element",
            "{mergingList: [{name: 1}]}",
            "{mergingList: [{name: 1, $patch: merge}]}",
            500,
        ),
        (
            "$retainKeys that is not a list",
            "{retainKeysMap: {a: 1}}",
            "{retainKeysMap: {$retainKeys: a}}",
            400,
        ),
        (
            "a patch setting a key its $retainKeys drops",
            "{retainKeysMap: {a: 1}}",
            "{retainKeysMap: {$retainKeys: [a], b: 2}}",
            400,
        ),
        (
            "a malformed $deleteFromPrimitiveList key",
            "{mergingIntList: [1]}",
            "{$deleteFromPrimitiveList: [1]}",
            400,
        ),
        (
            "a malformed $setElementOrder key",
            "{mergingIntList: [1]}",
            "{$setElementOrder: [1]}",
            400,
        ),
        (
            "a patch list in another order than its $setElementOrder",
            "{mergingList: [{name: 1}, {name: 2}]}",
            "{$setElementOrder/mergingList: [{name: 1}, {name: 2}], mergingList: [{name: 2, v: 1}, {name: 1, v: 1}]}",
            500,
        ),
        (
            "a list of lists",
            "{mergingList: [[1]]}",
            "{mergingList: [[2]]}",
            422,
        ),
    ];
    for (name, current, patch, code) in cases {
        let error = strategic_merge(&yaml(current), &yaml(patch), &TEST_TYPE).expect_err(name);
        assert_eq!(error.status_code(), *code, "{name}: {error}");
        assert_eq!(error.to_status().code, *code, "{name}");
    }
}

#[test]
fn a_patch_that_is_not_an_object_is_a_bad_request() {
    let error = strategic_merge(&yaml("{a: 1}"), &yaml("[1]"), &TEST_TYPE).unwrap_err();
    assert_eq!(error.status_code(), 400);
}

fn served(group: &str, version: &str, kind: &str) -> &'static PatchSchema {
    PatchSchema::for_kind(group, version, kind).expect("served kind has a schema")
}

#[test]
fn strategic_merge_honours_the_served_types_strategies() {
    run(
        &[
            Case {
                name: "containers merge by name, env by name, ports by containerPort",
                current: r#"
spec:
  containers:
  - name: web
    image: nginx:1.27
    env: [{name: A, value: "1"}, {name: B, value: "2"}]
    ports: [{containerPort: 80, protocol: TCP}]
  - name: log
    image: fluentd
"#,
                patch: r#"
spec:
  containers:
  - name: web
    image: nginx:1.28
    env: [{name: B, value: "3"}, {name: C, value: "4"}]
    ports: [{containerPort: 443}]
"#,
                result: r#"
spec:
  containers:
  - name: web
    image: nginx:1.28
    env: [{name: A, value: "1"}, {name: B, value: "3"}, {name: C, value: "4"}]
    ports: [{containerPort: 443}, {containerPort: 80, protocol: TCP}]
  - name: log
    image: fluentd
"#,
            },
            Case {
                name: "init containers, volumes, volume mounts and pull secrets merge by key",
                current: r#"
spec:
  initContainers: [{name: init, image: busybox}]
  volumes: [{name: data, emptyDir: {}}]
  imagePullSecrets: [{name: registry}]
  containers:
  - name: web
    volumeMounts: [{name: data, mountPath: /data}]
"#,
                patch: r#"
spec:
  initContainers: [{name: migrate, image: tool}]
  volumes: [{name: config, configMap: {name: settings}}]
  imagePullSecrets: [{name: mirror}]
  containers:
  - name: web
    volumeMounts: [{name: config, mountPath: /etc/config}, {mountPath: /data, readOnly: true}]
"#,
                result: r#"
spec:
  initContainers: [{name: migrate, image: tool}, {name: init, image: busybox}]
  volumes: [{name: config, configMap: {name: settings}}, {name: data, emptyDir: {}}]
  imagePullSecrets: [{name: mirror}, {name: registry}]
  containers:
  - name: web
    volumeMounts: [{name: config, mountPath: /etc/config}, {name: data, mountPath: /data, readOnly: true}]
"#,
            },
            Case {
                name: "tolerations have no strategy and are replaced",
                current: "{spec: {tolerations: [{key: a, operator: Exists}]}}",
                patch: "{spec: {tolerations: [{key: b, operator: Exists}]}}",
                result: "{spec: {tolerations: [{key: b, operator: Exists}]}}",
            },
            Case {
                name: "status conditions merge by type",
                current: r#"
status:
  conditions:
  - {type: Ready, status: "False"}
  - {type: PodScheduled, status: "True"}
"#,
                patch: r#"{status: {conditions: [{type: Ready, status: "True"}]}}"#,
                result: r#"
status:
  conditions:
  - {type: Ready, status: "True"}
  - {type: PodScheduled, status: "True"}
"#,
            },
            Case {
                name: "finalizers merge as a set and $deleteFromPrimitiveList removes one",
                current: "{metadata: {finalizers: [a.io/x, b.io/y]}}",
                patch: "{metadata: {finalizers: [c.io/z], $deleteFromPrimitiveList/finalizers: [a.io/x]}}",
                result: "{metadata: {finalizers: [c.io/z, b.io/y]}}",
            },
            Case {
                name: "owner references merge by uid",
                current: "{metadata: {ownerReferences: [{uid: u1, name: a, kind: ReplicaSet}]}}",
                patch: "{metadata: {ownerReferences: [{uid: u2, name: b, kind: ReplicaSet}]}}",
                result: "{metadata: {ownerReferences: [{uid: u2, name: b, kind: ReplicaSet}, {uid: u1, name: a, kind: ReplicaSet}]}}",
            },
            Case {
                name: "labels merge and a null removes one",
                current: "{metadata: {labels: {app: web, tier: front}}}",
                patch: "{metadata: {labels: {tier: null, env: prod}}}",
                result: "{metadata: {labels: {app: web, env: prod}}}",
            },
            Case {
                name: "a container deleted by name",
                current: "{spec: {containers: [{name: web}, {name: sidecar}]}}",
                patch: "{spec: {containers: [{name: sidecar, $patch: delete}]}}",
                result: "{spec: {containers: [{name: web}]}}",
            },
        ],
        served("", "v1", "Pod"),
    );
    run(
        &[
            Case {
                name: "the pod template of a deployment merges like a pod",
                current: "{spec: {replicas: 1, template: {spec: {containers: [{name: web, image: a}]}}}}",
                patch: "{spec: {replicas: 3, template: {spec: {containers: [{name: web, image: b}]}}}}",
                result: "{spec: {replicas: 3, template: {spec: {containers: [{name: web, image: b}]}}}}",
            },
            Case {
                name: "switching the strategy type with $retainKeys drops rollingUpdate",
                current: "{spec: {strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1}}}}",
                patch: "{spec: {strategy: {$retainKeys: [type], type: Recreate}}}",
                result: "{spec: {strategy: {type: Recreate}}}",
            },
            Case {
                name: "switching a volume's source with $retainKeys",
                current: "{spec: {template: {spec: {volumes: [{name: data, emptyDir: {}}]}}}}",
                patch: "{spec: {template: {spec: {volumes: [{name: data, $retainKeys: [name, hostPath], hostPath: {path: /d}}]}}}}",
                result: "{spec: {template: {spec: {volumes: [{name: data, hostPath: {path: /d}}]}}}}",
            },
        ],
        served("apps", "v1", "Deployment"),
    );
    run(
        &[Case {
            name: "service ports merge by port",
            current: "{spec: {ports: [{port: 80, targetPort: 8080}, {port: 443}]}}",
            patch: "{spec: {ports: [{port: 80, targetPort: 9090}]}}",
            result: "{spec: {ports: [{port: 80, targetPort: 9090}, {port: 443}]}}",
        }],
        served("", "v1", "Service"),
    );
    run(
        &[Case {
            name: "a config map's data merges key by key",
            current: "{data: {a: '1', b: '2'}}",
            patch: "{data: {b: null, c: '3'}}",
            result: "{data: {a: '1', c: '3'}}",
        }],
        served("", "v1", "ConfigMap"),
    );
}
