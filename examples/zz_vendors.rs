use http::{HeaderMap, StatusCode};
fn show(name: &str, status: u16, headers: &[(&str, &str)], body: &str) {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let e =
        tower_api_errors::parse_error(StatusCode::from_u16(status).unwrap(), &map, body.as_bytes());
    println!(
        "{name}: kind={:?} retryable={} retry_after={:?} code={:?} msg={:?}",
        e.kind(),
        e.is_retryable(),
        e.retry_after(),
        e.code(),
        e.message()
    );
}
fn main() {
    show(
        "telegram 429",
        429,
        &[],
        r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 35","parameters":{"retry_after":35}}"#,
    );
    show(
        "telegram 400",
        400,
        &[],
        r#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#,
    );
    show(
        "binance 429",
        429,
        &[("retry-after", "60")],
        r#"{"code":-1003,"msg":"Too many requests; current limit of IP(1.2.3.4) is 6000 requests per minute. Please use the websocket for live updates to avoid polling the API."}"#,
    );
    show(
        "binance 418",
        418,
        &[("retry-after", "120")],
        r#"{"code":-1003,"msg":"Way too many requests; IP(1.2.3.4) banned until 1659000000000. Please use the websocket for live updates to avoid bans."}"#,
    );
    show(
        "jira 429",
        429,
        &[
            ("retry-after", "5"),
            ("x-ratelimit-limit", "100"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "2024-01-01T00:00:00Z"),
        ],
        r#"{"errorMessages":["Rate limit exceeded."],"errors":{}}"#,
    );
    show(
        "zoom 429",
        429,
        &[("retry-after", "2")],
        r#"{"code":429,"message":"You have reached the maximum per-second rate limit for this API. Try again later."}"#,
    );
    show(
        "zoom daily 429",
        429,
        &[
            ("x-ratelimit-category", "Heavy"),
            ("x-ratelimit-type", "Daily-limit"),
        ],
        r#"{"code":429,"message":"You have reached the maximum daily rate limit for this API. Refer to the response header for details on when you can make the next request."}"#,
    );
    show(
        "asana 429",
        429,
        &[("retry-after", "30")],
        r#"{"errors":[{"message":"You have made too many requests recently. Please, be chill."}]}"#,
    );
    show(
        "airtable 429",
        429,
        &[],
        r#"{"errors":[{"error":"RATE_LIMIT_REACHED","message":"Rate limit exceeded. Please try again later"}]}"#,
    );
    show(
        "mailchimp 429",
        429,
        &[],
        r#"{"type":"https://mailchimp.com/developer/marketing/docs/errors/","title":"Too Many Requests","status":429,"detail":"You have exceeded the limit of 10 simultaneous connections.","instance":"995c5cb0-3280-4a6e-808b-3b096d0bb219"}"#,
    );
    show(
        "sendgrid 429",
        429,
        &[
            ("x-ratelimit-limit", "600"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1392815263"),
        ],
        r#"{"errors":[{"field":null,"message":"too many requests"}]}"#,
    );
    show(
        "dropbox 429",
        429,
        &[("retry-after", "15")],
        r#"{"error_summary":"too_many_requests/..","error":{"reason":{".tag":"too_many_requests"},"retry_after":15}}"#,
    );
    show(
        "spotify 429",
        429,
        &[("retry-after", "3")],
        r#"{"error":{"status":429,"message":"API rate limit exceeded"}}"#,
    );
    show(
        "reddit 429",
        429,
        &[
            ("x-ratelimit-used", "100"),
            ("x-ratelimit-remaining", "0.0"),
            ("x-ratelimit-reset", "412"),
        ],
        r#"{"message": "Too Many Requests", "error": 429}"#,
    );
    show(
        "cloudflare 429",
        429,
        &[("retry-after", "300")],
        r#"{"success":false,"errors":[{"code":10000,"message":"Rate limited. Please wait and consider throttling your request speed"}],"messages":[],"result":null}"#,
    );
    show(
        "digitalocean 429",
        429,
        &[
            ("ratelimit-limit", "5000"),
            ("ratelimit-remaining", "0"),
            ("ratelimit-reset", "1444931833"),
        ],
        r#"{"id":"too_many_requests","message":"API Rate limit exceeded."}"#,
    );
    show(
        "msgraph 429",
        429,
        &[("retry-after", "10")],
        r#"{"error":{"code":"TooManyRequests","innerError":{"code":"429","date":"2020-08-18T12:51:51","message":"Please retry after","request-id":"94fb3b52-452a-4535-a601-69e0a90e3aa2","status":"429"},"message":"Please retry again later."}}"#,
    );
    show(
        "azure arm 429",
        429,
        &[
            ("retry-after", "25"),
            ("x-ms-ratelimit-remaining-subscription-reads", "0"),
        ],
        r#"{"error":{"code":"SubscriptionRequestsThrottled","message":"Number of 'read' requests for subscription '...' actor '...' exceeded. Please try again after '25' seconds after the last request."}}"#,
    );
    show(
        "gcs 429",
        429,
        &[],
        r#"{"error":{"code":429,"message":"The rate of change requests to the object my-bucket/obj exceeds the rate limit. Please reduce the rate of create, update, and delete requests.","errors":[{"message":"The rate of change requests to the object my-bucket/obj exceeds the rate limit. Please reduce the rate of create, update, and delete requests.","domain":"usageLimits","reason":"rateLimitExceeded"}]}}"#,
    );
    show(
        "gemini 429",
        429,
        &[],
        r#"{"error":{"code":429,"message":"You exceeded your current quota, please check your plan and billing details.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier","quotaDimensions":{"location":"global","model":"gemini-2.0-flash"},"quotaValue":"200"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"43s"}]}}"#,
    );
    show(
        "auth0 429",
        429,
        &[
            ("x-ratelimit-limit", "10"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1700000000"),
        ],
        r#"{"statusCode":429,"error":"Too Many Requests","message":"Global limit has been reached","errorCode":"too_many_requests"}"#,
    );
    show(
        "square 429",
        429,
        &[],
        r#"{"errors":[{"category":"RATE_LIMIT_ERROR","code":"RATE_LIMITED","detail":"Rate limit exceeded"}]}"#,
    );
    show(
        "plaid 429",
        429,
        &[],
        r#"{"error_type":"RATE_LIMIT_EXCEEDED","error_code":"RATE_LIMIT","error_message":"rate limit exceeded for attempts to access this item. please try again later","display_message":null,"request_id":"HNTDNrA8F1shFEW"}"#,
    );
    show(
        "coinbase 429",
        429,
        &[],
        r#"{"errors":[{"id":"rate_limit_exceeded","message":"Too many requests"}]}"#,
    );
    show(
        "mastodon 429",
        429,
        &[
            ("x-ratelimit-limit", "300"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "2024-01-01T00:05:00.000Z"),
        ],
        r#"{"error":"Too many requests"}"#,
    );
    show(
        "shopify rest 429",
        429,
        &[
            ("retry-after", "2.0"),
            ("x-shopify-shop-api-call-limit", "40/40"),
        ],
        r#"{"errors":"Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."}"#,
    );
    show(
        "intercom 429",
        429,
        &[
            ("x-ratelimit-limit", "10000"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1700000000"),
        ],
        r#"{"type":"error.list","request_id":"000on04msi4jpk7d3u60","errors":[{"code":"rate_limit_exceeded","message":"Exceeded rate limit of 10000 in 60 seconds"}]}"#,
    );
    show(
        "box 429",
        429,
        &[("retry-after", "10")],
        r#"{"type":"error","status":429,"code":"rate_limit_exceeded","help_url":"http://developers.box.com/docs/#errors","message":"Request rate limit exceeded, please try again later","request_id":"abcdef123456"}"#,
    );
    show(
        "twilio 429",
        429,
        &[],
        r#"{"code":20429,"message":"Too Many Requests","more_info":"https://www.twilio.com/docs/errors/20429","status":429}"#,
    );
    show(
        "okta 429",
        429,
        &[
            ("x-rate-limit-limit", "600"),
            ("x-rate-limit-remaining", "0"),
            ("x-rate-limit-reset", "1700000000"),
        ],
        r#"{"errorCode":"E0000047","errorSummary":"API call exceeded rate limit due to too many requests.","errorLink":"E0000047","errorId":"sampleQPivGUj_ND5v78vbYWW","errorCauses":[]}"#,
    );
    show(
        "github 429 graphql secondary",
        200,
        &[],
        r#"{"errors":[{"type":"RATE_LIMITED","message":"API rate limit exceeded for user ID 1."}]}"#,
    );
    show(
        "stripe 429",
        429,
        &[],
        r#"{"error":{"message":"Request rate limit exceeded. You can learn more about rate limits here https://stripe.com/docs/rate-limits.","type":"invalid_request_error","code":"rate_limit"}}"#,
    );
    show(
        "stripe lock_timeout",
        429,
        &[],
        r#"{"error":{"code":"lock_timeout","message":"This object cannot be accessed right now because another API request or Stripe process is currently accessing it.","type":"invalid_request_error"}}"#,
    );
}
