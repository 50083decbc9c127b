//! The watch cache on its own: ordering, filtering, the history window, slow watchers,
//! bookmarks and indexes.

use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use orchestra_api::{ArcObject, FieldSelector, LabelSelector, WatchEvent, WatchStream, kinds};
use orchestra_store::watch_cache::{Filter, Indexer, WatchCache, WatchCacheConfig, WatchStart};
use serde_json::json;

fn pod(name: &str, app: &str, node: &str, revision: i64) -> ArcObject {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "labels": {"app": app},
                     "resourceVersion": revision.to_string()},
        "spec": {"nodeName": node, "containers": []}
    }))
    .unwrap();
    Arc::new(pod)
}

fn cache(history: usize, queue: usize) -> WatchCache {
    WatchCache::new(
        kinds::PODS.clone(),
        WatchCacheConfig {
            history_capacity: history,
            watcher_queue_capacity: queue,
        },
    )
}

/// The events a stream holds right now, without waiting.
fn ready(stream: &mut WatchStream) -> Vec<WatchEvent<ArcObject>> {
    let mut events = Vec::new();
    while let Some(Some(event)) = stream.next().now_or_never() {
        events.push(event);
    }
    events
}

fn summary(events: &[WatchEvent<ArcObject>]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| match e {
            WatchEvent::Added(o) => (
                "ADDED".into(),
                o.metadata().resource_version.clone().unwrap(),
            ),
            WatchEvent::Modified(o) => (
                "MODIFIED".into(),
                o.metadata().resource_version.clone().unwrap(),
            ),
            WatchEvent::Deleted(o) => (
                "DELETED".into(),
                o.metadata().resource_version.clone().unwrap(),
            ),
            WatchEvent::Bookmark(b) => ("BOOKMARK".into(), b.metadata.resource_version.clone()),
            WatchEvent::Error(s) => ("ERROR".into(), s.code.to_string()),
        })
        .collect()
}

fn pairs(list: &[(&str, i64)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(t, r)| (t.to_string(), r.to_string()))
        .collect()
}

#[tokio::test]
async fn a_watch_from_a_past_revision_replays_exactly_the_later_changes_then_goes_live() {
    let c = cache(100, 100);
    c.apply(2, "default/a", Some(pod("a", "web", "", 2)));
    c.apply(3, "default/a", Some(pod("a", "web", "n1", 3)));
    c.apply(4, "default/b", Some(pod("b", "web", "", 4)));
    let mut stream = c
        .watch(WatchStart::After(2), Filter::everything(), false, false)
        .unwrap();
    c.apply(5, "default/a", None);
    assert_eq!(
        summary(&ready(&mut stream)),
        pairs(&[("MODIFIED", 3), ("ADDED", 4), ("DELETED", 5)])
    );
}

#[tokio::test]
async fn a_watch_older_than_the_history_window_is_expired() {
    let c = cache(2, 100);
    for rev in 2..=6 {
        c.apply(rev, "default/a", Some(pod("a", "web", "", rev)));
    }
    let err = c
        .watch(WatchStart::After(2), Filter::everything(), false, false)
        .err()
        .unwrap();
    assert_eq!(err.code, 410);
    assert!(
        err.message.starts_with("too old resource version: 2"),
        "{}",
        err.message
    );
    assert!(
        c.watch(WatchStart::After(4), Filter::everything(), false, false)
            .is_ok()
    );
}

#[tokio::test]
async fn changes_that_move_an_object_across_a_selector_become_added_and_deleted() {
    let c = cache(100, 100);
    let web = Filter {
        labels: Some("app=web".parse::<LabelSelector>().unwrap()),
        ..Filter::default()
    };
    let mut stream = c.watch(WatchStart::After(1), web, false, false).unwrap();
    c.apply(2, "default/a", Some(pod("a", "db", "", 2)));
    c.apply(3, "default/a", Some(pod("a", "web", "", 3)));
    c.apply(4, "default/a", Some(pod("a", "web", "n1", 4)));
    c.apply(5, "default/a", Some(pod("a", "db", "n1", 5)));
    c.apply(6, "default/a", None);
    assert_eq!(
        summary(&ready(&mut stream)),
        pairs(&[("ADDED", 3), ("MODIFIED", 4), ("DELETED", 5)])
    );
}

#[tokio::test]
async fn a_watch_from_now_starts_with_the_current_objects_and_an_initial_events_bookmark() {
    let c = cache(100, 100);
    c.apply(2, "default/a", Some(pod("a", "web", "", 2)));
    c.apply(3, "default/b", Some(pod("b", "web", "", 3)));
    let mut stream = c
        .watch(WatchStart::Now, Filter::everything(), true, true)
        .unwrap();
    let events = ready(&mut stream);
    assert_eq!(
        summary(&events),
        pairs(&[("ADDED", 2), ("ADDED", 3), ("BOOKMARK", 3)])
    );
    match &events[2] {
        WatchEvent::Bookmark(b) => {
            assert_eq!(b.metadata.annotations["k8s.io/initial-events-end"], "true")
        }
        other => panic!("expected a bookmark, got {other:?}"),
    }
}

#[tokio::test]
async fn a_slow_watcher_is_closed_with_an_error_while_the_others_keep_receiving() {
    let c = cache(100, 4);
    let mut slow = c
        .watch(WatchStart::After(1), Filter::everything(), false, false)
        .unwrap();
    let mut fast = c
        .watch(WatchStart::After(1), Filter::everything(), false, false)
        .unwrap();
    for rev in 2..=20 {
        c.apply(rev, "default/a", Some(pod("a", "web", "", rev)));
        assert_eq!(
            ready(&mut fast).len(),
            1,
            "the fast watcher gets revision {rev}"
        );
    }
    let slow_events = summary(&ready(&mut slow));
    assert_eq!(slow_events.len(), 5, "{slow_events:?}");
    assert_eq!(slow_events[4].0, "ERROR");
    assert!(
        slow.next().await.is_none(),
        "the slow watcher's stream has ended"
    );
    assert_eq!(c.watcher_count(), 1);
}

#[tokio::test]
async fn bookmarks_go_only_to_watchers_that_asked() {
    let c = cache(100, 100);
    c.apply(7, "default/a", Some(pod("a", "web", "", 7)));
    let mut asked = c
        .watch(WatchStart::After(7), Filter::everything(), true, false)
        .unwrap();
    let mut silent = c
        .watch(WatchStart::After(7), Filter::everything(), false, false)
        .unwrap();
    c.advance(9);
    c.send_bookmarks();
    assert_eq!(summary(&ready(&mut asked)), pairs(&[("BOOKMARK", 9)]));
    assert!(ready(&mut silent).is_empty());
}

#[tokio::test]
async fn lists_use_the_node_index_and_user_indexers() {
    let c = cache(100, 100);
    c.apply(2, "default/a", Some(pod("a", "web", "n1", 2)));
    c.apply(3, "default/b", Some(pod("b", "db", "n2", 3)));
    c.apply(4, "default/c", Some(pod("c", "web", "n1", 4)));
    c.apply(5, "default/d", Some(pod("d", "web", "", 5)));
    let on_n1 = Filter {
        fields: Some("spec.nodeName=n1".parse::<FieldSelector>().unwrap()),
        ..Filter::default()
    };
    let names = |list: Vec<ArcObject>| -> Vec<String> {
        list.iter()
            .map(|o| o.metadata().name.clone().unwrap())
            .collect()
    };
    assert_eq!(names(c.list(&on_n1, None, None).items), ["a", "c"]);
    let unscheduled = Filter {
        fields: Some("spec.nodeName=".parse::<FieldSelector>().unwrap()),
        ..Filter::default()
    };
    assert_eq!(names(c.list(&unscheduled, None, None).items), ["d"]);
    c.apply(6, "default/a", Some(pod("a", "web", "n2", 6)));
    assert_eq!(names(c.list(&on_n1, None, None).items), ["c"]);

    c.add_indexer(Indexer::new("app", |o| {
        o.metadata()
            .labels
            .as_ref()
            .and_then(|l| l.get("app").cloned())
            .into_iter()
            .collect()
    }));
    assert_eq!(names(c.by_index("app", "web")), ["a", "c", "d"]);
}

#[tokio::test]
async fn list_pages_continue_after_the_last_key() {
    let c = cache(100, 100);
    for (rev, name) in (2..).zip(["a", "b", "c", "d", "e"]) {
        c.apply(
            rev,
            &format!("default/{name}"),
            Some(pod(name, "web", "", rev)),
        );
    }
    let first = c.list(&Filter::everything(), Some(2), None);
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.remaining, 3);
    let after = first.continue_after.clone().unwrap();
    let second = c.list(&Filter::everything(), Some(2), Some(&after));
    let names: Vec<_> = second
        .items
        .iter()
        .map(|o| o.metadata().name.clone().unwrap())
        .collect();
    assert_eq!(names, ["c", "d"]);
}

#[tokio::test]
async fn waiting_for_a_revision_ends_when_it_is_applied() {
    let c = cache(100, 100);
    let waiter = {
        let c = c.clone();
        tokio::spawn(async move { c.wait_for_revision(3, Duration::from_secs(5)).await })
    };
    c.apply(2, "default/a", Some(pod("a", "web", "", 2)));
    c.advance(3);
    assert!(waiter.await.unwrap());
    assert!(!c.wait_for_revision(10, Duration::from_millis(10)).await);
}

mod properties {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Clone)]
    enum Op {
        Put { name: u8, app: u8, node: u8 },
        Delete { name: u8 },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u8..8, 0u8..3, 0u8..3).prop_map(|(name, app, node)| Op::Put { name, app, node }),
            1 => (0u8..8).prop_map(|name| Op::Delete { name }),
        ]
    }

    const APPS: [&str; 3] = ["web", "db", "cache"];
    const NODES: [&str; 3] = ["", "n1", "n2"];

    proptest! {
        #[test]
        fn indexed_lists_equal_a_scan_of_the_current_objects(ops in proptest::collection::vec(op(), 1..60)) {
            let c = cache(1000, 1000);
            let mut model: BTreeMap<String, (usize, usize)> = BTreeMap::new();
            for (revision, op) in (2..).zip(ops) {
                match op {
                    Op::Put { name, app, node } => {
                        let name = format!("p{name}");
                        c.apply(revision, &format!("default/{name}"),
                            Some(pod(&name, APPS[app as usize], NODES[node as usize], revision)));
                        model.insert(name, (app as usize, node as usize));
                    }
                    Op::Delete { name } => {
                        let name = format!("p{name}");
                        c.apply(revision, &format!("default/{name}"), None);
                        model.remove(&name);
                    }
                }
            }
            for selector in ["app=web", "app in (db),app!=web", "app=cache"] {
                let filter = Filter { labels: Some(selector.parse().unwrap()), ..Filter::default() };
                let listed: Vec<String> = c.list(&filter, None, None).items.iter()
                    .map(|o| o.metadata().name.clone().unwrap()).collect();
                let parsed: LabelSelector = selector.parse().unwrap();
                let expected: Vec<String> = model.iter()
                    .filter(|(_, (app, _))| parsed.matches(&[("app".to_owned(), APPS[*app].to_owned())].into()))
                    .map(|(n, _)| n.clone()).collect();
                prop_assert_eq!(listed, expected, "selector {}", selector);
            }
            for node in ["n1", "n2"] {
                let filter = Filter { fields: Some(format!("spec.nodeName={node}").parse().unwrap()), ..Filter::default() };
                let listed: Vec<String> = c.list(&filter, None, None).items.iter()
                    .map(|o| o.metadata().name.clone().unwrap()).collect();
                let expected: Vec<String> = model.iter()
                    .filter(|(_, (_, n))| NODES[*n] == node)
                    .map(|(n, _)| n.clone()).collect();
                prop_assert_eq!(listed, expected, "node {}", node);
            }
        }
    }

    proptest! {
        /// Watchers pinned to a node or a name are bucketed by that value; replaying what each
        /// received must give exactly the objects its filter selects, as for an unpinned one.
        #[test]
        fn pinned_watchers_see_exactly_the_changes_of_their_node_or_name(ops in proptest::collection::vec(op(), 1..60)) {
            let c = cache(1000, 1000);
            let selectors = ["spec.nodeName=n1", "spec.nodeName=n2", "metadata.name=p3", "spec.nodeName!=n1", ""];
            let mut watches: Vec<(String, WatchStream)> = selectors.iter().map(|selector| {
                let filter = Filter {
                    fields: (!selector.is_empty()).then(|| selector.parse().unwrap()),
                    ..Filter::default()
                };
                (selector.to_string(), c.watch(WatchStart::After(1), filter, false, false).unwrap())
            }).collect();
            let mut model: BTreeMap<String, usize> = BTreeMap::new();
            for (revision, op) in (2..).zip(ops) {
                match op {
                    Op::Put { name, app, node } => {
                        let name = format!("p{name}");
                        c.apply(revision, &format!("default/{name}"),
                            Some(pod(&name, APPS[app as usize], NODES[node as usize], revision)));
                        model.insert(name, node as usize);
                    }
                    Op::Delete { name } => {
                        let name = format!("p{name}");
                        c.apply(revision, &format!("default/{name}"), None);
                        model.remove(&name);
                    }
                }
            }
            for (selector, stream) in &mut watches {
                let mut seen: BTreeMap<String, ()> = BTreeMap::new();
                for event in ready(stream) {
                    match event {
                        WatchEvent::Added(o) | WatchEvent::Modified(o) => {
                            seen.insert(o.metadata().name.clone().unwrap(), ());
                        }
                        WatchEvent::Deleted(o) => {
                            seen.remove(&o.metadata().name.clone().unwrap());
                        }
                        other => prop_assert!(false, "unexpected {:?}", other),
                    }
                }
                let parsed: Option<FieldSelector> = (!selector.is_empty()).then(|| selector.parse().unwrap());
                let expected: Vec<&String> = model.iter().filter(|(name, node)| {
                    let object = pod(name, "web", NODES[**node], 0);
                    parsed.as_ref().is_none_or(|f| f.matches(&*object))
                }).map(|(name, _)| name).collect();
                prop_assert_eq!(seen.keys().collect::<Vec<_>>(), expected, "selector {}", selector);
            }
        }
    }
}
