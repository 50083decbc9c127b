//! What a reconcile answers ([`Action`]) and what an error policy answers ([`Retry`]).
//!
//! A reconcile that succeeds says when the object should be looked at again even if nothing
//! changes: after a duration (a certificate that expires, a rollout that must be checked on),
//! or only when the object or one of its watched relatives changes. A reconcile that fails is
//! handed to the controller's error policy, which says how it is retried: after the work
//! queue's per-key exponential back-off (the default, client-go's 5 ms doubling to 1,000 s
//! under a 10/s overall bucket), after a fixed delay, or not until the next change.
//!
//! ```
//! use std::time::Duration;
//! use orchestra_controller::controller::{Action, Retry};
//!
//! assert_eq!(Action::requeue(Duration::from_secs(30)).requeue_after(), Some(Duration::from_secs(30)));
//! assert_eq!(Action::await_change().requeue_after(), None);
//! assert_eq!(Retry::default(), Retry::Backoff);
//! ```

use std::time::Duration;

/// What a successful reconcile asks for: when to reconcile the object again without a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Action {
    requeue_after: Option<Duration>,
}

impl Action {
    /// Reconcile the object again after `after`, whether or not it changes meanwhile (a change
    /// still triggers a reconcile at once).
    pub fn requeue(after: Duration) -> Self {
        Self {
            requeue_after: Some(after),
        }
    }

    /// Reconcile the object again only when it, or an object mapped to it, changes.
    pub fn await_change() -> Self {
        Self {
            requeue_after: None,
        }
    }

    /// The delay of a requested requeue; `None` when the action waits for a change.
    pub fn requeue_after(&self) -> Option<Duration> {
        self.requeue_after
    }
}

/// How a failed reconcile is retried; what an error policy answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Retry {
    /// After the work queue's rate limiter: the key's exponential back-off, counted since its
    /// last success, combined with the controller's overall token bucket. Never a hot loop.
    #[default]
    Backoff,
    /// After exactly this long (the key's back-off is not advanced).
    After(Duration),
    /// Not until the object, or an object mapped to it, changes: for errors that retrying
    /// cannot fix, such as an invalid spec.
    AwaitChange,
}
