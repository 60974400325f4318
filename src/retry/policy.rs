//! [`Policy`], the retry layer's decision, and [`RetryPolicy`], the
//! default one: what is retried, when, and how often.

use super::backoff::Backoff;
use crate::budget::{RetryBudget, SharedBudget};
use crate::classification::{Classification, Classify, DefaultClassifier};
use crate::error::AuthReport;
use crate::hedged::{Claim, ClaimedBy, Hedged};
use crate::hints::{HintSource, RateLimitInfo};
use crate::observe::Observer;
use crate::redact::{HeaderNames, RedactedUri};
use crate::replay::DEFAULT_MAX_REPLAY;
use crate::{Error, ErrorKind, StopReason};
use http::{Extensions, HeaderMap, Method, StatusCode, Uri};
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};
use tower::retry::budget::Budget;
use tower::util::rng::HasherRng;

pub use crate::idempotency::{is_idempotent, RetryOverride, IDEMPOTENCY_KEY};

/// Whether a wait of `delay`, `elapsed` into the call, ends before the
/// call's `deadline`. One ending at the deadline, or within the timer's
/// resolution of it (tokio's, 1 ms), fires with the deadline, which wins:
/// no attempt would follow it, so it is not started, and the failure is
/// the caller's at once.
pub(crate) fn wait_fits(elapsed: Duration, delay: Duration, deadline: Option<Duration>) -> bool {
    use crate::context::TIMER_RESOLUTION;
    // Saturating: a policy's "forever" (`Duration::MAX`) does not fit a
    // deadline, and is no panic.
    let end = elapsed
        .saturating_add(delay)
        .saturating_add(TIMER_RESOLUTION);
    deadline.is_none_or(|deadline| end <= deadline)
}

/// The retry layer's decision: whether a failed attempt is retried, and
/// after how long. [`RetryPolicy`] is the default; implement it for a
/// policy of your own and pass it to [`RetryLayer::new`](super::RetryLayer::new)
/// (the layer still replays bodies, bounds the call by the policy's
/// deadline, waits and re-sends; the policy only decides).
///
/// The layer clones the policy into each service it makes (so it must be
/// `Clone`; share state behind an `Arc`, as [`RetryPolicy`] shares its
/// budget). Only [`decide`](Self::decide) is required; the other methods have
/// defaults (no budget, no hook, the default deadline and replay cap,
/// per-request overrides ignored).
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, Response};
/// use http_body_util::Full;
/// use std::sync::{Arc, atomic::{AtomicU32, Ordering}};
/// use std::time::Duration;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
/// use tower_api_errors::retry::{Decision, Policy, ReplayBody, RetryContext, RetryLayer};
/// use tower_api_errors::{ErrorBodyParseLayer, ErrorKind, StopReason};
///
/// /// Retries 503s only, twice, one second apart, whatever the server says.
/// #[derive(Clone)]
/// struct TwiceOnUnavailable;
///
/// impl Policy for TwiceOnUnavailable {
///     fn decide(&self, context: &RetryContext<'_>) -> Decision {
///         if context.kind() != ErrorKind::Unavailable {
///             Decision::stop(StopReason::NotRetryable)
///         } else if context.attempts() >= 3 {
///             Decision::stop(StopReason::MaxAttempts)
///         } else {
///             Decision::retry_after(Duration::from_secs(1))
///         }
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let sent = Arc::new(AtomicU32::new(0));
/// let counter = sent.clone();
/// let upstream = service_fn(move |_req: Request<ReplayBody<Full<Bytes>>>| {
///     counter.fetch_add(1, Ordering::SeqCst);
///     async { Ok::<_, std::convert::Infallible>(Response::builder().status(503).body(Full::new(Bytes::new())).unwrap()) }
/// });
/// let client = ServiceBuilder::new()
///     .layer(RetryLayer::new(TwiceOnUnavailable))
///     .layer(ErrorBodyParseLayer::new())
///     .service(upstream);
/// let started = tokio::time::Instant::now();
/// let error = client.oneshot(Request::new(Full::new(Bytes::new()))).await.unwrap_err();
/// assert_eq!(sent.load(Ordering::SeqCst), 3);
/// assert_eq!(started.elapsed(), Duration::from_secs(2));
/// assert_eq!(error.retries().stopped(), Some(StopReason::MaxAttempts));
/// # }
/// ```
pub trait Policy: Send + Sync + 'static {
    /// Whether, and after how long, the failed attempt `context` describes
    /// is retried.
    fn decide(&self, context: &RetryContext<'_>) -> Decision;

    /// The verdict on a response that carries no
    /// [`Classification`] stamp (a raw client below, or a response a parse
    /// layer below passed up as a success). Default: the
    /// [`DefaultClassifier`].
    fn classify(&self, status: StatusCode, headers: &HeaderMap) -> Classification {
        DefaultClassifier::new().classify(status, headers)
    }

    /// A new call starts (a budget counts it here). Default: nothing.
    fn call_started(&self) {}

    /// A retry's wait is about to start. Default: nothing.
    fn retrying(&self, event: &RetryEvent<'_>) {
        let _ = event;
    }

    /// The bound on the whole call (attempts and waits); `None` for none.
    /// Default: [`DEFAULT_DEADLINE`].
    fn deadline(&self) -> Option<Duration> {
        Some(DEFAULT_DEADLINE)
    }

    /// The most request-body bytes kept for replay. Default:
    /// [`DEFAULT_MAX_REPLAY`](crate::context::DEFAULT_MAX_REPLAY).
    fn max_replay_bytes(&self) -> usize {
        DEFAULT_MAX_REPLAY
    }

    /// This policy for one request that carries a [`RetryOverride`], or
    /// `None` to ignore it (the default).
    fn with_override(&self, with: &RetryOverride) -> Option<Self>
    where
        Self: Sized,
    {
        let _ = with;
        None
    }

    /// Where the retry layer reports the calls and attempts under this
    /// policy. Default: an [`Observer`] that reports to tracing only
    /// (feature `tracing`).
    fn observer(&self) -> &Observer {
        static TRACING_ONLY: OnceLock<Observer> = OnceLock::new();
        TRACING_ONLY.get_or_init(Observer::new)
    }
}

/// What a [`Policy`] decided for a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// Send again after `delay`.
    Retry {
        /// The wait before the next attempt.
        delay: Duration,
        /// The server hint the delay came from ([`HintSource::Cooldown`]:
        /// a breaker's own break), `None` for a backoff.
        hint: Option<HintSource>,
    },
    /// Give up: the caller gets the failure, with the reason in its
    /// [`RetryReport`](crate::RetryReport).
    Stop(StopReason),
}

impl Decision {
    /// Retry after `delay` (a backoff of the policy's own).
    pub fn retry_after(delay: Duration) -> Self {
        Decision::Retry { delay, hint: None }
    }

    /// Give up, for `reason`.
    pub fn stop(reason: StopReason) -> Self {
        Decision::Stop(reason)
    }
}

type RetryIf = dyn Fn(&RetryContext<'_>) -> Option<bool> + Send + Sync;
type OnRetry = dyn Fn(&RetryEvent<'_>) + Send + Sync;
type SharedClassifier = dyn Classify + Send + Sync;

/// What is retried, when, and how often. Built with by-value setters;
/// every setting is checked when set, never at request time.
///
/// # Defaults, and why
///
/// | setting | default | why |
/// |---|---|---|
/// | [`max_attempts`](Self::max_attempts) | 3 | the vendors' pages all say "a few"; a third attempt rides out most blips without tripling an outage's load |
/// | [`backoff`](Self::backoff) | 500 ms, ×2, capped at 20 s, full jitter | spreads clients that failed together |
/// | [`max_retry_after`](Self::max_retry_after) | 120 s | longer waits are the caller's call (a daily quota) |
/// | [`budget`](Self::budget) | 20 % of recent requests + 1 retry/s, over 10 s | bounds the extra load on a failing upstream |
/// | [`deadline`](Self::deadline) | 150 s for everything: attempts, failure-body reads, every wait | a request that nothing answers must end; see [the bounds](crate::retry#what-bounds-a-request-in-time) |
/// | [`retry_non_idempotent`](Self::retry_non_idempotent) | false | a POST may have been done once already |
/// | [`max_replay_bytes`](Self::max_replay_bytes) | 64 KiB | bodies are kept for replay up to this |
///
/// # Clone
/// Cheap, and clones share the budget: that is the point of a budget.
#[derive(Clone)]
pub struct RetryPolicy {
    config: Arc<Config>,
}

#[derive(Clone, Default)]
struct Config {
    max_attempts: u32,
    /// A request's own word on its idempotency ([`RetryOverride::idempotent`]).
    idempotent: Option<bool>,
    backoff: Backoff,
    max_retry_after: Duration,
    deadline: Option<Duration>,
    budget: Option<Arc<dyn SharedBudget>>,
    retry_non_idempotent: bool,
    classifier: Option<Arc<SharedClassifier>>,
    max_replay_bytes: usize,
    retry_if: Option<Arc<RetryIf>>,
    on_retry: Option<Arc<OnRetry>>,
    observer: Observer,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            // (The rest as Config's derived default: none, false, the
            // default backoff and observer.)
            config: Arc::new(Config {
                max_attempts: 3,
                max_retry_after: crate::hints::LONGEST_WAIT,
                deadline: Some(DEFAULT_DEADLINE),
                // 20 % of the requests of the last 10 s, plus 1 retry a
                // second (lock-free, no clock read per request).
                budget: Some(Arc::new(RetryBudget::default())),
                max_replay_bytes: DEFAULT_MAX_REPLAY,
                ..Config::default()
            }),
        }
    }
}

/// The default total time of one logical request: one honoured hint of the
/// longest default length (`max_retry_after`, 120 s) plus 30 s for the
/// attempts around it.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(150);

debug_fields!([] RetryPolicy (&self) {
    max_attempts: self.config.max_attempts,
    backoff: self.config.backoff,
    max_retry_after: self.config.max_retry_after,
    deadline: self.config.deadline,
    budget: self.config.budget.is_some(),
    retry_non_idempotent: self.config.retry_non_idempotent,
    max_replay_bytes: self.config.max_replay_bytes,
    retry_if: self.config.retry_if.is_some(),
    on_retry: self.config.on_retry.is_some(),
    classifier: self.config.classifier.is_some(),
    metrics: self.config.observer.has_metrics(),
});

impl RetryPolicy {
    /// The default policy (see the table above). Each call makes a new
    /// budget; clone a policy to share one.
    pub fn new() -> Self {
        RetryPolicy::default()
    }

    config_setters! {
        config;

        /// Total attempts, the first included: 1 turns retries off. With
        /// retries on, an attempt a [circuit breaker](crate::breaker) below
        /// refused was never sent and is not counted (nor drawn from the
        /// budget): the deadline bounds the waits for it.
        ///
        /// # Panics
        /// When `attempts` is zero: a request is always attempted once.
        pub fn max_attempts(attempts: u32) |c| {
            assert!(attempts >= 1, "max_attempts must be at least 1");
            c.max_attempts = attempts;
        };

        /// The backoff used when the server gives no hint.
        pub fn backoff(backoff: Backoff) |c| c.backoff = backoff;

        /// The longest server hint that is waited out. A longer one is not
        /// slept on: the caller gets the error at once, hint included, and
        /// decides (a daily quota is not worth holding a request for).
        pub fn max_retry_after(max: Duration) |c| c.max_retry_after = max;

        /// The total time for all attempts and waits. A wait that would end
        /// past it is not started, and an attempt still running when it passes
        /// is cut short with a transport error. With feature `grpc`, a gRPC
        /// call's own `grpc-timeout` bounds it too, when sooner.
        ///
        /// # Panics
        /// When `deadline` is zero.
        pub fn deadline(deadline: Duration) |c| {
            assert!(!deadline.is_zero(), "deadline must be longer than zero");
            c.deadline = Some(deadline);
        };

        /// Turns the deadline off: a request may then take as long as its
        /// attempts and waits take. An explicit choice, for streaming or
        /// long-polling calls whose length the caller bounds itself.
        pub fn no_deadline() |c| c.deadline = None;

        /// Replaces the retry budget: a [`RetryBudget`](super::RetryBudget) with
        /// other numbers, tower's [`TpsBudget`](super::TpsBudget), or any
        /// `tower::retry::budget::Budget` of yours. Every clone of the policy,
        /// and so every clone of the service, draws from it.
        pub fn budget(budget: impl Budget + Send + Sync + 'static) |c| c.budget = Some(Arc::new(budget));

        /// Turns the budget off: retries are limited by `max_attempts` only.
        pub fn no_budget() |c| c.budget = None;

        /// Whether requests that are not idempotent (POST, PATCH without an
        /// `Idempotency-Key`) may be retried after reaching the server.
        /// Connect failures are retried regardless: such a request never left
        /// (unless no resend heals them: a certificate or URL-scheme failure);
        /// so is a 408, a request the server did not receive whole (RFC 9110
        /// §15.5.9; OkHttp and browsers repeat it for any method).
        pub fn retry_non_idempotent(retry: bool) |c| c.retry_non_idempotent = retry;

        /// The classifier for responses that carry no
        /// [`Classification`] stamp (default: the [`DefaultClassifier`]). Give
        /// it the parse layer's classifier when that one calls some failure
        /// statuses successes, so that the two layers agree
        /// ([`ApiErrorsLayer`](crate::ApiErrorsLayer) does).
        pub fn classifier(classifier: impl Classify + Send + Sync + 'static) |c| {
            c.classifier = Some(Arc::new(classifier));
        };

        /// The most request-body bytes kept for replay. A request whose body
        /// outgrows it is not retried ([`StopReason::BodyNotReplayable`]).
        pub fn max_replay_bytes(bytes: usize) |c| c.max_replay_bytes = bytes;

        /// Records OpenTelemetry metrics of every call and attempt into
        /// `metrics` (see [the table](crate::metrics#the-metrics)). Without
        /// it, nothing is recorded and nothing is paid.
        #[cfg(feature = "opentelemetry")]
        pub fn metrics(metrics: crate::metrics::Metrics) |c| c.observer = metrics.into();

        /// A closure that can force (`Some(true)`) or forbid (`Some(false)`) a
        /// retry, or leave the decision to the policy (`None`). Forcing skips
        /// the retryable verdict and the idempotency rule; attempts, the hint
        /// cap, the deadline, the budget and body replay still apply.
        pub fn retry_if<F: Fn(&RetryContext<'_>) -> Option<bool>>(f: F) |c| c.retry_if = Some(Arc::new(f));

        /// A hook called before every retry's wait, with the attempt that
        /// failed, why, and the delay chosen.
        pub fn on_retry<F: Fn(&RetryEvent<'_>)>(f: F) |c| c.on_retry = Some(Arc::new(f));
    }

    /// The budget retries draw on, for `ApiErrorsLayer`'s hedges to share.
    pub(crate) fn shared_budget(&self) -> Option<Arc<dyn SharedBudget>> {
        self.config.budget.clone()
    }

    /// Whether the failure may be retried at all, before the limits: the
    /// policy's verdict (or `retry_if`'s), and the idempotency rule.
    fn admits(&self, context: &RetryContext<'_>, facts: &Facts) -> Result<(), StopReason> {
        let c = &self.config;
        match c.retry_if.as_ref().and_then(|f| f(context)) {
            Some(false) => Err(StopReason::ForbiddenByPolicy),
            Some(true) => Ok(()),
            // The auth layer's promise wins over the server's "retry": a
            // rejection of its re-send was retried with a new credential
            // already (see `RetryContext::auth_rejected_again`).
            None if !facts.retryable || context.auth_rejected_again() => {
                Err(StopReason::NotRetryable)
            }
            None => {
                let idempotent = c
                    .idempotent
                    .unwrap_or_else(|| is_idempotent(context.method, context.headers.0));
                // A 408 says the server did not receive the request whole
                // (RFC 9110 §15.5.9): it cannot have acted on it.
                let safe = idempotent
                    || facts.never_sent
                    || context.status() == Some(StatusCode::REQUEST_TIMEOUT)
                    || facts.server_verdict == Some(true)
                    || c.retry_non_idempotent;
                safe.then_some(()).ok_or(StopReason::NotIdempotent)
            }
        }
    }

    /// The wait before the next attempt: the server's hint, or the
    /// backoff; a hint longer than `max_retry_after` stops.
    fn delay(&self, context: &RetryContext<'_>, facts: &Facts) -> Result<Decision, StopReason> {
        let c = &self.config;
        Ok(match facts.hint {
            Some((delay, _)) if delay > c.max_retry_after => return Err(StopReason::HintTooLong),
            // A zero wait but a pushback's is a backoff's (a vendor's whole
            // seconds truncated: at once, a 429 only earns another).
            Some((delay, source)) if !delay.is_zero() || source == HintSource::GrpcPushback => {
                Decision::Retry {
                    delay,
                    hint: Some(source),
                }
            }
            _ => {
                // Counted from the last pushback, if any (gRFC A6).
                let retry = context.state.attempts - context.state.backoff_from;
                let previous = (retry > 1).then_some(context.state.previous_delay);
                let previous = previous.unwrap_or_default();
                Decision::retry_after(c.backoff.delay(retry, previous, &mut HasherRng::default()))
            }
        })
    }

    /// The whole retry decision for a failed attempt.
    fn decision(&self, context: &RetryContext<'_>) -> Result<Decision, StopReason> {
        // An attempt of a hedged call (gRPC A6: hedging or retries, not
        // both): whichever starts its second attempt first owns the rest.
        // A hedge is never retried; the first attempt is, unless the hedge
        // layer above sent its hedge.
        let claim = match context.extensions.get::<Hedged>() {
            Some(mark) => match context.extensions.get::<Claim>() {
                Some(claim) if !mark.is_hedge() && claim.may(ClaimedBy::Retry) => Some(claim),
                _ => return Err(StopReason::MaxAttempts),
            },
            None => None,
        };
        let verdict = self.verdict(context);
        // Claimed whatever the verdict: a failure of the first attempt is
        // judged here, and a hedge sent now would be the retry this policy
        // refused (`retry_if`, a re-send the auth layer saw rejected again,
        // `max_attempts`). (Lost only to a hedge sent since the check
        // above.)
        let owned = claim.is_none_or(|claim| claim.take(ClaimedBy::Retry));
        match verdict {
            Ok(Decision::Retry { .. }) if !owned => Err(StopReason::MaxAttempts),
            verdict => verdict,
        }
    }

    /// The retry decision for a failed attempt, once a hedged call's
    /// claim allows one.
    fn verdict(&self, context: &RetryContext<'_>) -> Result<Decision, StopReason> {
        let c = &self.config;
        let facts = context.outcome.facts();
        // A quota refusal is a wait longer than the caller may wait, never
        // sent: retrying it would only be refused again.
        if facts.refused {
            return Err(StopReason::HintTooLong);
        }
        self.admits(context, &facts)?;
        // (The layer never sends such a body again, whatever a policy
        // says: stopped here, before the budget is drawn for it.)
        if !context.state.body_replayable {
            return Err(StopReason::BodyNotReplayable);
        }
        // `max_attempts` counts sends: a breaker's refusals sent nothing,
        // so a policy that retries at all waits them out without using
        // an attempt up (the deadline bounds those waits), nor, below,
        // the budget.
        let withheld = matches!(context.outcome, Outcome::Error(Error::CircuitOpen(_)));
        let sends = context.state.attempts - context.state.refusals - u32::from(withheld);
        if sends >= c.max_attempts || c.max_attempts == 1 {
            return Err(StopReason::MaxAttempts);
        }
        let decision = self.delay(context, &facts)?;
        let Decision::Retry { delay, hint } = decision else {
            return Ok(decision);
        };
        if !wait_fits(context.state.elapsed, delay, c.deadline) {
            return Err(StopReason::Deadline);
        }
        // A rate limit waited out as the server paced it is not extra
        // load on a failing upstream: it draws nothing from the budget.
        // Nor does one it said to retry at once under a quota it
        // announced (a vendor truncating its window's last second: a
        // quota layer learns the wait from those headers); a bare zero
        // wait paces nothing, so its backoff is ours and the budget
        // decides. Nor does a breaker's refusal, which sent nothing: a
        // herd refused while a probe is out would otherwise empty the
        // budget the recovery needs.
        let paced = context.kind() == ErrorKind::RateLimited
            && (hint.is_some() || facts.hint.is_some() && context.outcome.announces_quota());
        let withdrawn =
            paced || withheld || c.budget.as_ref().is_none_or(|budget| budget.withdraw());
        withdrawn.then_some(()).ok_or(StopReason::BudgetExhausted)?;
        Ok(decision)
    }
}

impl Policy for RetryPolicy {
    fn decide(&self, context: &RetryContext<'_>) -> Decision {
        self.decision(context).unwrap_or_else(Decision::Stop)
    }

    fn classify(&self, status: StatusCode, headers: &HeaderMap) -> Classification {
        match &self.config.classifier {
            Some(classifier) => classifier.classify(status, headers),
            None => DefaultClassifier::new().classify(status, headers),
        }
    }

    /// Records the new call in the budget.
    fn call_started(&self) {
        if let Some(budget) = &self.config.budget {
            budget.deposit();
        }
    }

    fn retrying(&self, event: &RetryEvent<'_>) {
        if let Some(hook) = &self.config.on_retry {
            hook(event);
        }
    }

    field_getters! {
        fn deadline -> Option<Duration> { config.deadline }
        fn max_replay_bytes -> usize { config.max_replay_bytes }
        fn observer -> &Observer { &config.observer }
    }

    /// This policy with a request's [`RetryOverride`] applied (a copy of
    /// the settings; the budget and hooks stay shared).
    fn with_override(&self, with: &RetryOverride) -> Option<Self> {
        let mut policy = self.clone();
        let c = Arc::make_mut(&mut policy.config);
        c.max_attempts = with.max_attempts.unwrap_or(c.max_attempts);
        c.deadline = with.deadline.unwrap_or(c.deadline);
        c.idempotent = with.idempotent.or(c.idempotent);
        Some(policy)
    }
}

/// The state of a call when an attempt failed, beside its outcome.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AttemptState {
    pub(crate) attempts: u32,
    pub(crate) elapsed: Duration,
    pub(crate) previous_delay: Duration,
    pub(crate) backoff_from: u32,
    /// Attempts a circuit breaker refused before this one, never sent.
    pub(crate) refusals: u32,
    pub(crate) body_replayable: bool,
}

/// What a [`Policy`] (and [`RetryPolicy::retry_if`]) sees: the request,
/// the failed attempt and the state of the call.
#[derive(Debug)]
pub struct RetryContext<'a> {
    pub(super) method: &'a Method,
    // Printed redacted, the headers by name only, as errors and events
    // print them (SECURITY.md).
    pub(super) uri: RedactedUri<'a>,
    pub(super) headers: HeaderNames<'a>,
    pub(super) extensions: &'a Extensions,
    pub(super) state: AttemptState,
    pub(super) auth: Option<AuthReport>,
    pub(super) outcome: Outcome<'a>,
}

impl<'a> RetryContext<'a> {
    field_getters! {
        /// Time since the call's clock started (its first wait), for a
        /// deadline.
        pub fn elapsed -> Duration { state.elapsed }

        /// The last wait before this attempt (zero before the first retry).
        pub fn previous_delay -> Duration { state.previous_delay }

        /// Whether the request body can still be sent again in full.
        pub fn body_replayable -> bool { state.body_replayable }

        /// What the [`AuthLayer`](crate::AuthLayer) below did for this attempt,
        /// when it did more than one send: its report on the response or the
        /// error.
        pub fn auth_report -> Option<AuthReport> { auth }

        /// The request method.
        pub fn method -> &Method;

        /// The request URI.
        pub fn uri -> &Uri { uri.0 }

        /// The request headers.
        pub fn headers -> &HeaderMap { headers.0 }

        /// The request's extensions: per-request settings of your own that
        /// never go on the wire (a [`RetryOverride`] among them).
        pub fn extensions -> &Extensions;

        /// Attempts made so far, the failed one included.
        pub fn attempts -> u32 { state.attempts }

        /// The failed attempt's outcome.
        pub fn outcome -> &Outcome<'a> { &outcome }

        /// The failure's kind.
        pub fn kind -> ErrorKind { outcome.kind() }

        /// The response status, when there was a response.
        pub fn status -> Option<StatusCode> { outcome.status() }

        /// The policy's own verdict before `retry_if`: is the failure transient?
        pub fn is_retryable -> bool { outcome.facts().retryable }
    }

    /// True when the failure answers the auth layer's re-send with a
    /// renewed credential and rejects the credential again (401, or 403):
    /// sending again cannot fix it, whatever the server says, since the
    /// re-send already was the retry "with a credential" a 401 asks for.
    /// [`RetryPolicy`] never retries it (unless `retry_if` forces it).
    pub fn auth_rejected_again(&self) -> bool {
        self.auth.is_some_and(|report| report.resent())
            && matches!(self.kind(), ErrorKind::Unauthorized | ErrorKind::Forbidden)
    }
}

/// How an attempt failed.
#[non_exhaustive]
pub enum Outcome<'a> {
    /// A failure response (when no parse layer sits inside the retry layer).
    Response {
        /// The status.
        status: StatusCode,
        /// The response headers.
        headers: &'a HeaderMap,
        /// The classification (stamped below, or the default classifier's).
        classification: Classification,
    },
    /// An error: a parsed [`ApiError`](crate::ApiError) or a transport error.
    Error(&'a Error),
}

/// What the decision needs from an outcome, whatever its form (by
/// default: not retryable, no hint, no verdict, sent, not refused).
#[derive(Default)]
struct Facts {
    retryable: bool,
    hint: Option<(Duration, HintSource)>,
    server_verdict: Option<bool>,
    never_sent: bool,
    refused: bool,
}

/// The response's headers by name only: their values can carry a
/// session cookie or an echoed credential (SECURITY.md).
impl fmt::Debug for Outcome<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Response {
                status,
                headers,
                classification,
            } => f
                .debug_struct("Response")
                .field("status", status)
                .field("headers", &HeaderNames(headers))
                .field("classification", classification)
                .finish(),
            Outcome::Error(error) => f.debug_tuple("Error").field(error).finish(),
        }
    }
}

impl Outcome<'_> {
    fn facts(&self) -> Facts {
        match self {
            Outcome::Response { classification, .. } => Facts {
                retryable: classification.is_retryable(),
                hint: classification.retry_hint().map(|h| (h.delay(), h.source())),
                server_verdict: classification.failure().and_then(|f| f.server_verdict()),
                ..Facts::default()
            },
            Outcome::Error(Error::Api(api)) => Facts {
                retryable: api.is_retryable(),
                hint: api.retry_hint().map(|h| (h.delay(), h.source())),
                server_verdict: api.server_verdict(),
                ..Facts::default()
            },
            // (An attempt cut by a timeout below is retried, as reqwest's
            // own timeout was.)
            Outcome::Error(Error::Transport(transport)) => Facts {
                retryable: !transport.ends_the_call(),
                never_sent: transport.is_unprocessed(),
                ..Facts::default()
            },
            Outcome::Error(Error::RateLimited(refused)) => Facts {
                hint: Some((refused.retry_after(), HintSource::RateLimitReset)),
                never_sent: true,
                refused: true,
                ..Facts::default()
            },
            // A breaker's refusal, never sent: like a hint, waited out
            // when it fits the limits, else the caller gets it at once.
            Outcome::Error(Error::CircuitOpen(open)) => Facts {
                retryable: true,
                hint: Some((open.retry_after(), open.retry_hint().source())),
                never_sent: true,
                ..Facts::default()
            },
            // The auth layer already renewed once, or could not: sending
            // the same request again cannot fix it.
            Outcome::Error(Error::Unauthorized(_)) => Facts::default(),
        }
    }

    /// True when the answer announced its quota (a rate-limit header
    /// family's limit, remaining or reset).
    fn announces_quota(&self) -> bool {
        match self {
            Outcome::Response { headers, .. } => {
                RateLimitInfo::from_headers(headers, SystemTime::now()).is_some()
            }
            Outcome::Error(error) => error.api().is_some_and(|api| api.rate_limit().is_some()),
        }
    }

    /// The failure's kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Outcome::Response { classification, .. } => {
                classification.kind().unwrap_or(ErrorKind::Other)
            }
            Outcome::Error(error) => error.kind(),
        }
    }

    /// The response status, when there was a response.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Outcome::Response { status, .. } => Some(*status),
            Outcome::Error(error) => error.api().map(|api| api.status()),
        }
    }
}

/// What [`RetryPolicy::on_retry`] sees before each retry's wait: the
/// request (method, and URI for printing redacted) and why and how long it
/// waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryEvent<'a> {
    pub(super) method: &'a Method,
    pub(super) uri: RedactedUri<'a>,
    pub(super) attempt: u32,
    pub(super) delay: Duration,
    pub(super) kind: ErrorKind,
    pub(super) status: Option<StatusCode>,
    pub(super) hint: Option<HintSource>,
}

impl<'a> RetryEvent<'a> {
    field_getters! {
        /// The request's URI, for printing: it displays redacted (no userinfo,
        /// no credential-like query values).
        pub fn uri -> RedactedUri<'a>;

        /// The request's method.
        pub fn method -> &'a Method;

        /// The attempt that failed (1 for the first).
        pub fn attempt -> u32;

        /// The wait before the next attempt.
        pub fn delay -> Duration;

        /// Why the attempt failed.
        pub fn kind -> ErrorKind;

        /// The failed attempt's status, when there was a response.
        pub fn status -> Option<StatusCode>;

        /// Where the delay came from: a server hint, a breaker's own break
        /// ([`HintSource::Cooldown`]), or `None` for the backoff.
        pub fn hint -> Option<HintSource>;
    }
}
