#!/usr/bin/env python3
"""Generates orchestra-apiserver/src/protobuf/messages.rs: the Kubernetes protobuf schema of
every message a served kind reaches, as a static table.

Kubernetes' protobuf field numbers and wire types come from the prost attributes of the
`k8s-pb` crate; the JSON name of each field comes from the serde field names of `k8s-openapi`
(the types Orchestra stores), matched by the snake-case name both crates derive from the same
Kubernetes field. A field whose message has no JSON name of its own but whose fields all
appear in the parent is Go's `json:",inline"` embedding (Volume.volumeSource, Probe.handler…).

Run from the workspace root after changing either crate's version or the served kinds:

    python3 scripts/generate-protobuf-schema.py

(the file is excluded from rustfmt: one line per field keeps it reviewable).

It reads the crates from the local cargo registry (fetched by `cargo fetch`).
"""

import glob
import os
import re
import sys

K8S_PB_VERSION = "0.9.0"
K8S_OPENAPI_VERSION = "0.29.0"
KUBERNETES = "v1_33"
NEWER = ["v1_34", "v1_35", "v1_36", "v1_37"]
OUT = "orchestra-apiserver/src/protobuf/messages.rs"

# The messages a request or response body can be: every served kind and its list (see
# orchestra_api::kinds), the subresource bodies and the options and status types.
ROOTS = [
    ("api/core/v1", k)
    for k in [
        "Namespace", "Node", "Pod", "Service", "Endpoints", "ConfigMap", "Secret",
        "ServiceAccount", "PersistentVolume", "PersistentVolumeClaim", "Event", "LimitRange",
        "ResourceQuota", "ReplicationController", "PodTemplate",
    ]
] + [
    ("api/apps/v1", k)
    for k in ["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "ControllerRevision"]
] + [
    ("api/batch/v1", "Job"), ("api/batch/v1", "CronJob"),
    ("api/autoscaling/v2", "HorizontalPodAutoscaler"),
    ("api/coordination/v1", "Lease"),
    ("api/discovery/v1", "EndpointSlice"),
    ("api/networking/v1", "Ingress"), ("api/networking/v1", "IngressClass"),
    ("api/networking/v1", "NetworkPolicy"),
    ("api/policy/v1", "PodDisruptionBudget"),
    ("api/rbac/v1", "Role"), ("api/rbac/v1", "RoleBinding"),
    ("api/rbac/v1", "ClusterRole"), ("api/rbac/v1", "ClusterRoleBinding"),
    ("api/scheduling/v1", "PriorityClass"),
    ("api/storage/v1", "StorageClass"), ("api/storage/v1", "VolumeAttachment"),
    ("api/storage/v1", "CSIDriver"), ("api/storage/v1", "CSINode"),
    ("api/storage/v1", "CSIStorageCapacity"),
    ("api/admissionregistration/v1", "ValidatingAdmissionPolicy"),
    ("api/admissionregistration/v1", "ValidatingAdmissionPolicyBinding"),
    ("api/admissionregistration/v1", "ValidatingWebhookConfiguration"),
    ("api/admissionregistration/v1", "MutatingWebhookConfiguration"),
    ("apiextensions_apiserver/pkg/apis/apiextensions/v1", "CustomResourceDefinition"),
]
EXTRA_ROOTS = [
    ("api/autoscaling/v1", "Scale"),
    ("api/core/v1", "Binding"),
    ("api/policy/v1", "Eviction"),
    ("apimachinery/pkg/apis/meta/v1", "DeleteOptions"),
    ("apimachinery/pkg/apis/meta/v1", "Status"),
]

META = "apimachinery/pkg/apis/meta/v1"
APIEXT = "apiextensions_apiserver/pkg/apis/apiextensions/v1"
# Messages whose JSON form is not an object of their fields.
FORMS = {
    (META, "Time"): "Time",
    (META, "MicroTime"): "MicroTime",
    (META, "FieldsV1"): "RawJson",
    ("apimachinery/pkg/runtime", "RawExtension"): "RawJson",
    ("apimachinery/pkg/api/resource", "Quantity"): "Quantity",
    ("apimachinery/pkg/util/intstr", "IntOrString"): "IntOrString",
    (APIEXT, "Json"): "RawJson",
    (APIEXT, "JsonSchemaPropsOrArray"): "SchemaOrArray",
    (APIEXT, "JsonSchemaPropsOrBool"): "SchemaOrBool",
    (APIEXT, "JsonSchemaPropsOrStringArray"): "SchemaOrStringArray",
}
# Go pointers to strings, where an empty string means something other than "unset".
KEEPS_EMPTY = {
    ("api/core/v1", "PersistentVolumeClaimSpec", "storage_class_name"),
    ("api/core/v1", "PersistentVolumeClaimSpec", "volume_attributes_class_name"),
    ("api/core/v1", "PodDNSConfigOption", "value"),
    ("api/discovery/v1", "EndpointPort", "name"),
}
# Go plain (non-pointer, `omitempty`) integers and booleans. Go's protobuf encoder writes
# them even when zero, and a zero there means "unset", which Go's JSON encoder leaves out; a
# zero in any other integer or boolean (a Go pointer such as `replicas`, `runAsUser` or
# `automountServiceAccountToken`) is a value and is kept. Required fields need no entry: they
# are not optional in k8s-openapi, so zero and absent decode alike.
CORE, APPS = "api/core/v1", "api/apps/v1"
READ_ONLY_SOURCES = [
    "AWSElasticBlockStoreVolumeSource", "GCEPersistentDiskVolumeSource", "NFSVolumeSource",
    "ISCSIVolumeSource", "ISCSIPersistentVolumeSource", "GlusterfsVolumeSource",
    "GlusterfsPersistentVolumeSource", "PersistentVolumeClaimVolumeSource", "RBDVolumeSource",
    "RBDPersistentVolumeSource", "FlexVolumeSource", "FlexPersistentVolumeSource",
    "CinderVolumeSource", "CinderPersistentVolumeSource", "CephFSVolumeSource",
    "CephFSPersistentVolumeSource", "FCVolumeSource", "AzureFileVolumeSource",
    "AzureFilePersistentVolumeSource", "QuobyteVolumeSource", "PortworxVolumeSource",
    "ScaleIOVolumeSource", "ScaleIOPersistentVolumeSource", "StorageOSVolumeSource",
    "StorageOSPersistentVolumeSource", "CSIPersistentVolumeSource",
]
GO_PLAIN = {
    (META, "ObjectMeta", "generation"), (META, "Condition", "observed_generation"),
    (META, "Status", "code"), (META, "StatusDetails", "retry_after_seconds"),
    (APPS, "DeploymentSpec", "min_ready_seconds"), (APPS, "DeploymentSpec", "paused"),
    (APPS, "ReplicaSetSpec", "min_ready_seconds"), (APPS, "StatefulSetSpec", "min_ready_seconds"),
    (APPS, "StatefulSetOrdinals", "start"), (APPS, "DaemonSetSpec", "min_ready_seconds"),
    (CORE, "ReplicationControllerSpec", "min_ready_seconds"),
    (CORE, "PodSpec", "host_network"), (CORE, "PodSpec", "host_pid"), (CORE, "PodSpec", "host_ipc"),
    (CORE, "ContainerPort", "host_port"), (CORE, "VolumeMount", "read_only"),
    (CORE, "AWSElasticBlockStoreVolumeSource", "partition"),
    (CORE, "GCEPersistentDiskVolumeSource", "partition"),
    (CORE, "ISCSIVolumeSource", "chap_auth_discovery"), (CORE, "ISCSIVolumeSource", "chap_auth_session"),
    (CORE, "ISCSIPersistentVolumeSource", "chap_auth_discovery"),
    (CORE, "ISCSIPersistentVolumeSource", "chap_auth_session"),
    (CORE, "ScaleIOVolumeSource", "ssl_enabled"), (CORE, "ScaleIOPersistentVolumeSource", "ssl_enabled"),
    (CORE, "ServiceSpec", "health_check_node_port"), (CORE, "ServiceSpec", "publish_not_ready_addresses"),
    (CORE, "ServicePort", "node_port"), (CORE, "NodeSpec", "unschedulable"),
    (CORE, "ContainerStateTerminated", "signal"), (CORE, "Event", "count"),
    (CORE, "EventSeries", "count"), (CORE, "PodStatus", "observed_generation"),
    (CORE, "PodCondition", "observed_generation"), (CORE, "ContainerImage", "size_bytes"),
    (CORE, "ReplicationControllerStatus", "fully_labeled_replicas"),
    (CORE, "ReplicationControllerStatus", "ready_replicas"),
    (CORE, "ReplicationControllerStatus", "available_replicas"),
    (CORE, "ReplicationControllerStatus", "observed_generation"),
    (APPS, "ReplicaSetStatus", "fully_labeled_replicas"), (APPS, "ReplicaSetStatus", "ready_replicas"),
    (APPS, "ReplicaSetStatus", "available_replicas"), (APPS, "ReplicaSetStatus", "observed_generation"),
    (APPS, "StatefulSetStatus", "observed_generation"), (APPS, "StatefulSetStatus", "ready_replicas"),
    (APPS, "StatefulSetStatus", "current_replicas"), (APPS, "StatefulSetStatus", "updated_replicas"),
    (APPS, "StatefulSetStatus", "available_replicas"),
    (APPS, "DaemonSetStatus", "observed_generation"),
    (APPS, "DaemonSetStatus", "updated_number_scheduled"),
    (APPS, "DaemonSetStatus", "number_available"), (APPS, "DaemonSetStatus", "number_unavailable"),
    ("api/batch/v1", "JobStatus", "active"), ("api/batch/v1", "JobStatus", "succeeded"),
    ("api/batch/v1", "JobStatus", "failed"),
    ("api/autoscaling/v2", "HorizontalPodAutoscalerStatus", "current_replicas"),
    ("api/networking/v1", "ServiceBackendPort", "number"),
    ("api/policy/v1", "PodDisruptionBudgetStatus", "observed_generation"),
    ("api/scheduling/v1", "PriorityClass", "global_default"),
    ("api/admissionregistration/v1", "ValidatingAdmissionPolicyStatus", "observed_generation"),
    (APIEXT, "JsonSchemaProps", "exclusive_maximum"), (APIEXT, "JsonSchemaProps", "exclusive_minimum"),
    (APIEXT, "JsonSchemaProps", "unique_items"), (APIEXT, "JsonSchemaProps", "nullable"),
    (APIEXT, "JsonSchemaProps", "x_kubernetes_embedded_resource"),
    (APIEXT, "JsonSchemaProps", "x_kubernetes_int_or_string"),
    (APIEXT, "CustomResourceDefinitionSpec", "preserve_unknown_fields"),
    (APIEXT, "CustomResourceDefinitionVersion", "deprecated"),
    (APIEXT, "CustomResourceColumnDefinition", "priority"),
} | {
    (APPS, status, field)
    for status in ["DeploymentStatus"]
    for field in ["observed_generation", "replicas", "updated_replicas", "ready_replicas",
                  "available_replicas", "unavailable_replicas"]
} | {(CORE, source, "read_only") for source in READ_ONLY_SOURCES} | {
    (CORE, container, field)
    for container in ["Container", "EphemeralContainerCommon"]
    for field in ["stdin", "stdin_once", "tty"]
} | {
    (CORE, "Probe", field)
    for field in ["initial_delay_seconds", "timeout_seconds", "period_seconds",
                  "success_threshold", "failure_threshold"]
}
SCALARS = {"string": "String", "bool": "Bool", "int32": "Int32", "int64": "Int64",
           "double": "Double", "bytes": "Bytes"}


def registry_dir(name):
    found = glob.glob(os.path.expanduser(f"~/.cargo/registry/src/*/{name}"))
    if not found:
        sys.exit(f"{name} is not in the cargo registry: run `cargo fetch` first")
    return found[0]


def norm(name):
    return re.sub(r"[^a-z0-9]", "", name.lower().removeprefix("r#"))


def parse_pb(root):
    """{(module, struct): {"fields": [...], "resource": (api_version, kind) | None}}"""
    messages = {}
    for path in glob.glob(f"{root}/src/**/mod.rs", recursive=True):
        module = os.path.relpath(os.path.dirname(path), f"{root}/src")
        lines = open(path).read().split("\n")
        i, current, attr = 0, None, None
        while i < len(lines):
            line = lines[i]
            m = re.match(r"pub struct (\w+) \{", line)
            if m:
                current = {"fields": [], "resource": None}
                messages[(module, m.group(1))] = current
            elif line == "}":
                current = None
            elif current is not None and line.strip().startswith("#[prost("):
                attr = line.strip()[len("#[prost("):-2]
            elif current is not None and attr and line.strip().startswith("pub "):
                text = line.strip()
                while not (text.endswith(",") and text.count("<") == text.count(">")):
                    i += 1
                    text += " " + lines[i].strip()
                name, ty = text[4:-1].split(":", 1)
                current["fields"].append(field_of(module, attr, name.strip(), ty.strip()))
                attr = None
            m = re.match(r"impl crate::Resource for (\w+) \{", line)
            if m:
                api_version = re.search(r'"(.*)"', lines[i + 1]).group(1)
                kind = re.search(r'"(.*)"', lines[i + 4]).group(1)
                messages[(module, m.group(1))]["resource"] = (api_version, kind)
            i += 1
    return messages


def field_of(module, attr, name, ty):
    tag = int(re.search(r'tag = "(\d+)"', attr).group(1))
    field = {"name": name, "tag": tag, "repeated": ", repeated" in attr}
    kind = attr.split(",")[0].split(" ")[0]
    if kind == "btree_map":
        value = re.search(r'btree_map = "string, (\w+)"', attr).group(1)
        field["map"] = True
        kind = value
    else:
        field["map"] = False
    field["kind"] = kind
    if kind == "message":
        inner = ty.replace(" ", "")
        for wrapper in ["::core::option::Option<", "::prost::alloc::vec::Vec<",
                        "::prost::alloc::boxed::Box<",
                        "::prost::alloc::collections::BTreeMap<::prost::alloc::string::String,"]:
            inner = inner.replace(wrapper, "")
        inner = inner.replace(">", "").strip(",")
        field["message"] = resolve(module, inner)
    return field


def resolve(module, path):
    parts = module.split("/")
    segments = path.split("::")
    if segments[0] == "crate":
        return ("/".join(segments[1:-1]), segments[-1])
    while segments[0] == "super":
        parts.pop()
        segments.pop(0)
    return ("/".join(parts + segments[:-1]), segments[-1])


def parse_openapi(root, version):
    """{(module, lower(struct)): (struct, {norm(json): json})}"""
    types = {}
    base = f"{root}/src/{version}"
    for path in glob.glob(f"{base}/**/*.rs", recursive=True):
        module = os.path.relpath(os.path.dirname(path), base)
        text = open(path).read()
        m = re.search(r"pub struct (\w+)", text)
        if not m:
            continue
        names = re.findall(r'^\s*"([^"]+)" => Field::Key_', text, re.M)
        types[(module, m.group(1).lower())] = (m.group(1), {norm(n): n for n in names})
    return types


def lowered(entries):
    """(module, message, field) entries with the message name in lower case: prost spells
    acronyms both ways (`CSIDriver`, `CephFsVolumeSource`)."""
    return {(m, n.lower(), f) for m, n, f in entries}


def lower_camel(snake):
    head, *rest = snake.removeprefix("r#").split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def main():
    pb = parse_pb(registry_dir(f"k8s-pb-{K8S_PB_VERSION}"))
    openapi_root = registry_dir(f"k8s-openapi-{K8S_OPENAPI_VERSION}")
    openapi = parse_openapi(openapi_root, KUBERNETES)
    newer = [parse_openapi(openapi_root, v) for v in NEWER]

    roots = []
    for module, name in ROOTS:
        roots.append((module, name))
        roots.append((module, name + "List"))
    roots += EXTRA_ROOTS
    for root in roots:
        if root not in pb:
            sys.exit(f"k8s-pb has no message {root}")

    reachable, queue = [], list(roots)
    while queue:
        key = queue.pop()
        if key in reachable:
            continue
        reachable.append(key)
        for f in pb[key]["fields"]:
            if f["kind"] == "message":
                queue.append(f["message"])

    alias = {}

    def json_names(key):
        found = openapi.get((key[0], key[1].lower()))
        if key == (META, "WatchEvent"):
            # An enum in k8s-openapi, with no serde field names to read.
            return {"type": "type", "object": "object"}
        if found is None and key[1].endswith("List"):
            # k8s-openapi has one generic `List<T>` for every list kind.
            return {"metadata": "metadata", "items": "items"}
        if found:
            return found[1]
        # A message Go only ever embeds inline has no type of its own in k8s-openapi: its
        # JSON names are those of the type embedding it.
        for parent in reachable:
            parent_names = openapi.get((parent[0], parent[1].lower()))
            for f in pb[parent]["fields"]:
                if (f.get("message") == key and parent_names
                        and norm(f["name"]) not in parent_names[1]
                        and not is_newer(parent, f)):
                    alias[key] = parent
                    return parent_names[1]
        return None

    def newer_names(key):
        """Fields of a message that Kubernetes added after the pinned version."""
        out = set()
        names = set(json_names(key) or {})
        key = alias.get(key, key)
        for t in newer:
            out |= set(t.get((key[0], key[1].lower()), (None, {}))[1])
        return out - names

    def covered(field, names):
        """Whether a field is Go's inline embedding: every field of its message (or of the
        messages that message embeds in turn) is a field of the embedding type."""
        if field["kind"] != "message" or field["repeated"] or field["map"]:
            return False
        child = field["message"]
        return all(
            norm(g["name"]) in names or covered(g, names)
            for g in pb[child]["fields"]
        )

    def is_newer(key, field):
        key = alias.get(key, key)
        return any(norm(field["name"]) in t.get((key[0], key[1].lower()), (None, {}))[1]
                   for t in newer)

    rows, skipped = {}, []
    queue = list(roots)
    while queue:
        key = queue.pop(0)
        if key in rows:
            continue
        module, name = key
        form = FORMS.get(key, "Object")
        names = json_names(key)
        if form == "Object" and names is None:
            sys.exit(f"k8s-openapi {KUBERNETES} has no type for {key}")
        fields = []
        for f in sorted(pb[key]["fields"], key=lambda f: f["tag"]):
            inline = False
            if form != "Object":
                json = lower_camel(f["name"])
            elif norm(f["name"]) in names:
                json = names[norm(f["name"])]
            elif covered(f, set(names) | newer_names(key)):
                inline, json = True, lower_camel(f["name"])
            else:
                home = alias.get(key, key)
                later = [v for v, t in zip(NEWER, newer)
                         if norm(f["name"]) in (t.get((home[0], home[1].lower()), (None, {}))[1])]
                if not later:
                    sys.exit(f"no JSON name for {key}.{f['name']}")
                skipped.append(f"{name}.{f['name']} ({later[0]})")
                continue
            fields.append((f, json, inline))
            if f["kind"] == "message":
                queue.append(f["message"])
        rows[key] = (form, fields)
    rows = dict(sorted(rows.items()))
    by_lower_name = {(m, n.lower()): msg for (m, n), msg in pb.items()}
    for module, name, field in sorted(GO_PLAIN | KEEPS_EMPTY):
        kinds = [f["kind"] for f in by_lower_name.get((module, name.lower()), {"fields": []})["fields"]
                 if f["name"] == field and not f["repeated"] and not f["map"]]
        wanted = "string" if (module, name, field) in KEEPS_EMPTY else ("int32", "int64", "bool")
        if not kinds or kinds[0] not in wanted:
            sys.exit(f"{module} {name}.{field} is not a singular {wanted} field")

    out = [
        "//! Generated by `scripts/generate-protobuf-schema.py` from the prost attributes of",
        f"//! k8s-pb {K8S_PB_VERSION} and the JSON field names of k8s-openapi {K8S_OPENAPI_VERSION}",
        f"//! (Kubernetes {KUBERNETES.replace('_', '.')[1:]}); do not edit by hand.",
        "",
        "use super::schema::{Field, Form, Message, Type};",
        "",
    ]
    for key, (form, fields) in rows.items():
        module, name = key
        proto_name = (openapi.get((module, name.lower())) or (name,))[0]
        package = "k8s.io." + module.replace("/", ".")
        out.append(f"pub static {static_name(key)}: Message = Message {{")
        out.append(f'    name: "{package}.{proto_name}", form: Form::{form}, fields: &[')
        for f, json, inline in fields:
            if f["kind"] == "message":
                ty = f"Type::Message(&{static_name(f['message'])})"
            else:
                ty = f"Type::{SCALARS[f['kind']]}"
            if f["map"]:
                ctor = "map"
            elif f["repeated"]:
                ctor = "repeated"
            elif inline:
                ctor = "inline"
            elif (module, name.lower(), f["name"]) in lowered(KEEPS_EMPTY):
                ctor = "keeps_empty"
            elif (module, name.lower(), f["name"]) in lowered(GO_PLAIN):
                ctor = "plain"
            else:
                ctor = "optional"
            out.append(f'    Field::{ctor}({f["tag"]}, "{json}", {ty}),')
        out.append("]};")
        out.append("")
    out.append("/// The message of a top-level body by its `apiVersion` and `kind`.")
    out.append("pub fn by_type(api_version: &str, kind: &str) -> Option<&'static Message> {")
    out.append("    Some(match (api_version, kind) {")
    for key in roots:
        if key in EXTRA_ROOTS:
            continue
        resource = pb[key]["resource"] or (resource_of(pb, key), key[1])
        out.append(f'        ("{resource[0]}", "{resource[1]}") => &{static_name(key)},')
    out.append("        _ => return None,")
    out.append("    })")
    out.append("}")
    with open(OUT, "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"{OUT}: {len(rows)} messages, {sum(len(f) for _, f in rows.values())} fields")
    for s in skipped:
        print(f"  skipped (newer than {KUBERNETES}): {s}")


def resource_of(pb, key):
    """The apiVersion of a list or options message: its module's group and version."""
    module = key[0]
    if module == META:
        return "v1"
    for (m, _), msg in pb.items():
        if m == module and msg["resource"]:
            return msg["resource"][0]
    sys.exit(f"no apiVersion for {key}")


def static_name(key):
    module, name = key
    parts = module.split("/")
    prefix = {
        META: "META_V1",
        "apimachinery/pkg/runtime": "RUNTIME",
        "apimachinery/pkg/api/resource": "RESOURCE",
        "apimachinery/pkg/util/intstr": "INTSTR",
        APIEXT: "APIEXTENSIONS_V1",
    }.get(module, "_".join(parts[1:]).upper())
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).upper()
    return f"{prefix}_{snake}"


if __name__ == "__main__":
    main()
