//! Each example's behaviour, asserted over its real loopback servers.

mod support;

#[path = "../examples/axum_outbound.rs"]
mod axum_outbound;
#[path = "../examples/custom_policy.rs"]
mod custom_policy;
#[path = "../examples/demo.rs"]
mod demo;
#[path = "../examples/hyper_client.rs"]
mod hyper_client;

use std::time::Duration;
use tower_api_errors::{Error, ErrorKind, StopReason};

#[tokio::test]
async fn demo_rows_match_the_seed_apis() {
    let rows = demo::run().await;
    assert_eq!(rows.len(), demo::SCENARIOS.len());
    let row = |name: &str| {
        rows.iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    let api = |name: &str| match &row(name).outcome {
        Err(Error::Api(error)) => error.clone(),
        other => panic!("{name}: expected an API error, got {other:?}"),
    };

    assert_eq!(row("member found").outcome.as_ref().ok(), Some(&200));
    assert_eq!(
        api("flat: bad token").message(),
        "Invalid API token provided"
    );
    assert_eq!(api("OAuth2: forbidden").code(), Some("forbidden"));
    assert_eq!(api("nested: not found").code(), Some("404"));
    assert_eq!(api("OAuth2: duplicate").kind(), ErrorKind::Conflict);
    let validation = api("OAuth2: field errors");
    let fields: Vec<_> = validation
        .field_errors()
        .iter()
        .map(|f| f.field())
        .collect();
    assert_eq!(fields, ["name", "email"]);
    assert_eq!(api("flat: bad role").kind(), ErrorKind::Validation);
    let upgrade = api("nested: upgrade");
    assert_eq!(upgrade.code(), Some("VERSION_OUTDATED"));
    assert_eq!(
        upgrade.details().unwrap()["error"]["min_version"],
        "a.1.0-1"
    );
    assert_eq!(api("flat: no balance").kind(), ErrorKind::PaymentRequired);

    // Rate limits: waited exactly as told, or failed fast when told too much.
    let minute = row("429 per-minute limit");
    assert_eq!(
        (minute.attempts, minute.waited),
        (2, Duration::from_secs(1))
    );
    let day = api("429 daily limit");
    assert_eq!(day.retry_after(), Some(Duration::from_secs(86_400)));
    // Its message names a daily limit: a spent quota, not retried at all
    // (before, its code alone called it a throttle, and its day-long hint
    // stopped the retry).
    assert_eq!(day.retries().stopped(), Some(StopReason::NotRetryable));
    assert_eq!(row("429 daily limit").server_saw, 1);
    let body_hint = row("429 hint in body");
    assert_eq!(
        (body_hint.attempts, body_hint.waited),
        (2, Duration::from_millis(500))
    );

    // Recovery, and giving up with the last typed error.
    assert_eq!(row("503 recovers").attempts, 3);
    assert_eq!(row("503 recovers").outcome.as_ref().ok(), Some(&200));
    let proxy = api("502 proxy HTML page");
    assert_eq!((proxy.message(), proxy.attempts()), ("502 Bad Gateway", 3));

    // Idempotency: the server saw the unkeyed POST once, the keyed one twice.
    assert_eq!(row("POST 503, no key").server_saw, 1);
    assert_eq!(
        api("POST 503, no key").retries().stopped(),
        Some(StopReason::NotIdempotent)
    );
    assert_eq!(row("POST 503, keyed").server_saw, 2);
    assert_eq!(row("POST 503, keyed").outcome.as_ref().ok(), Some(&201));

    // Credentials were on every request; no error shows them.
    for row in &rows {
        if let Err(error) = &row.outcome {
            let text = format!("{error} {error:?}");
            assert!(!text.contains("sk_demo_secret"), "{text}");
        }
    }
}

#[tokio::test]
async fn hyper_client_replays_a_streamed_body() {
    let upload = hyper_client::run().await;
    assert_eq!((upload.status, upload.attempts), (201, 2));
    assert_eq!(upload.received.len(), 2);
    assert!(
        upload
            .received
            .iter()
            .all(|body| body == "part-1 part-2 part-3 part-4"),
        "{:?}",
        upload.received
    );
}

#[tokio::test]
async fn axum_app_maps_upstream_errors_to_its_own() {
    let answers = axum_outbound::run().await;
    let answer = |id: &str| answers.iter().find(|(i, _)| *i == id).unwrap().1.clone();
    assert_eq!(answer("1").0, 200);
    assert_eq!(
        answer("busy"),
        (
            503,
            Some("300".to_owned()),
            r#"{"error":"busy, try later"}"#.to_owned()
        )
    );
    let (status, _, body) = answer("invalid");
    assert_eq!(status, 422);
    assert_eq!(
        body,
        r#"{"invalid":[{"field":"email","problem":"Invalid email format"}]}"#
    );
    assert_eq!(answer("missing").0, 404);
    assert_eq!(answer("broken").0, 502);
}

#[tokio::test]
async fn custom_policy_composes() {
    let (outcomes, log) = custom_policy::run().await;
    let outcome = |call: &str| outcomes.iter().find(|(c, _)| *c == call).unwrap().1.clone();
    assert_eq!(outcome("GET /exists/42"), ("ok 404".to_owned(), 1));
    assert_eq!(outcome("GET /records/7"), ("ok 200".to_owned(), 3));
    let (payment, attempts) = outcome("POST /payments");
    assert_eq!(attempts, 1);
    assert!(
        payment.contains("PSP_DOWN") && payment.contains("policy said no"),
        "{payment}"
    );
    assert_eq!(log.len(), 2);
    assert!(
        log.iter()
            .all(|line| line.contains("waiting 200ms (hint from body)")),
        "{log:?}"
    );
}

#[path = "../examples/retry_storm.rs"]
mod retry_storm;

#[tokio::test(start_paused = true)]
async fn retry_storms_are_bounded_by_the_budget() {
    let rows = retry_storm::run().await;
    let row = |policy: &str| {
        rows.iter()
            .find(|r| r.policy.starts_with(policy))
            .unwrap()
            .clone()
    };
    let (none, naive, defaults) = (row("no retries"), row("naive"), row("defaults"));
    for row in [&none, &naive, &defaults] {
        assert!(
            row.outcomes_accounted,
            "{}: every logical request ends in exactly one outcome",
            row.policy
        );
    }
    assert_eq!(none.amplification, 1.0);
    assert!(
        naive.amplification > 2.9,
        "naive retries reach the max-attempts multiple: {}",
        naive.amplification
    );
    assert!(
        defaults.amplification < 1.25,
        "the budget bounds amplification: {}",
        defaults.amplification
    );
    assert!(
        naive.peak_load_after_recovery > 1.0,
        "naive retries overload the recovering server"
    );
    assert!(
        defaults.peak_load_after_recovery <= 1.0,
        "{}",
        defaults.peak_load_after_recovery
    );
    assert!(
        defaults.recovery <= none.recovery,
        "defaults recover no slower than no retries"
    );
}

#[path = "../examples/oauth_refresh.rs"]
mod oauth_refresh;

#[tokio::test]
async fn oauth_refresh_shares_one_refresh_across_an_expiry() {
    let report = oauth_refresh::run().await;
    assert_eq!(report.refreshes, 1, "{report:?}");
    assert_eq!(
        report.tokens_issued, 2,
        "the first token and one refresh: {report:?}"
    );
    assert_eq!((report.succeeded, report.failed), (51, 0), "{report:?}");
    // Every one of the 50 was sent with the expired token first (the
    // clock moved before any was sent), so each went again.
    assert_eq!(report.resent, 50, "{report:?}");
}
