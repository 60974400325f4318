//! `parse_error` over the error families of issue #12: real documented
//! bodies (source cited on each row), the verdicts their codes carry, and
//! hostile variants that must stay bounded.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use tower::{service_fn, ServiceBuilder, ServiceExt};
use tower_api_errors::retry::{ReplayBody, RetryLayer, RetryPolicy};
use tower_api_errors::{parse_error, ErrorBodyParseLayer, ErrorKind};

#[path = "support/dialect_rows.rs"]
mod dialect_rows;

use dialect_rows::Row;

/// A row whose retry verdict is checked.
const fn row(
    source: &'static str,
    status: u16,
    body: &'static str,
    kind: ErrorKind,
    code: Option<&'static str>,
    message: &'static str,
    retryable: bool,
) -> Row {
    Row {
        retryable: Some(retryable),
        ..dialect_rows::row(source, status, body, kind, code, message)
    }
}

use ErrorKind::*;

const FAMILIES: &[Row] = &[
    // Top-level arrays. Salesforce REST API Developer Guide, "Status Codes
    // and Error Responses" (developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm).
    Row { fields: &[("Id", "Account ID: id value of incorrect type: 001900K0001pPuOAAU")],
        ..row("Salesforce 400", 400, r#"[{"fields":["Id"],"message":"Account ID: id value of incorrect type: 001900K0001pPuOAAU","errorCode":"MALFORMED_ID"}]"#, BadRequest, Some("MALFORMED_ID"), "Account ID: id value of incorrect type: 001900K0001pPuOAAU", false) },
    row("Salesforce 401", 401, r#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#, Unauthorized, Some("INVALID_SESSION_ID"), "Session expired or invalid", false),
    // JSON-RPC 2.0 specification, section 7 examples (jsonrpc.org/specification).
    row("JSON-RPC method not found", 500, r#"{"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "1"}"#, Server, Some("-32601"), "Method not found", false),
    row("JSON-RPC parse error", 400, r#"{"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null}"#, BadRequest, Some("-32700"), "Parse error", false),
    row("JSON-RPC batch", 400, r#"[{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}]"#, BadRequest, Some("-32600"), "Invalid Request", false),
    row("JSON-RPC internal error", 503, r#"{"jsonrpc": "2.0", "error": {"code": -32603, "message": "Internal error"}, "id": 1}"#, Unavailable, Some("-32603"), "Internal error", true),
    // OData v2 JSON verbose format (odata.org/documentation/odata-version-2-0/json-format, "Error Response").
    row("OData v2", 404, r#"{"error":{"code":"","message":{"lang":"en-US","value":"Resource not found for the segment 'Products'."}}}"#, NotFound, None, "Resource not found for the segment 'Products'.", false),
    // OData v3 JSON light, as SharePoint's REST API answers (learn.microsoft.com, SharePoint REST "error handling").
    row("OData v3 light", 400, r#"{"odata.error":{"code":"-2147024809, System.ArgumentException","message":{"lang":"en-US","value":"Value does not fall within the expected range."}}}"#, BadRequest, Some("-2147024809, System.ArgumentException"), "Value does not fall within the expected range.", false),
    // Microsoft REST API Guidelines, "Error condition responses" (nested innererror).
    row("Azure innererror", 400, r#"{"error":{"code":"BadArgument","message":"Previous passwords may not be reused","target":"password","innererror":{"code":"PasswordError","innererror":{"code":"PasswordDoesNotMeetPolicy","minLength":"6","maxLength":"64","characterTypes":["lowerCase","upperCase","number","symbol"],"minDistinctCharacterTypes":"2","innererror":{"code":"PasswordReuseNotAllowed"}}}}}"#, BadRequest, Some("PasswordReuseNotAllowed"), "Previous passwords may not be reused", false),
    // Microsoft Graph, "Microsoft Graph error responses and resource types".
    row("Graph innerError", 416, r#"{"error":{"code":"invalidRange","message":"Uploaded fragment overlaps with existing data.","innerError":{"code":"invalidRange","request-id":"request-id","date":"date-time"}}}"#, Other, Some("invalidRange"), "Uploaded fragment overlaps with existing data.", false),
    // Microsoft Graph throttling guidance, "Sample response" (learn.microsoft.com/graph/throttling):
    // the innerError's numeric code repeats the status; the outer code names the error.
    Row { headers: &[("retry-after", "2.128")], retry_after_ms: Some(2_128),
        ..row("Graph 429", 429, r#"{"error":{"code":"TooManyRequests","innerError":{"code":"429","date":"2020-08-18T12:51:51","message":"Please retry after","request-id":"94fb3b52-452a-4535-a601-69e0a90e3aa2","status":"429"},"message":"Please retry again later."}}"#, RateLimited, Some("TooManyRequests"), "Please retry again later.", true) },
    // SOAP 1.1 (W3C Note, section 6.2: a server fault with detail).
    row("SOAP 1.1 server", 500, r#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>SOAP-ENV:Server</faultcode><faultstring>Server Error</faultstring><detail><e:myfaultdetails xmlns:e="Some-URI"><message>My application didn't work</message><errorcode>1001</errorcode></e:myfaultdetails></detail></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>"#, Server, Some("Server"), "Server Error", true),
    // SOAP 1.1 (W3C Note, section 4.4: a MustUnderstand fault), sent as 500 like every 1.1 fault.
    Row { headers: &[("content-type", "text/xml; charset=utf-8")],
        ..row("SOAP 1.1 client", 500, "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\">\n  <SOAP-ENV:Body>\n    <SOAP-ENV:Fault>\n      <faultcode>SOAP-ENV:MustUnderstand</faultcode>\n      <faultstring>SOAP Must Understand Error</faultstring>\n    </SOAP-ENV:Fault>\n  </SOAP-ENV:Body>\n</SOAP-ENV:Envelope>", Server, Some("MustUnderstand"), "SOAP Must Understand Error", false) },
    // SOAP 1.2 Part 1 (W3C Recommendation), section 5.4, Example 4.
    row("SOAP 1.2 sender", 400, r#"<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:m="http://www.example.org/timeouts" xmlns:xml="http://www.w3.org/XML/1998/namespace"><env:Body><env:Fault><env:Code><env:Value>env:Sender</env:Value><env:Subcode><env:Value>m:MessageTimeout</env:Value></env:Subcode></env:Code><env:Reason><env:Text xml:lang="en">Sender Timeout</env:Text></env:Reason><env:Detail><m:MaxTime>P5M</m:MaxTime></env:Detail></env:Fault></env:Body></env:Envelope>"#, BadRequest, Some("MessageTimeout"), "Sender Timeout", false),
    // Cloudflare API v4, "Make API calls" (developers.cloudflare.com/fundamentals/api/).
    row("Cloudflare v4", 403, r#"{"success":false,"errors":[{"code":10000,"message":"Authentication error"}],"messages":[],"result":null}"#, Forbidden, Some("10000"), "Authentication error", false),
    // Dropbox API v2 HTTP documentation, "Errors" (endpoint-specific 409s and 429).
    row("Dropbox 409", 409, r#"{"error_summary": "path/not_found/..", "error": {".tag": "path", "path": {".tag": "not_found"}}}"#, Conflict, Some("path/not_found"), "path/not_found", false),
    row("Dropbox user_message", 409, r#"{"error_summary": "path/conflict/file/..", "error": {".tag": "path", "path": {".tag": "conflict", "conflict": {".tag": "file"}}}, "user_message": {"locale": "en", "text": "There's already a file there."}}"#, Conflict, Some("path/conflict/file"), "There's already a file there.", false),
    Row { retry_after_ms: Some(300_000),
        ..row("Dropbox 429", 429, r#"{"error_summary": "too_many_requests/..", "error": {"reason": {".tag": "too_many_requests"}, "retry_after": 300}}"#, RateLimited, Some("too_many_requests"), "too_many_requests", true) },
    // Discord developer docs, "Opcodes and Status Codes": example JSON error response.
    Row { fields: &[("activities.0.platform", "Value must be one of {'desktop', 'android', 'ios'}."), ("activities.0.type", "Value must be one of (0, 1, 2, 3, 4, 5).")],
        ..row("Discord 50035", 400, r#"{"code": 50035, "errors": {"activities": {"0": {"platform": {"_errors": [{"code": "BASE_TYPE_CHOICES", "message": "Value must be one of {'desktop', 'android', 'ios'}."}]}, "type": {"_errors": [{"code": "BASE_TYPE_CHOICES", "message": "Value must be one of (0, 1, 2, 3, 4, 5)."}]}}}}, "message": "Invalid Form Body"}"#, BadRequest, Some("50035"), "Invalid Form Body", false) },
    // Kubernetes API conventions, "Response Status Kind" (details.causes).
    Row { fields: &[("spec.containers[0].image", "Required value")],
        ..row("Kubernetes 422", 422, r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Pod \"nginx\" is invalid: spec.containers[0].image: Required value","reason":"Invalid","details":{"name":"nginx","kind":"Pod","causes":[{"reason":"FieldValueRequired","message":"Required value","field":"spec.containers[0].image"}]},"code":422}"#, Validation, Some("Invalid"), "Pod \"nginx\" is invalid: spec.containers[0].image: Required value", false) },
    // Okta developer docs, "Error codes" E0000001 with errorCauses.
    Row { fields: &[("login", "An object with this field already exists in the current organization")],
        ..row("Okta errorCauses", 400, r#"{"errorCode":"E0000001","errorSummary":"Api validation failed: login","errorLink":"E0000001","errorId":"oaeHfmOAx1iRLa0H10DeMz5fQ","errorCauses":[{"errorSummary":"login: An object with this field already exists in the current organization"}]}"#, BadRequest, Some("E0000001"), "Api validation failed: login", false) },
    // YouTube Data API, "Errors" (quotaExceeded); its message carries HTML.
    row("YouTube quota", 403, r#"{"error":{"code":403,"message":"The request cannot be completed because you have exceeded your <a href=\"/youtube/v3/getting-started#quota\">quota</a>.","errors":[{"message":"The request cannot be completed because you have exceeded your <a href=\"/youtube/v3/getting-started#quota\">quota</a>.","domain":"youtube.quota","reason":"quotaExceeded"}]}}"#, RateLimited, Some("quotaExceeded"), "The request cannot be completed because you have exceeded your quota.", false),
    // Body verdicts. OpenAI API "Error codes" guide: 429 insufficient_quota.
    row("OpenAI insufficient_quota", 429, r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#, RateLimited, Some("insufficient_quota"), "You exceeded your current quota, please check your plan and billing details.", false),
    // Google Drive API, "Resolve errors": 403 userRateLimitExceeded and dailyLimitExceeded.
    row("Google userRateLimitExceeded", 403, r#"{"error":{"errors":[{"domain":"usageLimits","reason":"userRateLimitExceeded","message":"User Rate Limit Exceeded"}],"code":403,"message":"User Rate Limit Exceeded"}}"#, RateLimited, Some("userRateLimitExceeded"), "User Rate Limit Exceeded", true),
    row("Google dailyLimitExceeded", 403, r#"{"error":{"errors":[{"domain":"usageLimits","reason":"dailyLimitExceeded","message":"Daily Limit Exceeded"}],"code":403,"message":"Daily Limit Exceeded"}}"#, RateLimited, Some("dailyLimitExceeded"), "Daily Limit Exceeded", false),
    // Google AIP-193 / Cloud APIs: JSON-transcoded QuotaFailure and RetryInfo.
    Row { retry_after_ms: Some(30_000),
        ..row("Google QuotaFailure", 429, r#"{"error":{"code":429,"message":"Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute'.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"subject":"project:123","description":"Read requests per minute exceeded"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"30s"}]}}"#, RateLimited, Some("RESOURCE_EXHAUSTED"), "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute'.", true) },
    // AWS JSON protocol error (AWS SDKs' "ThrottlingException", 400).
    row("AWS ThrottlingException", 400, r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#, RateLimited, Some("ThrottlingException"), "Rate exceeded", true),
    // AWS Query protocol (IAM API Reference, "Common Errors": Throttling, 400).
    Row { headers: &[("content-type", "text/xml")],
        ..row("AWS Query Throttling", 400, r#"<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>8c4e2a6f-1b2c-4d3e-9f00-1a2b3c4d5e6f</RequestId></ErrorResponse>"#, RateLimited, Some("Throttling"), "Rate exceeded", true) },
    // Amazon S3 API Reference, "Error responses": SlowDown (503).
    Row { headers: &[("content-type", "application/xml")],
        ..row("S3 SlowDown", 503, r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>4442587FB7D0A2F9</RequestId><HostId>eftixk72aD6Ap51TnqcoF8eFidJG9Z/2mkiDFu8yU9AS1ed4OpIszj7UDNEHGran</HostId></Error>"#, RateLimited, Some("SlowDown"), "Please reduce your request rate.", true) },
    // Meta Graph API, "Handling errors": code 4 with is_transient.
    row("Graph API code 4", 403, r#"{"error":{"message":"(#4) Application request limit reached","type":"OAuthException","is_transient":true,"code":4,"fbtrace_id":"AbCdEfGhIjK"}}"#, RateLimited, Some("OAuthException"), "(#4) Application request limit reached", true),
    row("Graph API code 2", 500, r#"{"error":{"message":"(#2) Service temporarily unavailable","type":"OAuthException","is_transient":true,"code":2,"fbtrace_id":"AbCdEfGhIjK"}}"#, Server, Some("OAuthException"), "(#2) Service temporarily unavailable", true),
    row("Graph API code 190", 400, r#"{"error":{"message":"Error validating access token: Session has expired","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"AbCdEfGhIjK"}}"#, BadRequest, Some("OAuthException"), "Error validating access token: Session has expired", false),
    // GraphQL `extensions.code` (Apollo Server's error codes; Shopify sends THROTTLED).
    row("GraphQL RATE_LIMITED", 400, r#"{"errors":[{"message":"Too many requests, please slow down.","extensions":{"code":"RATE_LIMITED"}}]}"#, RateLimited, Some("RATE_LIMITED"), "Too many requests, please slow down.", true),
    // GitLab REST API, "Troubleshooting": status code 400 (docs.gitlab.com/api/rest/troubleshooting/):
    // validation errors are a map of properties (or embedded entities) to messages under `message`.
    Row { fields: &[("bio", "is too long (maximum is 255 characters)"), ("namespace.path", "has already been taken")],
        ..row("GitLab 400 validation", 400, r#"{"message": {"bio": ["is too long (maximum is 255 characters)"], "namespace": {"path": ["has already been taken"]}}}"#, BadRequest, None, "bio: is too long (maximum is 255 characters)", false) },
    // The same page, "Requests detected as spam": the text under `message.error`.
    row("GitLab spam", 400, r#"{"message":{"error":"Your snippet has been recognized as spam and has been discarded."}}"#, BadRequest, None, "Your snippet has been recognized as spam and has been discarded.", false),
    // Figma REST API, "Errors" (developers.figma.com/docs/rest-api/errors) and its OpenAPI
    // spec (github.com/figma/rest-api-spec, ErrorResponsePayloadWithErrMessage: `status`, `err`).
    row("Figma 403", 403, r#"{"status":403,"err":"Invalid token"}"#, Forbidden, None, "Invalid token", false),
    Row { headers: &[("retry-after", "60")], retry_after_ms: Some(60_000),
        ..row("Figma 429", 429, r#"{"status":429,"err":"Rate limit exceeded"}"#, RateLimited, None, "Rate limit exceeded", true) },
    // Smithy AWS protocol tests, restJson1 errors.smithy (github.com/smithy-lang/smithy,
    // smithy-aws-protocol-tests/model/restJson1/errors.smithy): the type is the
    // `X-Amzn-Errortype` header when sent, without a `:uri` suffix or `ns#` prefix
    // (RestJsonFooErrorUsingXAmznErrorTypeWithUri: "for an example service see Amazon Polly").
    Row { headers: &[("x-amzn-errortype", "ValidationException:http://internal.amazon.com/coral/com.amazon.coral.validate/")],
        ..row("AWS restJson1 X-Amzn-Errortype", 400, r#"{"message":"1 validation error detected: Value 'x' at 'voiceId' failed to satisfy enum value set"}"#, BadRequest, Some("ValidationException"), "1 validation error detected: Value 'x' at 'voiceId' failed to satisfy enum value set", false) },
    Row { headers: &[("x-amzn-errortype", "aws.protocoltests.restjson#FooError:http://internal.amazon.com/coral/com.amazon.coral.validate/")],
        ..row("AWS restJson1 header with namespace and uri", 500, "", Server, Some("FooError"), "Internal Server Error", true) },
    // RestJsonFooErrorWithDunderTypeUriAndNamespace: `__type` with both.
    row("AWS __type with namespace and uri", 500, r#"{"__type": "aws.protocoltests.restjson#FooError:http://internal.amazon.com/coral/com.amazon.coral.validate/"}"#, Server, Some("FooError"), "Internal Server Error", true),
    // The AWS JSON protocols' throttle named by the header alone (the awsJson1_1
    // protocol tests' AwsJson11FooErrorUsingXAmznErrorType shape), sent as 400.
    Row { headers: &[("x-amzn-errortype", "ThrottlingException")],
        ..row("AWS throttle in X-Amzn-Errortype", 400, r#"{"message":"Rate exceeded"}"#, RateLimited, Some("ThrottlingException"), "Rate exceeded", true) },
    // Zendesk, "Requests" (developer.zendesk.com/api-reference/introduction/requests/): business-level
    // errors are JSON; a RecordInvalid's `details` maps fields to lists of {description, error},
    // as Zendesk's own client reads them (zendesk/zendesk_api_client_rb, lib/zendesk_api/error.rb).
    Row { fields: &[("requester", "Requester: Email is not properly formatted")],
        ..row("Zendesk 422", 422, r#"{"error":"RecordInvalid","description":"Record validation errors","details":{"requester":[{"description":"Requester: Email is not properly formatted","error":"InvalidValue"}]}}"#, Validation, Some("RecordInvalid"), "Record validation errors", false) },
    // Heroku Platform API Reference, "Errors" (devcenter.heroku.com/articles/platform-api-reference#errors):
    // `id` is the error's id (`rate_limit`, `delinquent`, `not_found`), `message` the text.
    row("Heroku 429", 429, r#"{"id":"rate_limit","message":"Your account reached the API rate limit\nPlease wait a few minutes before making new requests","url":"https://devcenter.heroku.com/articles/platform-api-reference#rate-limits"}"#, RateLimited, Some("rate_limit"), "Your account reached the API rate limit Please wait a few minutes before making new requests", true),
    row("Heroku 402", 402, r#"{"id":"delinquent","message":"Please verify your account to continue.","url":"https://devcenter.heroku.com/articles/platform-api-reference#errors"}"#, PaymentRequired, Some("delinquent"), "Please verify your account to continue.", false),
    // Elsewhere an `id` names the occurrence, not the error (SendGrid's error ID).
    row("occurrence id", 400, r#"{"id":"a43683b0-5717-4ceb-80b4-104d02915d8c","message":"Bad parameters"}"#, BadRequest, None, "Bad parameters", false),
    // Yelp Places API, "Rate Limiting" (docs.developer.yelp.com/docs/places-rate-limiting):
    // a queries-per-second throttle, and the daily limit that resets at midnight UTC.
    row("Yelp 429 QPS", 429, r#"{"error":{"code":"TOO_MANY_REQUESTS_PER_SECOND","description":"You have exceeded the queries-per-second limit for this endpoint. Try reducing the rate at which you make queries."}}"#, RateLimited, Some("TOO_MANY_REQUESTS_PER_SECOND"), "You have exceeded the queries-per-second limit for this endpoint. Try reducing the rate at which you make queries.", true),
    row("Yelp 429 daily", 429, r#"{"error":{"code":"ACCESS_LIMIT_REACHED","description":"You've reached the access limit for this client. See instructions for requesting a higher access limit at https://www.yelp.com/developers/documentation/v3/rate_limiting"}}"#, RateLimited, Some("ACCESS_LIMIT_REACHED"), "You've reached the access limit for this client. See instructions for requesting a higher access limit at https://www.yelp.com/developers/documentation/v3/rate_limiting", false),
    // X API, "Rate limits" (docs.x.com/fundamentals/rate-limits): the 429 body.
    row("X 429", 429, r#"{"errors":[{"code":88,"message":"Rate limit exceeded"}]}"#, RateLimited, Some("88"), "Rate limit exceeded", true),
    // HubSpot, "Error handling" (developers.hubspot.com/docs/api-reference/error-handling):
    // `category` is the error's general category; `errors[].in` names the field.
    Row { fields: &[("name", "This will be a message with additional details about the error")],
        ..row("HubSpot 400", 400, r#"{"status":"error","message":"This will be a human readable message with details about the error.","errors":[{"message":"This will be a message with additional details about the error","in":"name"}],"category":"VALIDATION_ERROR","correlationId":"a43683b0-5717-4ceb-80b4-104d02915d8c"}"#, BadRequest, Some("VALIDATION_ERROR"), "This will be a human readable message with details about the error.", false) },
    // HubSpot, "API usage guidelines" (developers.hubspot.com/docs/api/usage-details):
    // the 429 body, `errorType` naming the error.
    Row { headers: &[("retry-after", "1")], retry_after_ms: Some(1_000),
        ..row("HubSpot 429", 429, r#"{"status":"error","message":"You have reached your secondly limit.","errorType":"RATE_LIMIT","correlationId":"c033cdaa-2c40-4a64-ae48-b4cec88dad24","policyName":"SECONDLY","requestId":"3d3e35b7-0dae-4b9f-a6e3-9c230cbcf8dd"}"#, RateLimited, Some("RATE_LIMIT"), "You have reached your secondly limit.", true) },
    // The same page: "The message and policyName will indicate which limit
    // you hit (either daily or secondly). The daily limit resets at
    // midnight": the daily 429 is not retried (its code, `RATE_LIMIT`,
    // does not say which limit; its message does).
    row("HubSpot 429 daily", 429, r#"{"status":"error","message":"You have reached your daily limit.","errorType":"RATE_LIMIT","correlationId":"c033cdaa-2c40-4a64-ae48-b4cec88dad24","policyName":"DAILY","requestId":"3d3e35b7-0dae-4b9f-a6e3-9c230cbcf8dd"}"#, RateLimited, Some("RATE_LIMIT"), "You have reached your daily limit.", false),
    // GitHub REST, "Rate limits for the REST API" (docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api):
    // a secondary rate limit is a 403 or 429 whose message says so, with
    // no rate-limit header at all when neither `retry-after` nor
    // `x-ratelimit-remaining: 0` is sent ("wait for at least one minute
    // before retrying"): a rate limit, not a permission refusal; not
    // retried at once (a message names the kind; the minute is the
    // caller's to wait).
    row("GitHub 403 secondary rate limit", 403, r#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID CDE5:1234.","documentation_url":"https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits","status":"403"}"#, RateLimited, None, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID CDE5:1234.", false),
    // A message that names a rate limit without saying it was exceeded is
    // the status's; so is a daily limit named outside a rate limit.
    row("rate limit setting", 400, r#"{"message":"The rate limit must be a positive integer."}"#, BadRequest, None, "The rate limit must be a positive integer.", false),
    row("daily limit setting", 422, r#"{"message":"The daily limit must be below 1000."}"#, Validation, None, "The daily limit must be below 1000.", false),
    // Telegram Bot API, "Making requests" (core.telegram.org/bots/api#making-requests):
    // `parameters` (`ResponseParameters`) holds `retry_after`, "the number of
    // seconds left to wait before the request can be repeated" on flood control.
    Row { retry_after_ms: Some(35_000),
        ..row("Telegram 429", 429, r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 35","parameters":{"retry_after":35}}"#, RateLimited, Some("429"), "Too Many Requests: retry after 35", true) },
    // Notion API, "Status codes" (developers.notion.com/reference/status-codes).
    row("Notion 400", 400, r#"{"object":"error","status":400,"code":"validation_error","message":"body failed validation: body.properties should be defined, instead was undefined."}"#, BadRequest, Some("validation_error"), "body failed validation: body.properties should be defined, instead was undefined.", false),
    // Notion, "Request limits": 429 `rate_limited` with an integer Retry-After.
    Row { headers: &[("retry-after", "30")], retry_after_ms: Some(30_000),
        ..row("Notion 429", 429, r#"{"object":"error","status":429,"code":"rate_limited","message":"You have been rate limited. Please try again in a few minutes."}"#, RateLimited, Some("rate_limited"), "You have been rate limited. Please try again in a few minutes.", true) },
    // Box, "Client error" resource (developer.box.com/reference/resources/client-error).
    row("Box 400", 400, r#"{"type":"error","status":400,"code":"item_name_invalid","message":"Method Not Allowed","context_info":{"message":"Something went wrong"},"help_url":"https://developer.box.com/guides/api-calls/permissions-and-errors/common-errors/","request_id":"abcdef123456"}"#, BadRequest, Some("item_name_invalid"), "Method Not Allowed", false),
    // Weaviate's OpenAPI `ErrorResponse` ("An error response given by Weaviate end-points"):
    // `{"error": [{"message"}]}` (weaviate/weaviate, adapters/handlers/rest/helpers.go
    // `createErrorResponseObject`): the message alone, no status reason before it.
    row("Weaviate 422", 422, r#"{"error":[{"message":"class name \"Article\" already exists"}]}"#, Validation, None, "class name \"Article\" already exists", false),
    // Qdrant's OpenAPI `ErrorResponse` (qdrant/qdrant, docs/redoc/master/openapi.json):
    // `{"time", "status": {"error": "Description of the occurred error."}, "result": null}`.
    row("Qdrant 404", 404, r#"{"status":{"error":"Not found: Collection `test_collection` doesn't exist!"},"time":0.000026,"result":null}"#, NotFound, None, "Not found: Collection `test_collection` doesn't exist!", false),
    // Contentstack, "Studio API: errors and validation" (contentstack.com/docs/studio/
    // studio-api-errors-and-validation), its error envelope: `error_message` the
    // "human-readable summary", `error_code` numeric, `errors` keyed by field path.
    Row { fields: &[("title", "is not unique.")],
        ..row("Contentstack 422", 422, r#"{"error_message":"Entry creation failed. Please enter valid data.","error_code":119,"errors":{"title":["is not unique."]}}"#, Validation, Some("119"), "Entry creation failed. Please enter valid data.", false) },
    // Appwrite, "Error handling" (appwrite.io/docs/advanced/platform/error-handling): "error
    // types are available in the type field"; `code` repeats the HTTP status.
    row("Appwrite 401", 401, r#"{"message":"Invalid credentials. Please check the email and password.","code":401,"type":"user_invalid_credentials","version":"1.6.0"}"#, Unauthorized, Some("user_invalid_credentials"), "Invalid credentials. Please check the email and password.", false),
    // PocketBase, "Web APIs reference: Records" (pocketbase.io/docs/api-records), create's
    // 400: the field errors are `data`, a map of fields to `{"code", "message"}`.
    Row { fields: &[("title", "Missing required value.")],
        ..row("PocketBase 400", 400, r#"{"status":400,"message":"Failed to create record.","data":{"title":{"code":"validation_required","message":"Missing required value."}}}"#, BadRequest, None, "Failed to create record.", false) },
    // Box, "Client error" resource: `context_info` is "a free-form object ... defined on a
    // per-endpoint basis"; a missing parent's 404 lists the parameter at fault in its `errors`.
    Row { fields: &[("parent", "Invalid value 'd_123'. 'parent' with value 'd_123' not found")],
        ..row("Box 404 context_info", 404, r#"{"type":"error","status":404,"code":"not_found","context_info":{"errors":[{"reason":"invalid_parameter","name":"parent","message":"Invalid value 'd_123'. 'parent' with value 'd_123' not found"}]},"help_url":"http://developers.box.com/docs/#errors","message":"Not Found","request_id":"abcdef123456"}"#, NotFound, Some("not_found"), "Not Found", false) },
    // Plaid, "Errors" (plaid.com/docs/errors/): the error object's members.
    row("Plaid 400", 400, r#"{"error_type":"ITEM_ERROR","error_code":"ITEM_LOGIN_REQUIRED","error_message":"the login details of this item have changed (credentials, MFA, or required user action) and a user login is required to update this information","display_message":null,"request_id":"HNTDNrA8F1shFEW"}"#, BadRequest, Some("ITEM_LOGIN_REQUIRED"), "the login details of this item have changed (credentials, MFA, or required user action) and a user login is required to update this information", false),
    // Mailchimp Marketing API, "Errors" (mailchimp.com/developer/marketing/docs/errors/):
    // problem details with an `errors` list.
    Row { fields: &[("VORNAME", "Please enter a value")],
        ..row("Mailchimp 400", 400, r#"{"type":"https://mailchimp.com/developer/marketing/docs/errors/","title":"Invalid Resource","status":400,"detail":"Your merge fields were invalid.","instance":"8cf2c011-a212-9b3a-6c51-a4d631a124b4","errors":[{"field":"VORNAME","message":"Please enter a value"}]}"#, BadRequest, Some("https://mailchimp.com/developer/marketing/docs/errors/"), "Your merge fields were invalid.", false) },
    // Intercom, "Errors" (developers.intercom.com): an `error.list`.
    row("Intercom 401", 401, r#"{"type":"error.list","request_id":"b3f5c5a0-0b1c-4c2e-9b5e-8a5d7c6e1f2a","errors":[{"code":"unauthorized","message":"Access Token Invalid"}]}"#, Unauthorized, Some("unauthorized"), "Access Token Invalid", false),
    // Zoom API, "Error Codes" (developers.zoom.us/docs/api/errors): a numeric
    // `code` with a message, and `errors` naming fields.
    row("Zoom 400", 400, r#"{"code": 300, "message": "Request Body should be a valid JSON object."}"#, BadRequest, Some("300"), "Request Body should be a valid JSON object.", false),
    Row { fields: &[("user_info.email", "Invalid field."), ("user_info.type", "Invalid field.")],
        ..row("Zoom 400 fields", 400, r#"{"code": 300, "message": "Validation Failed.", "errors": [{"field": "user_info.email", "message": "Invalid field."}, {"field": "user_info.type", "message": "Invalid field."}]}"#, BadRequest, Some("300"), "Validation Failed.", false) },
    // Zoom's 429s, as Zoom staff quote them (devforum.zoom.us/t/18928): the
    // per-second limit is retried; the daily one ("resume ... at GMT
    // 00:00:00") is not, with the headers of Zoom's "Rate limits" page
    // (`X-RateLimit-Type: Daily-limit`, an RFC 3339 `Retry-After`, long past).
    row("Zoom 429 per-second", 429, r#"{"code":429,"message":"You have reached the maximum per-second rate limit for this API. Try again later."}"#, RateLimited, Some("429"), "You have reached the maximum per-second rate limit for this API. Try again later.", true),
    Row { headers: &[("x-ratelimit-category", "Heavy"), ("x-ratelimit-type", "Daily-limit"), ("x-ratelimit-limit", "30000"), ("x-ratelimit-remaining", "0"), ("retry-after", "2020-05-31T00:00:00Z")], retry_after_ms: Some(0),
        ..row("Zoom 429 daily", 429, r#"{"code":429,"message":"You have exceeded the daily rate limit (100) of Meeting Create/Update API requests permitted for this particular user. You may resume these requests at GMT 00:00:00."}"#, RateLimited, Some("429"), "You have exceeded the daily rate limit (100) of Meeting Create/Update API requests permitted for this particular user. You may resume these requests at GMT 00:00:00.", false) },
    // Binance, "General API Information" (binance-docs.github.io/apiAgent-API-EN):
    // `{"code", "msg"}`; "HTTP 418 return code is used when an IP has been
    // auto-banned for continuing to send requests after receiving 429
    // codes", and "Retry-After ... in the case of a 418, until the ban is
    // over" (developers.binance.com, "Rate limits"; bans run 2 minutes to 3
    // days). The 418 body as Binance sent it (quoted in
    // github.com/rafa-guillermo/GAS-Binance-API-Test, executionLogs/allOrders.txt).
    row("Binance 400", 400, r#"{"code": -1121, "msg": "Invalid symbol."}"#, BadRequest, Some("-1121"), "Invalid symbol.", false),
    Row { headers: &[("retry-after", "120")], retry_after_ms: Some(120_000),
        ..row("Binance 418 IP ban", 418, r#"{"code":-1003,"msg":"Way too much request weight used; IP banned until 1620286253180. Please use the websocket for live updates to avoid bans."}"#, RateLimited, Some("-1003"), "Way too much request weight used; IP banned until 1620286253180. Please use the websocket for live updates to avoid bans.", true) },
    // Asana, "Errors" (developers.asana.com/docs/errors): `errors` of
    // messages; a server error adds a `phrase` for support.
    row("Asana 401", 401, r#"{"errors":[{"message":"Not Authorized"}]}"#, Unauthorized, None, "Not Authorized", false),
    row("Asana 400", 400, r#"{"errors":[{"message":"workspace: Missing input"}]}"#, BadRequest, None, "workspace: Missing input", false),
    row("Asana 500", 500, r#"{"errors":[{"message":"Server Error","phrase":"6 sad squid snuggle softly"}]}"#, Server, None, "Server Error", true),
    // Attio, "Rate limiting" (docs.attio.com/rest-api/guides/rate-limiting):
    // `Retry-After` is an HTTP-date (here long past: no wait left).
    Row { headers: &[("retry-after", "Tue, 23 May 2023 14:42:01 GMT"), ("content-type", "application/json")], retry_after_ms: Some(0),
        ..row("Attio 429", 429, r#"{"status_code":429,"type":"rate_limit_error","code":"rate_limit_exceeded","message":"Rate limit exceeded, please try again later"}"#, RateLimited, Some("rate_limit_exceeded"), "Rate limit exceeded, please try again later", true) },
    // Webflow Data API, "Error handling" (developers.webflow.com/data/v2.0.0/reference/error-handling).
    row("Webflow 404", 404, r#"{"message":"Requested resource not found: The site cannot be found","code":"resource_not_found","externalReference":null,"details":[]}"#, NotFound, Some("resource_not_found"), "Requested resource not found: The site cannot be found", false),
    // Postmark, "Troubleshooting 422 Unprocessable Entity Errors"
    // (postmarkapp.com/support/article/troubleshooting-422-unprocessable-entity-errors):
    // PascalCase `ErrorCode` and `Message`.
    row("Postmark 422", 422, r#"{"ErrorCode": 300, "Message": "Invalid 'From' address: 'sender@example.com' is not a verified sender signature."}"#, Validation, Some("300"), "Invalid 'From' address: 'sender@example.com' is not a verified sender signature.", false),
    // Akamai TechDocs 429 pages: Cloudlets answers in plain text
    // (techdocs.akamai.com/cloudlets/v2/reference/429), the others in
    // problem details (mtls-edge-truststore, cps, mtls-origin-keystore,
    // cloudtest `/reference/429`); all throttles of minutes.
    row("Akamai Cloudlets 429", 429, "Your request did not succeed as this operation has reached the limit for your account. Please try after 2025-09-09T17:03:57.071Z.", RateLimited, None, "Your request did not succeed as this operation has reached the limit for your account. Please try after 2025-09-09T17:03:57.071Z.", true),
    row("Akamai mTLS truststore 429", 429, r#"{"rateLimitNext":"2023-11-08T05:49:55.123456Z","instance":"/mtls-edge-truststore/error-types/account-rate-limit-exceeded?traceId=-8494562331894707338","rateLimit":2,"detail":"Quota has been exhausted. You can submit the request after 49 seconds","type":"/mtls-edge-truststore/error-types/account-rate-limit-exceeded","title":"Account Rate Limit Exceeded","rateLimitRemaining":0,"status":429}"#, RateLimited, Some("/mtls-edge-truststore/error-types/account-rate-limit-exceeded"), "Quota has been exhausted. You can submit the request after 49 seconds", true),
    row("Akamai CPS 429", 429, r#"{"type":"429 Too Many Requests","title":"Too Many Requests","detail":"You have exhausted your API Request Quota. Retry after: 21 seconds."}"#, RateLimited, Some("429 Too Many Requests"), "You have exhausted your API Request Quota. Retry after: 21 seconds.", true),
    row("Akamai mTLS keystore 429", 429, r#"{"detail":"Too many overall requests to the service. This is unrelated to your client's rate limit. Please try after 2024-07-22T06:23:37.255Z","httpStatus":"429 TOO_MANY_REQUESTS","title":"Global Service Rate Limit Exceeded","type":"global-rate-limit-exceeded"}"#, RateLimited, Some("global-rate-limit-exceeded"), "Too many overall requests to the service. This is unrelated to your client's rate limit. Please try after 2024-07-22T06:23:37.255Z", true),
    row("Akamai CloudTest 429", 429, "{\n   \" time\":\"2/11/22 4:58 PM\",\n   \"message\":\"You have exceeded your limit of 30 requests per minute.\",\n   \"error\":\"\\\"Rest.API.RequestLimitExceeded\u{201d}\"\n}", RateLimited, Some("\"Rest.API.RequestLimitExceeded\u{201d}"), "You have exceeded your limit of 30 requests per minute.", true),
    // Akamai Cloudlets, "Errors" (techdocs.akamai.com/cloudlets/v2/reference/errors).
    row("Akamai Cloudlets 400", 400, r#"{"instance":"2d8290b4-30df-4025-88a8-3f596a52aef7","status":400,"title":"Too Many Rules","type":"/cloudlets/v2/error-types/policy-rule-count-exceeded","errors":[{"title":"Too Many Rules","detail":"Exceeds maximum rules (5000). Received rule count:5001","maxRules":5000,"ruleCount":5001}]}"#, BadRequest, Some("/cloudlets/v2/error-types/policy-rule-count-exceeded"), "Too Many Rules", false),
    // MetaApi, "Too many requests error" (metaapi.cloud/docs/metastats/models/tooManyRequestsError/).
    row("MetaApi 429", 429, r#"{"id":1,"error":"TooManyRequestsError","message":"The /users/current/accounts/99e5dbbc-f9d5-4482-b613-6cf328c5eb2e/metrics API allows 25 requests per 1 minutes to avoid overloading our servers. Please wait some time and retry your request or contact support to extend your quota.","metadata":{"periodInMinutes":1,"requestsPerPeriodAllowed":25,"recommendedRetryTime":"2021-02-05T16:59:17.029Z"}}"#, RateLimited, Some("TooManyRequestsError"), "The /users/current/accounts/99e5dbbc-f9d5-4482-b613-6cf328c5eb2e/metrics API allows 25 requests per 1 minutes to avoid overloading our servers. Please wait some time and retry your request or contact support to extend your quota.", true),
    // SignatureAPI, "Too Many Requests" (signatureapi.com/docs/v1/errors/too-many-requests).
    Row { headers: &[("content-type", "application/problem+json")],
        ..row("SignatureAPI 429", 429, r#"{"type":"https://signatureapi.com/docs/v1/errors/too-many-requests","title":"Too Many Requests","status":429,"detail":"Too many requests for this user. Retry after the number of seconds in the Retry-After header."}"#, RateLimited, Some("https://signatureapi.com/docs/v1/errors/too-many-requests"), "Too many requests for this user. Retry after the number of seconds in the Retry-After header.", true) },
    // DigitalOcean OpenAPI spec, shared/responses/bad_request.yml
    // (github.com/digitalocean/openapi): `id` names the error.
    row("DigitalOcean 400", 400, r#"{"id":"bad_request","message":"error parsing request body","request_id":"4851a473-1621-42ea-b2f9-5071c0ea8414"}"#, BadRequest, Some("bad_request"), "error parsing request body", false),
    // Texas Instruments API, "[FAQ] TI-API: Security Error Code: TI-API-0429"
    // (e2e.ti.com/.../faq-ti-api-security-error-code-ti-api-0429).
    row("TI API 429", 429, r#"{"errors":[{"errorCode":"TI-API-0429","type":"Security","reason":"Too many requests","message":"Rate Limit Quota exceeded. Please reduce the rate of requests. If issue persists, please contact support (https://api-portal.ti.com/support)."}]}"#, RateLimited, Some("TI-API-0429"), "Rate Limit Quota exceeded. Please reduce the rate of requests. If issue persists, please contact support (https://api-portal.ti.com/support).", true),
    // IcePanel, "Rate limits" (developer.icepanel.io/developer-guide/getting-started/rate-limits).
    row("IcePanel 429", 429, r#"{"message":"Too Many Requests"}"#, RateLimited, None, "Too Many Requests", true),
    // Square: the 429 body as Square sent it (quoted in
    // developer.squareup.com/forums/t/error-on-getting-the-merchant-back/24167);
    // `RATE_LIMIT_ERROR` is retried with backoff (Square, "ErrorCategory").
    row("Square 429", 429, r#"{"errors":[{"code":"RATE_LIMITED","detail":"This request was rate limited. Please retry later.","category":"RATE_LIMIT_ERROR"}]}"#, RateLimited, Some("RATE_LIMITED"), "This request was rate limited. Please retry later.", true),
    // Mistral, "Error glossary" (docs.mistral.ai/resources/error-glossary): the error shape.
    // Its `param` names the parameter at fault: a field error.
    Row { fields: &[("model", "A human-readable description of the error.")],
        ..row("Mistral 400", 400, r#"{"object":"error","message":"A human-readable description of the error.","type":"invalid_request_error","param":"model","code":"unknown_model"}"#, BadRequest, Some("unknown_model"), "A human-readable description of the error.", false) },
    // Vercel, "REST API Errors" (vercel.com/docs/rest-api/errors).
    row("Vercel 403", 403, r#"{"error":{"code":"forbidden","message":"Not authorized"}}"#, Forbidden, Some("forbidden"), "Not authorized", false),
    // Its 429's `error.limit` is the window, `reset` in Unix seconds (`resetMs` the same in
    // ms): the wait is until the reset, by the response's `Date`. The example's reset (2019) is
    // past by the local clock: nothing left to wait (before, no wait was read at all).
    Row { retry_after_ms: Some(0),
        ..row("Vercel 429", 429, r#"{"error":{"code":"rate_limited","message":"The rate limit of 6 exceeded for 'api-www-user-update-username'. Try again in 7 days","limit":{"remaining":0,"reset":1571432075,"resetMs":1571432075563,"total":6}}}"#, RateLimited, Some("rate_limited"), "The rate limit of 6 exceeded for 'api-www-user-update-username'. Try again in 7 days", true) },
    Row { headers: &[("date", "Fri, 11 Oct 2019 20:54:35 GMT")], retry_after_ms: Some(604_800_000),
        ..row("Vercel 429, a week before its reset", 429, r#"{"error":{"code":"rate_limited","message":"The rate limit of 6 exceeded for 'api-www-user-update-username'. Try again in 7 days","limit":{"remaining":0,"reset":1571432075,"resetMs":1571432075563,"total":6}}}"#, RateLimited, Some("rate_limited"), "The rate limit of 6 exceeded for 'api-www-user-update-username'. Try again in 7 days", true) },
    // A window with requests left, or without a readable reset, names no wait.
    Row { headers: &[("date", "Fri, 11 Oct 2019 20:54:35 GMT")],
        ..row("Vercel-like window not spent", 429, r#"{"error":{"code":"rate_limited","message":"Slow down","limit":{"remaining":2,"reset":1571432075,"total":6}}}"#, RateLimited, Some("rate_limited"), "Slow down", true) },
    row("Vercel-like reset unreadable", 429, r#"{"error":{"code":"rate_limited","message":"Slow down","limit":{"remaining":0,"reset":"soon","total":6}}}"#, RateLimited, Some("rate_limited"), "Slow down", true),
    row("Vercel 400", 400, r#"{"error":{"code":"bad_request","message":"An english description of the error that just occurred"}}"#, BadRequest, Some("bad_request"), "An english description of the error that just occurred", false),
    row("Vercel 500", 500, r#"{"error":{"code":"internal_server_error","message":"An unexpected internal error occurred"}}"#, Server, Some("internal_server_error"), "An unexpected internal error occurred", true),
    row("Vercel 404", 404, r#"{"error":{"code":"not_found","message":"Could not find the RESOURCE: ID"}}"#, NotFound, Some("not_found"), "Could not find the RESOURCE: ID", false),
    // monday.com API changelog: the complexity budget's 429 before 2025-07
    // ("Hotfix: Complexity exception errors") and since ("Breaking change:
    // Updated complexity budget exhausted error"), whose wait is the first
    // GraphQL error's `extensions.retry_in_seconds`.
    row("monday.com ComplexityException", 429, r#"{"error_code":"ComplexityException","status_code":429,"error_message":"Complexity budget exhausted, query cost 30001 budget remaining 19986 out of 1000000 reset in 3 seconds","error_data":{},"errors":["Complexity budget exhausted, query cost 30001 budget remaining 19986 out of 1000000 reset in 3 seconds"],"account_id":1234567890}"#, RateLimited, Some("ComplexityException"), "Complexity budget exhausted, query cost 30001 budget remaining 19986 out of 1000000 reset in 3 seconds", true),
    Row { retry_after_ms: Some(60_000),
        ..row("monday.com COMPLEXITY_BUDGET_EXHAUSTED", 429, r#"{"errors":[{"message":"Complexity budget exhausted","extensions":{"code":"COMPLEXITY_BUDGET_EXHAUSTED","retry_in_seconds":60}}]}"#, RateLimited, Some("COMPLEXITY_BUDGET_EXHAUSTED"), "Complexity budget exhausted", true) },
    // OpenWeather's 429 as sent (quoted, line-wrapped, in
    // dblock/open-weather-ruby-client#17): a temporary block, `cod`
    // repeating the status.
    row("OpenWeather 429", 429, r#"{"cod":429,"message":"Your account is temporary blocked due to exceeding of requests limitation of your subscription type. Please choose the proper subscription http://openweathermap.org/price"}"#, RateLimited, None, "Your account is temporary blocked due to exceeding of requests limitation of your subscription type. Please choose the proper subscription http://openweathermap.org/price", true),
    // Coinbase, "Rate Limiting" (docs.cdp.coinbase.com/coinbase-app/api-architecture/rate-limiting):
    // an `errors` entry names its error by `id`.
    row("Coinbase 429", 429, r#"{"errors":[{"id":"rate_limit_exceeded","message":"Too many requests"}]}"#, RateLimited, Some("rate_limit_exceeded"), "Too many requests", true),
    // CoinGate, "API error responses" (developer.coingate.com/docs/common-errors):
    // "Error response must be identified by HTTP status and reason attribute".
    row("CoinGate 401", 401, r#"{"message":"Not found App by Access-Key","reason":"BadCredentials"}"#, Unauthorized, Some("BadCredentials"), "Not found App by Access-Key", false),
    // Selektable, "Rate limits" (docs.selektable.com/api-reference/rate-limits).
    row("Selektable 429", 429, r#"{"error":{"type":"rate_limit_error","code":"rate_limit_exceeded","message":"Too many requests. Slow down."}}"#, RateLimited, Some("rate_limit_exceeded"), "Too many requests. Slow down.", true),
    // Discourse's 429 as sent (quoted in exercism/website#5358), with the
    // `Retry-After` Discourse sends beside `wait_seconds` (discourse/discourse#5659).
    Row { headers: &[("retry-after", "24")], retry_after_ms: Some(24_000),
        ..row("Discourse 429", 429, r#"{"errors":["You’ve performed this action too many times. Please wait 24 seconds before trying again."],"error_type":"rate_limit","extras":{"wait_seconds":24,"time_left":"24 seconds"}}"#, RateLimited, None, "You’ve performed this action too many times. Please wait 24 seconds before trying again.", true) },
    // A generic rate-limit code with a message naming a monthly or daily
    // quota: the message says how long. Onto, "RATE_LIMITED"
    // (docs.buildonto.dev/errors/rate_limited: "Don't loop-retry");
    // CoinMarketCal, "Errors" (v3.coinmarketcal.com/developer/docs/errors).
    row("Onto 429 monthly", 429, r#"{"status":"error","code":"RATE_LIMITED","message":"Monthly quota exceeded","reset_at":"2026-06-01T00:00:00.000Z"}"#, RateLimited, Some("RATE_LIMITED"), "Monthly quota exceeded", false),
    row("CoinMarketCal 429 daily", 429, r#"{"error":{"code":"rate_limit_exceeded","message":"You have exceeded your daily request quota.","requestId":"req_9e3779b1","docs":"https://coinmarketcal.com/developer/docs/rate-limits"}}"#, RateLimited, Some("rate_limit_exceeded"), "You have exceeded your daily request quota.", false),
    // FinMind, "IP Ban Policy" (finmind.github.io/en/BanIPPolicy/): a ban
    // for bursts of bad requests, lifted after 30 minutes, with no wait
    // sent: a refusal, not a throttle.
    row("FinMind 403 ban", 403, r#"{"msg": "ip banned", "status": 403}"#, Forbidden, None, "ip banned", false),
    // Adyen, "Error codes and messages" (docs.adyen.com/development-resources/error-codes).
    row("Adyen 422", 422, r#"{"status":422,"errorCode":"101","message":"Invalid card number","errorType":"validation","pspReference":"F7WCWRG6JPHR8HG2"}"#, Validation, Some("101"), "Invalid card number", false),
    // Cohere, "Errors" (docs.cohere.com/reference/errors): 400's example messages.
    row("Cohere 400", 400, r#"{"message":"invalid request: list of documents must not be empty"}"#, BadRequest, None, "invalid request: list of documents must not be empty", false),
    // Audit of vendors3 (changes/vendors3.md): one row per documented body.
    // Kraken, "Errors" (docs.kraken.com/exchange/guides/general/errors): a list
    // of "E<category>:<text>" strings under `error`, sent under 200 too.
    row("Kraken rate limit", 429, r#"{"error":["EAPI:Rate limit exceeded"],"result":{}}"#, RateLimited, None, "EAPI:Rate limit exceeded", true),
    row("Kraken invalid key", 403, r#"{"error":["EAPI:Invalid key"],"result":{}}"#, Forbidden, None, "EAPI:Invalid key", false),
    // Bybit v5, "Rate Limit Rules" (bybit-exchange.github.io/docs/v5/rate-limit):
    // `"retCode": 10006, "retMsg": "Too many visits!"` (sent under 200).
    row("Bybit 10006", 200, r#"{"retCode":10006,"retMsg":"Too many visits!","result":{},"retExtInfo":{},"time":1700000000000}"#, Other, Some("10006"), "Too many visits!", false),
    // OKX, error code table (web3.okx.com/onchainos/dev-docs-v5/dex-api/dex-market-price-error-code):
    // 50011 is the 429 "Rate limit reached".
    row("OKX 50011", 429, r#"{"code":"50011","msg":"Rate limit reached. Please refer to API documentation and throttle requests accordingly","data":[]}"#, RateLimited, Some("50011"), "Rate limit reached. Please refer to API documentation and throttle requests accordingly", true),
    // KuCoin, "Rate Limit" (kucoin.com/apidoc/project-6000000/doc-338149): http 429,
    // error code 429000, "re-requested after the length of time displayed in the request header".
    row("KuCoin 429000", 429, r#"{"code":"429000","msg":"Too Many Requests"}"#, RateLimited, Some("429000"), "Too Many Requests", true),
    // CoinMarketCap, "Errors and rate limits" (pro.coinmarketcap.com/api/documentation/guides/errors-and-rate-limits,
    // coinmarketcap.com/api/resources/how-to-handle-coinmarketcap-api-errors-and-rate-limit--responses):
    // the error under the `status` object; 1008 (per minute) is retried, 1009 (daily) is not.
    row("CoinMarketCap 1008", 429, r#"{"status":{"timestamp":"2018-06-02T22:51:28.209Z","error_code":1008,"error_message":"You've exceeded your API Key's HTTP request rate limit. Rate limits reset every minute.","elapsed":10,"credit_count":0}}"#, RateLimited, Some("1008"), "You've exceeded your API Key's HTTP request rate limit. Rate limits reset every minute.", true),
    row("CoinMarketCap 1009", 429, r#"{"status":{"timestamp":"2018-06-02T22:51:28.209Z","error_code":1009,"error_message":"You've exceeded your API Key's daily rate limit.","elapsed":10,"credit_count":0}}"#, RateLimited, Some("1009"), "You've exceeded your API Key's daily rate limit.", false),
    // CoinGecko, "Common Errors & Rate Limit" (docs.coingecko.com/reference/common-errors-rate-limit):
    // the same `status` object.
    row("CoinGecko 429", 429, r#"{"status":{"error_code":429,"error_message":"You've exceeded the Rate Limit. Please visit https://www.coingecko.com/en/api/pricing to subscribe to our API plans for higher rate limits."}}"#, RateLimited, Some("429"), "You've exceeded the Rate Limit. Please visit https://www.coingecko.com/en/api/pricing to subscribe to our API plans for higher rate limits.", true),
    // api.data.gov (api.data.gov/docs/developer-manual, hourly limit), as USGS Water Data sends it
    // (raw.githubusercontent.com/api-evangelist/doi/refs/heads/main/examples/usgs-water-error-example.json).
    row("api.data.gov OVER_RATE_LIMIT", 429, r#"{"error":{"code":"OVER_RATE_LIMIT","message":"Rate limit exceeded. You have exceeded your rate limit. Contact us via https://waterdata.usgs.gov/contact if you need higher limits."}}"#, RateLimited, Some("OVER_RATE_LIMIT"), "Rate limit exceeded. You have exceeded your rate limit. Contact us via https://waterdata.usgs.gov/contact if you need higher limits.", true),
    // LinkedIn, "Rate Limiting" (developer.linkedin.com/docs/guide/v2/concepts/rate-limits):
    // daily limits that "reset at midnight UTC"; the 429 body as client fixtures quote it.
    row("LinkedIn DAY limit", 429, r#"{"status":429,"serviceErrorCode":101,"code":"TOO_MANY_REQUESTS","message":"Resource level throttle APPLICATION DAY limit for calls to this resource is reached."}"#, RateLimited, Some("TOO_MANY_REQUESTS"), "Resource level throttle APPLICATION DAY limit for calls to this resource is reached.", false),
    row("LinkedIn DAY limit, no code", 429, r#"{"message":"Resource level throttle APPLICATION DAY limit for calls to this resource is reached.","status":429}"#, RateLimited, None, "Resource level throttle APPLICATION DAY limit for calls to this resource is reached.", false),
    // Berlin Group NextGenPSD2 XS2A Implementation Guidelines 1.3.8 (docslib.org/doc/2447241/nextgenpsd2-framework):
    // `tppMessages` of {category, code, text}; ACCESS_EXCEEDED (429) is "the consented multiplicity
    // per day". The body as SIBS sends it (quoted in Tink's SibsAcessExceededErrorFilter);
    // Enable Banking's pass-through of the same text (quoted in its clients' tests).
    row("Berlin Group ACCESS_EXCEEDED", 429, r#"{"transactionStatus":"RJCT","tppMessages":[{"category":"ERROR","code":"ACCESS_EXCEEDED","text":"The access on the account has been exceeding the consented multiplicity per day."}]}"#, RateLimited, Some("ACCESS_EXCEEDED"), "The access on the account has been exceeding the consented multiplicity per day.", false),
    Row { headers: &[("retry-after", "3600")], retry_after_ms: Some(3_600_000),
        ..row("Enable Banking ASPSP_RATE_LIMIT_EXCEEDED", 429, r#"{"error":"ASPSP_RATE_LIMIT_EXCEEDED","message":"The access on the account has been exceeding the consented multiplicity per day"}"#, RateLimited, Some("ASPSP_RATE_LIMIT_EXCEEDED"), "The access on the account has been exceeding the consented multiplicity per day", false) },
    row("Enable Banking RATE_LIMIT_EXCEEDED", 429, r#"{"error":"RATE_LIMIT_EXCEEDED","message":"Too many requests"}"#, RateLimited, Some("RATE_LIMIT_EXCEEDED"), "Too many requests", true),
    // Companies House, as its forum quotes the API (forum.aws.chdev.org/t/non-existing-company-number-returns-500/8468/2):
    // an `errors` entry names its error by `error`, `type` is the error's family.
    row("Companies House 404", 404, r#"{"errors":[{"type":"ch:service","error":"company-profile-not-found"}]}"#, NotFound, Some("company-profile-not-found"), "company-profile-not-found", false),
    row("Companies House 500", 500, r#"{"exception_id":"6wm4ym5vfxu3","error":"Internal server error"}"#, Server, None, "Internal server error", true),
    // Checkout.com, "Error codes" (checkout.com/docs/developer-resources/codes/error-codes):
    // an `error_type` and a list of `error_codes`, as Chargebee quotes one
    // (chargebee.com/docs/1.0/payments/articles-and-faq/checkoutcom-error-messagethe-api-response-status-code-422-does-not-indicate-success.html).
    row("Checkout.com 422", 422, r#"{"request_id":"0HL80RJLS76I7","error_type":"request_invalid","error_codes":["processing_channel_id_required"]}"#, Validation, Some("request_invalid"), "processing_channel_id_required", false),
    // Klarna, "Errors" (docs.klarna.com/api/errors): `error_code` and an array of `error_messages`.
    row("Klarna 400", 400, r#"{"error_code":"BAD_VALUE","error_messages":["Bad value: order_lines"],"correlation_id":"6a9b1cb1-73a3-4936-a030-481ba4bb203b"}"#, BadRequest, Some("BAD_VALUE"), "Bad value: order_lines", false),
    // ClickUp, "Common Errors" (developer.clickup.com/docs/common_errors): `err` and `ECODE`.
    row("ClickUp 401", 401, r#"{"err":"Token invalid","ECODE":"OAUTH_025"}"#, Unauthorized, Some("OAUTH_025"), "Token invalid", false),
    // Paddle, "Too many requests" (developer.paddle.com/errors/shared/too_many_requests).
    Row { headers: &[("retry-after", "30")], retry_after_ms: Some(30_000),
        ..row("Paddle 429", 429, r#"{"error":{"type":"api_error","code":"too_many_requests","detail":"IP address exceeded the allowed rate limit. Retry after the number of seconds in the Retry-After header.","documentation_url":"https://developer.paddle.com/errors/shared/too_many_requests"},"meta":{"request_id":"00000000-0000-0000-0000-000000000000"}}"#, RateLimited, Some("too_many_requests"), "IP address exceeded the allowed rate limit. Retry after the number of seconds in the Retry-After header.", true) },
    // Telnyx, "Rate limiting" (developers.telnyx.com/development/api-fundamentals/reliability/rate-limiting).
    row("Telnyx 10011", 429, r#"{"errors":[{"code":"10011","title":"Too many requests","detail":"You have exceeded the maximum number of allowed requests."}]}"#, RateLimited, Some("10011"), "You have exceeded the maximum number of allowed requests.", true),
    // Vonage, "API Errors" (developer.vonage.com/api-errors): RFC 7807, out of credit.
    row("Vonage out-of-credit", 403, r#"{"type":"https://example.com/Error#out-of-credit","title":"You do not have enough credit","detail":"Your current balance is 30, but that costs 50.","instance":"<trace_id>"}"#, Forbidden, Some("https://example.com/Error#out-of-credit"), "Your current balance is 30, but that costs 50.", false),
    // Hugging Face Inference API: a model still loading, 503 with its `estimated_time`
    // (as the Hub's discussions quote it, huggingface.co/nvidia/canary-1b/discussions/25).
    Row { retry_after_ms: Some(20_000),
        ..row("Hugging Face loading", 503, r#"{"error":"Model nvidia/canary-1b is currently loading","estimated_time":20.0}"#, Unavailable, None, "Model nvidia/canary-1b is currently loading", true) },
    // Elasticsearch, "Rejected requests" (elastic.co/docs/troubleshoot/elasticsearch/rejected-requests):
    // 429 TOO_MANY_REQUESTS, retried with backoff.
    row("Elasticsearch 429", 429, r#"{"error":{"root_cause":[{"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation"}],"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation"},"status":429}"#, RateLimited, Some("es_rejected_execution_exception"), "rejected execution of coordinating operation", true),
    // Wise, "Error Handling" (docs.wise.com/guides/developer/errors): client and system errors.
    Row { fields: &[("sourceAmount", "Please type in a number that's larger than 0.")],
        ..row("Wise 422", 422, r#"{"errors":[{"code":"error.greaterThanZero","message":"Please type in a number that's larger than 0.","path":"sourceAmount","arguments":["sourceAmount"]}]}"#, Validation, Some("error.greaterThanZero"), "Please type in a number that's larger than 0.", false) },
    row("Wise 401", 401, r#"{"error":"invalid_token","error_description":"945fdc16-56cb-4039-90b4-998d583740ce"}"#, Unauthorized, Some("invalid_token"), "945fdc16-56cb-4039-90b4-998d583740ce", false),
    // Spotify Web API changelog, July 2026 (developer.spotify.com/documentation/web-api/references/changes/july-2026):
    // a spent quota's 429.
    row("Spotify QUOTA_EXCEEDED", 429, r#"{"error":{"status":429,"message":"Too many requests","reason":"QUOTA_EXCEEDED"}}"#, RateLimited, Some("QUOTA_EXCEEDED"), "Too many requests", false),
    // DeepL, "Error handling" (developers.deepl.com/docs/best-practices/error-handling): 456 is the
    // monthly character quota, 429 is retried with backoff.
    row("DeepL 456", 456, r#"{"message":"Quota Exceeded"}"#, Other, None, "Quota Exceeded", false),
    row("DeepL 429", 429, r#"{"message":"Too many requests"}"#, RateLimited, None, "Too many requests", true),
    // Pluggy, "Rate limits" (docs.pluggy.ai/docs/rate-limits).
    row("Pluggy 429", 429, r#"{"message":"Too many requests. Please try again later (see Retry-After header in seconds)","code":429}"#, RateLimited, Some("429"), "Too many requests. Please try again later (see Retry-After header in seconds)", true),
    // Akamai CPS, 429 (techdocs.akamai.com/cps/reference/429).
    row("Akamai CPS 429", 429, r#"{"type":"429 Too Many Requests","title":"Too Many Requests","detail":"You have exhausted your API Request Quota. Retry after: 21 seconds."}"#, RateLimited, Some("429 Too Many Requests"), "You have exhausted your API Request Quota. Retry after: 21 seconds.", true),
    // Audit of vendors4 (changes/vendors4.md): the bodies vendors3 left to the fallback walk.
    // GSMA OneAPI exceptions, `{"requestError": {"serviceException" | "policyException": {"messageId",
    // "text", "variables"}}}`: Infobip's 401 as its API answered (pastebin.com/mUnsDPCL); SVC0002 with
    // its `%1` filled from `variables`, a list (as the OneAPI servers of WSO2's and Telenor's gateways
    // send it) or one string (ideabiz's "Exception Body", docs-ideamart); POL0003's text is the
    // GSMA OneAPI SMS policy exception's.
    row("Infobip 401", 401, r#"{"requestError":{"serviceException":{"messageId":"UNAUTHORIZED","text":"Invalid login details"}}}"#, Unauthorized, Some("UNAUTHORIZED"), "Invalid login details", false),
    row("OneAPI SVC0002", 400, r#"{"requestError":{"serviceException":{"messageId":"SVC0002","text":"Invalid input value for message part %1","variables":["to"]}}}"#, BadRequest, Some("SVC0002"), "Invalid input value for message part to", false),
    row("OneAPI SVC0002, one variable", 400, r#"{"requestError":{"serviceException":{"messageId":"SVC0002","text":"Invalid input value for message part %1","variables":"clientCorrelator"}}}"#, BadRequest, Some("SVC0002"), "Invalid input value for message part clientCorrelator", false),
    row("OneAPI POL0003", 403, r#"{"requestError":{"policyException":{"messageId":"POL0003","text":"Too many addresses specified in message part %1","variables":["address"]}}}"#, Forbidden, Some("POL0003"), "Too many addresses specified in message part address", false),
    // Bitfinex v2: one error as a triple `["error", code, message]` (its docs as
    // github.com/arthurk/bitfinex-ohlc-import's NOTES quote them: a 500 `["error", 10020,
    // "limit: invalid"]`, and `["error", 20060, "maintenance"]`, sent as a 500 too).
    row("Bitfinex 10020", 500, r#"["error",10020,"limit: invalid"]"#, Server, Some("10020"), "limit: invalid", true),
    row("Bitfinex maintenance", 500, r#"["error", 20060, "maintenance"]"#, Server, Some("20060"), "maintenance", true),
    // Contentful, "Errors" (contentful.com/developers/docs/references/errors): `sys.type` is always
    // "Error" and `sys.id` "identifies the exact error code"; the 429 as contentful-core.php's tests
    // record it.
    row("Contentful 429", 429, r#"{"sys": {"type": "Error","id": "RateLimitExceeded"},"message": "You have exceeded the rate limit of the Organization this Space belongs to by making too many API requests within a short timespan. Please wait a moment before trying the request again.","requestId": "4d0274fb176b51ae43a64b98639a3090"}"#, RateLimited, Some("RateLimitExceeded"), "You have exceeded the rate limit of the Organization this Space belongs to by making too many API requests within a short timespan. Please wait a moment before trying the request again.", true),
    row("Contentful 404", 404, r#"{"sys":{"type":"Error","id":"NotFound"},"message":"The resource could not be found.","details":{"type":"Entry","id":"nyancat"},"requestId":"abc"}"#, NotFound, Some("NotFound"), "The resource could not be found.", false),
    // Their neighbours that must not read so: a `sys` that describes a resource, a `%` with no
    // variable of its number, a variable holding `%2` (filled once), an array that is not the
    // triple (a list of strings beginning with "error", a triple whose code is a string).
    row("sys of a resource", 404, r#"{"sys":{"type":"Entry","id":"nyancat"},"message":"Widget not found"}"#, NotFound, None, "Widget not found", false),
    row("OneAPI %1 without variables", 500, r#"{"requestError":{"serviceException":{"messageId":"SVC0001","text":"A service error occurred. Error code is %1"}}}"#, Server, Some("SVC0001"), "A service error occurred. Error code is %1", true),
    row("OneAPI %2 inside a variable", 400, r#"{"requestError":{"serviceException":{"messageId":"SVC0002","text":"Invalid %1 for %3, 100% sure","variables":["%2","x"]}}}"#, BadRequest, Some("SVC0002"), "Invalid %2 for %3, 100% sure", false),
    row("error-led list of strings", 400, r#"["error","Name is required"]"#, BadRequest, None, "error (and 1 more)", false),
    row("triple with a string code", 400, r#"["error","10020","limit: invalid"]"#, BadRequest, None, "error (and 2 more)", false),
    // More vendors audited (changes/vendors4.md).
    // Bitvavo, "Handle errors" (docs.bitvavo.com/docs/errors): a numeric `errorCode` and the text under `error`.
    row("Bitvavo 205", 400, r#"{"errorCode": 205, "error": "Invalid parameter: price"}"#, BadRequest, Some("205"), "Invalid parameter: price", false),
    // Acuity Scheduling, "API Errors" (developers.acuityscheduling.com/reference/api-errors).
    row("Acuity 400", 400, r#"{"status_code": 400, "message": "Expected a JSON object.", "error": "invalid_body"}"#, BadRequest, Some("invalid_body"), "Expected a JSON object.", false),
    // ePay, "API Error handling" (docs.epay.eu/products/blocks/api-error-handling).
    Row { fields: &[("amount", "[required]: Is a required non-nullable field"), ("amount", "[int]: Must be an integer")],
        ..row("ePay validation", 422, r#"{"errorCode":"VALIDATION_ERROR","message":"Input validation errors","errors":{"amount":["[required]: Is a required non-nullable field","[int]: Must be an integer"]}}"#, Validation, Some("VALIDATION_ERROR"), "Input validation errors", false) },
    row("ePay session", 401, r#"{"errorCode": "INVALID_OR_EXPIRED_SESSION", "message": "Invalid session authentication or the session has expired."}"#, Unauthorized, Some("INVALID_OR_EXPIRED_SESSION"), "Invalid session authentication or the session has expired.", false),
    // SumUp, "404 Not Found" (developer.sumup.com/problem/404-not-found).
    row("SumUp 404", 404, r#"{ "error_code": "NOT_FOUND", "message": "Resource not found"}"#, NotFound, Some("NOT_FOUND"), "Resource not found", false),
    // New rules' neighbours that must not trigger them: a `status` object
    // beside a top-level message, "today" and "Sunday" (not a day-long
    // limit), an `errors` entry whose `error` is a sentence, an empty
    // Kraken `error` list.
    row("status object beside a message", 404, r#"{"message":"Widget not found","status":{"code":404,"name":"NOT_FOUND"}}"#, NotFound, None, "Widget not found", false),
    // Its message names its wait, and nothing else does: read (before, no wait).
    Row { retry_after_ms: Some(5_000),
        ..row("today is not per day", 429, r#"{"message":"Too many requests today, retry in 5 seconds"}"#, RateLimited, None, "Too many requests today, retry in 5 seconds", true) },
    row("Sunday is not a day limit", 429, r#"{"message":"Rate limit exceeded during Sunday maintenance"}"#, RateLimited, None, "Rate limit exceeded during Sunday maintenance", true),
    row("errors entry with a sentence", 400, r#"{"errors":[{"error":"Something went wrong badly"}]}"#, BadRequest, None, "Bad Request", false),
    row("empty error list", 400, r#"{"error":[],"result":{}}"#, BadRequest, None, "Bad Request", false),
    // eBay, "Handling error messages" (developer.ebay.com/api-docs/static/handling-error-messages.html):
    // `errorId` is a number, "a unique code that identifies the particular error condition".
    row("eBay 400", 400, r#"{"errors":[{"errorId":15008,"domain":"API_ORDER","category":"REQUEST","message":"Invalid Field : itemId.","inputRefIds":["$.lineItemInputs[0].itemId"],"parameters":[{"name":"itemId","value":"v1|2*********|0"}]}]}"#, BadRequest, Some("15008"), "Invalid Field : itemId.", false),
    // A string `errorId` may name the occurrence (a trace id), not the condition: no code.
    row("errorId string", 400, r#"{"errors":[{"errorId":"6f1c2d","message":"Bad things"}]}"#, BadRequest, None, "Bad things", false),
    // Etherscan, "Common Error Messages" (docs.etherscan.io/resources/common-error-messages):
    // "An API call that encounters an error will return 0 as its status code and display the
    // cause of the error under the result field", under HTTP 200. The rate limit is named, a
    // message's verdict: not retried on a 200's word.
    row("Etherscan rate limit", 200, r#"{"status":"0","message":"NOTOK","result":"Max rate limit reached"}"#, RateLimited, Some("NOTOK"), "Max rate limit reached", false),
    row("Etherscan rate limit v2", 200, r#"{"status":"0","message":"NOTOK","result":"Max rate limit reached, please use API Key for higher rate limit"}"#, RateLimited, Some("NOTOK"), "Max rate limit reached, please use API Key for higher rate limit", false),
    row("Etherscan invalid key", 200, r#"{"status":"0","message":"NOTOK","result":"Invalid API Key"}"#, Other, Some("NOTOK"), "Invalid API Key", false),
    // Not an Etherscan failure: a status other than 0, a sentence for a message, a numeric result.
    row("status 1 with a result", 400, r#"{"status":"1","message":"NOTOK","result":"Max rate limit reached"}"#, BadRequest, None, "NOTOK", false),
    row("status 0 numeric result", 400, r#"{"status":0,"message":"NOTOK","result":"12345"}"#, BadRequest, None, "NOTOK", false),
    // Amazon SP-API, "Usage Plans and Rate Limits" (developer-docs.amazon.com/sp-api/docs/usage-plans-and-rate-limits):
    // a throttled request is a 429, its body as amzn/selling-partner-api-models#418 quotes it;
    // `x-amzn-RateLimit-Limit` is the operation's rate (requests per second, `0.0167` for one a
    // minute), not a window: not read. `QuotaExceeded` is the code Spotify's spent quota has too,
    // and SP-API quotas run from a second to a day (getReport's): a rate limit, left to the caller.
    Row { headers: &[("x-amzn-ratelimit-limit", "0.0167")],
        ..row("Amazon SP-API 429", 429, r#"{"errors":[{"code":"QuotaExceeded","message":"You exceeded your quota for the requested resource.","details":""}]}"#, RateLimited, Some("QuotaExceeded"), "You exceeded your quota for the requested resource.", false) },
    // Aevo, "Rate Limits" (docs.aevo.xyz/api-reference/rate-limits): `X-RETRY-AFTER` and the
    // body's `retry_after` are nanoseconds; the header wins.
    Row { headers: &[("x-retry-after", "4406000000")], retry_after_ms: Some(4_406),
        ..row("Aevo 429", 429, r#"{"error":"RATE_LIMIT_EXCEEDED","retry_after":"4406000000"}"#, RateLimited, Some("RATE_LIMIT_EXCEEDED"), "Too Many Requests", true) },
    // PluralKit, API reference "Rate Limiting" (pluralkit.me/api, docs/content/api/reference.md): the
    // headers on every response, `X-RateLimit-Reset` "the UNIX time (in milliseconds)"; the 429's
    // body `retry_after` is milliseconds too, where the body reader takes seconds: the headers win.
    Row { headers: &[("date", "Tue, 14 Nov 2023 22:13:20 GMT"), ("x-ratelimit-limit", "10"), ("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1700000000019"), ("x-ratelimit-scope", "generic_get")], retry_after_ms: Some(19),
        ..row("PluralKit 429", 429, r#"{"message":"429: too many requests","retry_after":19,"code":0}"#, RateLimited, Some("0"), "429: too many requests", true) },
    // Waits in prose, when nothing structured names one. OpenAI's 429 message (its
    // rate-limit guide, platform.openai.com/docs/guides/rate-limits: "Please try again in 6s."),
    // here without its headers (a proxy dropped them); with them, the headers win (tests/dialects.rs).
    Row { retry_after_ms: Some(6_000),
        ..row("OpenAI 429 message only", 429, r#"{"error":{"message":"Rate limit reached for gpt-4 in organization org-abc on tokens per min (TPM): Limit 10000, Used 9000, Requested 2000. Please try again in 6s.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#, RateLimited, Some("rate_limit_exceeded"), "Rate limit reached for gpt-4 in organization org-abc on tokens per min (TPM): Limit 10000, Used 9000, Requested 2000. Please try again in 6s.", true) },
    // Azure OpenAI's quota 429 (learn.microsoft.com, Azure OpenAI quotas and limits, as its
    // users quote it): "Please retry after 86400 seconds."; with its header the header wins.
    Row { headers: &[("retry-after", "10")], retry_after_ms: Some(10_000),
        ..row("Azure OpenAI 429 with Retry-After", 429, r#"{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-02-01 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 86400 seconds."}}"#, RateLimited, Some("429"), "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-02-01 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 86400 seconds.", true) },
    // A failure that is no rate limit nor outage: its prose is not a wait.
    row("prose on a 400", 400, r#"{"message":"Invalid date, try again in 5 seconds"}"#, BadRequest, None, "Invalid date, try again in 5 seconds", false),
    // The server's explicit word wins over the body's.
    Row { headers: &[("x-should-retry", "false")],
        ..row("x-should-retry wins", 400, r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#, RateLimited, Some("ThrottlingException"), "Rate exceeded", false) },
    // HTML inside a JSON message (a synthetic variant of Google's shape).
    row("HTML in JSON", 400, r#"{"error":{"code":400,"message":"Invalid value at <b>'name'</b><br/>expected a string"}}"#, BadRequest, Some("400"), "Invalid value at 'name' expected a string", false),
    // XML without a known message element: a sentence, never the tags' names.
    Row { headers: &[("content-type", "application/xml")],
        ..row("XML without Message", 409, r#"<?xml version="1.0"?><fault><id>42</id><text>The order was already shipped</text></fault>"#, Conflict, None, "The order was already shipped", false) },
    // Audit of vendors5: vendors no row covered yet, each body as its docs show it.
    // Deepgram, "Errors" (developers.deepgram.com/docs/errors): `err_code` and `err_msg`
    // (before, no code, and the message read by the fallback walk, prefixed with the
    // status phrase), beside its newer `category` shape.
    row("Deepgram 400 err_code", 400, r#"{"err_code":"Bad Request","err_msg":"Bad Request: failed to process audio: corrupt or unsupported data","request_id":"uuid"}"#, BadRequest, Some("Bad Request"), "Bad Request: failed to process audio: corrupt or unsupported data", false),
    row("Deepgram 400 category", 400, r#"{"category":"INVALID_JSON","message":"Invalid JSON submitted.","details":"Json deserialize error: missing field `xxx` at line 7 column 1","request_id":"uuid"}"#, BadRequest, Some("INVALID_JSON"), "Invalid JSON submitted.", false),
    // Klarna, "Error handling" (docs.klarna.com/klarna-network-distribution/setup-your-integration/integration-resilience/error-handling):
    // an `errors` entry says what is wrong in its `error_message` (before, "is invalid").
    Row { fields: &[("line_items[0].quantity", "Parameter line_items[0].quantity must be greater than or equal to 1")],
        ..row("Klarna VALIDATION_ERROR", 400, r#"{"error_id":"abcd1234-12ab-1234-abcd-abcd12345678","error_type":"INPUT_ERROR","error_code":"VALIDATION_ERROR","errors":[{"parameter":"line_items[0].quantity","error_message":"Parameter line_items[0].quantity must be greater than or equal to 1","doc_url":"https://docs.klarna.com/....."}]}"#, BadRequest, Some("VALIDATION_ERROR"), "Parameter line_items[0].quantity must be greater than or equal to 1", false) },
    // Kustom (Klarna), "Error Handling" (docs.klarna.com/acquirer/kustom/additional-tools/integration-resilience/error-handling):
    // "validation_errors: for VALIDATION_ERROR, an array of { parameter, reason, doc_url }"
    // (the page's example is cut after the parameter's name; the rest is ours). Before, no field errors.
    Row { fields: &[("line_items[0].quantity", "must be greater than or equal to 1")],
        ..row("Kustom validation_errors", 400, r#"{"error_id":"abcd1234-12ab-1234-abcd-abcd12345678","error_code":"VALIDATION_ERROR","error_message":"One or more input parameters failed validation","validation_errors":[{"parameter":"line_items[0].quantity","reason":"must be greater than or equal to 1","doc_url":"https://docs.klarna.com/....."}]}"#, BadRequest, Some("VALIDATION_ERROR"), "One or more input parameters failed validation", false) },
    // Klarna Open Banking, "Error format" (docs.openbanking.klarna.com/bank_universe/error-handling.html).
    row("Klarna Open Banking 400", 400, r#"{"error_code":"VALIDATION_ERROR","error_messages":["size: must be less than or equal to 1000"],"correlation_id":"41636415-889d-47b7-9001-fea909b089a1"}"#, BadRequest, Some("VALIDATION_ERROR"), "size: must be less than or equal to 1000", false),
    row("Klarna Open Banking 403", 403, r#"{"error_code":"API_TOKEN_INVALID","error_messages":["API token not valid!"],"correlation_id":"41636415-889d-47b7-9001-fea909b089a1"}"#, Forbidden, Some("API_TOKEN_INVALID"), "API token not valid!", false),
    // Razorpay, "About Errors" (razorpay.com/docs/payments/payment-gateway/rainy-day/errors):
    // `field` is the "name of the parameter in the API request that caused the error",
    // `null` in the page's example; filled, it names a field error (before, none).
    row("Razorpay 400", 400, r#"{"error":{"code":"BAD_REQUEST_ERROR","description":"Authentication failed due to incorrect otp","field":null,"source":"customer","step":"payment_authentication","reason":"invalid_otp","metadata":{"payment_id":"pay_EDNBKIP31Y4jl8","order_id":"order_DBJKIP31Y4jl8"}}}"#, BadRequest, Some("BAD_REQUEST_ERROR"), "Authentication failed due to incorrect otp", false),
    Row { fields: &[("amount", "The amount must be atleast INR 1.00")],
        ..row("Razorpay 400 with a field", 400, r#"{"error":{"code":"BAD_REQUEST_ERROR","description":"The amount must be atleast INR 1.00","field":"amount","source":"business","step":"payment_initiation","reason":"input_validation_failed","metadata":{}}}"#, BadRequest, Some("BAD_REQUEST_ERROR"), "The amount must be atleast INR 1.00", false) },
    // Mollie, "Handling errors" (docs.mollie.com/reference/handling-errors): problem-like, with
    // the `field` "that caused the issue" (before, no field error).
    Row { fields: &[("amount", "The amount is higher than the maximum")],
        ..row("Mollie 422", 422, r#"{"status":422,"title":"Unprocessable Entity","detail":"The amount is higher than the maximum","field":"amount","_links":{"documentation":{"href":"https://docs.mollie.com/overview/handling-errors","type":"text/html"}}}"#, Validation, None, "The amount is higher than the maximum", false) },
    // Recurly v3 API, `Error` (type, message, `params`: "parameter specific errors",
    // `[{param, message}]`; recurly-client-ruby's Recurly::Resources::Error). Before, none.
    Row { fields: &[("code", "has already been taken")],
        ..row("Recurly 422", 422, r#"{"error":{"type":"validation","message":"Code 'gold' has already been taken","params":[{"param":"code","message":"has already been taken"}]}}"#, Validation, Some("validation"), "Code 'gold' has already been taken", false) },
    // WordPress REST API (and WooCommerce's, built on it): WP_REST_Request::has_valid_params
    // answers `rest_invalid_param` with `data.params` mapping each parameter to its message
    // (wp-includes/rest-api/class-wp-rest-request.php). Before, no field errors.
    Row { fields: &[("status", "status is not one of publish, future, draft, pending, private.")],
        ..row("WordPress rest_invalid_param", 400, r#"{"code":"rest_invalid_param","message":"Invalid parameter(s): status","data":{"status":400,"params":{"status":"status is not one of publish, future, draft, pending, private."},"details":{"status":{"code":"rest_not_in_enum","message":"status is not one of publish, future, draft, pending, private.","data":null}}}}"#, BadRequest, Some("rest_invalid_param"), "Invalid parameter(s): status", false) },
    row("WooCommerce 401", 401, r#"{"code":"woocommerce_rest_cannot_view","message":"Sorry, you cannot list resources.","data":{"status":401}}"#, Unauthorized, Some("woocommerce_rest_cannot_view"), "Sorry, you cannot list resources.", false),
    // Hume, "Errors" (dev.hume.ai/audio-decisions/docs/errors): `param` is a JSON pointer
    // into the request (before, no field error); its gateway's 429 has a message only.
    Row { fields: &[("questions.clarity.criteria", "score criteria must define at least 2 levels")],
        ..row("Hume 400", 400, r#"{"type":"error","code":"question_invalid","message":"score criteria must define at least 2 levels","param":"/questions/clarity/criteria","request_id":"req_01JB8XA3C5RD"}"#, BadRequest, Some("question_invalid"), "score criteria must define at least 2 levels", false) },
    row("Hume gateway 429", 429, r#"{"message":"API rate limit exceeded"}"#, RateLimited, None, "API rate limit exceeded", true),
    // Alibaba Cloud Model Studio, OpenAI-compatible API "Errors" (help.aliyun.com/en/model-studio/openai-compatible-agents-api-errors).
    Row { fields: &[("model", "$: required property 'model' not found")],
        ..row("Model Studio 400", 400, r#"{"error":{"type":"invalid_request_error","code":"invalid_request_error","message":"$: required property 'model' not found","param":"model"}}"#, BadRequest, Some("invalid_request_error"), "$: required property 'model' not found", false) },
    // OpenRouter, Responses API "Error Handling" (openrouter.ai/docs/api_reference/responses/error-handling).
    row("OpenRouter invalid_prompt", 400, r#"{"error":{"code":"invalid_prompt","message":"Detailed error description"},"metadata":null}"#, BadRequest, Some("invalid_prompt"), "Detailed error description", false),
    // Mastercard Developers: "to ensure a consistent experience across all Mastercard APIs",
    // `{"Errors": {"Error": [{"Source", "ReasonCode", "Description", "Recoverable", "Details"}]}}`
    // (community-pass-payment-apis/documentation/code-and-formats). Accept Payments' example
    // (ob-accept-payments/documentation/code-and-formats) and Automatic Billing Updater's 400 and
    // 429 samples (automatic-billing-updater/documentation/code-samples/httpstatus400-invalid-parameter,
    // httpstatus429-too-many-requests). Before, no code and the message prefixed with the status
    // phrase. `Recoverable` is not read: the 429 sample says `false` of a throttle.
    row("Mastercard Accept Payments 400", 400, r#"{"Errors":{"Error":[{"Source":"Accept Payments API","ReasonCode":"INVALID_INPUT","Description":"Validation error occurred for the property: RedirectUrl","Recoverable":false,"Details":"The RedirectUrl field is required."}]}}"#, BadRequest, Some("INVALID_INPUT"), "Validation error occurred for the property: RedirectUrl", false),
    row("Mastercard ABU 400", 400, r#"{"Errors":{"Error":[{"Source":"Validation","ReasonCode":"SYSTEM_ERROR","Description":"Invalid value for parameter","Recoverable":false,"Details":"Invalid Params"}]}}"#, BadRequest, Some("SYSTEM_ERROR"), "Invalid value for parameter", false),
    row("Mastercard ABU 429", 429, r#"{"Errors":{"Error":[{"Source":"System","ReasonCode":"SYSTEM_ERROR","Description":"Too Many Requests","Recoverable":false,"Details":"Too many requests"}]}}"#, RateLimited, Some("SYSTEM_ERROR"), "Too Many Requests", true),
    // QuickBooks Online, "Handling common errors" (developer.intuit.com/app/developer/qbo/docs/develop/troubleshooting/handling-common-errors):
    // the JSON fault, with error 610's message and detail from the same page. Before, no code
    // and the detail, prefixed with the status phrase, for the message.
    row("QuickBooks 610", 400, r#"{"Fault":{"Error":[{"Message":"Object Not Found","Detail":"Object Not Found: Something you're trying to use has been made inactive. Check the fields with accounts.","code":"610","element":""}],"type":"ValidationFault"},"time":"2017-09-29T09:17:31.892-07:00"}"#, BadRequest, Some("610"), "Object Not Found", false),
    // Omnisend, "API Responses" (api-docs.omnisend.com/v2026-03-15/reference/responses): RFC 9457
    // with an `errors` entry per field.
    Row { fields: &[("name", "Name is required"), ("content.email.fromEmail", "Must be a valid email address")],
        ..row("Omnisend 400", 400, r#"{"type":"https://problems.omnisend.com/validation-failed","title":"Validation failed","status":400,"detail":"One or more fields are invalid.","errors":[{"field":"name","code":"required","message":"Name is required"},{"field":"content.email.fromEmail","code":"invalid_format","message":"Must be a valid email address"}]}"#, BadRequest, Some("https://problems.omnisend.com/validation-failed"), "One or more fields are invalid.", false) },
    // Cartesia, "API errors" (docs.cartesia.ai/use-the-api/api-errors): `error_code`, `title`, `message`.
    row("Cartesia 429", 429, r#"{"error_code":"concurrency_limited","title":"Too many concurrent requests","message":"You have exceeded your plan's concurrency limit.","request_id":"550e8400-e29b-41d4-a716-446655440000"}"#, RateLimited, Some("concurrency_limited"), "You have exceeded your plan's concurrency limit.", true),
    // ElevenLabs, "API - Error Code 400 or 401" (help.elevenlabs.io/hc/en-us/articles/19572237925521):
    // `detail` holds `{status, message}`.
    row("ElevenLabs 400", 400, r#"{"detail":{"status":"max_character_limit_exceeded","message":"This request's text has 627 characters and exceeds the character limit of 333 characters for non signed in accounts."}}"#, BadRequest, Some("max_character_limit_exceeded"), "This request's text has 627 characters and exceeds the character limit of 333 characters for non signed in accounts.", false),
    // Pensopay, "Error handling" (docs.pensopay.com/v2.0/reference/error-handling): a map of fields.
    Row { fields: &[("order_id", "The order id has already been taken.")],
        ..row("Pensopay 422", 422, r#"{"code":422,"message":"The given data was invalid.","errors":{"order_id":["The order id has already been taken."]}}"#, Validation, Some("422"), "The given data was invalid.", false) },
    // Fiserv, "Errors" (docs.fiserv.dev/public/docs/errors): an `errors` list of `{title, detail, source}`.
    row("Fiserv 400", 400, r#"{"errors":[{"title":"Missing 'name'","detail":"The 'name' field is required and must be specified","source":"Apigee"}]}"#, BadRequest, None, "The 'name' field is required and must be specified", false),
    // EasyPost, "Errors" (docs.easypost.com/docs/errors): the error object's `errors` of FieldErrors.
    Row { fields: &[("address", "Address not found"), ("street1", "House number is missing")],
        ..row("EasyPost 422", 422, r#"{"error":{"code":"ADDRESS.VERIFY.FAILURE","message":"Address not found","errors":[{"field":"address","message":"Address not found","suggestion":null},{"field":"street1","message":"House number is missing","suggestion":null}]}}"#, Validation, Some("ADDRESS.VERIFY.FAILURE"), "Address not found", false) },
    // Easyship, "Errors" (developers.easyship.com/reference-link/errors).
    row("Easyship 422", 422, r#"{"error":{"code":"invalid_content","details":["Target is not included in the list"],"links":[{"kind":"documentation","name":"Errors","url":"https://developers.easyship.com/reference/errors"}],"message":"The request body content is not valid.","request_id":"01563646-58c1-4607-8fe0-cae3e92c4477","type":"invalid_request_error"}}"#, Validation, Some("invalid_content"), "The request body content is not valid.", false),
    // Unity Gaming Services, "Lobby error messages" (docs.unity.com/lobby/lobby-error-messages):
    // problem details with a numeric `code` (the page's example lacks a comma between its two
    // `details`; added here).
    row("Unity Lobby 400", 400, r#"{"title":"Bad Request","status":400,"code":16000,"detail":"request failed validation","details":[{"errorType":"validation","message":"count in body should be less than or equal to 100"},{"errorType":"validation","message":"skip in body should be greater than or equal to 0"}],"type":"http://unity3d/lobby/errors/validation-error"}"#, BadRequest, Some("16000"), "request failed validation", false),
    // LobeHub, "API conventions" (lobehub.com/docs/development/api/conventions): the current error body.
    row("LobeHub 404", 404, r#"{"success":false,"error":"Agent not found","timestamp":"2026-11-18T08:00:00.000Z"}"#, NotFound, None, "Agent not found", false),
    // Telnyx, "API errors" (developers.telnyx.com/development/api-fundamentals/api-errors; the envelope
    // as its Porting API errors page describes it: code, title, detail, source.pointer, meta.url).
    Row { fields: &[("to", "A required parameter was missing.")],
        ..row("Telnyx 10004", 422, r#"{"errors":[{"code":"10004","title":"Missing required parameter","detail":"A required parameter was missing.","source":{"pointer":"/to"},"meta":{"url":"https://developers.telnyx.com/docs/overview/errors/10004"}}]}"#, Validation, Some("10004"), "A required parameter was missing.", false) },
    row("Telnyx 10011", 429, r#"{"errors":[{"code":"10011","title":"Too many requests","detail":"You have exceeded the maximum number of allowed requests.","meta":{"url":"https://developers.telnyx.com/docs/overview/errors/10011","retryable":true}}]}"#, RateLimited, Some("10011"), "You have exceeded the maximum number of allowed requests.", true),
    // Telnyx, "Porting API errors" (developers.telnyx.com/docs/numbers/porting/api-errors): the
    // envelope's `source.pointer` is "/" for request-level errors (no field: was a field named
    // ""), and "Use meta.retryable to branch automation logic": true, "retrying the identical
    // request can succeed"; false, "the request cannot succeed as-is". The flag decides where
    // the status alone says otherwise (general codes 10008 and 10007, statuses chosen so).
    row("Telnyx Porting 10011", 429, r#"{"errors":[{"code":"10011","title":"Too many requests","detail":"You have exceeded the maximum number of allowed requests.","source":{"pointer":"/"},"meta":{"url":"https://developers.telnyx.com/docs/overview/errors/10011","retryable":true}}]}"#, RateLimited, Some("10011"), "You have exceeded the maximum number of allowed requests.", true),
    row("Telnyx retryable 400", 400, r#"{"errors":[{"code":"10008","title":"Request timeout","detail":"The request timed out.","source":{"pointer":"/"},"meta":{"url":"https://developers.telnyx.com/docs/overview/errors/10008","retryable":true}}]}"#, BadRequest, Some("10008"), "The request timed out.", true),
    row("Telnyx not retryable 500", 500, r#"{"errors":[{"code":"10007","title":"Unexpected error","detail":"An unexpected error occured.","source":{"pointer":"/"},"meta":{"url":"https://developers.telnyx.com/docs/overview/errors/10007","retryable":false}}]}"#, Server, Some("10007"), "An unexpected error occured.", false),
    // Mambu API v2, "RestError" (docs.mambu.com/api/api-v2/processexecutions/schemas/resterror):
    // `errorCode` (4: INVALID_PARAMETERS in "API response and error codes"), `errorReason`, and
    // `errorSource`, "JSON pointer, field name, or rule identifier that locates the cause". Was
    // the message "4" and no field.
    Row { fields: &[("filterCriteria[0].field", "is invalid")],
        ..row("Mambu 400", 400, r#"{"errors":[{"errorCode":4,"errorReason":"INVALID_PARAMETERS","errorSource":"filterCriteria[0].field"}]}"#, BadRequest, Some("4"), "INVALID_PARAMETERS", false) },
    // Adobe Commerce (Magento) REST, "Status codes and REST responses", "Error format"
    // (developer.adobe.com/commerce/webapi/get-started/gs-web-api-response): `parameters` is "an
    // array of attributes used to generate a different and/or localized error message"; its
    // example. Was the template, "Invalid product data: %1".
    row("Adobe Commerce 400", 400, r#"{"message":"Invalid product data: %1","parameters":["Invalid attribute set entity type"]}"#, BadRequest, None, "Invalid product data: Invalid attribute set entity type", false),
    // Trello, "Rate Limits" (developer.atlassian.com/cloud/trello/guides/rest-api/rate-limits): no
    // rate-limit header at all; the 429's `error` names the limit (token or key, 10 s windows).
    row("Trello token limit", 429, r#"{"error":"API_TOKEN_LIMIT_EXCEEDED","message":"Rate limit exceeded"}"#, RateLimited, Some("API_TOKEN_LIMIT_EXCEEDED"), "Rate limit exceeded", true),
    row("Trello key limit", 429, r#"{"error":"API_KEY_LIMIT_EXCEEDED","message":"Rate limit exceeded"}"#, RateLimited, Some("API_KEY_LIMIT_EXCEEDED"), "Rate limit exceeded", true),
    // Tencent Cloud, error response sample (tencentcloud.com/document/api/214/11603).
    row("Tencent Cloud", 400, r#"{"code":"5100","message":"(100004) incorrect projectId"}"#, BadRequest, Some("5100"), "(100004) incorrect projectId", false),
    // Xero, "HTTP response codes and errors" (developer.xero.com/documentation/api/http-response-codes):
    // a 400 `ValidationException` (`Type`, the exception's name) whose `Message` only says that
    // validation failed; the cause is in `Elements[].ValidationErrors[].Message` (the body as
    // Xero's XeroAPI/Xero-OpenAPI issue #461 quotes it). Was no code and the generic message.
    row("Xero 400 ValidationException", 400, r#"{"ErrorNumber":10,"Type":"ValidationException","Message":"A validation exception occurred","Elements":[{"ContactID":"00000000-0000-0000-0000-000000000000","ValidationErrors":[{"Message":"Email address must be valid."}]}]}"#, BadRequest, Some("ValidationException"), "Email address must be valid.", false),
    // SurveyMonkey API v3, "Error Codes" (api.surveymonkey.com/v3/docs; SurveyMonkey/public_api_docs,
    // includes/_overview.md): `error.id` is the table's "Error Code". Was no code.
    row("SurveyMonkey 1014", 403, r#"{"error":{"id":"1014","name":"Permission Error","docs":"https://developer.surveymonkey.com/api/v3/#error-codes","message":"Permission has not been granted by the user to make this request.","http_status_code":403}}"#, Forbidden, Some("1014"), "Permission has not been granted by the user to make this request.", false),
    row("SurveyMonkey 1050", 500, r#"{"error":{"docs":"https://developer.surveymonkey.com/api/v3/#error-codes","message":"Oh bananas! We couldn’t process your request.","id":"1050","name":"Internal Server Error","http_status_code":500}}"#, Server, Some("1050"), "Oh bananas! We couldn’t process your request.", true),
    // Gusto, "Errors" and "Error Categories" (docs.gusto.com/embedded-payroll/docs/errors): `category`
    // "specifies the type of error" for "custom error handling"; `error_key` "identifies the
    // attribute/parameter related to the error" (`base` and `request` name no attribute). Was no
    // code and no field errors.
    Row { fields: &[("first_name", "First name is required"), ("date_of_birth", "Date of birth is not a valid date")],
        ..row("Gusto 422 attributes", 422, r#"{"errors":[{"error_key":"first_name","category":"invalid_attribute_value","message":"First name is required"},{"error_key":"date_of_birth","category":"invalid_attribute_value","message":"Date of birth is not a valid date"}]}"#, Validation, Some("invalid_attribute_value"), "First name is required (and 1 more)", false) },
    row("Gusto 422 base", 422, r#"{"errors":[{"error_key":"base","category":"payroll_blocker","message":"Company or employee address could not be verified. Please ensure all addresses are valid.","metadata":{"key":"geocode_error"}}]}"#, Validation, Some("payroll_blocker"), "Company or employee address could not be verified. Please ensure all addresses are valid.", false),
    row("Gusto 500", 500, r#"{"errors":[{"error_key":"request","category":"internal_error","message":"An unexpected error has occurred."}]}"#, Server, Some("internal_error"), "An unexpected error has occurred.", true),
    // Stability AI REST API reference, v2beta (platform.stability.ai/docs/api-reference; its OpenAPI
    // schema, as the clients generated from it quote it): `name` is the "short-hand name for an
    // error, useful for discriminating between errors with the same status code", `errors` "one or
    // more error messages", `id` the occurrence's. Was no code.
    row("Stability 400", 400, r#"{"id":"a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4","name":"bad_request","errors":["some-field: is required"]}"#, BadRequest, Some("bad_request"), "some-field: is required", false),
    row("Stability 403 content_moderation", 403, r#"{"id":"ed14db44362126aab3cbd25cca51ffe3","name":"content_moderation","errors":["Your request was flagged by our content moderation system, as a result your request was denied and you were not charged."]}"#, Forbidden, Some("content_moderation"), "Your request was flagged by our content moderation system, as a result your request was denied and you were not charged.", false),
    // Dailymotion API v2, "API Errors" (developers.dailymotion.com/v2/reference/api-errors): `details`
    // is "structured additional context" whose shape depends on the code, not a map of fields to
    // messages. Was four field errors ("object_id: x1", ...).
    row("Dailymotion v2 404", 404, r#"{"error":{"code":"RESOURCE_NOT_FOUND","message":"Video with ID 'x1' not found.","correlation_id":"550e8400-e29b-41d4-a716-446655440000","details":{"object_id":"x1","reason":"object_not_found","object_type":"Video","param":"id"},"documentation_url":"https://developers.dailymotion.com/reference/api-errors"}}"#, NotFound, Some("RESOURCE_NOT_FOUND"), "Video with ID 'x1' not found.", false),
    // Supabase Auth, "Error Codes" (supabase.com/docs/guides/auth/debugging/error-codes), as its
    // server writes them (supabase/auth, internal/api/apierrors/apierrors.go: `code` is the HTTP
    // status, `error_code` the documented code, `msg` the text). Was the code "422", "429".
    row("Supabase Auth 422", 422, r#"{"code":422,"error_code":"weak_password","msg":"Password should be at least 6 characters.","weak_password":{"reasons":["length"]}}"#, Validation, Some("weak_password"), "Password should be at least 6 characters.", false),
    row("Supabase Auth 429", 429, r#"{"code":429,"error_code":"over_email_send_rate_limit","msg":"email rate limit exceeded"}"#, RateLimited, Some("over_email_send_rate_limit"), "email rate limit exceeded", true),
    // Zuora v1 API, "Error codes" (developer.zuora.com/docs/guides/error-codes): "The reasons field
    // contains the actual error code and message pair". Was no code and the fallback's
    // "Bad Request: ..." message.
    row("Zuora 53100320", 400, r#"{"success":false,"processId":"CBCFED6580B4E076","reasons":[{"code":53100320,"message":"'termType' value should be one of: TERMED, EVERGREEN"}]}"#, BadRequest, Some("53100320"), "'termType' value should be one of: TERMED, EVERGREEN", false),
    // PagerDuty REST API v2 (github.com/PagerDuty/api-schema): reference/REST/openapiv3.json types the
    // shared error response's `error.errors` as strings, "Human-readable error details";
    // reference/integration-jira-cloud/openapiv3.json's 400 "Response Example" is this body. Was the
    // generic "Invalid Input Provided" alone (the cause only in `details()`).
    row("PagerDuty REST 2001", 400, r#"{"error":{"code":2001,"errors":["Invalid value for field 'name'"],"message":"Invalid Input Provided"}}"#, BadRequest, Some("2001"), "Invalid Input Provided: Invalid value for field 'name'", false),
    // PagerDuty Events API v2 (github.com/PagerDuty/api-schema, reference/events-v2/openapiv3.json):
    // `message` is "a description of the problem", `errors` "an array of specific error messages";
    // its example 400. Was "Event object format is unrecognized" alone.
    row("PagerDuty Events v2 400", 400, r#"{"status":"Unrecognized object","message":"Event object format is unrecognized","errors":["JSON parse error"]}"#, BadRequest, None, "Event object format is unrecognized: JSON parse error", false),
    // Hetzner Cloud API, "Errors" (docs.hetzner.cloud/reference/cloud#errors): its example
    // `invalid_input`, whose `details.fields` entries name their field and list its `messages`. Was
    // the field error ("fields.broken_field", "is invalid").
    Row { fields: &[("broken_field", "is too long")],
        ..row("Hetzner Cloud invalid_input", 400, r#"{"error":{"code":"invalid_input","message":"invalid input in field 'broken_field': is too long","details":{"fields":[{"name":"broken_field","messages":["is too long"]}]}}}"#, BadRequest, Some("invalid_input"), "invalid input in field 'broken_field': is too long", false) },
    // Bitbucket Cloud REST API, "Standardized error responses"
    // (developer.atlassian.com/cloud/bitbucket/rest/intro): `error.fields` maps fields to their
    // messages; its example. Was no field error.
    Row { fields: &[("src", "This field is required.")],
        ..row("Bitbucket Cloud 400", 400, r#"{"type":"error","error":{"message":"Bad request","fields":{"src":["This field is required."]}}}"#, BadRequest, None, "Bad request", false) },
    // Strapi, "Error handling" (docs.strapi.io/cms/error-handling: `{"data": null, "error": {"status",
    // "name", "message", "details"}}`); a `ValidationError`'s `details` as @strapi/utils'
    // `formatYupErrors` writes it, `{"errors": [{"path": [...], "message", "name"}]}`. Was the field
    // errors ("errors.ValidationError", ...).
    Row { fields: &[("title", "title must be defined."), ("body", "body must be defined.")],
        ..row("Strapi ValidationError", 400, r#"{"data":null,"error":{"status":400,"name":"ValidationError","message":"2 errors occurred","details":{"errors":[{"path":["title"],"message":"title must be defined.","name":"ValidationError"},{"path":["body"],"message":"body must be defined.","name":"ValidationError"}]}}}"#, BadRequest, Some("400"), "2 errors occurred", false) },
    // Mattermost API v4, "Error Handling" (api.mattermost.com): every error's body is `{"id":
    // "the.error.id", "message", "request_id", "status_code", "is_oauth"}`; `id` as the server
    // sends it (mattermost/server, `model.NewAppError(.., "api.context.session_expired.app_error",
    // ..)`). Was no code.
    row("Mattermost 401", 401, r#"{"id":"api.context.session_expired.app_error","message":"Invalid or expired session, please login again.","detailed_error":"","request_id":"hsiwcbnwdpfj3nrr9nzpxbh6aa","status_code":401,"is_oauth":false}"#, Unauthorized, Some("api.context.session_expired.app_error"), "Invalid or expired session, please login again.", false),
];

fn check(rows: &[Row]) {
    dialect_rows::check(rows, |error, at| {
        assert!(
            !error.message().contains('<'),
            "{at}: no markup in {:?}",
            error.message()
        );
    });
}

#[test]
fn documented_family_bodies() {
    check(FAMILIES);
}

#[test]
fn declared_charsets_are_honoured() {
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=ISO-8859-1"),
    );
    let error = parse_error(
        StatusCode::CONFLICT,
        &headers,
        b"{\"message\": \"Caf\xe9 ferm\xe9e \x80 5\"}",
    );
    assert_eq!(error.message(), "Café fermée € 5");
    assert_eq!(error.details().unwrap()["message"], "Café fermée € 5");

    // An XML declaration names the charset too.
    let error = parse_error(
        StatusCode::BAD_REQUEST,
        &HeaderMap::new(),
        b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><Error><Code>Bad</Code><Message>Ung\xfcltig</Message></Error>",
    );
    assert_eq!(error.message(), "Ungültig");

    // A UTF-8 BOM is dropped before JSON is read.
    let error = parse_error(
        StatusCode::BAD_REQUEST,
        &HeaderMap::new(),
        "\u{feff}{\"message\": \"naïve\"}".as_bytes(),
    );
    assert_eq!(error.message(), "naïve");
}

#[test]
fn details_parse_on_demand_and_clones_share_them() {
    let body =
        br#"{"error": {"code": "VERSION_OUTDATED", "message": "old", "min_version": "a.1.0-1"}}"#;
    let error = parse_error(StatusCode::UPGRADE_REQUIRED, &HeaderMap::new(), body);
    assert_eq!(error.details_json().unwrap().as_bytes(), body);
    let clone = error.clone();
    assert_eq!(clone.details().unwrap()["error"]["min_version"], "a.1.0-1");
    assert_eq!(error.details().unwrap()["error"]["min_version"], "a.1.0-1");
    // Not JSON: no details.
    let error = parse_error(
        StatusCode::BAD_GATEWAY,
        &HeaderMap::new(),
        b"<html>bad</html>",
    );
    assert!(error.details().is_none() && error.details_json().is_none());
}

/// Hostile variants: huge, deep or malformed bodies give bounded answers,
/// in work linear in the body (each would take minutes if it were not).
#[test]
fn hostile_bodies_stay_bounded() {
    let deep_tree = format!(
        "{{\"message\":\"Invalid Form Body\",\"errors\":{}{{\"_errors\":[{{\"message\":\"x\"}}]}}{}}}",
        "{\"a\":".repeat(100),
        "}".repeat(100)
    );
    let wide_tree = format!(
        "{{\"message\":\"m\",\"errors\":{{{}}}}}",
        (0..50_000)
            .map(|i| format!("\"f{i}\":{{\"_errors\":[{{\"message\":\"bad\"}}]}}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let salesforce = format!(
        "[{}]",
        vec![r#"{"message":"m","errorCode":"E","fields":["a","b","c"]}"#; 50_000].join(",")
    );
    let inner = format!(
        "{{\"error\":{{\"message\":\"m\",{}\"code\":\"deep\"{}}}}}",
        "\"innererror\":{".repeat(60),
        "}".repeat(60)
    );
    let tags = format!(
        "{{\"error_summary\":\"x\",\"error\":{}\"end\"{}}}",
        "{\".tag\":\"a\",\"a\":".repeat(60),
        "}".repeat(60)
    );
    let soap_open = format!("<Fault>{}", "<Code><Value>".repeat(100_000));
    let lt_storm = "<".repeat(1_000_000);
    let quotes = format!("{{{}", "\"a\",".repeat(200_000));
    let html_message = format!("{{\"message\":\"{}\"}}", "<b>x</b>".repeat(100_000));
    let bodies: Vec<(&str, String)> = vec![
        ("deep tree", deep_tree),
        ("wide tree", wide_tree),
        ("salesforce", salesforce),
        ("innererror", inner),
        ("tags", tags),
        ("soap open", soap_open),
        ("< storm", lt_storm),
        ("quotes", quotes),
        ("html message", html_message),
    ];
    for (name, body) in bodies {
        let error = parse_error(StatusCode::BAD_REQUEST, &HeaderMap::new(), body.as_bytes());
        assert!(!error.message().is_empty(), "{name}");
        assert!(error.message().chars().count() <= 1024, "{name}");
        assert!(error.field_errors().len() <= 100, "{name}");
        assert!(
            error.code().is_none_or(|c| c.chars().count() <= 128),
            "{name}"
        );
        assert!(!error.message().contains('<'), "{name}");
    }
}

/// The retry layer follows the typed error's verdict: a throttle sent as
/// 400 is retried, a spent quota sent as 429 is not, nor a vendor's
/// `retryable: false`.
#[tokio::test(start_paused = true)]
async fn retry_follows_the_body_verdict() {
    async fn attempts(status: u16, body: &'static str) -> (u32, ErrorKind) {
        let calls = Arc::new(AtomicU32::new(0));
        let counter = calls.clone();
        let upstream = service_fn(move |_req: Request<ReplayBody<Full<Bytes>>>| {
            counter.fetch_add(1, Ordering::SeqCst);
            async move {
                Ok::<_, std::convert::Infallible>(
                    Response::builder()
                        .status(status)
                        .body(Full::new(Bytes::from_static(body.as_bytes())))
                        .unwrap(),
                )
            }
        });
        let client = ServiceBuilder::new()
            .layer(RetryLayer::new(RetryPolicy::default().max_attempts(3)))
            .layer(ErrorBodyParseLayer::new())
            .service(upstream);
        let error = client
            .oneshot(Request::new(Full::new(Bytes::new())))
            .await
            .unwrap_err();
        (calls.load(Ordering::SeqCst), error.kind())
    }
    assert_eq!(
        attempts(
            400,
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#
        )
        .await,
        (3, RateLimited)
    );
    assert_eq!(
        attempts(429, r#"{"error":{"message":"You exceeded your current quota.","type":"insufficient_quota","code":"insufficient_quota"}}"#).await,
        (1, RateLimited)
    );
    assert_eq!(
        attempts(500, r#"<Envelope><Body><Fault><faultcode>Client</faultcode><faultstring>Bad input</faultstring></Fault></Body></Envelope>"#).await,
        (1, Server)
    );
    // Telnyx's `meta.retryable` (Porting API errors): false is never retried, true is.
    assert_eq!(
        attempts(500, r#"{"errors":[{"code":"10007","title":"Unexpected error","detail":"An unexpected error occured.","meta":{"retryable":false}}]}"#).await,
        (1, Server)
    );
    assert_eq!(
        attempts(400, r#"{"errors":[{"code":"10008","title":"Request timeout","detail":"The request timed out.","meta":{"retryable":true}}]}"#).await,
        (3, BadRequest)
    );
}
