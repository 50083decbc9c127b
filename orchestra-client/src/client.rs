//! `HttpClient`: the [`Client`] verbs as Kubernetes REST calls.
//!
//! Each verb becomes the request `kubectl` or client-go would send — the same path, query
//! parameters and body — and each answer is decoded into what `orchestra_store`'s
//! `LocalClient` returns for the same call: objects of the kind's Rust type behind an
//! [`ArcObject`], lists with their revision and continue token, and failures as the server's
//! [`Status`].
//!
//! Two verbs need a word on how the HTTP answer maps back:
//!
//! * **delete** — Kubernetes answers with the object in both cases. The object is
//!   [`DeleteOutcome::Pending`] when it still carries a `deletionTimestamp` (finalizers or a
//!   grace period remain), unless the request asked for a grace period of 0 and the object has
//!   no finalizers (then it is gone); otherwise it is [`DeleteOutcome::Deleted`]. An answer
//!   that is a `Success` Status (as some Kubernetes resources give) is `Deleted`, with an
//!   object holding the name, namespace and uid from the Status's details.
//! * **patch** — the object answered, and for `Client::patch_outcome` whether the patch
//!   created it (`201 Created`: a server-side apply of a new name) and the texts of the
//!   answer's `Warning` headers.
//! * **binding / eviction** — Kubernetes answers `201` with a `Success` Status; the call
//!   returns the posted object, as `LocalClient` does.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use hyper::Method;
use k8s_openapi::api::autoscaling::v1::Scale;
use orchestra_api::object::{ObjectCodec, TypedCodec};
use orchestra_api::{
    ArcObject, Client, DeleteOutcome, DeleteParams, DynamicObject, GetParams, ListParams,
    ObjectList, Patch, PatchParams, Patched, PostParams, ResourceKind, Status, Subresource,
    WatchParams, WatchStream,
};

use crate::decode;
use crate::error::ClientError;
use crate::kubeconfig::{Kubeconfig, ResolvedContext};
use crate::request::{
    collection_path, delete_options, get_query, list_query, object_path, patch_query, post_query,
    with_query,
};
use crate::retry::RetryPolicy;
use crate::transport::{ApiRequest, Transport};
use crate::watch;

/// The codec of `autoscaling/v1` `Scale`, the body of every `scale` subresource.
static SCALE_CODEC: TypedCodec<Scale> = TypedCodec::NEW;

/// [`Client`] over HTTPS to a Kubernetes-compatible API server.
///
/// Cheap to clone: clones share the connection pool.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use orchestra_api::{Api, ListParams, k8s_openapi::api::core::v1::Pod};
/// use orchestra_client::HttpClient;
///
/// let client = HttpClient::from_default_kubeconfig()?;
/// let pods = Api::<Pod>::namespaced(Arc::new(client.clone()), client.default_namespace());
/// for pod in pods.list(&ListParams::default().labels("app=web")).await?.items {
///     println!("{}", pod.metadata.name.as_deref().unwrap_or(""));
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct HttpClient {
    transport: Transport,
    namespace: String,
}

impl HttpClient {
    /// A client for the current context of the kubeconfig at `path`.
    pub fn from_kubeconfig(path: impl AsRef<Path>) -> Result<Self, ClientError> {
        let context = Kubeconfig::load(path.as_ref())?.current()?;
        Self::from_context(&context)
    }

    /// A client for the current context of the kubeconfig `kubectl` would use
    /// (`$KUBECONFIG`, else `~/.kube/config`).
    pub fn from_default_kubeconfig() -> Result<Self, ClientError> {
        let context = Kubeconfig::load_default()?.current()?;
        Self::from_context(&context)
    }

    /// A client for a resolved context.
    pub fn from_context(context: &ResolvedContext) -> Result<Self, ClientError> {
        Ok(Self {
            transport: Transport::new(context)?,
            namespace: context.namespace.clone(),
        })
    }

    /// The same client with another retry policy.
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.transport.retry = policy;
        self
    }

    /// The retry policy in force.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.transport.retry
    }

    /// The context's namespace (`default` when it names none), for `Api::namespaced`.
    pub fn default_namespace(&self) -> &str {
        &self.namespace
    }

    /// The server URL.
    pub fn server(&self) -> &str {
        self.transport.base()
    }

    /// Sends a request and decodes a successful answer with `codec`.
    async fn object_call(
        &self,
        request: ApiRequest,
        codec: &dyn ObjectCodec,
    ) -> Result<ArcObject, Status> {
        let body = self.transport.send(&request).await?;
        decode::object(codec, &body)
    }

    async fn list_call(
        &self,
        request: ApiRequest,
        codec: &dyn ObjectCodec,
    ) -> Result<ObjectList, Status> {
        let body = self.transport.send(&request).await?;
        if decode::is_status_body(&body) {
            // A delete-collection answered with a Success Status.
            return Ok(ObjectList::default());
        }
        decode::list(codec, &body)
    }
}

/// Object names are never empty: an empty one would address the collection.
fn check_name(name: &str) -> Result<(), Status> {
    if name.is_empty() {
        Err(Status::bad_request("resource name may not be empty"))
    } else {
        Ok(())
    }
}

fn encode(object: &ArcObject) -> Result<Vec<u8>, Status> {
    object
        .to_json()
        .map_err(|err| Status::bad_request(format!("cannot encode the object: {err}")))
}

/// The codec of what a subresource answers with.
fn subresource_codec(kind: &ResourceKind, subresource: Option<Subresource>) -> &dyn ObjectCodec {
    match subresource {
        Some(Subresource::Scale) => &SCALE_CODEC,
        _ => kind.codec,
    }
}

/// Whether a deleted object is still on its way out (see the module docs).
fn is_pending(object: &ArcObject, params: &DeleteParams) -> bool {
    let meta = object.metadata();
    if meta.deletion_timestamp.is_none() {
        return false;
    }
    let has_finalizers = meta.finalizers.as_ref().is_some_and(|f| !f.is_empty());
    has_finalizers || params.grace_period_seconds != Some(0)
}

/// The object a `Success` Status stands for.
fn object_from_status(kind: &ResourceKind, body: &[u8], namespace: Option<&str>) -> ArcObject {
    let status: Status = serde_json::from_slice(body).unwrap_or_else(|_| Status::success(None));
    let details = status.details.unwrap_or_default();
    let mut metadata = serde_json::json!({"name": details.name});
    if let Some(ns) = namespace.filter(|_| kind.is_namespaced()) {
        metadata["namespace"] = ns.into();
    }
    if !details.uid.is_empty() {
        metadata["uid"] = details.uid.as_str().into();
    }
    let value = serde_json::json!({
        "apiVersion": kind.api_version(),
        "kind": kind.kind,
        "metadata": metadata,
    });
    match kind.codec.decode_value(value.clone()) {
        Ok(object) => ArcObject::from(object),
        Err(_) => Arc::new(serde_json::from_value::<DynamicObject>(value).unwrap_or_default()),
    }
}

#[async_trait]
impl Client for HttpClient {
    async fn get(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        params: &GetParams,
    ) -> Result<ArcObject, Status> {
        check_name(name)?;
        let path = object_path(kind, namespace, name, None);
        self.object_call(
            ApiRequest::get(with_query(path, &get_query(params))),
            kind.codec,
        )
        .await
    }

    async fn list(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        params: &ListParams,
    ) -> Result<ObjectList, Status> {
        let path = collection_path(kind, namespace);
        self.list_call(
            ApiRequest::get(with_query(path, &list_query(params))),
            kind.codec,
        )
        .await
    }

    async fn watch(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        params: &WatchParams,
    ) -> Result<WatchStream, Status> {
        let request = watch::first_request(kind, namespace, params);
        let response = self.transport.send_streaming(&request).await?;
        Ok(watch::resuming(
            self.transport.clone(),
            kind,
            namespace,
            params,
            response.into_body(),
        ))
    }

    async fn create(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        object: ArcObject,
        params: &PostParams,
    ) -> Result<ArcObject, Status> {
        let namespace = namespace
            .map(str::to_owned)
            .or_else(|| object.metadata().namespace.clone());
        let path = collection_path(kind, namespace.as_deref());
        let request = ApiRequest::with_body(
            Method::POST,
            with_query(path, &post_query(params)),
            "application/json",
            encode(&object)?,
        );
        self.object_call(request, kind.codec).await
    }

    async fn create_subresource(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        subresource: Subresource,
        object: ArcObject,
        params: &PostParams,
    ) -> Result<ArcObject, Status> {
        check_name(name)?;
        let path = object_path(kind, namespace, name, Some(subresource.as_str()));
        let request = ApiRequest::with_body(
            Method::POST,
            with_query(path, &post_query(params)),
            "application/json",
            encode(&object)?,
        );
        self.transport.send(&request).await?;
        Ok(object)
    }

    async fn replace(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<Subresource>,
        object: ArcObject,
        params: &PostParams,
    ) -> Result<ArcObject, Status> {
        check_name(name)?;
        let path = object_path(kind, namespace, name, subresource.map(Subresource::as_str));
        let request = ApiRequest::with_body(
            Method::PUT,
            with_query(path, &post_query(params)),
            "application/json",
            encode(&object)?,
        );
        self.object_call(request, subresource_codec(kind, subresource))
            .await
    }

    async fn patch(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<Subresource>,
        patch: &Patch,
        params: &PatchParams,
    ) -> Result<ArcObject, Status> {
        self.patch_outcome(kind, namespace, name, subresource, patch, params)
            .await
            .map(|patched| patched.object)
    }

    async fn patch_outcome(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<Subresource>,
        patch: &Patch,
        params: &PatchParams,
    ) -> Result<Patched, Status> {
        check_name(name)?;
        let body = match patch {
            Patch::Merge(v) | Patch::Json(v) | Patch::Strategic(v) | Patch::Apply(v) => {
                serde_json::to_vec(v)
                    .map_err(|err| Status::bad_request(format!("cannot encode the patch: {err}")))?
            }
        };
        let path = object_path(kind, namespace, name, subresource.map(Subresource::as_str));
        let request = ApiRequest::with_body(
            Method::PATCH,
            with_query(path, &patch_query(params)),
            patch.content_type(),
            body,
        );
        let answer = self.transport.send_answer(&request).await?;
        Ok(Patched {
            object: decode::object(subresource_codec(kind, subresource), &answer.body)?,
            // Kubernetes answers `201 Created` to an apply that created its object.
            created: answer.code == 201,
            warnings: answer.warnings,
        })
    }

    async fn get_subresource(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        subresource: Subresource,
    ) -> Result<ArcObject, Status> {
        check_name(name)?;
        let path = object_path(kind, namespace, name, Some(subresource.as_str()));
        self.object_call(
            ApiRequest::get(path),
            subresource_codec(kind, Some(subresource)),
        )
        .await
    }

    async fn delete(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        params: &DeleteParams,
    ) -> Result<DeleteOutcome, Status> {
        check_name(name)?;
        let body = serde_json::to_vec(&delete_options(params))
            .map_err(|err| Status::bad_request(format!("cannot encode DeleteOptions: {err}")))?;
        let request = ApiRequest::with_body(
            Method::DELETE,
            object_path(kind, namespace, name, None),
            "application/json",
            body,
        );
        let body = self.transport.send(&request).await?;
        if decode::is_status_body(&body) {
            return Ok(DeleteOutcome::Deleted(object_from_status(
                kind, &body, namespace,
            )));
        }
        let object = decode::object(kind.codec, &body)?;
        Ok(if is_pending(&object, params) {
            DeleteOutcome::Pending(object)
        } else {
            DeleteOutcome::Deleted(object)
        })
    }

    async fn delete_collection(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        list: &ListParams,
        params: &DeleteParams,
    ) -> Result<ObjectList, Status> {
        let body = serde_json::to_vec(&delete_options(params))
            .map_err(|err| Status::bad_request(format!("cannot encode DeleteOptions: {err}")))?;
        let path = collection_path(kind, namespace);
        let request = ApiRequest::with_body(
            Method::DELETE,
            with_query(path, &list_query(list)),
            "application/json",
            body,
        );
        self.list_call(request, kind.codec).await
    }
}
