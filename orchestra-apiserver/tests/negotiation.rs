//! Content negotiation over raw HTTP: errors, objects and tables in the encoding the `Accept`
//! header asks for, as Kubernetes answers them.

mod support;

use axum::http::StatusCode;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::Unknown;
use prost::Message;
use serde_json::{Value, json};
use support::{Answer, app, send};

const PODS: &str = "/api/v1/namespaces/default/pods";
const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";
const YAML_TABLE: &str = "application/yaml;as=Table;v=v1;g=meta.k8s.io";

fn yaml(answer: &Answer) -> Value {
    serde_yaml_ng::from_slice(&answer.body)
        .unwrap_or_else(|e| panic!("not YAML ({e}): {}", String::from_utf8_lossy(&answer.body)))
}

async fn create_pod(app: &axum::Router, name: &str) {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                     "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
    let created = send(
        app,
        "POST",
        PODS,
        &[("content-type", "application/json")],
        pod.to_string(),
    )
    .await;
    assert_eq!(created.code, StatusCode::CREATED);
}

#[tokio::test]
async fn a_client_that_accepts_only_yaml_gets_its_errors_in_yaml() {
    let app = app().await;
    let answer = send(
        &app,
        "GET",
        &format!("{PODS}/missing"),
        &[("accept", "application/yaml")],
        "",
    )
    .await;
    assert_eq!(answer.code, StatusCode::NOT_FOUND);
    assert_eq!(answer.header("content-type"), Some("application/yaml"));
    let status = yaml(&answer);
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["apiVersion"], "v1");
    assert_eq!(status["status"], "Failure");
    assert_eq!(status["reason"], "NotFound");
    assert_eq!(status["code"], 404);
    assert_eq!(status["message"], "pods \"missing\" not found");

    // A bad request body too.
    let answer = send(
        &app,
        "POST",
        PODS,
        &[
            ("accept", "application/yaml"),
            ("content-type", "application/json"),
        ],
        "{not json",
    )
    .await;
    assert_eq!(answer.code, StatusCode::BAD_REQUEST);
    assert_eq!(answer.header("content-type"), Some("application/yaml"));
    assert_eq!(yaml(&answer)["reason"], "BadRequest");
}

#[tokio::test]
async fn a_client_that_accepts_only_protobuf_gets_a_protobuf_status() {
    let app = app().await;
    let answer = send(
        &app,
        "GET",
        &format!("{PODS}/missing"),
        &[("accept", PROTOBUF)],
        "",
    )
    .await;
    assert_eq!(answer.code, StatusCode::NOT_FOUND);
    assert_eq!(answer.header("content-type"), Some(PROTOBUF));
    assert_eq!(&answer.body[..4], b"k8s\0");
    let unknown = Unknown::decode(&answer.body[4..]).expect("a runtime.Unknown envelope");
    let type_meta = unknown.type_meta.expect("type meta");
    assert_eq!(type_meta.api_version.as_deref(), Some("v1"));
    assert_eq!(type_meta.kind.as_deref(), Some("Status"));
    let status =
        meta::Status::decode(unknown.raw.as_deref().unwrap_or_default()).expect("a meta.v1.Status");
    assert_eq!(status.status.as_deref(), Some("Failure"));
    assert_eq!(status.reason.as_deref(), Some("NotFound"));
    assert_eq!(status.code, Some(404));
    assert_eq!(
        status.message.as_deref(),
        Some("pods \"missing\" not found")
    );
    let details = status.details.expect("details");
    assert_eq!(details.name.as_deref(), Some("missing"));
    assert_eq!(details.kind.as_deref(), Some("pods"));

    // kubectl's typed clients also accept JSON, and get JSON.
    let answer = send(
        &app,
        "GET",
        &format!("{PODS}/missing"),
        &[("accept", "application/vnd.kubernetes.protobuf, */*")],
        "",
    )
    .await;
    assert_eq!(answer.code, StatusCode::NOT_FOUND);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.json()["reason"], "NotFound");
}

#[tokio::test]
async fn errors_fall_back_to_json_with_their_own_code_when_nothing_else_is_acceptable() {
    let app = app().await;
    // Tables are for objects and lists: an error asked for only as a table is JSON.
    for accept in [YAML_TABLE, "application/json;as=Table;v=v1;g=meta.k8s.io"] {
        let answer = send(
            &app,
            "GET",
            &format!("{PODS}/missing"),
            &[("accept", accept)],
            "",
        )
        .await;
        assert_eq!(answer.code, StatusCode::NOT_FOUND, "{accept}");
        assert_eq!(
            answer.header("content-type"),
            Some("application/json"),
            "{accept}"
        );
        assert_eq!(answer.json()["reason"], "NotFound", "{accept}");
    }
    // A path that addresses nothing is a 404 whatever the client accepts.
    let answer = send(
        &app,
        "GET",
        "/api/v1/nonsense",
        &[("accept", "text/html")],
        "",
    )
    .await;
    assert_eq!(answer.code, StatusCode::NOT_FOUND);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    // An endpoint negotiates before it reads anything, as Kubernetes' handlers do: nothing it
    // can write is a 406, itself in JSON.
    let answer = send(
        &app,
        "GET",
        &format!("{PODS}/missing"),
        &[("accept", "text/html")],
        "",
    )
    .await;
    assert_eq!(answer.code, StatusCode::NOT_ACCEPTABLE);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.json()["reason"], "NotAcceptable");
}

#[tokio::test]
async fn a_success_nothing_acceptable_can_carry_is_406_and_does_nothing() {
    let app = app().await;
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "html"},
                     "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
    let answer = send(
        &app,
        "POST",
        PODS,
        &[
            ("accept", "text/html"),
            ("content-type", "application/json"),
        ],
        pod.to_string(),
    )
    .await;
    assert_eq!(answer.code, StatusCode::NOT_ACCEPTABLE);
    let status = answer.json();
    assert_eq!(status["reason"], "NotAcceptable");
    assert_eq!(
        status["message"],
        "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf"
    );
    let get = send(&app, "GET", &format!("{PODS}/html"), &[], "").await;
    assert_eq!(
        get.code,
        StatusCode::NOT_FOUND,
        "the create was not carried out"
    );
}

#[tokio::test]
async fn objects_lists_and_tables_are_answered_in_yaml() {
    let app = app().await;
    create_pod(&app, "web").await;

    let answer = send(
        &app,
        "GET",
        &format!("{PODS}/web"),
        &[("accept", "application/yaml")],
        "",
    )
    .await;
    assert_eq!(answer.code, StatusCode::OK);
    assert_eq!(answer.header("content-type"), Some("application/yaml"));
    let pod = yaml(&answer);
    assert_eq!(pod["kind"], "Pod");
    assert_eq!(pod["metadata"]["name"], "web");

    let answer = send(&app, "GET", PODS, &[("accept", "application/yaml")], "").await;
    assert_eq!(answer.header("content-type"), Some("application/yaml"));
    let list = yaml(&answer);
    assert_eq!(list["kind"], "PodList");
    assert_eq!(list["items"][0]["metadata"]["name"], "web");

    for uri in [PODS.to_owned(), format!("{PODS}/web")] {
        let answer = send(&app, "GET", &uri, &[("accept", YAML_TABLE)], "").await;
        assert_eq!(answer.code, StatusCode::OK, "{uri}");
        assert_eq!(
            answer.header("content-type"),
            Some("application/yaml"),
            "{uri}"
        );
        let table = yaml(&answer);
        assert_eq!(table["kind"], "Table", "{uri}");
        assert_eq!(table["apiVersion"], "meta.k8s.io/v1", "{uri}");
        assert_eq!(table["columnDefinitions"][0]["name"], "Name", "{uri}");
        assert_eq!(table["rows"][0]["cells"][0], "web", "{uri}");
    }

    // Discovery documents too.
    let answer = send(
        &app,
        "GET",
        "/api/v1",
        &[("accept", "application/yaml")],
        "",
    )
    .await;
    assert_eq!(answer.header("content-type"), Some("application/yaml"));
    assert_eq!(yaml(&answer)["kind"], "APIResourceList");
}

#[tokio::test]
async fn tables_in_protobuf_and_watches_in_yaml_are_not_acceptable() {
    let app = app().await;
    let table = "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io";
    let answer = send(&app, "GET", PODS, &[("accept", table)], "").await;
    assert_eq!(answer.code, StatusCode::NOT_ACCEPTABLE);

    let answer = send(
        &app,
        "GET",
        &format!("{PODS}?watch=true"),
        &[("accept", "application/yaml")],
        "",
    )
    .await;
    // The 406 of a watch is itself an error the client can read: YAML.
    assert_eq!(answer.code, StatusCode::NOT_ACCEPTABLE);
    assert_eq!(answer.header("content-type"), Some("application/yaml"));
    assert_eq!(
        yaml(&answer)["message"],
        "only the following media types are accepted: application/json, application/vnd.kubernetes.protobuf"
    );
}

#[tokio::test]
async fn kubectl_get_still_receives_json_tables() {
    let app = app().await;
    create_pod(&app, "web").await;
    let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
    let answer = send(&app, "GET", PODS, &[("accept", accept)], "").await;
    assert_eq!(answer.code, StatusCode::OK);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.json()["kind"], "Table");
}
