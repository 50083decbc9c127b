//! Query parameters of the Kubernetes API, parsed into the request parameters of
//! `orchestra_api::Client`.

use std::collections::HashMap;

use orchestra_api::client::VersionMatch;
use orchestra_api::{
    DeleteParams, FieldValidation, GetParams, ListParams, PatchParams, PostParams,
    PropagationPolicy, Status, WatchParams,
};

/// The query string of one request, decoded.
#[derive(Debug, Default, Clone)]
pub struct Query(HashMap<String, String>, Option<String>);

impl Query {
    /// Decodes a raw query string (`a=b&c=d`).
    pub fn parse(raw: Option<&str>) -> Self {
        Self(
            form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
            None,
        )
    }

    /// Records the request's `User-Agent`, whose product name (`kubectl` of
    /// `kubectl/v1.33.0 (linux/amd64)`) is the field manager of a write that names none, as
    /// in Kubernetes. Apply patches still need an explicit `fieldManager`.
    pub fn with_user_agent(mut self, user_agent: Option<&str>) -> Self {
        self.1 = user_agent.map(field_manager_of_user_agent);
        self
    }

    /// `fieldManager`, or the user agent's product name for writes that are not applies.
    fn field_manager(&self, apply: bool) -> Option<String> {
        self.non_empty("fieldManager").or_else(|| {
            (!apply)
                .then(|| self.1.clone())
                .flatten()
                .filter(|manager| !manager.is_empty())
        })
    }

    /// One parameter, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    fn non_empty(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.is_empty()).map(str::to_owned)
    }

    fn flag(&self, name: &str) -> Result<bool, Status> {
        match self.get(name) {
            None | Some("") | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(other) => Err(Status::bad_request(format!(
                "invalid value {other:?} for {name}: expected true or false"
            ))),
        }
    }

    fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, Status> {
        self.non_empty(name)
            .map(|v| {
                v.parse::<T>()
                    .map_err(|_| Status::bad_request(format!("invalid value {v:?} for {name}")))
            })
            .transpose()
    }

    /// Whether `watch=true` (or `watch=1`) was given.
    pub fn is_watch(&self) -> Result<bool, Status> {
        self.flag("watch")
    }

    /// Whether `pretty` output was asked for.
    pub fn pretty(&self) -> bool {
        self.flag("pretty").unwrap_or(false)
    }

    fn dry_run(&self) -> Result<bool, Status> {
        match self.get("dryRun") {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(Status::bad_request(format!(
                "Invalid dry run value {other:?}: only \"All\" is supported"
            ))),
        }
    }

    fn field_validation(&self) -> Result<Option<FieldValidation>, Status> {
        match self.get("fieldValidation") {
            None | Some("") => Ok(None),
            Some("Strict") => Ok(Some(FieldValidation::Strict)),
            Some("Warn") => Ok(Some(FieldValidation::Warn)),
            Some("Ignore") => Ok(Some(FieldValidation::Ignore)),
            Some(other) => Err(Status::bad_request(format!(
                "fieldValidation must be one of \"Ignore\", \"Strict\", or \"Warn\", got {other:?}"
            ))),
        }
    }

    /// Parameters of a get.
    pub fn get_params(&self) -> GetParams {
        GetParams {
            resource_version: self.non_empty("resourceVersion"),
        }
    }

    /// Parameters of a list.
    pub fn list_params(&self) -> Result<ListParams, Status> {
        Ok(ListParams {
            label_selector: self.non_empty("labelSelector"),
            field_selector: self.non_empty("fieldSelector"),
            limit: self.number("limit")?,
            continue_token: self.non_empty("continue"),
            resource_version: self.non_empty("resourceVersion"),
            version_match: match self.get("resourceVersionMatch") {
                None | Some("") => None,
                Some("NotOlderThan") => Some(VersionMatch::NotOlderThan),
                Some("Exact") => Some(VersionMatch::Exact),
                Some(other) => {
                    return Err(Status::bad_request(format!(
                        "resourceVersionMatch: Unsupported value: {other:?}: supported values: \"Exact\", \"NotOlderThan\""
                    )));
                }
            },
        })
    }

    /// Parameters of a watch.
    pub fn watch_params(&self) -> Result<WatchParams, Status> {
        Ok(WatchParams {
            label_selector: self.non_empty("labelSelector"),
            field_selector: self.non_empty("fieldSelector"),
            resource_version: self.non_empty("resourceVersion"),
            allow_bookmarks: self.flag("allowWatchBookmarks")?,
            timeout_seconds: self.number("timeoutSeconds")?,
            send_initial_events: self.get("sendInitialEvents").map(|v| v == "true"),
        })
    }

    /// Parameters of a create or update.
    pub fn post_params(&self) -> Result<PostParams, Status> {
        Ok(PostParams {
            dry_run: self.dry_run()?,
            field_manager: self.field_manager(false),
            field_validation: self.field_validation()?,
        })
    }

    /// Parameters of a patch; `apply` for a server-side apply, which takes no default
    /// field manager.
    pub fn patch_params(&self, apply: bool) -> Result<PatchParams, Status> {
        Ok(PatchParams {
            dry_run: self.dry_run()?,
            field_manager: self.field_manager(apply),
            force: self.flag("force")?,
            field_validation: self.field_validation()?,
        })
    }

    /// Parameters of a delete, from the query (a `DeleteOptions` body may add to them).
    pub fn delete_params(&self) -> Result<DeleteParams, Status> {
        Ok(DeleteParams {
            dry_run: self.dry_run()?,
            grace_period_seconds: self.number("gracePeriodSeconds")?,
            propagation_policy: self
                .non_empty("propagationPolicy")
                .map(|p| parse_propagation(&p))
                .transpose()?,
            preconditions: None,
        })
    }
}

/// The field manager Kubernetes derives from a `User-Agent`: the text before the first `/`,
/// printable characters only, at most 128 bytes.
pub fn field_manager_of_user_agent(user_agent: &str) -> String {
    let product = user_agent.split('/').next().unwrap_or_default();
    let mut manager = String::new();
    for c in product.chars().filter(|c| !c.is_control()) {
        if manager.len() + c.len_utf8() > 128 {
            break;
        }
        manager.push(c);
    }
    manager
}

/// Parses a `propagationPolicy`.
pub fn parse_propagation(policy: &str) -> Result<PropagationPolicy, Status> {
    match policy {
        "Orphan" => Ok(PropagationPolicy::Orphan),
        "Background" => Ok(PropagationPolicy::Background),
        "Foreground" => Ok(PropagationPolicy::Foreground),
        other => Err(Status::bad_request(format!(
            "propagationPolicy: Unsupported value: {other:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_parameters_are_decoded() {
        let q = Query::parse(Some(
            "labelSelector=app%3Dweb&limit=500&resourceVersionMatch=Exact&resourceVersion=12",
        ));
        let list = q.list_params().unwrap();
        assert_eq!(list.label_selector.as_deref(), Some("app=web"));
        assert_eq!(list.limit, Some(500));
        assert_eq!(list.version_match, Some(VersionMatch::Exact));
    }

    #[test]
    fn bad_values_are_bad_requests() {
        assert_eq!(
            Query::parse(Some("limit=many"))
                .list_params()
                .unwrap_err()
                .code,
            400
        );
        assert_eq!(
            Query::parse(Some("dryRun=Some"))
                .post_params()
                .unwrap_err()
                .code,
            400
        );
        assert_eq!(
            Query::parse(Some("propagationPolicy=Later"))
                .delete_params()
                .unwrap_err()
                .code,
            400
        );
        assert!(Query::parse(Some("watch=true")).is_watch().unwrap());
    }

    #[test]
    fn writes_without_a_field_manager_take_the_user_agents_product_name() {
        let q = Query::parse(None)
            .with_user_agent(Some("kubectl/v1.33.0 (linux/amd64) kubernetes/abc"));
        assert_eq!(
            q.post_params().unwrap().field_manager.as_deref(),
            Some("kubectl")
        );
        assert_eq!(
            q.patch_params(false).unwrap().field_manager.as_deref(),
            Some("kubectl")
        );
        assert_eq!(q.patch_params(true).unwrap().field_manager, None);
        let named =
            Query::parse(Some("fieldManager=kubectl-edit")).with_user_agent(Some("kubectl/v1"));
        assert_eq!(
            named.post_params().unwrap().field_manager.as_deref(),
            Some("kubectl-edit")
        );
        assert_eq!(field_manager_of_user_agent(&"x".repeat(300)).len(), 128);
    }
}
