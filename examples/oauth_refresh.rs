//! OAuth2 client credentials against an API whose tokens expire: 50
//! concurrent requests across an expiry, one refresh.
//!
//! Two loopback servers: a token endpoint (the client-credentials grant of
//! RFC 6749 §4.4: a form-encoded POST, a JSON answer with `access_token`,
//! `token_type` and `expires_in`) and an API that rejects expired tokens
//! with `401` and `WWW-Authenticate: Bearer error="invalid_token"` (RFC
//! 6750 §3.1). A small [`TokenSource`] asks the endpoint for tokens; the
//! [`AuthLayer`] sets them, and when the API's clock passes the expiry,
//! every request rejected with the old token shares one refresh and is
//! sent again. `cargo run --example oauth_refresh`.
//!
//! The source also reads `expires_in` into the credential
//! ([`Credential::expires_in`]), so that in a long-running program the
//! layer refreshes each token ahead of its expiry (after 4/5 of its 60 s,
//! on the client's clock) and no request meets the 401 at all. This run
//! moves the API's clock past the expiry at once instead, to show the
//! rejection path: one refresh for the 50. Were the token endpoint down,
//! its failure would be shared the same way, and the next attempt backed
//! off (see `tests/auth_refresh.rs`).
#![allow(dead_code)] // `tests/examples.rs` includes this file for `run`.

// Standalone, the example brings the shared loopback helpers; included by
// `tests/examples.rs`, it uses that crate's copy.
#[cfg(not(test))]
#[path = "../tests/support/mod.rs"]
mod support;

use bytes::Bytes;
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::task::JoinSet;
use tower::{ServiceBuilder, ServiceExt};
use tower_api_errors::auth::{
    AuthLayer, AuthReport, Credential, Renewal, TokenFuture, TokenSource,
};
use tower_api_errors::redact::REDACTED;
use tower_api_errors::retry::{ReplayBody, RetryLayer, RetryPolicy};
use tower_api_errors::{parse_error, ErrorBodyParseLayer, StatusClassifierLayer};

const CLIENT_ID: &str = "demo-client";
const CLIENT_SECRET: &str = "demo-client-secret";
/// Seconds a token lives, on the API's clock.
const EXPIRES_IN: u64 = 60;

/// What the run came to.
#[derive(Debug, Default)]
pub struct Report {
    /// Tokens the endpoint issued: the first, then one per refresh.
    pub tokens_issued: u32,
    /// Refreshes the token source performed.
    pub refreshes: u32,
    /// Requests that ended in a success (the warm-up one included).
    pub succeeded: usize,
    /// Requests that ended in an error.
    pub failed: usize,
    /// Requests sent again with the new token after the old one expired.
    pub resent: usize,
    /// Of those, the ones that found the new token already there (no
    /// refresh of their own to wait for).
    pub already_renewed: usize,
}

/// The authorization server and the API share who was issued what, and
/// the API's clock (seconds), which the run moves past the expiry.
#[derive(Default)]
struct Issuer {
    /// Token -> the API-clock second it expires at.
    tokens: Mutex<HashMap<String, u64>>,
    issued: AtomicU32,
    clock: AtomicU64,
}

/// The token endpoint: `grant_type=client_credentials` with the client's id
/// and secret in the form body.
async fn token_endpoint(issuer: Arc<Issuer>) -> std::net::SocketAddr {
    crate::support::serve(move |request: Request<hyper::body::Incoming>| {
        let issuer = issuer.clone();
        async move {
            let form = crate::support::body_bytes(request.into_body()).await;
            let form: HashMap<_, _> = String::from_utf8_lossy(&form)
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            let field = |name: &str| form.get(name).map(String::as_str);
            if field("grant_type") != Some("client_credentials") {
                return crate::support::response(400, &[], r#"{"error": "unsupported_grant_type"}"#);
            }
            if field("client_id") != Some(CLIENT_ID) || field("client_secret") != Some(CLIENT_SECRET) {
                return crate::support::response(401, &[], r#"{"error": "invalid_client"}"#);
            }
            let n = issuer.issued.fetch_add(1, Ordering::SeqCst) + 1;
            let token = format!("access-{n}");
            let expires_at = issuer.clock.load(Ordering::SeqCst) + EXPIRES_IN;
            issuer.tokens.lock().unwrap().insert(token.clone(), expires_at);
            let body = serde_json::json!({"access_token": token, "token_type": "Bearer", "expires_in": EXPIRES_IN});
            crate::support::response(200, &[("content-type", "application/json"), ("cache-control", "no-store")], body.to_string())
        }
    })
    .await
}

/// The API: `GET /items/{n}` with a live bearer token.
async fn api(issuer: Arc<Issuer>) -> std::net::SocketAddr {
    crate::support::serve(move |request: Request<hyper::body::Incoming>| {
        let issuer = issuer.clone();
        async move {
            let token = request
                .headers()
                .get("authorization")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.strip_prefix("Bearer "));
            let now = issuer.clock.load(Ordering::SeqCst);
            let live = token.and_then(|token| issuer.tokens.lock().unwrap().get(token).copied()).is_some_and(|expires_at| now < expires_at);
            if !live {
                // RFC 6750 §3's expired-token answer.
                let challenge = r#"Bearer realm="demo", error="invalid_token", error_description="The access token expired""#;
                return crate::support::response(401, &[("www-authenticate", challenge)], r#"{"error": {"code": 401, "message": "Token expired"}}"#);
            }
            let id = request.uri().path().trim_start_matches("/items/").to_owned();
            crate::support::response(200, &[], format!(r#"{{"id": {id}}}"#))
        }
    })
    .await
}

/// A client-credentials [`TokenSource`]: every call asks the token
/// endpoint for a fresh token. (A source for a grant with refresh tokens
/// would send `grant_type=refresh_token` from `refresh`.)
struct ClientCredentials {
    token_url: Uri,
    http: Client<HttpConnector, Full<Bytes>>,
    refreshes: Arc<AtomicU32>,
}

impl ClientCredentials {
    async fn fetch(&self) -> Result<Credential, tower_api_errors::BoxError> {
        let form = format!(
            "grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}"
        );
        let request = Request::post(self.token_url.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(Full::new(Bytes::from(form)))?;
        let response = self.http.request(request).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        if parts.status != StatusCode::OK {
            // The endpoint's answer, typed: the auth layer holds the next
            // refresh off for its `Retry-After` (a 429, a 503). Its text is
            // the server's, so our secret is scrubbed out of it first,
            // should the endpoint echo the form back: the error says what
            // failed, never with what.
            let body = String::from_utf8_lossy(&body).replace(CLIENT_SECRET, REDACTED);
            return Err(parse_error(parts.status, &parts.headers, body.as_bytes()).into());
        }
        let answer: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| "token endpoint answered invalid JSON")?;
        if !answer["token_type"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("bearer"))
        {
            return Err("token endpoint answered a token type other than Bearer".into());
        }
        let token = answer["access_token"]
            .as_str()
            .ok_or("token endpoint answered no access_token")?;
        let credential = Credential::new(token)?;
        // RFC 6749 §5.1: seconds the token lives. Known, it is refreshed
        // ahead of its expiry.
        Ok(match answer["expires_in"].as_u64() {
            Some(seconds) => credential.expires_in(std::time::Duration::from_secs(seconds)),
            None => credential,
        })
    }
}

impl TokenSource for ClientCredentials {
    fn current(&self) -> TokenFuture<'_> {
        Box::pin(self.fetch())
    }

    fn refresh<'a>(&'a self, _rejected: &'a Credential) -> TokenFuture<'a> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        Box::pin(self.fetch())
    }
}

/// One warm-up request, then the token expires, then 50 concurrent requests.
pub async fn run() -> Report {
    let issuer = Arc::new(Issuer::default());
    let token_addr = token_endpoint(issuer.clone()).await;
    let api_addr = api(issuer.clone()).await;
    let refreshes = Arc::new(AtomicU32::new(0));
    let source = ClientCredentials {
        token_url: format!("http://{token_addr}/oauth/token").parse().unwrap(),
        http: crate::support::client(),
        refreshes: refreshes.clone(),
    };
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::default()))
        .layer(AuthLayer::new(source))
        .layer(ErrorBodyParseLayer::new())
        .layer(StatusClassifierLayer::new())
        .service(crate::support::client::<ReplayBody<Full<Bytes>>>());
    let get = |n: usize| {
        Request::get(format!("http://{api_addr}/items/{n}"))
            .body(Full::default())
            .unwrap()
    };

    let mut report = Report::default();
    match client.clone().oneshot(get(0)).await {
        Ok(_) => report.succeeded += 1,
        Err(_) => report.failed += 1,
    }

    // The API's clock moves past the token's expiry.
    issuer.clock.fetch_add(EXPIRES_IN + 1, Ordering::SeqCst);
    let mut requests = JoinSet::new();
    for n in 1..=50 {
        requests.spawn(client.clone().oneshot(get(n)));
    }
    while let Some(outcome) = requests.join_next().await {
        match outcome.expect("request task") {
            Ok(response) => {
                report.succeeded += 1;
                if let Some(auth) = response.extensions().get::<AuthReport>() {
                    report.resent += usize::from(auth.resent());
                    report.already_renewed +=
                        usize::from(auth.renewal() == Some(Renewal::AlreadyRenewed));
                }
            }
            Err(_) => report.failed += 1,
        }
    }
    report.tokens_issued = issuer.issued.load(Ordering::SeqCst);
    report.refreshes = refreshes.load(Ordering::SeqCst);
    report
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let report = run().await;
    println!("tokens issued:      {}", report.tokens_issued);
    println!("refreshes:          {}", report.refreshes);
    println!(
        "succeeded / failed: {} / {}",
        report.succeeded, report.failed
    );
    println!(
        "sent again after the expiry: {} ({} found the new token already there)",
        report.resent, report.already_renewed
    );
}
