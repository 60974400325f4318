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
    // Plaid, "Errors" (plaid.com/docs/errors/): the error object's members.
    row("Plaid 400", 400, r#"{"error_type":"ITEM_ERROR","error_code":"ITEM_LOGIN_REQUIRED","error_message":"the login details of this item have changed (credentials, MFA, or required user action) and a user login is required to update this information","display_message":null,"request_id":"HNTDNrA8F1shFEW"}"#, BadRequest, Some("ITEM_LOGIN_REQUIRED"), "the login details of this item have changed (credentials, MFA, or required user action) and a user login is required to update this information", false),
    // Mailchimp Marketing API, "Errors" (mailchimp.com/developer/marketing/docs/errors/):
    // problem details with an `errors` list.
    Row { fields: &[("VORNAME", "Please enter a value")],
        ..row("Mailchimp 400", 400, r#"{"type":"https://mailchimp.com/developer/marketing/docs/errors/","title":"Invalid Resource","status":400,"detail":"Your merge fields were invalid.","instance":"8cf2c011-a212-9b3a-6c51-a4d631a124b4","errors":[{"field":"VORNAME","message":"Please enter a value"}]}"#, BadRequest, Some("https://mailchimp.com/developer/marketing/docs/errors/"), "Your merge fields were invalid.", false) },
    // Intercom, "Errors" (developers.intercom.com): an `error.list`.
    row("Intercom 401", 401, r#"{"type":"error.list","request_id":"b3f5c5a0-0b1c-4c2e-9b5e-8a5d7c6e1f2a","errors":[{"code":"unauthorized","message":"Access Token Invalid"}]}"#, Unauthorized, Some("unauthorized"), "Access Token Invalid", false),
    // The server's explicit word wins over the body's.
    Row { headers: &[("x-should-retry", "false")],
        ..row("x-should-retry wins", 400, r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#, RateLimited, Some("ThrottlingException"), "Rate exceeded", false) },
    // HTML inside a JSON message (a synthetic variant of Google's shape).
    row("HTML in JSON", 400, r#"{"error":{"code":400,"message":"Invalid value at <b>'name'</b><br/>expected a string"}}"#, BadRequest, Some("400"), "Invalid value at 'name' expected a string", false),
    // XML without a known message element: a sentence, never the tags' names.
    Row { headers: &[("content-type", "application/xml")],
        ..row("XML without Message", 409, r#"<?xml version="1.0"?><fault><id>42</id><text>The order was already shipped</text></fault>"#, Conflict, None, "The order was already shipped", false) },
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
        assert!(error.message().chars().count() <= 1025, "{name}");
        assert!(error.field_errors().len() <= 100, "{name}");
        assert!(
            error.code().is_none_or(|c| c.chars().count() <= 129),
            "{name}"
        );
        assert!(!error.message().contains('<'), "{name}");
    }
}

/// The retry layer follows the typed error's verdict: a throttle sent as
/// 400 is retried, a spent quota sent as 429 is not.
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
}
