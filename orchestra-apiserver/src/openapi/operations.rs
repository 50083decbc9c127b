//! The REST operations the server answers, per group version, derived from
//! `orchestra_api::kinds`: what the `paths` of the OpenAPI documents describe, in a form
//! independent of the OpenAPI version.
//!
//! Each kind gets Kubernetes' paths and operation ids: the collection (`list`, `create`,
//! `deletecollection`), the all-namespaces list for namespaced kinds, the object (`read`,
//! `replace`, `patch`, `delete`) and one path per subresource, each operation tagged with
//! `x-kubernetes-action` and the group, version and kind of its body. `kubectl` reads the
//! `PATCH` operations' parameters to learn that the server validates fields itself
//! (`fieldValidation`), and then skips its own client-side validation.

use orchestra_api::kinds::{ResourceKind, SubresourceKind, Verbs};

use super::definitions::{Definitions, Gvk, shared};

/// An HTTP method of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Method {
    /// `GET`
    Get,
    /// `PUT`
    Put,
    /// `POST`
    Post,
    /// `DELETE`
    Delete,
    /// `PATCH`
    Patch,
}

impl Method {
    /// The method's key in an OpenAPI path item.
    pub fn key(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Put => "put",
            Method::Post => "post",
            Method::Delete => "delete",
            Method::Patch => "patch",
        }
    }
}

/// The JSON type of a query or path parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// A string.
    String,
    /// A boolean.
    Boolean,
    /// An integer.
    Integer,
}

impl ParamType {
    /// The OpenAPI type name.
    pub fn name(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Boolean => "boolean",
            ParamType::Integer => "integer",
        }
    }
}

/// A query or path parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    /// The parameter's name.
    pub name: &'static str,
    /// `query` or `path`.
    pub location: &'static str,
    /// What it does.
    pub description: &'static str,
    /// Its type.
    pub kind: ParamType,
    /// Whether it must be given (path parameters).
    pub required: bool,
}

const fn query(name: &'static str, kind: ParamType, description: &'static str) -> Param {
    Param {
        name,
        location: "query",
        description,
        kind,
        required: false,
    }
}

/// The query parameters the server reads, as Kubernetes names them.
pub mod params {
    use super::{Param, ParamType, query};

    /// `pretty`
    pub const PRETTY: Param = query(
        "pretty",
        ParamType::String,
        "If 'true', the output is indented.",
    );
    /// `dryRun`
    pub const DRY_RUN: Param = query(
        "dryRun",
        ParamType::String,
        "When present ('All'), the request is validated and processed but nothing is persisted.",
    );
    /// `fieldManager`
    pub const FIELD_MANAGER: Param = query(
        "fieldManager",
        ParamType::String,
        "The name of the actor making the change, recorded in managedFields.",
    );
    /// `fieldValidation`
    pub const FIELD_VALIDATION: Param = query(
        "fieldValidation",
        ParamType::String,
        "How unknown and duplicate fields in the body are treated: Ignore drops them, Warn (the default) drops them with a Warning header per field, Strict rejects the request.",
    );
    /// `force`
    pub const FORCE: Param = query(
        "force",
        ParamType::Boolean,
        "Server-side apply only: take ownership of conflicting fields from other managers.",
    );
    /// `labelSelector`
    pub const LABEL_SELECTOR: Param = query(
        "labelSelector",
        ParamType::String,
        "Restricts the objects to those whose labels match this selector.",
    );
    /// `fieldSelector`
    pub const FIELD_SELECTOR: Param = query(
        "fieldSelector",
        ParamType::String,
        "Restricts the objects to those whose fields match this selector.",
    );
    /// `limit`
    pub const LIMIT: Param = query(
        "limit",
        ParamType::Integer,
        "The most objects to return; the list's continue token fetches the next chunk.",
    );
    /// `continue`
    pub const CONTINUE: Param = query(
        "continue",
        ParamType::String,
        "The continue token of the previous chunk of a paginated list.",
    );
    /// `resourceVersion`
    pub const RESOURCE_VERSION: Param = query(
        "resourceVersion",
        ParamType::String,
        "How fresh the answer must be, or the revision a watch starts after.",
    );
    /// `resourceVersionMatch`
    pub const RESOURCE_VERSION_MATCH: Param = query(
        "resourceVersionMatch",
        ParamType::String,
        "How resourceVersion applies to a list: Exact or NotOlderThan.",
    );
    /// `watch`
    pub const WATCH: Param = query(
        "watch",
        ParamType::Boolean,
        "Stream added, modified and deleted events instead of returning a list.",
    );
    /// `allowWatchBookmarks`
    pub const ALLOW_WATCH_BOOKMARKS: Param = query(
        "allowWatchBookmarks",
        ParamType::Boolean,
        "Ask a watch for BOOKMARK events carrying the latest resourceVersion.",
    );
    /// `timeoutSeconds`
    pub const TIMEOUT_SECONDS: Param = query(
        "timeoutSeconds",
        ParamType::Integer,
        "How long a list or watch call may last.",
    );
    /// `sendInitialEvents`
    pub const SEND_INITIAL_EVENTS: Param = query(
        "sendInitialEvents",
        ParamType::Boolean,
        "Start a watch with synthetic ADDED events for the current objects.",
    );
    /// `gracePeriodSeconds`
    pub const GRACE_PERIOD_SECONDS: Param = query(
        "gracePeriodSeconds",
        ParamType::Integer,
        "Seconds before the object is deleted; zero deletes immediately.",
    );
    /// `propagationPolicy`
    pub const PROPAGATION_POLICY: Param = query(
        "propagationPolicy",
        ParamType::String,
        "Whether and how dependents are deleted: Orphan, Background or Foreground.",
    );
    /// `orphanDependents`
    pub const ORPHAN_DEPENDENTS: Param = query(
        "orphanDependents",
        ParamType::Boolean,
        "Deprecated: use propagationPolicy. Whether dependents are orphaned.",
    );
}

use params::*;

/// Path parameter `name`.
const NAME: Param = Param {
    name: "name",
    location: "path",
    description: "The object's name.",
    kind: ParamType::String,
    required: true,
};

/// Path parameter `namespace`.
const NAMESPACE: Param = Param {
    name: "namespace",
    location: "path",
    description: "The object's namespace, the scope of its name and of authorization.",
    kind: ParamType::String,
    required: true,
};

const LIST_PARAMS: &[Param] = &[
    ALLOW_WATCH_BOOKMARKS,
    CONTINUE,
    FIELD_SELECTOR,
    LABEL_SELECTOR,
    LIMIT,
    RESOURCE_VERSION,
    RESOURCE_VERSION_MATCH,
    SEND_INITIAL_EVENTS,
    TIMEOUT_SECONDS,
    WATCH,
];
const WRITE_PARAMS: &[Param] = &[DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION];
const PATCH_PARAMS: &[Param] = &[DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION, FORCE];
const DELETE_PARAMS: &[Param] = &[
    DRY_RUN,
    GRACE_PERIOD_SECONDS,
    ORPHAN_DEPENDENTS,
    PROPAGATION_POLICY,
];
const DELETE_COLLECTION_PARAMS: &[Param] = &[
    CONTINUE,
    DRY_RUN,
    FIELD_SELECTOR,
    GRACE_PERIOD_SECONDS,
    LABEL_SELECTOR,
    LIMIT,
    ORPHAN_DEPENDENTS,
    PROPAGATION_POLICY,
    RESOURCE_VERSION,
    RESOURCE_VERSION_MATCH,
    SEND_INITIAL_EVENTS,
    TIMEOUT_SECONDS,
];

/// Media types of object bodies the server decodes.
pub const OBJECT_BODY_TYPES: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];
/// Media types of patch bodies the server applies.
pub const PATCH_BODY_TYPES: &[&str] = &[
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];
/// Media types of responses.
pub const RESPONSE_TYPES: &[&str] = &["application/json"];
/// Media types of list responses, which may be watches.
pub const LIST_RESPONSE_TYPES: &[&str] = &["application/json", "application/json;stream=watch"];

/// What a body or response holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// An object of the named definition.
    Definition(String),
    /// Text (logs, streams).
    Text,
}

/// A request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestBody {
    /// What it holds.
    pub payload: Payload,
    /// The media types accepted.
    pub media_types: &'static [&'static str],
}

/// One response of an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseSpec {
    /// The status code.
    pub code: u16,
    /// What the body holds.
    pub payload: Payload,
    /// The media types produced.
    pub media_types: &'static [&'static str],
}

/// One operation of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// The HTTP method.
    pub method: Method,
    /// Kubernetes' operation id (`patchAppsV1NamespacedDeployment`).
    pub operation_id: String,
    /// A sentence about it.
    pub description: String,
    /// `x-kubernetes-action`: get, list, create, put, patch, delete, deletecollection,
    /// connect.
    pub action: &'static str,
    /// `x-kubernetes-group-version-kind`.
    pub gvk: Gvk,
    /// Query parameters of this operation.
    pub params: &'static [Param],
    /// The body, if it takes one.
    pub body: Option<RequestBody>,
    /// The successful responses.
    pub responses: Vec<ResponseSpec>,
    /// `group_version` tag (`apps_v1`).
    pub tag: String,
}

/// A path and its operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathItem {
    /// The path, with `{namespace}` and `{name}` placeholders.
    pub path: String,
    /// Parameters every operation of the path takes (`name`, `namespace`, `pretty`).
    pub params: Vec<Param>,
    /// The operations.
    pub operations: Vec<Operation>,
}

/// `rbac.authorization.k8s.io` → `RbacAuthorization`, `""` → `Core`.
fn group_camel(group: &str) -> String {
    if group.is_empty() {
        return "Core".to_owned();
    }
    group
        .trim_end_matches(".k8s.io")
        .split('.')
        .map(capitalize)
        .collect()
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The tag Kubernetes gives a group version's operations (`apps_v1`, `rbacAuthorization_v1`).
fn tag(group: &str, version: &str) -> String {
    let camel = group_camel(group);
    let mut chars = camel.chars();
    let lower: String = match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    };
    format!("{lower}_{version}")
}

/// The URL prefix of a group version (`/api/v1`, `/apis/apps/v1`).
pub fn prefix(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    }
}

/// Everything needed to name and describe a kind's operations.
struct KindOps<'a> {
    kind: &'a ResourceKind,
    definitions: &'a Definitions,
    tag: String,
    object: Payload,
    gvk: Gvk,
}

impl KindOps<'_> {
    fn id(&self, verb: &str, scope: &str, suffix: &str) -> String {
        format!(
            "{verb}{}{}{scope}{}{suffix}",
            group_camel(&self.kind.group),
            capitalize(&self.kind.version),
            self.kind.kind
        )
    }

    fn namespaced_word(&self) -> &'static str {
        if self.kind.is_namespaced() {
            "Namespaced"
        } else {
            ""
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn operation(
        &self,
        method: Method,
        operation_id: String,
        description: String,
        action: &'static str,
        gvk: Gvk,
        params: &'static [Param],
        body: Option<RequestBody>,
        responses: Vec<ResponseSpec>,
    ) -> Operation {
        Operation {
            method,
            operation_id,
            description,
            action,
            gvk,
            params,
            body,
            responses,
            tag: self.tag.clone(),
        }
    }
}

fn responses(
    codes: &[u16],
    payload: &Payload,
    media_types: &'static [&'static str],
) -> Vec<ResponseSpec> {
    codes
        .iter()
        .map(|code| ResponseSpec {
            code: *code,
            payload: payload.clone(),
            media_types,
        })
        .collect()
}

fn object_body(payload: &Payload) -> Option<RequestBody> {
    Some(RequestBody {
        payload: payload.clone(),
        media_types: OBJECT_BODY_TYPES,
    })
}

fn patch_body() -> Option<RequestBody> {
    Some(RequestBody {
        payload: Payload::Definition(shared::PATCH.to_owned()),
        media_types: PATCH_BODY_TYPES,
    })
}

fn delete_body() -> Option<RequestBody> {
    Some(RequestBody {
        payload: Payload::Definition(shared::DELETE_OPTIONS.to_owned()),
        media_types: OBJECT_BODY_TYPES,
    })
}

/// The paths of one served kind.
fn kind_paths(kind: &ResourceKind, definitions: &Definitions) -> Vec<PathItem> {
    let Some(object_definition) = definitions.kind_definition(kind) else {
        return Vec::new();
    };
    let list = definitions
        .list_definition(kind)
        .map(|name| Payload::Definition(name.to_owned()))
        .unwrap_or(Payload::Text);
    let ops = KindOps {
        kind,
        definitions,
        tag: tag(&kind.group, &kind.version),
        object: Payload::Definition(object_definition.to_owned()),
        gvk: Gvk::new(&kind.group, &kind.version, &kind.kind),
    };
    let base = prefix(&kind.group, &kind.version);
    let collection = if kind.is_namespaced() {
        format!("{base}/namespaces/{{namespace}}/{}", kind.plural)
    } else {
        format!("{base}/{}", kind.plural)
    };
    let scope_params = |with_name: bool| {
        let mut params = Vec::new();
        if with_name {
            params.push(NAME);
        }
        if kind.is_namespaced() {
            params.push(NAMESPACE);
        }
        params.push(PRETTY);
        params
    };
    let ns = ops.namespaced_word();
    let mut items = Vec::new();

    // The collection.
    let mut collection_ops = Vec::new();
    if kind.verbs.contains(Verbs::LIST) {
        collection_ops.push(ops.operation(
            Method::Get,
            ops.id("list", ns, ""),
            format!("list or watch objects of kind {}", kind.kind),
            "list",
            ops.gvk.clone(),
            LIST_PARAMS,
            None,
            responses(&[200], &list, LIST_RESPONSE_TYPES),
        ));
    }
    if kind.verbs.contains(Verbs::CREATE) {
        collection_ops.push(ops.operation(
            Method::Post,
            ops.id("create", ns, ""),
            format!("create a {}", kind.kind),
            "post",
            ops.gvk.clone(),
            WRITE_PARAMS,
            object_body(&ops.object),
            responses(&[200, 201, 202], &ops.object, RESPONSE_TYPES),
        ));
    }
    if kind.verbs.contains(Verbs::DELETE_COLLECTION) {
        collection_ops.push(ops.operation(
            Method::Delete,
            ops.id("delete", &format!("Collection{ns}"), ""),
            format!("delete collection of {}", kind.kind),
            "deletecollection",
            ops.gvk.clone(),
            DELETE_COLLECTION_PARAMS,
            delete_body(),
            responses(
                &[200],
                &Payload::Definition(shared::STATUS.to_owned()),
                RESPONSE_TYPES,
            ),
        ));
    }
    if !collection_ops.is_empty() {
        items.push(PathItem {
            path: collection.clone(),
            params: scope_params(false),
            operations: collection_ops,
        });
    }

    // Every namespace at once.
    if kind.is_namespaced() && kind.verbs.contains(Verbs::LIST) {
        items.push(PathItem {
            path: format!("{base}/{}", kind.plural),
            params: vec![PRETTY],
            operations: vec![ops.operation(
                Method::Get,
                ops.id("list", "", "ForAllNamespaces"),
                format!("list or watch objects of kind {}", kind.kind),
                "list",
                ops.gvk.clone(),
                LIST_PARAMS,
                None,
                responses(&[200], &list, LIST_RESPONSE_TYPES),
            )],
        });
    }

    // One object.
    let mut object_ops = Vec::new();
    if kind.verbs.contains(Verbs::GET) {
        object_ops.push(ops.operation(
            Method::Get,
            ops.id("read", ns, ""),
            format!("read the specified {}", kind.kind),
            "get",
            ops.gvk.clone(),
            &[],
            None,
            responses(&[200], &ops.object, RESPONSE_TYPES),
        ));
    }
    if kind.verbs.contains(Verbs::UPDATE) {
        object_ops.push(ops.operation(
            Method::Put,
            ops.id("replace", ns, ""),
            format!("replace the specified {}", kind.kind),
            "put",
            ops.gvk.clone(),
            WRITE_PARAMS,
            object_body(&ops.object),
            responses(&[200, 201], &ops.object, RESPONSE_TYPES),
        ));
    }
    if kind.verbs.contains(Verbs::PATCH) {
        object_ops.push(ops.operation(
            Method::Patch,
            ops.id("patch", ns, ""),
            format!("partially update the specified {}", kind.kind),
            "patch",
            ops.gvk.clone(),
            PATCH_PARAMS,
            patch_body(),
            responses(&[200, 201], &ops.object, RESPONSE_TYPES),
        ));
    }
    if kind.verbs.contains(Verbs::DELETE) {
        object_ops.push(ops.operation(
            Method::Delete,
            ops.id("delete", ns, ""),
            format!("delete a {}", kind.kind),
            "delete",
            ops.gvk.clone(),
            DELETE_PARAMS,
            delete_body(),
            responses(&[200, 202], &ops.object, RESPONSE_TYPES),
        ));
    }
    if !object_ops.is_empty() {
        items.push(PathItem {
            path: format!("{collection}/{{name}}"),
            params: scope_params(true),
            operations: object_ops,
        });
    }

    for sub in kind.subresources.iter() {
        let operations = subresource_operations(&ops, sub);
        if !operations.is_empty() {
            items.push(PathItem {
                path: format!("{collection}/{{name}}/{}", sub.name),
                params: scope_params(true),
                operations,
            });
        }
    }
    items
}

/// The operations of one subresource, by its verbs: `get` reads, `update` replaces, `patch`
/// patches and `create` posts. `exec` is a connection (`connect`), and `log` answers text.
fn subresource_operations(ops: &KindOps<'_>, sub: &SubresourceKind) -> Vec<Operation> {
    let kind = ops.kind;
    let group = if sub.group.is_empty() && sub.version.is_empty() {
        kind.group.to_string()
    } else {
        sub.group.to_string()
    };
    let version = if sub.version.is_empty() {
        kind.version.to_string()
    } else {
        sub.version.to_string()
    };
    let sub_kind = if sub.kind.is_empty() {
        kind.kind.to_string()
    } else {
        sub.kind.to_string()
    };
    let gvk = Gvk::new(&group, &version, &sub_kind);
    let payload = if sub.name == "log" || sub.name == "exec" {
        Payload::Text
    } else {
        ops.definitions
            .definition_of(&group, &version, &sub_kind)
            .map(|name| Payload::Definition(name.to_owned()))
            .unwrap_or_else(|| ops.object.clone())
    };
    let ns = ops.namespaced_word();
    let suffix = capitalize(&sub.name);
    let what = format!("{} of the specified {}", sub.name, kind.kind);
    let mut operations = Vec::new();
    if sub.name == "exec" {
        // Kubernetes spells these `connectCoreV1GetNamespacedPodExec`.
        for (method, word) in [(Method::Get, "Get"), (Method::Post, "Post")] {
            let operation_id = format!(
                "connect{}{}{word}{ns}{}{suffix}",
                group_camel(&kind.group),
                capitalize(&kind.version),
                kind.kind
            );
            operations.push(ops.operation(
                method,
                operation_id,
                format!("connect {word} requests to {what}"),
                "connect",
                gvk.clone(),
                &[],
                None,
                responses(&[200], &Payload::Text, &["*/*"]),
            ));
        }
        return operations;
    }
    if sub.verbs.contains(Verbs::GET) {
        let media: &'static [&'static str] = if payload == Payload::Text {
            &["text/plain", "application/json"]
        } else {
            RESPONSE_TYPES
        };
        operations.push(ops.operation(
            Method::Get,
            ops.id("read", ns, &suffix),
            format!("read {what}"),
            "get",
            gvk.clone(),
            &[],
            None,
            responses(&[200], &payload, media),
        ));
    }
    if sub.verbs.contains(Verbs::UPDATE) {
        operations.push(ops.operation(
            Method::Put,
            ops.id("replace", ns, &suffix),
            format!("replace {what}"),
            "put",
            gvk.clone(),
            WRITE_PARAMS,
            object_body(&payload),
            responses(&[200, 201], &payload, RESPONSE_TYPES),
        ));
    }
    if sub.verbs.contains(Verbs::PATCH) {
        operations.push(ops.operation(
            Method::Patch,
            ops.id("patch", ns, &suffix),
            format!("partially update {what}"),
            "patch",
            gvk.clone(),
            PATCH_PARAMS,
            patch_body(),
            responses(&[200, 201], &payload, RESPONSE_TYPES),
        ));
    }
    if sub.verbs.contains(Verbs::CREATE) {
        operations.push(ops.operation(
            Method::Post,
            ops.id("create", ns, &suffix),
            format!("create {what}"),
            "post",
            gvk.clone(),
            WRITE_PARAMS,
            object_body(&payload),
            responses(&[200, 201, 202], &payload, RESPONSE_TYPES),
        ));
    }
    operations
}

/// A served group version and its paths.
#[derive(Debug, Clone)]
pub struct GroupVersion {
    /// The group (`""` for core).
    pub group: String,
    /// The version.
    pub version: String,
    /// Its paths, in the order of the kinds table.
    pub paths: Vec<PathItem>,
}

impl GroupVersion {
    /// `api/v1` or `apis/<group>/<version>`: the key of its OpenAPI v3 document.
    pub fn document_key(&self) -> String {
        prefix(&self.group, &self.version)
            .trim_start_matches('/')
            .to_owned()
    }

    /// Every definition an operation names.
    pub fn payload_definitions(&self) -> impl Iterator<Item = &str> {
        self.paths.iter().flat_map(|item| {
            item.operations.iter().flat_map(|operation| {
                let body = operation.body.iter().map(|body| &body.payload);
                let responses = operation.responses.iter().map(|r| &r.payload);
                body.chain(responses).filter_map(|payload| match payload {
                    Payload::Definition(name) => Some(name.as_str()),
                    Payload::Text => None,
                })
            })
        })
    }
}

/// Every served group version with its paths, the core group first.
pub fn group_versions(definitions: &Definitions) -> Vec<GroupVersion> {
    let mut out: Vec<GroupVersion> = Vec::new();
    for kind in orchestra_api::kinds::BUILTIN {
        let paths = kind_paths(kind, definitions);
        match out
            .iter_mut()
            .find(|gv| gv.group == kind.group && gv.version == kind.version)
        {
            Some(gv) => gv.paths.extend(paths),
            None => out.push(GroupVersion {
                group: kind.group.to_string(),
                version: kind.version.to_string(),
                paths,
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<GroupVersion> {
        group_versions(&Definitions::generate())
    }

    fn operation<'a>(gvs: &'a [GroupVersion], path: &str, method: Method) -> &'a Operation {
        gvs.iter()
            .flat_map(|gv| &gv.paths)
            .find(|item| item.path == path)
            .unwrap_or_else(|| panic!("no path {path}"))
            .operations
            .iter()
            .find(|operation| operation.method == method)
            .unwrap_or_else(|| panic!("no {method:?} on {path}"))
    }

    #[test]
    fn operation_ids_follow_kubernetes() {
        let gvs = all();
        let cases = [
            (
                "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
                Method::Patch,
                "patchAppsV1NamespacedDeployment",
            ),
            (
                "/apis/apps/v1/deployments",
                Method::Get,
                "listAppsV1DeploymentForAllNamespaces",
            ),
            (
                "/api/v1/namespaces/{namespace}/pods",
                Method::Delete,
                "deleteCoreV1CollectionNamespacedPod",
            ),
            (
                "/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}",
                Method::Get,
                "readRbacAuthorizationV1ClusterRole",
            ),
            (
                "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale",
                Method::Put,
                "replaceAppsV1NamespacedDeploymentScale",
            ),
            (
                "/api/v1/namespaces/{namespace}/pods/{name}/exec",
                Method::Post,
                "connectCoreV1PostNamespacedPodExec",
            ),
            (
                "/api/v1/namespaces/{namespace}/pods/{name}/log",
                Method::Get,
                "readCoreV1NamespacedPodLog",
            ),
        ];
        for (path, method, id) in cases {
            assert_eq!(operation(&gvs, path, method).operation_id, id);
        }
    }

    #[test]
    fn every_patch_takes_field_validation_and_names_its_kind() {
        let gvs = all();
        let patch = operation(
            &gvs,
            "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
            Method::Patch,
        );
        assert_eq!(patch.gvk, Gvk::new("apps", "v1", "Deployment"));
        assert!(patch.params.iter().any(|p| p.name == "fieldValidation"));
        let scale = operation(
            &gvs,
            "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale",
            Method::Patch,
        );
        assert_eq!(scale.gvk, Gvk::new("autoscaling", "v1", "Scale"));
        assert_eq!(
            scale.responses[0].payload,
            Payload::Definition("io.k8s.api.autoscaling.v1.Scale".into())
        );
        for kind in orchestra_api::kinds::BUILTIN {
            let gv = gvs
                .iter()
                .find(|gv| gv.group == kind.group && gv.version == kind.version)
                .unwrap();
            let found = gv.paths.iter().flat_map(|p| &p.operations).any(|op| {
                op.method == Method::Patch
                    && op.gvk == Gvk::new(&kind.group, &kind.version, &kind.kind)
                    && op.params.contains(&params::FIELD_VALIDATION)
            });
            assert!(found, "{} has no PATCH with fieldValidation", kind.plural);
        }
    }

    #[test]
    fn cluster_scoped_kinds_have_no_namespace_parameter() {
        let gvs = all();
        let nodes = gvs
            .iter()
            .flat_map(|gv| &gv.paths)
            .find(|p| p.path == "/api/v1/nodes/{name}")
            .unwrap();
        assert!(nodes.params.iter().all(|p| p.name != "namespace"));
        assert_eq!(
            operation(&gvs, "/api/v1/nodes", Method::Get).operation_id,
            "listCoreV1Node"
        );
    }
}
