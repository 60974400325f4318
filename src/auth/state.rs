//! The credential cache a layer's services share, and the single-flight
//! load (first credential, or refresh) behind it.

use super::error::{checked, AuthFailure, Failure, SharedSource};
use super::{Credential, Renewal, TokenSource};
use crate::context::within_deadline;
use crate::error::{wait_in, Message};
use crate::hints::LONGEST_WAIT;
use crate::lock;
use crate::observe::Observer;
use http::{HeaderName, HeaderValue};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tower::util::rng::{HasherRng, Rng};

/// The credential in use, formatted once for the header it goes into.
#[derive(Clone)]
pub(crate) struct Current {
    /// Increases with each credential installed: a request remembers the
    /// one it sent, and a rejection of an older one needs no refresh.
    pub(crate) generation: u64,
    /// The formatted header value (`Bearer <secret>`), marked sensitive.
    pub(crate) header: HeaderValue,
}

/// What a load delivers to every request waiting on it.
pub(crate) type Loaded = Result<Current, Failure>;

/// A request's wait for a load in flight.
pub(crate) type Wait = Pin<Box<dyn Future<Output = Loaded> + Send>>;

/// What a refresh replaces: the credential's generation, and the
/// credential (rejected, or about to expire).
type Replaced = (u64, Credential);

/// A credential now, or a load to wait for.
pub(crate) enum Acquire {
    Ready(Current),
    Wait(Wait),
}

impl Acquire {
    /// Puts a ready credential's header value where `insert` says (the
    /// request's header slot, found once), so it is not looked up again:
    /// a `Ready` returned is in the request already.
    pub(crate) fn inserted(self, insert: impl FnOnce(HeaderValue)) -> Acquire {
        if let Acquire::Ready(current) = &self {
            insert(current.header.clone());
        }
        self
    }
}

/// How the header is written: its name and the scheme before the secret.
#[derive(Clone, Debug)]
pub(crate) struct Format {
    pub(crate) header: HeaderName,
    /// `"Bearer "` (scheme and a space), or empty for a bare secret.
    pub(crate) prefix: String,
}

impl Format {
    fn header_value(&self, credential: &Credential) -> Result<HeaderValue, SharedSource> {
        let bytes = [self.prefix.as_bytes(), credential.expose_secret()].concat();
        // A credential is a valid header value, and the prefix a checked
        // token and a space: this cannot fail, but say so rather than panic.
        let mut value = HeaderValue::from_maybe_shared(bytes::Bytes::from(bytes))
            .map_err(|_| Arc::new(super::InvalidCredential) as SharedSource)?;
        value.set_sensitive(true);
        Ok(value)
    }
}

/// How the token source's calls (loads) are bounded. One may take
/// `timeout` (default 10 s: a token endpoint that accepts and never
/// answers must not hold every request, and the single-flight slot, for
/// ever). A failed one holds off the next: the `n`-th consecutive failure
/// for one credential waits a time drawn uniformly between half and all of
/// `min(max, initial × 2^(n-1))`. The default: 1 s, then 2 s, 4 s, 8 s,
/// 16 s, then 30 s (each halved at worst by the jitter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LoadLimits {
    pub(crate) timeout: Duration,
    pub(crate) initial: Duration,
    pub(crate) max: Duration,
}

impl Default for LoadLimits {
    fn default() -> Self {
        LoadLimits {
            timeout: Duration::from_secs(10),
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
        }
    }
}

impl LoadLimits {
    /// The wait after `failures` (1 or more) consecutive failures.
    pub(crate) fn delay(&self, failures: u32) -> Duration {
        self.ceiling(failures)
            .mul_f64(0.5 + 0.5 * HasherRng::default().next_f64())
    }

    /// The longest wait after `failures` consecutive failures (the
    /// shortest is half of it).
    pub(crate) fn ceiling(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.initial.saturating_mul(1 << doublings).min(self.max)
    }
}

/// The share of a credential's remaining lifetime (at install) after which
/// it is refreshed ahead of its expiry: 4/5.
const AHEAD_SHARE: (u32, u32) = (4, 5);

/// A credential with less than this to live when installed is used until
/// rejected, not refreshed ahead: a source whose tokens look expired on
/// arrival (a JWT `exp` read on a skewed clock) would otherwise be asked
/// for a new one in a loop.
const SHORTEST_LIFETIME: Duration = Duration::from_secs(1);

/// How long after a load's deadline its waiters give up on it themselves
/// (its runtime is not driving it): past the timer's resolution, so that
/// the load's own timeout, on a driven runtime, always ends it first.
const OVERDUE_GRACE: Duration = Duration::from_millis(10);

/// Shared by a layer's clones and every service it makes.
pub(crate) struct Tokens {
    pub(crate) source: Arc<dyn TokenSource>,
    pub(crate) format: Format,
    /// How long a load may take, and a failed one holds off the next
    /// (see [`LoadLimits`]).
    pub(crate) limits: LoadLimits,
    state: Mutex<State>,
    /// Where loads and waits are reported.
    pub(crate) observer: Observer,
}

#[derive(Default)]
struct State {
    current: Option<Installed>,
    /// The load in flight, if any: it replaces `current` (or gives the first).
    pending: Option<Pending>,
    /// The last load started: each has its number, so that one declared
    /// overdue (see [`Tokens::overdue`]) cannot end its successor.
    loads: u64,
    /// The last generation handed out.
    generations: u64,
    /// The last load's failure, until a load succeeds: what a request
    /// rejected with the same credential gets while the backoff runs.
    failed: Option<Failed>,
    /// Renewed credentials the server rejected on their re-send, in a row.
    rejected_again: u32,
    /// When the streak of the last failure is over: the longest backoff
    /// step after that failure's own backoff ended (see
    /// [`Tokens::join_or_start`]).
    streak_ends: Option<Instant>,
}

/// A load in flight, as its waiters join it.
#[derive(Clone)]
struct Pending {
    receiver: watch::Receiver<Option<Loaded>>,
    /// When its timeout cuts it (none: never): each waiter is bounded by
    /// it too, on its own runtime, should the load's runtime not be
    /// driven (a current-thread runtime left idle by its caller).
    deadline: Option<Instant>,
    /// Its number ([`State::loads`]) and the generation it replaces.
    id: u64,
    generation: u64,
}

/// The current credential, with the raw secret kept to hand to `refresh`.
struct Installed {
    current: Current,
    credential: Credential,
    /// For a credential whose expiry is known: when it is refreshed ahead.
    ahead: Option<Ahead>,
}

/// When a credential of known expiry is refreshed ahead of it.
#[derive(Clone, Copy)]
struct Ahead {
    /// Once this has passed, the next request starts the refresh.
    at: Instant,
    /// The expiry: a request after it waits for the refresh rather than
    /// send a credential known to be rejected.
    expires: Instant,
}

impl Ahead {
    /// For a credential expiring at `expires`, installed now.
    fn of(expires: Option<Instant>) -> Option<Ahead> {
        let now = Instant::now();
        let left = expires?.checked_duration_since(now)?;
        if left < SHORTEST_LIFETIME {
            return None;
        }
        let (share, of) = AHEAD_SHARE;
        Some(Ahead {
            // What is left after the share (no overflow for a lifetime up
            // to the clock's end, as `left * share` would have).
            at: now + (left - left * (of - share) / of),
            expires: now + left,
        })
    }
}

/// A load's failure, and the backoff it started.
struct Failed {
    /// The generation the load was to replace (0: the first credential).
    generation: u64,
    failure: Failure,
    /// Consecutive failed loads for that generation.
    failures: u32,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = lock(&self.state);
        let generation = state.current.as_ref().map(|c| c.current.generation);
        f.debug_struct("Tokens")
            .field("header", &self.format.header)
            .field("generation", &generation)
            .field("refreshing", &state.pending.is_some())
            .field("failures", &state.failed.as_ref().map(|f| f.failures))
            .finish_non_exhaustive()
    }
}

impl Tokens {
    pub(crate) fn new(source: Arc<dyn TokenSource>, format: Format) -> Self {
        Tokens {
            source,
            format,
            limits: LoadLimits::default(),
            state: Mutex::new(State::default()),
            observer: Observer::new(),
        }
    }

    /// The credential for a new request: the cached one (a lock and a
    /// clone), or the first load, started or joined. A credential of known
    /// expiry may start its refresh ahead (see [`ahead`](Self::ahead)).
    pub(crate) fn acquire(self: &Arc<Self>) -> Acquire {
        let mut state = lock(&self.state);
        if let Some(installed) = &state.current {
            return match installed.ahead {
                None => Acquire::Ready(installed.current.clone()),
                Some(ahead) => self.ahead(&mut state, ahead),
            };
        }
        if let Some(failure) = self.backing_off(&state, 0) {
            return Acquire::Wait(failed(failure));
        }
        Acquire::Wait(self.join_or_start(&mut state, None))
    }

    /// The credential for a new request when the current one's expiry is
    /// known: it as it is before the refresh is due; then it still, while
    /// a refresh ahead (started here, single-flight) runs in its own task;
    /// once it has expired, the refresh's outcome, or the expired
    /// credential again when the refresh fails (it stays in use until the
    /// server rejects it). A failed refresh ahead is started again after
    /// its backoff, while the credential is valid as after: a token
    /// endpoint's blip at the refresh point costs nothing at the expiry,
    /// and one that is down gets a call per backoff step.
    #[cold]
    fn ahead(self: &Arc<Self>, state: &mut State, ahead: Ahead) -> Acquire {
        let Some(installed) = state.current.as_ref() else {
            unreachable!("called with a credential installed")
        };
        let now = Instant::now();
        if now < ahead.at {
            return Acquire::Ready(installed.current.clone());
        }
        let expired = now >= ahead.expires;
        let current = installed.current.clone();
        let credential = installed.credential.clone();
        if self.backing_off(state, current.generation).is_some() {
            return Acquire::Ready(current);
        }
        // Started, or joined (a request before the expiry does not wait).
        let wait = self.join_or_start(state, Some((current.generation, credential)));
        if !expired {
            // The refresh goes on in its own task.
            return Acquire::Ready(current);
        }
        Acquire::Wait(Box::pin(async move { Ok(wait.await.unwrap_or(current)) }))
    }

    /// A credential to replace the one of generation `rejected`, which the
    /// server refused: the current one if it is already newer (no refresh),
    /// else the refresh in flight, joined; or, while the last refresh's
    /// backoff runs, its failure at once (no renewal); or a new refresh,
    /// started.
    pub(crate) fn renew(self: &Arc<Self>, rejected: u64) -> (Acquire, Option<Renewal>) {
        let mut state = lock(&self.state);
        let credential = match &state.current {
            Some(installed) if installed.current.generation > rejected => {
                let ready = Acquire::Ready(installed.current.clone());
                return (ready, Some(Renewal::AlreadyRenewed));
            }
            Some(installed) => Some((installed.current.generation, installed.credential.clone())),
            // Unreachable (a request only sends an installed credential),
            // but a first load is the right answer anyway.
            None => None,
        };
        let generation = credential.as_ref().map_or(0, |(generation, _)| *generation);
        if let Some(failure) = self.backing_off(&state, generation) {
            return (Acquire::Wait(failed(failure)), None);
        }
        let wait = self.join_or_start(&mut state, credential);
        (Acquire::Wait(wait), Some(Renewal::Refreshed))
    }

    /// The last failure to load a replacement for `generation`, while its
    /// backoff runs and no load is in flight (one is joined): marked
    /// [`AuthFailure::RefreshBackingOff`] for a rejected credential, as it
    /// was for the first credential.
    fn backing_off(&self, state: &State, generation: u64) -> Option<Failure> {
        let failed = state.failed.as_ref().filter(|_| state.pending.is_none())?;
        let until = failed.failure.until;
        if failed.generation != generation || until.is_some_and(|until| Instant::now() >= until) {
            return None;
        }
        let mut failure = failed.failure.clone();
        if generation != 0 {
            failure.reason = AuthFailure::RefreshBackingOff;
        }
        Some(failure)
    }

    /// Joins the load in flight, or starts one: `current()` without a
    /// credential to replace, `refresh(credential)` with one (rejected, or
    /// about to expire).
    ///
    /// The load runs in a task of its own, so that the request that
    /// started it may be dropped without cancelling it for the others. A
    /// load in flight always replaces the current credential (it is
    /// started only for the current generation, and a new generation is
    /// installed only when it ends), so joining it is always right.
    fn join_or_start(self: &Arc<Self>, state: &mut State, replaced: Option<Replaced>) -> Wait {
        if let Some(pending) = &state.pending {
            return self.wait(pending.clone());
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // Nothing to run the load on: a typed failure, not a panic.
            return failed(no_answer(NO_RUNTIME, reason_for(replaced.is_none())));
        };
        // Started long after the last backoff ended, a load begins a new
        // streak: the credential served meanwhile (or nothing needed one).
        // An old streak would hold every request off for up to the longest
        // step after one blip; and the token source still gets at most one
        // call per longest step, as at the end of a streak.
        if state.streak_ends.is_some_and(|ends| Instant::now() >= ends) {
            (state.failed, state.rejected_again) = (None, 0);
        }
        let (sender, receiver) = watch::channel(None);
        state.loads += 1;
        let pending = Pending {
            receiver,
            deadline: Instant::now().checked_add(self.limits.timeout),
            id: state.loads,
            generation: replaced.as_ref().map_or(0, |(generation, _)| *generation),
        };
        state.pending = Some(pending.clone());
        let load = Load {
            tokens: self.clone(),
            sender: Some(sender),
            deadline: pending.deadline,
            id: pending.id,
            replaced,
        };
        runtime.spawn(load.run());
        self.wait(pending)
    }

    /// Waits for a load's outcome, at most until its deadline: the load
    /// and its timeout run on the runtime of the request that started it,
    /// and a current-thread runtime its caller left idle drives neither;
    /// this wait's timer runs on the waiter's own runtime.
    fn wait(self: &Arc<Self>, pending: Pending) -> Wait {
        let tokens = self.clone();
        Box::pin(async move {
            let mut receiver = pending.receiver.clone();
            // `None`: its runtime dropped the load (shutting down).
            let outcome = async move { receiver.wait_for(Option::is_some).await.ok()?.clone() };
            // A grace after the deadline: on a runtime that drives the
            // load, its own timeout fires first and ends it as ever.
            let deadline = pending
                .deadline
                .and_then(|at| at.checked_add(OVERDUE_GRACE));
            let outcome = match deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, outcome).await,
                None => Ok(outcome.await),
            };
            let loaded = outcome.unwrap_or_else(|elapsed| tokens.overdue(&pending, elapsed));
            if let Some(loaded) = loaded {
                return loaded;
            }
            // Dropped unanswered, not failed: the slot is free, and this
            // request goes on as if it came after (the first credential's
            // generation, 0, as a rejected one's).
            match tokens.renew(pending.generation).0 {
                Acquire::Ready(current) => Ok(current),
                Acquire::Wait(wait) => wait.await,
            }
        })
    }

    /// A waiter saw `pending` pass its deadline unanswered: unless it has
    /// ended meanwhile, it has failed as its own timeout would have failed
    /// it (tokio's `Elapsed`, the backoff started), and the slot is free
    /// for the next load, on a runtime that is driven. Should the overdue
    /// load end later, its outcome is dropped (see [`finish`](Self::finish)).
    /// `None`: it ended just now, its outcome not sent (yet, or ever).
    fn overdue(&self, pending: &Pending, elapsed: tokio::time::error::Elapsed) -> Option<Loaded> {
        let mut state = lock(&self.state);
        if state.pending.take_if(|p| p.id == pending.id).is_none() {
            drop(state);
            return pending.receiver.borrow().clone();
        }
        let failure = no_answer(elapsed, reason_for(pending.generation == 0));
        let failure = self.failed(&mut state, pending.generation, failure);
        drop(state);
        self.observer.credential_loaded(Err(failure.reason));
        Some(Err(failure))
    }

    /// Ends load `id`: installs a new credential, or records the failure
    /// (starting its backoff) and hands it to every waiter; reports which.
    /// Of a load declared overdue, drops the outcome (its failure was
    /// recorded and reported then; the slot may hold a newer load).
    fn finish(
        &self,
        id: u64,
        result: Result<Credential, Failure>,
        replaced: Option<&Replaced>,
    ) -> Loaded {
        let mut state = lock(&self.state);
        if state.pending.take_if(|pending| pending.id == id).is_none() {
            // For the waiters still on it: its failure as it is; a late
            // credential is not installed (a newer load may be running).
            let late = |_| no_answer(OVERDUE, reason_for(replaced.is_none()));
            return Err(result.map_or_else(|failure| failure, late));
        }
        let generation = replaced.map_or(0, |(generation, _)| *generation);
        let checked = result.and_then(|credential| {
            if Some(&credential) == replaced.map(|(_, rejected)| rejected) {
                return Err(Failure::new(AuthFailure::SameCredential, None));
            }
            let refused = |source| Failure::new(AuthFailure::RefreshFailed, Some(source));
            let header = self.format.header_value(&credential).map_err(refused)?;
            Ok((credential, header))
        });
        let loaded = match checked {
            Ok((credential, header)) => {
                state.generations += 1;
                let generation = state.generations;
                state.failed = None;
                let current = Current { generation, header };
                state.current = Some(Installed {
                    current: current.clone(),
                    ahead: Ahead::of(credential.expiry_instant()),
                    credential,
                });
                Ok(current)
            }
            Err(failure) => Err(self.failed(&mut state, generation, failure)),
        };
        drop(state);
        let generation = loaded.as_ref().map(|current| current.generation);
        self.observer
            .credential_loaded(generation.map_err(|failure| failure.reason));
        loaded
    }

    /// The re-send with `generation`, a renewed credential, was answered:
    /// rejected too, or not. Rejected, it counts as a failed refresh for
    /// that credential (its refresh waits the backoff, longer for each in
    /// a row), so that a source whose credentials the server refuses (a
    /// revoked client, a wrong audience) is not called once per request.
    /// Once per credential, however many re-sends it was rejected on (one
    /// refresh gave it), and only for the current one: a late answer to a
    /// re-send with an older credential says nothing of the current one,
    /// and must not replace its backoff.
    pub(crate) fn resend_answered(&self, generation: u64, rejected: bool) {
        let mut state = lock(&self.state);
        let current = state.current.as_ref().map(|c| c.current.generation);
        let counted = state.failed.as_ref().map(|failed| failed.generation);
        if !rejected {
            state.rejected_again = 0;
        } else if current == Some(generation) && counted != Some(generation) {
            state.rejected_again = state.rejected_again.saturating_add(1);
            let failure = no_answer(REJECTED_AGAIN, AuthFailure::RefreshFailed);
            self.failed(&mut state, generation, failure);
        }
    }

    /// Records `failure` of a load for `generation`, and the backoff it
    /// starts: one more consecutive failure for the same generation (or as
    /// many as renewed credentials were rejected in a row, if more), and at
    /// least until the `until` it comes with (the token endpoint's own
    /// `Retry-After`, see [`Load::run`]).
    fn failed(&self, state: &mut State, generation: u64, mut failure: Failure) -> Failure {
        let failures = match &state.failed {
            Some(last) if last.generation == generation => last.failures.saturating_add(1),
            _ => 1,
        }
        .max(state.rejected_again);
        let now = Instant::now();
        // The wait asked for, up to the longest a server's is honoured: a
        // date years ahead must not stop refreshes for good.
        let asked = failure
            .until
            .map(|until| until.saturating_duration_since(now).min(LONGEST_WAIT));
        let mut delay = self.limits.delay(failures).max(asked.unwrap_or_default());
        // A refresh ahead given its credential back (a source that caches
        // it and renews it late) is tried again by its expiry at the latest.
        let ahead = state.current.as_ref().and_then(|installed| installed.ahead);
        let same = failure.reason == AuthFailure::SameCredential;
        if let Some(ahead) = ahead.filter(|ahead| same && ahead.expires > now) {
            delay = delay.min(ahead.expires - now);
        }
        failure.until = now.checked_add(delay);
        state.streak_ends = now.checked_add(delay.saturating_add(self.limits.max));
        state.failed = Some(Failed {
            generation,
            failure: failure.clone(),
            failures,
        });
        failure
    }
}

/// A wait that ends at once with `failure`.
fn failed(failure: Failure) -> Wait {
    Box::pin(std::future::ready(Err(failure)))
}

/// A load's task, which always ends by sending an outcome.
struct Load {
    tokens: Arc<Tokens>,
    sender: Option<watch::Sender<Option<Loaded>>>,
    /// When the call is cut (none: never), as its waiters know it.
    deadline: Option<Instant>,
    /// Its number ([`State::loads`]).
    id: u64,
    /// What the load replaces: `None` for the first credential.
    replaced: Option<Replaced>,
}

impl Load {
    async fn run(mut self) {
        let source = self.tokens.source.clone();
        let call = match &self.replaced {
            None => source.current(),
            Some((_, replaced)) => source.refresh(replaced),
        };
        // A call past its time fails like any other (its error tokio's
        // `Elapsed`). Polled within that deadline: a retry layer it goes
        // through (the token endpoint's client) starts no wait the timeout
        // would cut, and hands back the failure with its `Retry-After`,
        // which the backoff then honours (see `failed`).
        let deadline = self.deadline;
        let bounded = within_deadline(deadline, call);
        let timed = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, bounded).await,
            // Beyond the clock's reach: never cut.
            None => Ok(bounded.await),
        };
        let result = timed.unwrap_or_else(|elapsed| Err(elapsed.into()));
        let replaced = self.replaced.as_ref();
        let result = result.map_err(|error| {
            // A token endpoint that said when to come back (or its
            // client's own quota or breaker, refusing the call) is not
            // asked before: read before `checked` may withhold the error.
            let until = wait_in(&*error).and_then(|wait| Instant::now().checked_add(wait));
            let source = checked(error, replaced.map(|(_, credential)| credential));
            let failure = Failure::new(reason_for(replaced.is_none()), Some(source));
            Failure { until, ..failure }
        });
        let loaded = self.tokens.finish(self.id, result, replaced);
        if let Some(sender) = self.sender.take() {
            sender.send_replace(Some(loaded));
        }
    }
}

impl Drop for Load {
    /// The source panicked: clear the slot (the failure's backoff holds off
    /// the next load) and release the waiters with a failure. Its runtime
    /// dropped the task (shutting down): the source did not fail; clear
    /// the slot, and the waiters, seeing no outcome, start the next load.
    fn drop(&mut self) {
        if let Some(sender) = self.sender.take() {
            if !std::thread::panicking() {
                let mut state = lock(&self.tokens.state);
                state.pending.take_if(|pending| pending.id == self.id);
                return;
            }
            let replaced = self.replaced.as_ref();
            let failure = no_answer(ABANDONED, reason_for(replaced.is_none()));
            sender.send_replace(Some(self.tokens.finish(self.id, Err(failure), replaced)));
        }
    }
}

// Why the layer has no credential, where the token source did not say:

/// A load's task ended without an answer (the token source panicked).
const ABANDONED: Message = Message("the token source ended without an answer");
/// The auth layer was called outside a Tokio runtime.
const NO_RUNTIME: Message = Message("the auth layer needs a Tokio runtime to load credentials on");
/// The server rejected the credentials renewed last, as it did the ones
/// they replaced.
const REJECTED_AGAIN: Message = Message("the server rejected the renewed credential too");
/// A load's waiters saw it pass its deadline (its runtime not driven) and
/// failed it; it ended later.
const OVERDUE: Message = Message("the token source answered after its timeout");

/// The failure `why` (one of the notes above, or a timeout) explains,
/// ended for `reason`.
fn no_answer(why: impl std::error::Error + Send + Sync + 'static, reason: AuthFailure) -> Failure {
    Failure::new(reason, Some(Arc::new(why) as SharedSource))
}

/// Why a load ended without a credential: the `first` credential's load
/// (nothing was rejected), or a refresh.
fn reason_for(first: bool) -> AuthFailure {
    if first {
        AuthFailure::NoCredential
    } else {
        AuthFailure::RefreshFailed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::StaticToken;

    fn tokens() -> Arc<Tokens> {
        let source = StaticToken::new(Credential::new("tok-77").unwrap());
        let format = Format {
            header: http::header::AUTHORIZATION,
            prefix: "Bearer ".to_owned(),
        };
        Arc::new(Tokens::new(Arc::new(source), format))
    }

    #[test]
    fn outside_a_runtime_a_load_fails_typed() {
        let Acquire::Wait(wait) = tokens().acquire() else {
            panic!("nothing cached yet")
        };
        let loaded = poll_once(wait);
        let failure = loaded.err().unwrap();
        assert_eq!(failure.reason, AuthFailure::NoCredential);
    }

    #[tokio::test]
    async fn formats_once_and_never_prints() {
        let tokens = tokens();
        let Acquire::Wait(wait) = tokens.acquire() else {
            panic!("nothing cached yet")
        };
        let current = wait.await.unwrap();
        assert_eq!(current.header, "Bearer tok-77");
        assert!(current.header.is_sensitive());
        assert!(!format!("{tokens:?}").contains("tok-77"));
        let Acquire::Ready(again) = tokens.acquire() else {
            panic!("cached")
        };
        assert_eq!(again.generation, current.generation);
    }

    #[test]
    fn the_backoff_grows_is_jittered_and_capped() {
        let backoff = LoadLimits::default();
        let ceilings: Vec<u64> = (1..=8).map(|n| backoff.ceiling(n).as_secs()).collect();
        assert_eq!(ceilings, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(backoff.ceiling(u32::MAX), Duration::from_secs(30));
        for failures in 1..=8 {
            let ceiling = backoff.ceiling(failures);
            let delays: Vec<Duration> = (0..50).map(|_| backoff.delay(failures)).collect();
            assert!(delays.iter().all(|d| *d >= ceiling / 2 && *d <= ceiling));
            assert!(delays.iter().any(|d| *d != delays[0]), "jittered");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_credential_is_refreshed_ahead_at_four_fifths_of_its_life() {
        let now = Instant::now();
        let ahead = Ahead::of(Some(now + Duration::from_secs(100))).unwrap();
        assert_eq!(ahead.at, now + Duration::from_secs(80));
        assert_eq!(ahead.expires, now + Duration::from_secs(100));
        assert!(Ahead::of(None).is_none());
        // Too short to refresh ahead without a loop: used until rejected.
        assert!(Ahead::of(Some(now + Duration::from_millis(999))).is_none());
        assert!(Ahead::of(Some(now)).is_none());
        // A lifetime near the clock's end: 4/5 of it, no overflow.
        let far = Duration::from_secs(1 << 62);
        let ahead = Ahead::of(Some(now + far)).unwrap();
        assert_eq!(ahead.at, now + (far - far / 5));
    }

    /// Polls a future that is ready at once.
    fn poll_once<F: Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match future.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(output) => output,
            std::task::Poll::Pending => panic!("not ready at once"),
        }
    }
}
