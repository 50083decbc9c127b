//! The query strings the client writes are read back by the API server's own parser as the
//! very parameters the client was given: nothing lost, renamed or mis-escaped, whatever the
//! selector, token or manager name holds.

use orchestra_api::client::VersionMatch;
use orchestra_api::{FieldValidation, GetParams, ListParams, PatchParams, PostParams, WatchParams};
use orchestra_apiserver::rest::params::Query;
use orchestra_client::request::{get_query, list_query, patch_query, post_query, watch_query};
use proptest::prelude::*;

/// Text as users put in selectors, tokens and names: any printable characters, including the
/// ones a query string must escape (`&`, `=`, `+`, `%`, `#`, spaces, non-ASCII).
fn text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of("[ -~äé€]{1,24}")
}

fn version_match() -> impl Strategy<Value = Option<VersionMatch>> {
    proptest::option::of(prop_oneof![
        Just(VersionMatch::NotOlderThan),
        Just(VersionMatch::Exact)
    ])
}

fn field_validation() -> impl Strategy<Value = Option<FieldValidation>> {
    proptest::option::of(prop_oneof![
        Just(FieldValidation::Strict),
        Just(FieldValidation::Warn),
        Just(FieldValidation::Ignore)
    ])
}

proptest! {
    #[test]
    fn list_parameters_survive_the_trip_to_the_server(
        label_selector in text(),
        field_selector in text(),
        limit in proptest::option::of(any::<u32>()),
        continue_token in text(),
        resource_version in text(),
        version_match in version_match(),
    ) {
        let sent = ListParams {
            label_selector, field_selector, limit, continue_token, resource_version, version_match,
        };
        let query = list_query(&sent);
        let parsed = Query::parse(Some(&query)).list_params().expect("the server accepts it");
        prop_assert_eq!(parsed, sent);
    }

    #[test]
    fn watch_parameters_survive_the_trip_to_the_server(
        label_selector in text(),
        field_selector in text(),
        resource_version in text(),
        allow_bookmarks: bool,
        timeout_seconds in proptest::option::of(any::<u32>()),
        send_initial_events in proptest::option::of(any::<bool>()),
    ) {
        let sent = WatchParams {
            label_selector, field_selector, resource_version, allow_bookmarks, timeout_seconds,
            send_initial_events,
        };
        let query = Query::parse(Some(&watch_query(&sent)));
        prop_assert!(query.is_watch().expect("watch flag"));
        prop_assert_eq!(query.watch_params().expect("the server accepts it"), sent);
    }

    #[test]
    fn write_parameters_survive_the_trip_to_the_server(
        dry_run: bool,
        force: bool,
        field_manager in text(),
        field_validation in field_validation(),
        resource_version in text(),
    ) {
        let post = PostParams { dry_run, field_manager: field_manager.clone(), field_validation };
        let parsed = Query::parse(Some(&post_query(&post))).post_params().expect("accepted");
        prop_assert_eq!(parsed, post);
        let patch = PatchParams { dry_run, field_manager, force, field_validation };
        let parsed = Query::parse(Some(&patch_query(&patch))).patch_params(false).expect("accepted");
        prop_assert_eq!(parsed, patch);
        let get = GetParams { resource_version };
        prop_assert_eq!(Query::parse(Some(&get_query(&get))).get_params(), get);
    }
}
