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
    /// The server failed, not the request (S3's `InternalError`, which S3
    /// may send under 200 after a copy started): `Server` when the status
    /// names no kind of its own, retryable whatever the status.
    ServerFault,
    /// The request itself is at fault (a SOAP `Client`/`Sender` fault, a
    /// JSON-RPC parse, request, method or params error): not retryable
    /// whatever the status, kind unchanged.
    ClientFault,
}

/// Longest code the table looks at (normalised); longer ones match nothing.
const MAX_KEY: usize = 64;

/// [`KEY_BYTE`]: a byte that is not part of the key.
const SKIP: u8 = 0;
/// [`KEY_BYTE`]: a namespace separator (`:`, `#`); the key starts after it.
const RESTART: u8 = 1;

/// What each byte is in a normalised key: letters lower-cased, digits as
/// they are, [`RESTART`] for `:` and `#`, [`SKIP`] for the rest.
const KEY_BYTE: [u8; 256] = {
    let mut table = [SKIP; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = match b {
            b'a'..=b'z' | b'0'..=b'9' => b,
            b'A'..=b'Z' => b.to_ascii_lowercase(),
            b':' | b'#' => RESTART,
            _ => SKIP,
        };
        byte += 1;
    }
    table
};

impl BodyVerdict {
    /// The verdict the built-in table gives an error code, compared without
    /// case or punctuation (`rate_limit_exceeded`, `rateLimitExceeded` and
    /// `RATE_LIMIT_EXCEEDED` are one code), or `None`.
    ///
    /// Besides the listed codes, any code naming a daily or monthly limit or
    /// quota (`daily_quota_exceeded`) is [`QuotaExhausted`](Self::QuotaExhausted).
    /// The lookup is bounded: codes longer than 64 letters match nothing.
    pub fn for_code(code: &str) -> Option<BodyVerdict> {
        let mut key = [0u8; MAX_KEY];
        let len = normalise(code, &mut key)?;
        // AWS's Query protocols name a code (`Throttling`) whose shape its
        // JSON ones name with a suffix (`ThrottlingException`): one code.
        let key = key[..len].strip_suffix(b"exception").unwrap_or(&key[..len]);
        // Codes normalised (ASCII letters and digits only, lower case). A
        // `match` compares the length before any byte, so a code is
        // compared in full only with the few of its size.
        match key {
            // Throttled, try again soon (botocore's standard retry mode
            // lists the AWS ones: `ThrottledRetryableChecker`).
            b"throttling"                              // AWS Query APIs (JSON: ThrottlingException)
            | b"throttled"                             // Azure, generic; AWS ThrottledException
            | b"requestthrottled"                      // AWS
            | b"requestlimitexceeded"                  // AWS EC2
            | b"provisionedthroughputexceeded"         // DynamoDB
            | b"toomanyrequests"                       // AWS Lambda, API Gateway; Dropbox too_many_requests
            | b"slowdown"                              // S3
            | b"priorrequestnotcomplete"               // Route 53: "retry after a short delay"
            | b"ratelimitexceeded"                     // Google rateLimitExceeded, RATE_LIMIT_EXCEEDED
            | b"userratelimitexceeded"                 // Google
            | b"ratelimited"                           // GraphQL RATE_LIMITED
            | b"ratelimiterror"                        // Anthropic rate_limit_error
            => Some(BodyVerdict::Throttled),
            // Transient, kind unchanged (botocore: `_TRANSIENT_ERROR_CODES`).
            b"requesttimeout"                          // S3's 400: the upload stalled; AWS JSON
            | b"transactioninprogress"                 // DynamoDB: the same token is running
            => Some(BodyVerdict::Transient),
            // The server's own failure, whatever the status (botocore
            // retries an S3 `InternalError` under 200 as a 500).
            b"internalerror"                           // S3, AWS Query; internal_error
            | b"internalfailure"                       // AWS common errors (500)
            | b"internalservererror"                   // Vercel internal_server_error
            => Some(BodyVerdict::ServerFault),
            // The quota is spent; it will not come back soon.
            b"insufficientquota"                       // OpenAI insufficient_quota
            | b"billinghardlimitreached"               // OpenAI
            | b"billingnotactive"                      // OpenAI
            | b"dailylimitexceeded"                    // Google dailyLimitExceeded
            | b"dailylimitexceededunreg"               // Google
            | b"quotaexceeded"                         // YouTube Data API (daily units); Spotify's 429
            | b"accesslimitreached"                    // Yelp's daily limit (resets at midnight UTC)
            => Some(BodyVerdict::QuotaExhausted),
            _ if names_long_quota(key) => Some(BodyVerdict::QuotaExhausted),
            _ => None,
        }
    }

    /// The verdict of a failure's message, for a body whose code gave
    /// none or called it a rate limit; `rate_limited` says whether the
    /// status, headers or code already call the failure a rate limit. A
    /// rate limit whose message names a daily or monthly limit or quota is
    /// [`QuotaExhausted`](Self::QuotaExhausted) (HubSpot's 429 `"You have
    /// reached your daily limit."`, whose code `RATE_LIMIT` does not say
    /// which limit; CoinMarketCal's `rate_limit_exceeded` `"You have
    /// exceeded your daily request quota."`); another failure whose
    /// message says a rate limit was exceeded is
    /// [`RateLimited`](Self::RateLimited), retried as its status says
    /// (GitHub's 403 `"You have exceeded a secondary rate limit"`: its
    /// docs ask for a wait of a minute or more, which no header gives, so
    /// it is named a rate limit and left to the caller, not retried at
    /// once). A message is weaker evidence than a code: it names the
    /// kind, and only ever takes a retry away.
    pub(crate) fn for_message(message: &str, rate_limited: bool) -> Option<BodyVerdict> {
        let lower = message.to_ascii_lowercase();
        let text = lower.as_bytes();
        if rate_limited {
            return names_long_quota(text).then_some(BodyVerdict::QuotaExhausted);
        }
        let names = has(text, b"rate limit") || has(text, b"rate-limit") || has(text, b"ratelimit");
        // "exceeded", "limited", and "reached" (Etherscan's "Max rate
        // limit reached", OpenAI's "Rate limit reached for ...").
        let said = has(text, b"exceed") || has(text, b"limited") || has(text, b"reached");
        (names && said).then_some(BodyVerdict::RateLimited)
    }

    /// The kind and retry verdict after this body verdict, from the
    /// status's.
    pub(crate) fn apply(self, kind: ErrorKind, retryable: bool) -> (ErrorKind, bool) {
        match self {
            BodyVerdict::Throttled => (ErrorKind::RateLimited, true),
            BodyVerdict::QuotaExhausted => (ErrorKind::RateLimited, false),
            BodyVerdict::RateLimited => (ErrorKind::RateLimited, retryable),
            BodyVerdict::Transient => (kind, true),
            BodyVerdict::ServerFault if kind == ErrorKind::Other => (ErrorKind::Server, true),
            BodyVerdict::ServerFault => (kind, true),
            BodyVerdict::ClientFault => (kind, false),
        }
    }
}

/// The normalised key of `code` into `key`, and its length; `None` when it
/// is longer than [`MAX_KEY`].
fn normalise(code: &str, key: &mut [u8; MAX_KEY]) -> Option<usize> {
    // One pass: a SOAP code or an AWS `__type` may carry a namespace
    // prefix, so a `:` or `#` starts the key afresh (the key is what
    // follows the last one); letters and digits are kept, lower case.
    let (mut len, mut too_long) = (0, false);
    for &byte in code.as_bytes() {
        // One table load per byte instead of a chain of range tests.
        match KEY_BYTE[usize::from(byte)] {
            SKIP => {}
            RESTART => (len, too_long) = (0, false),
            kept if len < MAX_KEY => {
                key[len] = kept;
                len += 1;
            }
            _ => too_long = true,
        }
    }
    (!too_long).then_some(len)
}

/// Whether `text` (lower case) names a daily or monthly limit or quota
/// ("per day", LinkedIn's "APPLICATION DAY limit" too).
fn names_long_quota(text: &[u8]) -> bool {
    let any = |words: &[&[u8]]| words.iter().any(|word| has(text, word));
    any(&[b"daily", b"monthly", b"per day", b" day "]) && any(&[b"limit", b"quota", b"exceed"])
}

/// Whether `key` holds `word`.
fn has(key: &[u8], word: &[u8]) -> bool {
    memchr::memmem::find(key, word).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table-driven normalisation agrees with a plain reading on
    /// letters of either case, digits, separators, namespace marks and
    /// other bytes at every place, and on every length around the bound.
    #[test]
    fn normalise_agrees_with_a_byte_at_a_time_one() {
        fn by_bytes(code: &str) -> Option<Vec<u8>> {
            let local = match code.bytes().rposition(|b| b == b':' || b == b'#') {
                Some(at) => &code[at + 1..],
                None => code,
            };
            let key: Vec<u8> = local
                .bytes()
                .filter(u8::is_ascii_alphanumeric)
                .map(|b| b.to_ascii_lowercase())
                .collect();
            (key.len() <= MAX_KEY).then_some(key)
        }
        let mut codes: Vec<String> = Vec::new();
        for odd in [
            "_", "-", " ", ":", "#", "@", "[", "`", "{", "Z", "9", "\u{e9}", "\u{7f}",
        ] {
            for len in 0..20 {
                for at in 0..len {
                    let mut code: String = "aBcDeFgHiJkLmNoPqRsT"[..len].to_owned();
                    code.replace_range(at..at + 1, odd);
                    codes.push(code);
                }
            }
        }
        for len in 56..72 {
            codes.push("Ab".repeat(len / 2) + &"c".repeat(len % 2));
            codes.push(format!("{}:{}", "x".repeat(len), "RateLimited"));
        }
        for code in &codes {
            let mut key = [0; MAX_KEY];
            let got = normalise(code, &mut key).map(|len| key[..len].to_vec());
            assert_eq!(got, by_bytes(code), "{code:?}");
        }
    }

    #[test]
    fn table_ignores_case_and_punctuation() {
        use BodyVerdict::{QuotaExhausted, ServerFault, Throttled, Transient};
        let long = "x".repeat(10_000);
        let prefixed = format!("{}:SlowDown", "x".repeat(100));
        let (too_long, long_after_prefix) = (
            "x".repeat(65),
            format!("{}#{}", "x".repeat(100), "y".repeat(65)),
        );
        let rows: &[(&[&str], Option<BodyVerdict>)] = &[
            (
                &[
                    "Throttling",
                    "ThrottlingException",
                    "SlowDown",
                    "rateLimitExceeded",
                    "RATE_LIMIT_EXCEEDED",
                    "userRateLimitExceeded",
                    "RATE_LIMITED",
                    "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                    "ThrottledException",
                    "PriorRequestNotComplete",
                    "ns:Throttling",
                    "a#b:SlowDown",
                    &prefixed,
                ],
                Some(Throttled),
            ),
            (
                &[
                    "insufficient_quota",
                    "dailyLimitExceeded",
                    "DAILY_QUOTA_EXCEEDED",
                    "monthly_limit_exceeded",
                    "billing_hard_limit_reached",
                ],
                Some(QuotaExhausted),
            ),
            // YouTube's daily units, Spotify's spent quota; the Amazon
            // SP-API's 429 too, whose quotas run from a second to a day.
            (&["quotaExceeded", "QuotaExceeded"], Some(QuotaExhausted)),
            (
                &[
                    "RequestTimeout",
                    "RequestTimeoutException",
                    "TransactionInProgressException",
                ],
                Some(Transient),
            ),
            (
                &["InternalError", "internal_error", "InternalFailure"],
                Some(ServerFault),
            ),
            (
                &[
                    "",
                    "404",
                    "card_declined",
                    "Client",
                    "Exception",
                    "LimitExceededException",
                    &long,
                    &too_long,
                    &long_after_prefix,
                ],
                None,
            ),
        ];
        for (codes, verdict) in rows {
            for code in *codes {
                assert_eq!(BodyVerdict::for_code(code), *verdict, "{code}");
            }
        }
    }
}
