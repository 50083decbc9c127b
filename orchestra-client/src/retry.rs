//! When a failed request is sent again, and after how long.
//!
//! The rules follow Kubernetes' client-go REST client, which every Kubernetes component uses:
//!
//! * a `429 Too Many Requests` or `5xx` answer that carries a `Retry-After` header is retried
//!   whatever the method: the server said it did not act and when to come back (priority and
//!   fairness rejections, a shutting-down server);
//! * without `Retry-After`, such an answer (429, 500, 502, 503, 504) is retried only for `GET`,
//!   which is safe to repeat; a write might have been applied, and repeating a create or a
//!   patch is not idempotent;
//! * a failure to connect (refused, unreachable, timed out before any byte was sent) is
//!   retried whatever the method, since the server never saw the request; a TLS failure
//!   (untrusted certificate, wrong name) is not retried: it would fail the same way again;
//! * a connection lost after the request was sent (reset, EOF, HTTP/2 connection gone) is
//!   retried only for `GET`.
//!
//! Between attempts the client waits an exponential back-off (doubling from
//! [`RetryPolicy::initial_backoff`] up to [`RetryPolicy::max_backoff`]), or the server's
//! `Retry-After` when that is longer, for at most [`RetryPolicy::max_retries`] retries
//! (client-go's default is 10).
//!
//! ```
//! use std::time::Duration;
//! use orchestra_client::retry::{Attempt, RetryPolicy};
//!
//! let policy = RetryPolicy::default();
//! // A GET answered 503 without Retry-After: back off and try again.
//! let wait = policy.retry_after(true, Attempt::Answered { code: 503, retry_after: None }, 0);
//! assert_eq!(wait, Some(policy.initial_backoff));
//! // A POST answered 503 without Retry-After: the write may have happened; give up.
//! assert_eq!(policy.retry_after(false, Attempt::Answered { code: 503, retry_after: None }, 0), None);
//! // A POST answered 429 with Retry-After: 3 → wait three seconds.
//! let wait = policy.retry_after(false, Attempt::Answered { code: 429, retry_after: Some(Duration::from_secs(3)) }, 0);
//! assert_eq!(wait, Some(Duration::from_secs(3)));
//! ```

use std::time::Duration;

/// How many times, and how patiently, requests are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt; `0` disables retrying.
    pub max_retries: u32,
    /// The wait before the first retry.
    pub initial_backoff: Duration,
    /// The longest back-off between two attempts (a longer `Retry-After` is still honoured).
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
        }
    }
}

/// How one attempt ended, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The server answered with this HTTP status code, and maybe a `Retry-After`.
    Answered {
        /// The HTTP status code.
        code: u16,
        /// The `Retry-After` header, when present and valid.
        retry_after: Option<Duration>,
    },
    /// No connection could be made, so the server never saw the request.
    ConnectFailed,
    /// The TLS handshake failed (certificate not trusted, wrong name, protocol mismatch).
    TlsFailed,
    /// The connection broke after the request may have been sent.
    ConnectionLost,
}

impl RetryPolicy {
    /// No retries at all.
    pub fn never() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// The back-off before retry number `retry` (0-based): `initial · 2^retry`, capped.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.initial_backoff
            .checked_mul(factor)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }

    /// Whether to retry after `attempt`, the request being a `GET` when `idempotent`, with
    /// `retries_done` retries already made; the wait before the retry if so.
    pub fn retry_after(
        &self,
        idempotent: bool,
        attempt: Attempt,
        retries_done: u32,
    ) -> Option<Duration> {
        if retries_done >= self.max_retries {
            return None;
        }
        let backoff = self.backoff(retries_done);
        match attempt {
            Attempt::Answered { code, retry_after } => {
                let throttled = code == 429 || code >= 500;
                match retry_after {
                    Some(wait) if throttled => Some(wait.max(backoff)),
                    None if idempotent && matches!(code, 429 | 500 | 502 | 503 | 504) => {
                        Some(backoff)
                    }
                    _ => None,
                }
            }
            Attempt::ConnectFailed => Some(backoff),
            Attempt::TlsFailed => None,
            Attempt::ConnectionLost => idempotent.then_some(backoff),
        }
    }
}

/// Parses a `Retry-After` header given in seconds, as Kubernetes sends it.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn answered(code: u16, retry_after: Option<u64>) -> Attempt {
        Attempt::Answered {
            code,
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[test]
    fn client_go_rules_decide_which_failures_are_retried() {
        let policy = RetryPolicy::default();
        let cases = [
            // (case, GET?, attempt, retried?)
            (
                "GET 503 without Retry-After",
                true,
                answered(503, None),
                true,
            ),
            (
                "GET 429 without Retry-After",
                true,
                answered(429, None),
                true,
            ),
            (
                "GET 501 without Retry-After",
                true,
                answered(501, None),
                false,
            ),
            (
                "POST 503 without Retry-After",
                false,
                answered(503, None),
                false,
            ),
            (
                "POST 503 with Retry-After",
                false,
                answered(503, Some(1)),
                true,
            ),
            (
                "PATCH 429 with Retry-After",
                false,
                answered(429, Some(0)),
                true,
            ),
            ("GET 404", true, answered(404, None), false),
            (
                "GET 409 with Retry-After",
                true,
                answered(409, Some(1)),
                false,
            ),
            (
                "POST connection refused",
                false,
                Attempt::ConnectFailed,
                true,
            ),
            ("GET untrusted certificate", true, Attempt::TlsFailed, false),
            ("GET connection reset", true, Attempt::ConnectionLost, true),
            (
                "PUT connection reset",
                false,
                Attempt::ConnectionLost,
                false,
            ),
        ];
        for (case, idempotent, attempt, retried) in cases {
            assert_eq!(
                policy.retry_after(idempotent, attempt, 0).is_some(),
                retried,
                "{case}"
            );
        }
    }

    #[test]
    fn retry_after_longer_than_the_backoff_is_honoured() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.retry_after(true, answered(503, Some(30)), 0),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            policy.retry_after(true, answered(503, Some(0)), 3),
            Some(policy.backoff(3))
        );
    }

    #[test]
    fn retry_after_is_parsed_in_seconds() {
        assert_eq!(parse_retry_after(" 2 "), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    proptest! {
        #[test]
        fn backoff_doubles_until_the_cap_and_never_exceeds_it(
            initial_ms in 1u64..5_000,
            max_ms in 1u64..120_000,
            retry in 0u32..200,
        ) {
            let policy = RetryPolicy {
                max_retries: u32::MAX,
                initial_backoff: Duration::from_millis(initial_ms),
                max_backoff: Duration::from_millis(max_ms),
            };
            let this = policy.backoff(retry);
            let next = policy.backoff(retry + 1);
            prop_assert!(this <= policy.max_backoff);
            prop_assert!(next >= this);
            prop_assert!(next == policy.max_backoff || next == this * 2);
        }

        #[test]
        fn no_retry_is_granted_once_the_budget_is_spent(
            max_retries in 0u32..20,
            code in 100u16..600,
            idempotent: bool,
        ) {
            let policy = RetryPolicy { max_retries, ..RetryPolicy::default() };
            let attempt = answered(code, Some(1));
            prop_assert_eq!(policy.retry_after(idempotent, attempt, max_retries), None);
            prop_assert_eq!(policy.retry_after(idempotent, Attempt::ConnectFailed, max_retries), None);
        }
    }
}
