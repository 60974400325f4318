//! The credential cache a layer's services share, and the single-flight
//! load (first credential, or refresh) behind it.

use super::error::{checked, AuthFailure, Failure, SharedSource};
use super::{Credential, Renewal, TokenSource};
use crate::observe::Observer;
use http::{HeaderName, HeaderValue};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

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

/// A credential now, or a load to wait for.
pub(crate) enum Acquire {
    Ready(Current),
    Wait(Wait),
}

impl Acquire {
    /// Puts a ready credential's header value where `insert` says (the
    /// request's header slot, found once), so it is not looked up again.
    pub(crate) fn inserted(self, insert: impl FnOnce(HeaderValue)) -> Acquired {
        match self {
            Acquire::Ready(current) => {
                insert(current.header.clone());
                Acquired::Inserted(current)
            }
            Acquire::Wait(wait) => Acquired::Wait(wait),
        }
    }
}

/// An [`Acquire`] whose ready credential is in the request already.
pub(crate) enum Acquired {
    Inserted(Current),
    Wait(Wait),
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
        let secret = credential.expose_secret();
        let mut bytes = Vec::with_capacity(self.prefix.len() + secret.len());
        bytes.extend_from_slice(self.prefix.as_bytes());
        bytes.extend_from_slice(secret);
        // A credential is a valid header value, and the prefix a checked
        // token and a space: this cannot fail, but say so rather than panic.
        let mut value = HeaderValue::from_maybe_shared(bytes::Bytes::from(bytes))
            .map_err(|_| Arc::new(super::InvalidCredential) as SharedSource)?;
        value.set_sensitive(true);
        Ok(value)
    }
}

/// Shared by a layer's clones and every service it makes.
pub(crate) struct Tokens {
    source: Arc<dyn TokenSource>,
    pub(crate) format: Format,
    state: Mutex<State>,
    /// Where loads and waits are reported.
    pub(crate) observer: Observer,
}

#[derive(Default)]
struct State {
    current: Option<Installed>,
    /// The load in flight, if any: it replaces `current` (or gives the first).
    pending: Option<watch::Receiver<Option<Loaded>>>,
    /// The last generation handed out.
    generations: u64,
}

/// The current credential, with the raw secret kept to hand to `refresh`.
struct Installed {
    current: Current,
    credential: Credential,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("Tokens")
            .field("header", &self.format.header)
            .field(
                "generation",
                &state.current.as_ref().map(|c| c.current.generation),
            )
            .field("refreshing", &state.pending.is_some())
            .finish_non_exhaustive()
    }
}

impl Tokens {
    pub(crate) fn new(source: Arc<dyn TokenSource>, format: Format) -> Self {
        Tokens {
            source,
            format,
            state: Mutex::new(State::default()),
            observer: Observer::new(),
        }
    }

    /// `wait`, timed and reported as an `auth` wait of `method uri` when
    /// the observer records metrics; as it is otherwise.
    pub(crate) fn timed(&self, wait: Wait, method: &http::Method, uri: &http::Uri) -> Wait {
        if !self.times_waits() {
            return wait;
        }
        let observer = self.observer.clone();
        let (method, uri) = (method.clone(), uri.clone());
        Box::pin(async move {
            let started = tokio::time::Instant::now();
            let loaded = wait.await;
            observer.credential_waited(started.elapsed(), &method, &uri);
            loaded
        })
    }

    /// True when [`timed`](Self::timed) times waits (metrics are on).
    pub(crate) fn times_waits(&self) -> bool {
        self.observer.has_metrics()
    }

    /// The token source.
    pub(crate) fn source(&self) -> Arc<dyn TokenSource> {
        self.source.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update under the lock is a single assignment: a poisoned
        // lock still holds consistent state.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The credential for a new request: the cached one (a lock and a
    /// clone), or the first load, started or joined.
    pub(crate) fn acquire(self: &Arc<Self>) -> Acquire {
        let mut state = self.lock();
        if let Some(installed) = &state.current {
            return Acquire::Ready(installed.current.clone());
        }
        Acquire::Wait(self.join_or_start(&mut state, None))
    }

    /// A credential to replace the one of generation `rejected`, which the
    /// server refused: the current one if it is already newer (no refresh),
    /// else the refresh in flight, joined, or a new one, started.
    pub(crate) fn renew(self: &Arc<Self>, rejected: u64) -> (Acquire, Renewal) {
        let mut state = self.lock();
        let credential = match &state.current {
            Some(installed) if installed.current.generation > rejected => {
                return (
                    Acquire::Ready(installed.current.clone()),
                    Renewal::AlreadyRenewed,
                );
            }
            Some(installed) => installed.credential.clone(),
            // Unreachable (a request only sends an installed credential),
            // but a first load is the right answer anyway.
            None => {
                return (
                    Acquire::Wait(self.join_or_start(&mut state, None)),
                    Renewal::Refreshed,
                )
            }
        };
        let wait = self.join_or_start(&mut state, Some(credential));
        (Acquire::Wait(wait), Renewal::Refreshed)
    }

    /// Joins the load in flight, or starts one: `current()` without a
    /// rejected credential, `refresh(rejected)` with one.
    ///
    /// The load runs in a task of its own, so that the request that
    /// started it may be dropped without cancelling it for the others. A
    /// load in flight always replaces the current credential (it is
    /// started only when the rejected generation is the current one, and a
    /// new generation is installed only when it ends), so joining it is
    /// always right.
    fn join_or_start(self: &Arc<Self>, state: &mut State, rejected: Option<Credential>) -> Wait {
        if let Some(pending) = &state.pending {
            return wait(pending.clone());
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // Nothing to run the load on: a typed failure, not a panic.
            let reason = match rejected {
                None => AuthFailure::NoCredential,
                Some(_) => AuthFailure::RefreshFailed,
            };
            let failure = Failure {
                reason,
                source: Some(Arc::new(NoRuntime)),
            };
            return Box::pin(std::future::ready(Err(failure)));
        };
        let (sender, receiver) = watch::channel(None);
        state.pending = Some(receiver.clone());
        let load = Load {
            tokens: self.clone(),
            sender: Some(sender),
            rejected,
        };
        runtime.spawn(load.run());
        wait(receiver)
    }

    /// Ends the load in flight: installs a new credential, or hands every
    /// waiter the failure; reports which.
    fn finish(&self, result: Result<Credential, Failure>, rejected: Option<&Credential>) -> Loaded {
        let loaded = self.install(result, rejected);
        let generation = loaded.as_ref().map(|current| current.generation);
        self.observer
            .credential_loaded(generation.map_err(|failure| failure.reason));
        loaded
    }

    fn install(
        &self,
        result: Result<Credential, Failure>,
        rejected: Option<&Credential>,
    ) -> Loaded {
        let mut state = self.lock();
        state.pending = None;
        let credential = match result {
            Ok(credential) if Some(&credential) == rejected => {
                return Err(Failure {
                    reason: AuthFailure::SameCredential,
                    source: None,
                });
            }
            Ok(credential) => credential,
            Err(failure) => return Err(failure),
        };
        let header = self
            .format
            .header_value(&credential)
            .map_err(|source| Failure {
                reason: AuthFailure::RefreshFailed,
                source: Some(source),
            })?;
        state.generations += 1;
        let current = Current {
            generation: state.generations,
            header,
        };
        state.current = Some(Installed {
            current: current.clone(),
            credential,
        });
        Ok(current)
    }
}

/// Waits for a load's outcome.
fn wait(mut receiver: watch::Receiver<Option<Loaded>>) -> Wait {
    Box::pin(async move {
        match receiver.wait_for(Option::is_some).await {
            Ok(loaded) => loaded
                .clone()
                .expect("wait_for returns only once the outcome is set"),
            // The load's task ended without an outcome: its drop guard
            // always sends one, so only a runtime shutting down gets here.
            Err(_) => Err(abandoned()),
        }
    })
}

fn abandoned() -> Failure {
    Failure {
        reason: AuthFailure::RefreshFailed,
        source: Some(Arc::new(Abandoned)),
    }
}

/// A load's task, which always ends by sending an outcome.
struct Load {
    tokens: Arc<Tokens>,
    sender: Option<watch::Sender<Option<Loaded>>>,
    rejected: Option<Credential>,
}

impl Load {
    async fn run(mut self) {
        let source = self.tokens.source.clone();
        let (result, reason) = match &self.rejected {
            None => (source.current().await, AuthFailure::NoCredential),
            Some(rejected) => (source.refresh(rejected).await, AuthFailure::RefreshFailed),
        };
        let result = result.map_err(|error| Failure {
            reason,
            source: Some(checked(error, self.rejected.as_ref())),
        });
        let loaded = self.tokens.finish(result, self.rejected.as_ref());
        if let Some(sender) = self.sender.take() {
            sender.send_replace(Some(loaded));
        }
    }
}

impl Drop for Load {
    /// The source panicked, or the runtime dropped the task: clear the
    /// slot so that the next rejection starts afresh, and release the
    /// waiters with a failure.
    fn drop(&mut self) {
        if let Some(sender) = self.sender.take() {
            let loaded = self.tokens.finish(Err(abandoned()), None);
            sender.send_replace(Some(loaded));
        }
    }
}

/// A load's task ended without an answer (the token source panicked).
#[derive(Debug)]
struct Abandoned;

impl std::fmt::Display for Abandoned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the token source ended without an answer")
    }
}

impl std::error::Error for Abandoned {}

/// The auth layer was called outside a Tokio runtime.
#[derive(Debug)]
struct NoRuntime;

impl std::fmt::Display for NoRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the auth layer needs a Tokio runtime to load credentials on")
    }
}

impl std::error::Error for NoRuntime {}

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
