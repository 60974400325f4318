//! Body verdicts: what an error body says about retrying, beyond its status.

use crate::ErrorKind;

/// What a body says about a failure that its status cannot: a 400 that is
/// really a throttle, a 429 that will not heal in minutes, a SOAP client
/// fault sent as 500.
///
/// A [`Dialect`](super::Dialect) may set one on the [`ErrorFields`](super::ErrorFields)
/// it returns (the SOAP and JSON-RPC dialects set [`ClientFault`](Self::ClientFault),
/// the nested dialect reads Facebook-style `is_transient`, Google's
/// `QuotaFailure` gives [`RateLimited`](Self::RateLimited)); when none
/// does, the error's code is looked up in a small table
/// ([`BodyVerdict::for_code`]). The verdict then adjusts the status's
/// kind and retry verdict; a server's explicit `x-should-retry` still wins.
///
/// ```
/// use tower_api_errors::parse::BodyVerdict;
///
/// assert_eq!(BodyVerdict::for_code("ThrottlingException"), Some(BodyVerdict::Throttled));
/// assert_eq!(BodyVerdict::for_code("insufficient_quota"), Some(BodyVerdict::QuotaExhausted));
/// assert_eq!(BodyVerdict::for_code("card_declined"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BodyVerdict {
    /// A throttle that passes: `RateLimited`, retryable (AWS `Throttling`,
    /// S3 `SlowDown`, Google `rateLimitExceeded`, sent as 400, 403 or 503).
    Throttled,
    /// A quota that will not come back soon (a spent balance, a billing or
    /// daily limit): `RateLimited`, **not** retryable. Waiting minutes will
    /// not help; the hint, if any, stays on the error for the caller.
    QuotaExhausted,
    /// A rate or quota limit of unknown duration: `RateLimited`, retried
    /// as the status says.
    RateLimited,
    /// A transient failure (Facebook's `is_transient`): retryable, kind
    /// unchanged.
    Transient,
    /// The request itself is at fault (a SOAP `Client`/`Sender` fault, a
    /// JSON-RPC parse, request, method or params error): not retryable
    /// whatever the status, kind unchanged.
    ClientFault,
}

/// Codes, normalised (ASCII letters and digits only, lower case), that say
/// "throttled, try again soon".
const THROTTLED: &[&str] = &[
    "throttling",                             // AWS Query APIs
    "throttlingexception",                    // AWS JSON APIs
    "throttled",                              // Azure, generic
    "requestthrottled",                       // AWS
    "requestthrottledexception",              // AWS
    "requestlimitexceeded",                   // AWS EC2
    "provisionedthroughputexceededexception", // DynamoDB
    "toomanyrequestsexception",               // AWS Lambda, API Gateway
    "toomanyrequests",                        // Dropbox too_many_requests, generic
    "slowdown",                               // S3
    "ratelimitexceeded",                      // Google rateLimitExceeded, RATE_LIMIT_EXCEEDED
    "userratelimitexceeded",                  // Google
    "ratelimited",                            // GraphQL RATE_LIMITED
    "ratelimiterror",                         // Anthropic rate_limit_error
];

/// Codes that say "the quota is spent; it will not come back soon".
const QUOTA_EXHAUSTED: &[&str] = &[
    "insufficientquota",       // OpenAI insufficient_quota
    "billinghardlimitreached", // OpenAI
    "billingnotactive",        // OpenAI
    "dailylimitexceeded",      // Google dailyLimitExceeded
    "dailylimitexceededunreg", // Google
    "quotaexceeded",           // YouTube Data API (daily units)
];

/// Longest code the table looks at (normalised); longer ones match nothing.
const MAX_KEY: usize = 64;

impl BodyVerdict {
    /// The verdict the built-in table gives an error code, compared without
    /// case or punctuation (`rate_limit_exceeded`, `rateLimitExceeded` and
    /// `RATE_LIMIT_EXCEEDED` are one code), or `None`.
    ///
    /// Besides the listed codes, any code naming a daily limit or quota
    /// (`daily_quota_exceeded`) is [`QuotaExhausted`](Self::QuotaExhausted).
    /// The lookup is bounded: codes longer than 64 letters match nothing.
    pub fn for_code(code: &str) -> Option<BodyVerdict> {
        // A SOAP code or an AWS `__type` may carry a namespace prefix.
        // (A byte search: both are ASCII, so the cut is a char boundary.)
        let local = match code.bytes().rposition(|b| b == b':' || b == b'#') {
            Some(at) => &code[at + 1..],
            None => code,
        };
        let mut key = [0u8; MAX_KEY];
        let mut len = 0;
        for byte in local.bytes().filter(u8::is_ascii_alphanumeric) {
            if len == MAX_KEY {
                return None;
            }
            key[len] = byte.to_ascii_lowercase();
            len += 1;
        }
        let key = std::str::from_utf8(&key[..len]).ok()?;
        if THROTTLED.contains(&key) {
            Some(BodyVerdict::Throttled)
        } else if QUOTA_EXHAUSTED.contains(&key)
            || (has(key, b"daily") && (has(key, b"limit") || has(key, b"quota")))
        {
            Some(BodyVerdict::QuotaExhausted)
        } else {
            None
        }
    }

    /// The kind and retry verdict after this body verdict, from the
    /// status's.
    pub(crate) fn apply(self, kind: ErrorKind, retryable: bool) -> (ErrorKind, bool) {
        match self {
            BodyVerdict::Throttled => (ErrorKind::RateLimited, true),
            BodyVerdict::QuotaExhausted => (ErrorKind::RateLimited, false),
            BodyVerdict::RateLimited => (ErrorKind::RateLimited, retryable),
            BodyVerdict::Transient => (kind, true),
            BodyVerdict::ClientFault => (kind, false),
        }
    }
}

/// Whether `key` holds `word`: keys are at most `MAX_KEY` bytes, where a
/// window scan beats setting up a substring searcher.
fn has(key: &str, word: &[u8]) -> bool {
    // The first byte compared inline before the rest: a slice comparison
    // of a length known only at run time is a `memcmp` call per window.
    key.as_bytes()
        .windows(word.len())
        .any(|window| window[0] == word[0] && window == word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_ignores_case_and_punctuation() {
        for code in [
            "Throttling",
            "ThrottlingException",
            "SlowDown",
            "rateLimitExceeded",
            "RATE_LIMIT_EXCEEDED",
            "userRateLimitExceeded",
            "RATE_LIMITED",
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        ] {
            assert_eq!(
                BodyVerdict::for_code(code),
                Some(BodyVerdict::Throttled),
                "{code}"
            );
        }
        for code in [
            "insufficient_quota",
            "dailyLimitExceeded",
            "DAILY_QUOTA_EXCEEDED",
            "billing_hard_limit_reached",
        ] {
            assert_eq!(
                BodyVerdict::for_code(code),
                Some(BodyVerdict::QuotaExhausted),
                "{code}"
            );
        }
        for code in ["", "404", "card_declined", "Client", &"x".repeat(10_000)] {
            assert_eq!(BodyVerdict::for_code(code), None, "{code}");
        }
    }
}
