//! The HTTP layer under [`crate::HttpClient`]: one pooled hyper client (HTTP/2 multiplexed over
//! one TLS connection where the server speaks it, HTTP/1.1 keep-alive connections otherwise),
//! the request headers every call carries, and retries as [`crate::retry`] decides them.

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, Uri};
use hyper_rustls::{FixedServerNameResolver, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use orchestra_api::{Status, StatusReason};

use crate::decode;
use crate::error::ClientError;
use crate::kubeconfig::ResolvedContext;
use crate::retry::{Attempt, RetryPolicy, parse_retry_after};
use crate::tls;
use crate::warning;

/// `User-Agent` of every request.
const USER_AGENT: &str = concat!("orchestra-client/", env!("CARGO_PKG_VERSION"));

/// One request, kept so that it can be sent again.
#[derive(Debug, Clone)]
pub(crate) struct ApiRequest {
    pub method: Method,
    /// Path and query, relative to the server URL.
    pub path_and_query: String,
    /// The body's media type, when there is a body.
    pub content_type: Option<&'static str>,
    pub body: Bytes,
}

impl ApiRequest {
    pub fn get(path_and_query: String) -> Self {
        Self {
            method: Method::GET,
            path_and_query,
            content_type: None,
            body: Bytes::new(),
        }
    }

    pub fn with_body(
        method: Method,
        path_and_query: String,
        content_type: &'static str,
        body: Vec<u8>,
    ) -> Self {
        Self {
            method,
            path_and_query,
            content_type: Some(content_type),
            body: Bytes::from(body),
        }
    }
}

/// A successful answer, read whole.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The HTTP status code (below 400).
    pub code: u16,
    /// The texts of its `Warning` headers.
    pub warnings: Vec<String>,
    /// The body.
    pub body: Bytes,
}

/// The pooled HTTPS client for one server.
#[derive(Clone)]
pub(crate) struct Transport {
    client: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// `https://host:port` plus any path prefix, without a trailing `/`.
    base: String,
    authorization: Option<HeaderValue>,
    pub retry: RetryPolicy,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("base", &self.base)
            .field("has_token", &self.authorization.is_some())
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// A client for the server and credentials of `context`.
    pub fn new(context: &ResolvedContext) -> Result<Self, ClientError> {
        let server = context.server.trim_end_matches('/');
        let url_error = |reason: &str| ClientError::ServerUrl {
            url: context.server.clone(),
            reason: reason.to_owned(),
        };
        let uri: Uri = server.parse().map_err(|_| url_error("not a URL"))?;
        match uri.scheme_str() {
            Some("https" | "http") => {}
            _ => return Err(url_error("the scheme must be https (or http)")),
        }
        if uri.authority().is_none() {
            return Err(url_error("no host"));
        }
        if uri.query().is_some() {
            return Err(url_error("a server URL has no query"));
        }

        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(30)));
        http.set_keepalive(Some(Duration::from_secs(30)));
        let builder = HttpsConnectorBuilder::new()
            .with_tls_config(tls::client_config(context)?)
            .https_or_http();
        let builder = match tls::server_name_override(context)? {
            Some(name) => builder.with_server_name_resolver(FixedServerNameResolver::new(name)),
            None => builder,
        };
        let connector = builder.enable_all_versions().wrap_connector(http);
        let client = HyperClient::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            // As client-go: ping an idle HTTP/2 connection so a dead peer is noticed, and the
            // watches on it resume elsewhere, within a minute.
            .http2_keep_alive_interval(Duration::from_secs(30))
            .http2_keep_alive_timeout(Duration::from_secs(15))
            .http2_keep_alive_while_idle(true)
            .build(connector);
        let authorization = context
            .token
            .as_deref()
            .map(|token| {
                let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
                    .map_err(|_| ClientError::Token)?;
                value.set_sensitive(true);
                Ok::<_, ClientError>(value)
            })
            .transpose()?;
        Ok(Self {
            client,
            base: server.to_owned(),
            authorization,
            retry: RetryPolicy::default(),
        })
    }

    /// The server URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn build(&self, request: &ApiRequest) -> Result<Request<Full<Bytes>>, Status> {
        let mut builder = Request::builder()
            .method(request.method.clone())
            .uri(format!("{}{}", self.base, request.path_and_query))
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, USER_AGENT);
        if let Some(content_type) = request.content_type {
            builder = builder.header(header::CONTENT_TYPE, content_type);
        }
        if let Some(auth) = &self.authorization {
            builder = builder.header(header::AUTHORIZATION, auth.clone());
        }
        builder
            .body(Full::new(request.body.clone()))
            .map_err(|err| Status::bad_request(format!("cannot build the request: {err}")))
    }

    /// One attempt: the answer's head when it is a success (< 400); otherwise how the attempt
    /// failed and its Status (an error answer's body is read, so the connection can serve the
    /// next request).
    async fn attempt(&self, request: &ApiRequest) -> Result<Response<Incoming>, (Attempt, Status)> {
        let started = Instant::now();
        // A request that cannot be built is malformed: never retried, like a 400.
        let built = self.build(request).map_err(|status| {
            let attempt = Attempt::Answered {
                code: 400,
                retry_after: None,
            };
            (attempt, status)
        })?;
        let response = match self.client.request(built).await {
            Ok(response) => response,
            Err(err) => return Err((classify(&err), self.transport_failure(&err))),
        };
        let code = response.status().as_u16();
        tracing::debug!(
            method = %request.method,
            path = %request.path_and_query,
            code,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request answered"
        );
        log_warnings(response.headers());
        if code < 400 {
            return Ok(response);
        }
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = match response.into_body().collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(err) => {
                tracing::debug!(%err, "error body cut short");
                Bytes::new()
            }
        };
        Err((
            Attempt::Answered { code, retry_after },
            decode::error_status(code, &body, retry_after),
        ))
    }

    /// Runs `once` until it succeeds or the policy allows no more retries.
    async fn with_retries<T, F, Fut>(&self, request: &ApiRequest, mut once: F) -> Result<T, Status>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, (Attempt, Status)>>,
    {
        let idempotent = request.method == Method::GET;
        let mut retries = 0;
        loop {
            let (attempt, failure) = match once().await {
                Ok(done) => return Ok(done),
                Err(failed) => failed,
            };
            let Some(wait) = self.retry.retry_after(idempotent, attempt, retries) else {
                return Err(failure);
            };
            retries += 1;
            tracing::warn!(
                method = %request.method,
                path = %request.path_and_query,
                code = failure.code,
                reason = %failure.message,
                retry = retries,
                wait_ms = wait.as_millis() as u64,
                "request failed; retrying"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// Sends `request`, retrying as the policy allows, and returns the answer's head with its
    /// body still streaming. Error answers (≥ 400) come back as their `Status`.
    pub async fn send_streaming(&self, request: &ApiRequest) -> Result<Response<Incoming>, Status> {
        self.with_retries(request, || self.attempt(request)).await
    }

    /// Sends `request` and reads the whole body of its successful answer, retrying as the
    /// policy allows (a `GET` whose body breaks off is sent again).
    pub async fn send(&self, request: &ApiRequest) -> Result<Bytes, Status> {
        self.send_answer(request).await.map(|answer| answer.body)
    }

    /// [`Transport::send`], keeping the answer's status code and `Warning` texts.
    pub async fn send_answer(&self, request: &ApiRequest) -> Result<Answer, Status> {
        self.with_retries(request, || async {
            let response = self.attempt(request).await?;
            let code = response.status().as_u16();
            let warnings = response
                .headers()
                .get_all(header::WARNING)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(warning::texts)
                .collect();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|err| (Attempt::ConnectionLost, self.body_failure(&err)))?
                .to_bytes();
            Ok(Answer {
                code,
                warnings,
                body,
            })
        })
        .await
    }

    /// The Status of a request that got no answer.
    fn transport_failure(&self, err: &hyper_util::client::legacy::Error) -> Status {
        Status::failure(
            StatusReason::ServiceUnavailable,
            format!(
                "cannot reach the API server at {}: {}",
                self.base,
                chain(err)
            ),
        )
    }

    /// The Status of an answer whose body broke off.
    pub fn body_failure(&self, err: &hyper::Error) -> Status {
        Status::failure(
            StatusReason::ServiceUnavailable,
            format!(
                "the connection to the API server at {} broke: {}",
                self.base,
                chain(err)
            ),
        )
    }
}

/// Whether a request that got no answer may be retried (see [`crate::retry`]).
fn classify(err: &hyper_util::client::legacy::Error) -> Attempt {
    if err.source().is_some_and(is_tls_failure) {
        Attempt::TlsFailed
    } else if err.is_connect() {
        Attempt::ConnectFailed
    } else {
        Attempt::ConnectionLost
    }
}

/// Whether a TLS error is among the causes; `io::Error`s are looked into, since their
/// `source` skips the error they wrap.
fn is_tls_failure(err: &(dyn StdError + 'static)) -> bool {
    if err.downcast_ref::<rustls::Error>().is_some() {
        return true;
    }
    if let Some(inner) = err.downcast_ref::<io::Error>().and_then(io::Error::get_ref)
        && is_tls_failure(inner)
    {
        return true;
    }
    err.source().is_some_and(is_tls_failure)
}

/// An error and its causes, as one line.
fn chain(err: &dyn StdError) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

/// Logs the `Warning` headers of an answer (deprecations, unknown fields under
/// `fieldValidation=Warn`), as kubectl prints them.
fn log_warnings(headers: &HeaderMap) {
    for warning in headers.get_all(header::WARNING) {
        if let Ok(text) = warning.to_str() {
            tracing::warn!(warning = text, "the API server warns");
        }
    }
}
