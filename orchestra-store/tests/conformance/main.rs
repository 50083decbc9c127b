//! The `KvStore` conformance suite: every behaviour test of [`suite`] runs against every
//! backend of [`backends`] (`MemoryKv`, `DiskKv`, and `EtcdKv` against a real etcd that each
//! test starts on a loopback port).
//!
//! A new backend joins by adding a factory to `backends` and a line to `conformance!` below.

mod backends;
mod suite;

/// Declares, for one backend, a `#[tokio::test]` per suite function.
macro_rules! backend_tests {
    ($backend:ident: $($test:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let backend = crate::backends::$backend().await;
                    crate::suite::$test(backend).await;
                }
            )*
        }
    };
}

/// Declares every suite function for every backend.
macro_rules! conformance {
    ($($test:ident),* $(,)?) => {
        backend_tests!(memory: $($test),*);
        backend_tests!(disk: $($test),*);
        backend_tests!(etcd: $($test),*);
    };
}

conformance!(
    every_write_gets_the_next_revision,
    compare_and_swap_refuses_stale_writers,
    concurrent_increments_are_never_lost,
    range_at_a_past_revision_sees_the_state_then,
    future_revisions_are_refused,
    watch_from_a_past_revision_replays_every_change_in_order,
    watch_resumes_after_reconnect_without_gaps_or_duplicates,
    deletes_reach_watchers_with_their_previous_value,
    watch_delivers_only_its_prefix,
    compaction_makes_older_revisions_expire,
    values_of_one_and_a_half_mib_round_trip,
    oversized_values_are_refused_before_writing,
    empty_keys_are_refused,
    binary_keys_and_values_round_trip,
    paginated_range_lists_100k_keys_at_a_fixed_revision,
);
