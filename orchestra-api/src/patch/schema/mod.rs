//! Patch metadata: which lists of a served type merge, and by which key.
//!
//! A strategic merge patch cannot be applied from the JSON alone: whether `spec.containers`
//! is merged element by element or replaced whole depends on the Go struct tag of that field
//! in Kubernetes (`patchStrategy:"merge" patchMergeKey:"name"`). [`PatchSchema`] carries
//! exactly that information for every kind Orchestra serves, as a small static tree of the
//! fields that have patch metadata (plus the struct fields that lead to them). A field the
//! tree does not name has no metadata: maps under it merge key by key and lists under it are
//! replaced, as for any Kubernetes field without a patch strategy.
//!
//! The pod template subtree is shared: Pod `spec`, PodTemplate and every workload's
//! `spec.template.spec` (CronJob's `spec.jobTemplate.spec.template.spec`) point at the same
//! `PodSpec` table.
//!
//! ```
//! use orchestra_api::patch::{PatchSchema, PatchStrategy};
//!
//! let deployment = PatchSchema::for_kind("apps", "v1", "Deployment").unwrap();
//! let containers = deployment.lookup("spec.template.spec.containers").unwrap();
//! assert_eq!(containers.strategy, PatchStrategy::Merge);
//! assert_eq!(containers.merge_key, Some("name"));
//!
//! // Tolerations have no patch strategy in Kubernetes: a patch replaces the whole list.
//! let tolerations = deployment.lookup("spec.template.spec.tolerations");
//! assert_eq!(tolerations, None);
//!
//! // Custom resources have no strategic merge patch (Kubernetes answers 415).
//! assert!(PatchSchema::for_kind("example.com", "v1", "Widget").is_none());
//! ```

mod core;
mod kinds;
mod workloads;

use std::fmt;

/// How a field is patched when both the live object and the patch hold a value for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PatchStrategy {
    /// No `patchStrategy` tag: maps merge key by key, lists are replaced whole.
    #[default]
    Default,
    /// `patchStrategy:"merge"`: a list of objects merges element by element, matched by the
    /// merge key; a list of scalars becomes the set union, patch order first.
    Merge,
    /// `patchStrategy:"replace"`: even a map is replaced whole.
    Replace,
}

/// The patch metadata of one field, as Kubernetes' struct tags declare it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PatchMeta {
    /// The field's patch strategy.
    pub strategy: PatchStrategy,
    /// `patchMergeKey`: the key that identifies an element of a merged list of objects
    /// (`name` for containers). `None` for lists of scalars such as `finalizers`.
    pub merge_key: Option<&'static str>,
    /// `patchStrategy:"…,retainKeys"`: clients (`kubectl apply`) send a `$retainKeys` list for
    /// this field so that switching, say, a Deployment's `strategy.type` clears the fields of
    /// the old type. Applying `$retainKeys` does not depend on this flag.
    pub retain_keys: bool,
}

impl PatchMeta {
    /// No metadata: maps merge, lists are replaced.
    pub const DEFAULT: PatchMeta = PatchMeta {
        strategy: PatchStrategy::Default,
        merge_key: None,
        retain_keys: false,
    };

    /// `patchStrategy:"merge"` on a list of scalars (`metadata.finalizers`): set union.
    pub const MERGE_SCALARS: PatchMeta = PatchMeta {
        strategy: PatchStrategy::Merge,
        merge_key: None,
        retain_keys: false,
    };

    /// `patchStrategy:"replace"`.
    pub const REPLACE: PatchMeta = PatchMeta {
        strategy: PatchStrategy::Replace,
        merge_key: None,
        retain_keys: false,
    };

    /// `patchStrategy:"merge" patchMergeKey:"<key>"` on a list of objects.
    pub const fn merge_by(key: &'static str) -> PatchMeta {
        PatchMeta {
            strategy: PatchStrategy::Merge,
            merge_key: Some(key),
            retain_keys: false,
        }
    }

    /// The same metadata with `retainKeys` added to the strategy.
    pub const fn with_retain_keys(self) -> PatchMeta {
        PatchMeta {
            retain_keys: true,
            ..self
        }
    }
}

/// A key field of a `listType=map` list, with the default the API server fills in when an
/// element omits it (`protocol: TCP` of a container port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListMapKey {
    /// The key field's name.
    pub name: &'static str,
    /// Its default, when the type declares one.
    pub default: Option<&'static str>,
}

impl ListMapKey {
    /// A key field without a default.
    pub const fn named(name: &'static str) -> Self {
        Self {
            name,
            default: None,
        }
    }

    /// A key field with a default value.
    pub const fn defaulting(name: &'static str, default: &'static str) -> Self {
        Self {
            name,
            default: Some(default),
        }
    }
}

/// How server-side apply treats a list (`x-kubernetes-list-type`), which is not always what
/// its strategic-merge metadata says: container ports merge by `containerPort` in a strategic
/// patch but are keyed by `containerPort` and `protocol` for apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListType {
    /// `atomic`: the list is one value, owned and replaced whole (the default for lists
    /// without metadata, such as `tolerations` or `args`).
    Atomic,
    /// `set`: a list of distinct scalars, each owned separately (`finalizers`).
    Set,
    /// `map`: a list of objects identified by these key fields, each element owned and merged
    /// separately (`containers` by `name`).
    Map(&'static [ListMapKey]),
}

/// One field of a [`PatchSchema`]: its JSON name, its patch metadata and, when the field holds
/// a struct (or a list of structs) with metadata of its own, that struct's schema; for
/// server-side apply, its list type and whether a map or struct is atomic.
#[derive(Debug)]
pub struct FieldSchema {
    name: &'static str,
    meta: PatchMeta,
    schema: Option<&'static PatchSchema>,
    list_type: Option<ListType>,
    atomic: bool,
}

impl FieldSchema {
    /// A field with the given metadata whose value (or list element) is described by `schema`.
    pub const fn new(
        name: &'static str,
        meta: PatchMeta,
        schema: Option<&'static PatchSchema>,
    ) -> Self {
        Self {
            name,
            meta,
            schema,
            list_type: None,
            atomic: false,
        }
    }

    /// A struct or map that server-side apply treats as one value (`structType=atomic`,
    /// `mapType=atomic`: a `LabelSelector`, a Service's `selector`). Strategic merge patches
    /// still merge it key by key, as Kubernetes does.
    pub const fn atomic(name: &'static str) -> Self {
        Self {
            atomic: true,
            ..Self::new(name, PatchMeta::DEFAULT, None)
        }
    }

    /// The same field keyed by `keys` for server-side apply (`listType=map` with several
    /// `listMapKey`s, or keys different from the strategic merge key).
    pub const fn with_list_map_keys(self, keys: &'static [ListMapKey]) -> Self {
        Self {
            list_type: Some(ListType::Map(keys)),
            ..self
        }
    }

    /// A field without metadata of its own that leads to a struct with some (`spec`).
    pub const fn nested(name: &'static str, schema: &'static PatchSchema) -> Self {
        Self::new(name, PatchMeta::DEFAULT, Some(schema))
    }

    /// A list of objects merged by `key`, each element described by `element`.
    pub const fn merge_list(
        name: &'static str,
        key: &'static str,
        element: &'static PatchSchema,
    ) -> Self {
        Self::new(name, PatchMeta::merge_by(key), Some(element))
    }

    /// A list of scalars merged as a set (`finalizers`).
    pub const fn merge_scalars(name: &'static str) -> Self {
        Self::new(name, PatchMeta::MERGE_SCALARS, None)
    }

    /// The field's JSON name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The field's patch metadata.
    pub fn meta(&self) -> PatchMeta {
        self.meta
    }

    /// The schema of the field's value, or of each element when the field is a list.
    pub fn schema(&self) -> Option<&'static PatchSchema> {
        self.schema
    }

    /// How server-side apply treats the field when it holds a list: as declared, or else
    /// derived from the strategic metadata (merged by a key: `map` on that key; merged
    /// scalars: `set`; anything else: `atomic`).
    pub fn list_type(&self) -> ListType {
        if let Some(list_type) = self.list_type {
            return list_type;
        }
        match (self.meta.strategy, self.meta.merge_key) {
            (PatchStrategy::Merge, Some(key)) => {
                single_key(key).map_or(ListType::Atomic, ListType::Map)
            }
            (PatchStrategy::Merge, None) => ListType::Set,
            _ => ListType::Atomic,
        }
    }

    /// Whether server-side apply treats the field's map or struct value as one value.
    pub fn is_atomic(&self) -> bool {
        self.atomic
    }
}

/// The patch metadata of one type: the fields of it (and, through them, of its nested types)
/// that have a patch strategy, a merge key or `retainKeys`.
///
/// Obtain the schema of a served kind with [`PatchSchema::for_kind`]; describe a type of your
/// own with [`PatchSchema::new`] and [`FieldSchema`] constants.
pub struct PatchSchema {
    name: &'static str,
    fields: &'static [FieldSchema],
}

impl fmt::Debug for PatchSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only the names: the tree is large and shared between kinds.
        let fields: Vec<&str> = self.fields.iter().map(|field| field.name).collect();
        f.debug_struct("PatchSchema")
            .field("name", &self.name)
            .field("fields", &fields)
            .finish()
    }
}

/// The one-key list of a strategic merge key, for [`FieldSchema::list_type`].
fn single_key(key: &str) -> Option<&'static [ListMapKey]> {
    // Every merge key of the served types, so that the derived list type can be static.
    const KEYS: &[ListMapKey] = &[
        ListMapKey::named("name"),
        ListMapKey::named("uid"),
        ListMapKey::named("type"),
        ListMapKey::named("ip"),
        ListMapKey::named("mountPath"),
        ListMapKey::named("devicePath"),
        ListMapKey::named("containerPort"),
        ListMapKey::named("port"),
        ListMapKey::named("topologyKey"),
    ];
    KEYS.iter()
        .position(|known| known.name == key)
        .map(|at| &KEYS[at..=at])
}

/// The schema of a type with no patch metadata anywhere.
static SCHEMALESS: PatchSchema = PatchSchema::new("schemaless", &[]);

impl PatchSchema {
    /// A schema named after its Kubernetes type (`io.k8s.api.core.v1.PodSpec`) listing the
    /// fields that have metadata or lead to fields that do.
    pub const fn new(name: &'static str, fields: &'static [FieldSchema]) -> Self {
        Self { name, fields }
    }

    /// The schema of a served kind, or `None` when the kind has no strategic merge patch:
    /// custom resources and unknown kinds, to which Kubernetes answers
    /// `415 UnsupportedMediaType` for `application/strategic-merge-patch+json`.
    ///
    /// Subresources patch with their parent's schema (`pods/status` with Pod's), except
    /// `scale`, whose body is `autoscaling/v1` `Scale`.
    pub fn for_kind(group: &str, version: &str, kind: &str) -> Option<&'static PatchSchema> {
        kinds::KINDS
            .iter()
            .find(|served| {
                served.group == group && served.version == version && served.kind == kind
            })
            .map(|served| served.schema)
    }

    /// Every `(group, version, kind)` that has a schema.
    pub fn kinds() -> impl Iterator<Item = (&'static str, &'static str, &'static str)> {
        kinds::KINDS
            .iter()
            .map(|served| (served.group, served.version, served.kind))
    }

    /// A schema without any metadata: maps merge key by key (a `null` deletes), lists are
    /// replaced. This is what every field of a kind without list strategies gets.
    pub fn schemaless() -> &'static PatchSchema {
        &SCHEMALESS
    }

    /// The type's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The fields with metadata, or leading to fields with metadata.
    pub fn fields(&self) -> &'static [FieldSchema] {
        self.fields
    }

    /// The field named `name`, if it has (or leads to) metadata.
    pub fn field(&self, name: &str) -> Option<&'static FieldSchema> {
        self.fields.iter().find(|field| field.name == name)
    }

    /// The metadata of the field at a dot-separated `path` (`spec.template.spec.containers`,
    /// `spec.containers.ports`: list elements are stepped through implicitly), or `None` when
    /// the field has no patch metadata.
    pub fn lookup(&self, path: &str) -> Option<PatchMeta> {
        let mut schema = self;
        let mut segments = path.split('.').peekable();
        while let Some(segment) = segments.next() {
            let field = schema.field(segment)?;
            if segments.peek().is_none() {
                return (field.meta != PatchMeta::DEFAULT).then_some(field.meta);
            }
            schema = field.schema?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_orchestra_serves_has_a_schema() {
        for kind in crate::kinds::BUILTIN {
            assert!(
                PatchSchema::for_kind(&kind.group, &kind.version, &kind.kind).is_some(),
                "{}/{} {} has no patch schema",
                kind.group,
                kind.version,
                kind.kind
            );
        }
    }

    #[test]
    fn the_pod_template_is_shared_by_every_workload() {
        let paths = [
            ("", "v1", "Pod", "spec"),
            ("", "v1", "PodTemplate", "template.spec"),
            ("", "v1", "ReplicationController", "spec.template.spec"),
            ("apps", "v1", "Deployment", "spec.template.spec"),
            ("apps", "v1", "ReplicaSet", "spec.template.spec"),
            ("apps", "v1", "StatefulSet", "spec.template.spec"),
            ("apps", "v1", "DaemonSet", "spec.template.spec"),
            ("batch", "v1", "Job", "spec.template.spec"),
            (
                "batch",
                "v1",
                "CronJob",
                "spec.jobTemplate.spec.template.spec",
            ),
        ];
        for (group, version, kind, pod_spec) in paths {
            let schema = PatchSchema::for_kind(group, version, kind).unwrap();
            for (list, key) in [
                ("containers", "name"),
                ("initContainers", "name"),
                ("ephemeralContainers", "name"),
                ("volumes", "name"),
                ("imagePullSecrets", "name"),
                ("hostAliases", "ip"),
                ("topologySpreadConstraints", "topologyKey"),
                ("resourceClaims", "name"),
                ("schedulingGates", "name"),
                ("containers.ports", "containerPort"),
                ("containers.env", "name"),
                ("containers.volumeMounts", "mountPath"),
                ("containers.volumeDevices", "devicePath"),
            ] {
                let path = format!("{pod_spec}.{list}");
                let meta = schema.lookup(&path);
                assert_eq!(
                    meta.and_then(|meta| meta.merge_key),
                    Some(key),
                    "{kind} {path}"
                );
            }
            for atomic in ["tolerations", "readinessGates", "containers.envFrom"] {
                assert_eq!(schema.lookup(&format!("{pod_spec}.{atomic}")), None);
            }
        }
    }

    #[test]
    fn metadata_merges_owner_references_by_uid_and_finalizers_as_a_set() {
        let schema = PatchSchema::for_kind("", "v1", "ConfigMap").unwrap();
        assert_eq!(
            schema.lookup("metadata.ownerReferences"),
            Some(PatchMeta::merge_by("uid"))
        );
        assert_eq!(
            schema.lookup("metadata.finalizers"),
            Some(PatchMeta::MERGE_SCALARS)
        );
        assert_eq!(schema.lookup("metadata.managedFields"), None);
    }

    #[test]
    fn volumes_and_deployment_strategy_retain_keys() {
        let deployment = PatchSchema::for_kind("apps", "v1", "Deployment").unwrap();
        assert!(deployment.lookup("spec.strategy").unwrap().retain_keys);
        assert!(
            deployment
                .lookup("spec.template.spec.volumes")
                .unwrap()
                .retain_keys
        );
    }

    #[test]
    fn service_ports_merge_by_port_and_node_addresses_by_type() {
        let service = PatchSchema::for_kind("", "v1", "Service").unwrap();
        assert_eq!(
            service.lookup("spec.ports"),
            Some(PatchMeta::merge_by("port"))
        );
        assert_eq!(service.lookup("status.loadBalancer.ingress"), None);
        let node = PatchSchema::for_kind("", "v1", "Node").unwrap();
        assert_eq!(
            node.lookup("status.addresses"),
            Some(PatchMeta::merge_by("type"))
        );
        assert_eq!(node.lookup("spec.taints"), None);
        assert_eq!(node.lookup("spec.podCIDRs"), Some(PatchMeta::MERGE_SCALARS));
    }

    #[test]
    fn status_conditions_merge_by_type() {
        for (group, version, kind) in [
            ("", "v1", "Pod"),
            ("", "v1", "Node"),
            ("", "v1", "Namespace"),
            ("", "v1", "PersistentVolumeClaim"),
            ("", "v1", "ReplicationController"),
            ("", "v1", "Service"),
            ("apps", "v1", "Deployment"),
            ("apps", "v1", "ReplicaSet"),
            ("apps", "v1", "StatefulSet"),
            ("apps", "v1", "DaemonSet"),
            ("batch", "v1", "Job"),
            ("autoscaling", "v2", "HorizontalPodAutoscaler"),
            ("policy", "v1", "PodDisruptionBudget"),
        ] {
            let schema = PatchSchema::for_kind(group, version, kind).unwrap();
            assert_eq!(
                schema.lookup("status.conditions"),
                Some(PatchMeta::merge_by("type")),
                "{kind}"
            );
        }
    }

    #[test]
    fn lookup_of_unknown_paths_is_none() {
        let pod = PatchSchema::for_kind("", "v1", "Pod").unwrap();
        assert_eq!(pod.lookup("spec.nope"), None);
        assert_eq!(pod.lookup("spec"), None);
        assert_eq!(pod.lookup(""), None);
        assert_eq!(PatchSchema::schemaless().lookup("spec.containers"), None);
    }
}
