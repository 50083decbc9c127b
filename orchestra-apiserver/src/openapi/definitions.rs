//! The schema definitions of every served kind, generated from the `k8s-openapi` types with
//! `schemars`, named as Kubernetes names them (`io.k8s.api.apps.v1.Deployment`), and completed
//! with what the types do not say: the `XList` definitions, Kubernetes' shapes of `Quantity`
//! and `IntOrString`, `x-kubernetes-group-version-kind` on every top-level kind, and the patch
//! metadata of [`orchestra_api::patch::PatchSchema`].
//!
//! The definitions are kept in one neutral form — JSON Schema whose references are
//! `#/definitions/<name>` with their descriptions beside them, which is also Swagger 2.0's
//! form — and rendered for each OpenAPI version by [`super::v2`] and [`super::v3`].

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::Resource;
use k8s_openapi::api::{
    admissionregistration, apps, autoscaling, batch, coordination, core, discovery, networking,
    policy, rbac, scheduling, storage,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_openapi::schemars::JsonSchema;
use k8s_openapi::schemars::generate::{SchemaGenerator, SchemaSettings};
use orchestra_api::kinds::ResourceKind;
use serde_json::{Map, Value, json};

use super::patch_extensions;

/// Where the neutral form's references point.
pub const REF_PREFIX: &str = "#/definitions/";

/// A group, version and kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Gvk {
    /// The group (`""` for core).
    pub group: String,
    /// The version.
    pub version: String,
    /// The kind.
    pub kind: String,
}

impl Gvk {
    /// A group, version and kind.
    pub fn new(group: &str, version: &str, kind: &str) -> Self {
        Self {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
        }
    }

    /// The `x-kubernetes-group-version-kind` entry.
    pub fn extension(&self) -> Value {
        json!({"group": self.group, "kind": self.kind, "version": self.version})
    }
}

/// A type whose schema the documents hold, by its group, version and kind.
struct TypeRoot {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    /// Adds the type's schema and everything it refers to; returns its definition name.
    add: fn(&mut SchemaGenerator) -> String,
}

fn add<T: JsonSchema + Resource>(generator: &mut SchemaGenerator) -> String {
    generator.subschema_for::<T>();
    T::schema_name().into_owned()
}

macro_rules! type_roots {
    ($($ty:ty),* $(,)?) => {
        &[$(TypeRoot {
            group: <$ty as Resource>::GROUP,
            version: <$ty as Resource>::VERSION,
            kind: <$ty as Resource>::KIND,
            add: add::<$ty>,
        }),*]
    };
}

/// The Rust type behind each served kind, and the bodies of subresources and requests
/// (`Scale`, `Binding`, `Eviction`, `DeleteOptions`, `Status`). A test checks that every
/// kind of `orchestra_api::kinds::BUILTIN` has its row.
static TYPE_ROOTS: &[TypeRoot] = type_roots![
    core::v1::Namespace,
    core::v1::Node,
    core::v1::Pod,
    core::v1::Service,
    core::v1::Endpoints,
    core::v1::ConfigMap,
    core::v1::Secret,
    core::v1::ServiceAccount,
    core::v1::PersistentVolume,
    core::v1::PersistentVolumeClaim,
    core::v1::Event,
    core::v1::LimitRange,
    core::v1::ResourceQuota,
    core::v1::ReplicationController,
    core::v1::PodTemplate,
    core::v1::Binding,
    apps::v1::Deployment,
    apps::v1::ReplicaSet,
    apps::v1::StatefulSet,
    apps::v1::DaemonSet,
    apps::v1::ControllerRevision,
    batch::v1::Job,
    batch::v1::CronJob,
    autoscaling::v2::HorizontalPodAutoscaler,
    autoscaling::v1::Scale,
    coordination::v1::Lease,
    discovery::v1::EndpointSlice,
    networking::v1::Ingress,
    networking::v1::IngressClass,
    networking::v1::NetworkPolicy,
    policy::v1::PodDisruptionBudget,
    policy::v1::Eviction,
    rbac::v1::Role,
    rbac::v1::RoleBinding,
    rbac::v1::ClusterRole,
    rbac::v1::ClusterRoleBinding,
    scheduling::v1::PriorityClass,
    storage::v1::StorageClass,
    storage::v1::VolumeAttachment,
    storage::v1::CSIDriver,
    storage::v1::CSINode,
    storage::v1::CSIStorageCapacity,
    admissionregistration::v1::ValidatingAdmissionPolicy,
    admissionregistration::v1::ValidatingAdmissionPolicyBinding,
    admissionregistration::v1::ValidatingWebhookConfiguration,
    admissionregistration::v1::MutatingWebhookConfiguration,
    apiextensions::v1::CustomResourceDefinition,
];

/// Definition names of the request and response bodies every operation shares.
pub mod shared {
    /// `DeleteOptions`, the body of deletes.
    pub const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
    /// `Status`, the answer of deletes and of errors.
    pub const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
    /// `Patch`, the body of patches.
    pub const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
    /// `ListMeta`.
    pub const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
    /// `Quantity`.
    pub const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
    /// `IntOrString`.
    pub const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
}

/// Every definition the documents draw from, and where each kind's lives.
#[derive(Debug, Clone)]
pub struct Definitions {
    /// Definition name → schema, in the neutral form.
    pub schemas: BTreeMap<String, Value>,
    /// Group, version and kind → definition name (kinds, their lists, and request bodies).
    pub by_gvk: BTreeMap<Gvk, String>,
}

impl Definitions {
    /// Generates every definition. Deterministic: the same program gives the same bytes.
    pub fn generate() -> Self {
        let mut generator = SchemaSettings::draft07()
            .with(|settings| {
                settings.definitions_path = "#/definitions".into();
                settings.meta_schema = None;
                settings.transforms.clear();
            })
            .into_generator();
        let mut by_gvk = BTreeMap::new();
        for root in TYPE_ROOTS {
            let name = (root.add)(&mut generator);
            by_gvk.insert(Gvk::new(root.group, root.version, root.kind), name);
        }
        let _ = generator.subschema_for::<meta::DeleteOptions>();
        let _ = generator.subschema_for::<meta::Status>();
        let _ = generator.subschema_for::<meta::Patch>();
        let _ = generator.subschema_for::<meta::ListMeta>();
        let mut schemas: BTreeMap<String, Value> = generator
            .take_definitions(false)
            .into_iter()
            .collect::<Map<String, Value>>()
            .into_iter()
            .collect();
        normalize_scalars(&mut schemas);
        let mut definitions = Definitions { schemas, by_gvk };
        definitions.add_lists();
        definitions.add_gvk_extensions();
        patch_extensions::annotate(&mut definitions);
        definitions
    }

    /// The definition name of a served kind.
    pub fn kind_definition(&self, kind: &ResourceKind) -> Option<&str> {
        self.definition_of(&kind.group, &kind.version, &kind.kind)
    }

    /// The definition name of a served kind's list.
    pub fn list_definition(&self, kind: &ResourceKind) -> Option<&str> {
        self.definition_of(&kind.group, &kind.version, &kind.list_kind)
    }

    /// The definition of a group, version and kind, if the documents hold one.
    pub fn definition_of(&self, group: &str, version: &str, kind: &str) -> Option<&str> {
        self.by_gvk
            .get(&Gvk::new(group, version, kind))
            .map(String::as_str)
    }

    /// `XList` for every served kind: Kubernetes' list shape, items referring to the kind.
    fn add_lists(&mut self) {
        for kind in orchestra_api::kinds::BUILTIN {
            let Some(item) = self.kind_definition(kind).map(str::to_owned) else {
                continue;
            };
            let Some(prefix) = item.strip_suffix(kind.kind.as_ref()) else {
                continue;
            };
            let name = format!("{prefix}{}", kind.list_kind);
            let schema = json!({
                "description": format!("{} is a list of {} objects.", kind.list_kind, kind.kind),
                "type": "object",
                "properties": {
                    "apiVersion": {
                        "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values.",
                        "type": "string",
                    },
                    "items": {
                        "description": format!("The {} in the list.", kind.plural),
                        "type": "array",
                        "items": {"$ref": format!("{REF_PREFIX}{item}")},
                    },
                    "kind": {
                        "description": "Kind is a string value representing the REST resource this object represents. In CamelCase.",
                        "type": "string",
                    },
                    "metadata": {
                        "$ref": format!("{REF_PREFIX}{}", shared::LIST_META),
                        "description": "Standard list metadata: resourceVersion, continue, remainingItemCount.",
                    },
                },
                "required": ["items"],
            });
            self.schemas.insert(name.clone(), schema);
            self.by_gvk
                .insert(Gvk::new(&kind.group, &kind.version, &kind.list_kind), name);
        }
    }

    /// `x-kubernetes-group-version-kind` on every top-level kind, as `kubectl explain` and
    /// `kubectl`'s OpenAPI lookups find definitions by it.
    fn add_gvk_extensions(&mut self) {
        let mut extensions: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for (gvk, name) in &self.by_gvk {
            extensions
                .entry(name.clone())
                .or_default()
                .push(gvk.extension());
        }
        // DeleteOptions and Status are accepted and answered by every group version.
        let group_versions: BTreeSet<(&str, &str)> = orchestra_api::kinds::BUILTIN
            .iter()
            .map(|kind| (kind.group.as_ref(), kind.version.as_ref()))
            .collect();
        for (group, version) in group_versions {
            extensions
                .entry(shared::DELETE_OPTIONS.to_owned())
                .or_default()
                .push(Gvk::new(group, version, "DeleteOptions").extension());
        }
        extensions
            .entry(shared::STATUS.to_owned())
            .or_default()
            .push(Gvk::new("", "v1", "Status").extension());
        for (name, gvks) in extensions {
            if let Some(Value::Object(schema)) = self.schemas.get_mut(&name) {
                schema.insert(
                    "x-kubernetes-group-version-kind".to_owned(),
                    Value::Array(gvks),
                );
            }
        }
    }

    /// The names of `roots` and of every definition they refer to, transitively.
    pub fn closure<'a>(&self, roots: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut pending: Vec<String> = roots.into_iter().map(str::to_owned).collect();
        while let Some(name) = pending.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            if let Some(schema) = self.schemas.get(&name) {
                for_each_ref(schema, &mut |target| {
                    if !seen.contains(target) {
                        pending.push(target.to_owned());
                    }
                });
            }
        }
        seen
    }
}

/// Calls `visit` with the definition name of every reference in `schema`.
pub fn for_each_ref(schema: &Value, visit: &mut dyn FnMut(&str)) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                if let Some(name) = target.strip_prefix(REF_PREFIX) {
                    visit(name);
                }
            }
            for value in map.values() {
                for_each_ref(value, visit);
            }
        }
        Value::Array(items) => {
            for item in items {
                for_each_ref(item, visit);
            }
        }
        _ => {}
    }
}

/// Kubernetes publishes `Quantity` and `IntOrString` as strings that also accept numbers;
/// `schemars` output marks them `x-kubernetes-int-or-string` only. Give them Kubernetes'
/// Swagger 2.0 shape here (the OpenAPI 3 one is derived in [`super::v3`]).
fn normalize_scalars(schemas: &mut BTreeMap<String, Value>) {
    if let Some(Value::Object(quantity)) = schemas.get_mut(shared::QUANTITY) {
        quantity.remove("x-kubernetes-int-or-string");
        quantity.insert("type".to_owned(), json!("string"));
    }
    if let Some(Value::Object(int_or_string)) = schemas.get_mut(shared::INT_OR_STRING) {
        int_or_string.remove("x-kubernetes-int-or-string");
        int_or_string.insert("type".to_owned(), json!("string"));
        int_or_string.insert("format".to_owned(), json!("int-or-string"));
    }
}

/// Renders a schema through `schemars`, for tests that compare with a type's own schema.
#[cfg(test)]
pub(crate) fn schema_of<T: JsonSchema>() -> k8s_openapi::schemars::Schema {
    k8s_openapi::schemars::schema_for!(T)
}

#[cfg(test)]
mod tests {
    use super::*;
    use orchestra_api::kinds::BUILTIN;

    #[test]
    fn every_served_kind_and_its_list_has_a_definition_with_its_gvk() {
        let definitions = Definitions::generate();
        for kind in BUILTIN {
            for (name, kind_name) in [
                (definitions.kind_definition(kind), &kind.kind),
                (definitions.list_definition(kind), &kind.list_kind),
            ] {
                let name = name.unwrap_or_else(|| panic!("{} has no definition", kind_name));
                let schema = &definitions.schemas[name];
                assert_eq!(
                    schema["x-kubernetes-group-version-kind"][0],
                    json!({"group": kind.group, "kind": kind_name, "version": kind.version}),
                    "{name}"
                );
            }
        }
        assert_eq!(
            definitions.kind_definition(&orchestra_api::kinds::DEPLOYMENTS),
            Some("io.k8s.api.apps.v1.Deployment")
        );
    }

    #[test]
    fn every_reference_resolves() {
        let definitions = Definitions::generate();
        for (name, schema) in &definitions.schemas {
            for_each_ref(schema, &mut |target| {
                assert!(
                    definitions.schemas.contains_key(target),
                    "{name} refers to missing {target}"
                );
            });
        }
    }

    #[test]
    fn descriptions_come_from_the_types() {
        let definitions = Definitions::generate();
        let pod_spec = &definitions.schemas["io.k8s.api.core.v1.PodSpec"];
        let containers = &pod_spec["properties"]["containers"];
        assert!(
            containers["description"]
                .as_str()
                .unwrap()
                .starts_with("List of containers belonging to the pod.")
        );
        assert_eq!(
            containers["items"]["$ref"],
            "#/definitions/io.k8s.api.core.v1.Container"
        );
        let own = schema_of::<core::v1::PodSpec>();
        assert_eq!(
            own.get("description"),
            pod_spec.get("description"),
            "the definition is the type's own schema"
        );
    }

    #[test]
    fn quantities_and_int_or_strings_are_strings() {
        let definitions = Definitions::generate();
        assert_eq!(definitions.schemas[shared::QUANTITY]["type"], "string");
        assert_eq!(
            definitions.schemas[shared::INT_OR_STRING]["format"],
            "int-or-string"
        );
    }

    #[test]
    fn generation_is_deterministic() {
        let a = serde_json::to_vec(&Definitions::generate().schemas).unwrap();
        let b = serde_json::to_vec(&Definitions::generate().schemas).unwrap();
        assert_eq!(a, b);
    }
}
