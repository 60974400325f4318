//! The per-call context: what several layers need about one call, recorded
//! once, and the contract by which the layers find it.
//!
//! Several of the crate's layers need the same facts about the call they
//! serve: the parse layer names a failure's request (method and redacted
//! URI, a [`RequestContext`]) and scrubs the failure body's echoes of the
//! request's credentials; the auth layer sends the request again after
//! renewing a rejected credential, so it needs a copy of it; the retry
//! layer keeps a copy for its own retries. A [`CallContext`] holds those
//! facts once: everything of the request but its body (method, URI,
//! version, headers, extensions), from which a layer rebuilds the request
//! ([`rebuild`](CallContext::rebuild), with a fresh copy of a
//! [`ReplayBody`]) or reads what it needs ([`request`](CallContext::request),
//! the credential fingerprints for echo scrubbing).
//!
//! # The contract between layers
//!
//! - **Recorded once, by the outermost of our layers that keeps a copy of
//!   the request**: the [`RetryLayer`](crate::RetryLayer) records the
//!   context of each call and *enters* it
//!   ([`enter`](CallContext::enter)) while it calls the service below, for
//!   the first attempt and every retry, as a tracing span is entered.
//! - **Found by the others**, at their own `call`, with
//!   [`CallContext::find`]: the entered context, if it
//!   [`describes`](CallContext::describes) the request as that layer
//!   receives it: same method, URI, version, headers and number of
//!   extensions. A layer in between that changed the request (set a header,
//!   rewrote the URI, added or removed an extension) breaks the match,
//!   and the layer below builds what it needs itself, so no credential
//!   added in between escapes echo scrubbing. Extensions are compared by
//!   number only (`http::Extensions` can be neither listed nor compared):
//!   one that replaces an extension's value, or swaps one type for
//!   another, is not seen, and the auth layer's re-send after a 401 then
//!   carries the extensions the retry layer recorded. Set such extensions
//!   above the retry layer or below the auth layer.
//! - **A layer used alone builds what it needs itself**: the parse layer
//!   keeps its request's method, URI and credential fingerprints; the auth
//!   layer records a context of its own for its re-send. A layer behaves
//!   the same alone and in [`ApiErrorsLayer`](crate::ApiErrorsLayer): only
//!   where its facts come from differs.
//! - The context holds a copy of the request's headers, credentials
//!   included, as the retry layer's copy always did; it never prints them
//!   (its `Debug` shows the method and redacted URI only), and it lives as
//!   long as the call.
//!
//! Nothing is signalled through the context: it is read, never written,
//! by the layers that find it. What one layer tells another about the
//! outcome travels on the response or the error, as public types
//! ([`AuthReport`](crate::auth::AuthReport), [`RetryReport`](crate::RetryReport)),
//! but for an attempt that never ends (below).
//!
//! # An attempt cut by the call's deadline
//!
//! When its call's deadline passes with an attempt in flight, the
//! [`RetryLayer`](crate::RetryLayer) drops the attempt (the call ends with
//! a transport error), marking the drop as a cut (crate-internal): a layer
//! below that sees its future dropped unanswered then knows the upstream
//! did not answer in time (the circuit breaker counts a timeout), unless a
//! layer below it held the attempt unsent (next section), where a drop by
//! the caller (its own timeout, a lost race) tells nothing. It
//! reaches the futures dropped with the attempt, while it is dropped (see
//! below for which).
//!
//! # An attempt dropped before it was sent
//!
//! A layer that holds a request before sending it (the quota layer
//! waiting for its window, the auth layer for a first credential), when
//! dropped still holding it, marks the drop as unsent (crate-internal):
//! the [`RetryLayer`](crate::RetryLayer) dropping the attempt (its caller
//! gave up, or its deadline passed) then records no HTTP request for it,
//! as for an attempt refused below. A retry layer below (a nested one)
//! that has sent nothing of its call marks its own drop so, and a failure
//! it ends with then reports 0 attempts: to the layer above, that attempt
//! was not sent either.
//!
//! Both marks are set and read on the thread that drops the attempt, while
//! it drops it: they reach every future dropped with it, through a
//! `tower::buffer::Buffer` too (its worker calls the layers below and
//! hands their future back to the caller's task, which drops it). They
//! miss a future dropped later or elsewhere, and such an attempt is
//! recorded as sent: a call a layer hands to a task of its own
//! (`tokio::spawn`, aborted when dropped), one a `Buffer`'s worker drops
//! because its caller left while it was calling below, and a request
//! still queued in a `Buffer`, which no layer of ours holds yet. (A mark
//! kept in the context would reach a spawned call only if the request
//! carried the context in its extensions, some allocations on every call,
//! and if the call's record waited for the task to drop it.)
//!
//! # A deadline over the calls a future makes
//!
//! A caller that will cut a future at a deadline of its own (the auth
//! layer, its token source's call at `refresh_timeout`) polls it within
//! that deadline (crate-internal): while it is polled, the
//! [`RetryLayer`](crate::RetryLayer)s it calls through start no wait that
//! would end past that deadline, and return the failure at once instead,
//! with its hint (a `Retry-After` the caller can still honour), as they
//! do for their own deadline. It reaches the layers polled inside that
//! future only: a call the future hands to a task of its own
//! (`tokio::spawn`) is out of its reach.
//!
//! # Example: a layer of yours that finds the context
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use std::sync::{Arc, Mutex};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use tower_api_errors::context::{CallContext, ReplayBody};
//! use tower_api_errors::{RetryLayer, RetryPolicy};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let seen = Arc::new(Mutex::new(None));
//! let record = seen.clone();
//! let upstream = service_fn(move |req: Request<ReplayBody<Full<Bytes>>>| {
//!     // The retry layer above recorded the call and entered it.
//!     let context = CallContext::current().expect("entered by the retry layer");
//!     assert!(context.describes(&req));
//!     *record.lock().unwrap() = Some(context.request().to_string());
//!     async { Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::new()))) }
//! });
//! let client = ServiceBuilder::new().layer(RetryLayer::new(RetryPolicy::default())).service(upstream);
//! let request = Request::get("https://api.example.com/v1/items?api_key=k_12345678").body(Full::new(Bytes::new())).unwrap();
//! client.oneshot(request).await.unwrap();
//! assert_eq!(seen.lock().unwrap().as_deref(), Some("GET https://api.example.com/v1/items?api_key=REDACTED"));
//! assert!(CallContext::current().is_none(), "entered only while the layer calls below");
//! # }
//! ```

pub use crate::replay::{ReplayBody, DEFAULT_MAX_REPLAY};

use crate::redact::{RequestContext, RequestSecrets};
use http::request::Parts;
use http::{Extensions, HeaderMap, HeaderName, HeaderValue, Method, Request, Uri, Version};
use pin_project_lite::pin_project;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::thread::LocalKey;
use std::time::Duration;
use tokio::time::Instant;

/// What several layers need about one call: everything of the request but
/// its body. See the [module docs](self) for the contract.
///
/// # Clone
/// Cheap: a reference count. Clones share one copy of the request.
#[derive(Clone)]
pub struct CallContext {
    recorded: Arc<Recorded>,
}

/// The copy of the request. The headers are kept as a flat list: a copy of
/// a `HeaderMap` allocates its index table and its entries, and most calls
/// never need the map; it is built from the list the first time it is
/// needed (a failure, a re-send).
struct Recorded {
    method: Method,
    uri: Uri,
    version: Version,
    headers: Vec<(HeaderName, HeaderValue)>,
    map: OnceLock<HeaderMap>,
    extensions: Extensions,
}

/// A context as entered: with the header, if any, that the layer which
/// entered it set on the request (see [`CallContext::enter_setting`]).
#[derive(Debug)]
struct Current {
    context: CallContext,
    set: Option<HeaderName>,
}

thread_local! {
    /// The context entered on this thread, while a layer calls below.
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
    /// The deadline of the future polled on this thread, while a caller
    /// polls it [`within_deadline`].
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// Set while the retry layer drops an attempt its call's deadline cut.
    static CUTTING: Cell<bool> = const { Cell::new(false) };
    /// Set by a layer dropped holding a request it never sent.
    static UNSENT: Cell<bool> = const { Cell::new(false) };
}

/// Marks the attempts dropped on this thread until the guard drops as cut
/// by their call's deadline (see [the module docs](self#an-attempt-cut-by-the-calls-deadline)):
/// held while the retry layer drops an attempt in flight that its call's
/// deadline cut.
pub(crate) fn cutting() -> impl Drop {
    Setting::new(&CUTTING, true)
}

/// Marks the attempt being dropped on this thread as never sent (see [the
/// module docs](self#an-attempt-dropped-before-it-was-sent)): a layer
/// dropped holding a request calls it.
pub(crate) fn dropped_unsent() {
    UNSENT.set(true);
}

/// Drops an attempt with `drop`: true when a layer below marked it as
/// never sent.
pub(crate) fn unsent_when(drop: impl FnOnce()) -> bool {
    let _unmarked = Setting::new(&UNSENT, false);
    drop();
    UNSENT.get()
}

/// A thread-local set to a value until the guard drops, then put back as
/// it was (a panic included).
struct Setting<T: Copy + 'static>(&'static LocalKey<Cell<T>>, T);

impl<T: Copy> Setting<T> {
    fn new(key: &'static LocalKey<Cell<T>>, value: T) -> Self {
        Setting(key, key.replace(value))
    }
}

impl<T: Copy> Drop for Setting<T> {
    fn drop(&mut self) {
        self.0.set(self.1);
    }
}

/// True while an attempt the call's deadline cut is being dropped: what a
/// layer below, dropped unanswered, tells from a caller's cancellation;
/// false once a layer further below marked it never sent (dropped first,
/// as it is inside): held, the upstream was never asked, so it did not
/// fail to answer in time.
pub(crate) fn cut_by_deadline() -> bool {
    CUTTING.get() && !UNSENT.get()
}

pin_project! {
    /// The future of [`within_deadline`].
    pub(crate) struct WithinDeadline<F> {
        #[pin]
        future: F,
        deadline: Option<Instant>,
    }
}

/// `future`, polled with `deadline` (none: no bound) as the deadline of
/// the calls it makes (see [the module docs](self#a-deadline-over-the-calls-a-future-makes));
/// within an outer deadline, the earlier of the two.
pub(crate) fn within_deadline<F>(deadline: Option<Instant>, future: F) -> WithinDeadline<F> {
    WithinDeadline { future, deadline }
}

impl<F: Future> Future for WithinDeadline<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let outer = DEADLINE.get();
        let deadline = [outer, *this.deadline].into_iter().flatten().min();
        let _deadline = Setting::new(&DEADLINE, deadline);
        this.future.poll(cx)
    }
}

/// tokio's timer resolution: a wait that ends within it of a deadline
/// fires with the deadline, which wins (the retry layer's own deadline and
/// one a caller polls within alike).
pub(crate) const TIMER_RESOLUTION: Duration = Duration::from_millis(1);

/// True unless a wait of `delay` started now would end past the deadline
/// of the future being polled ([`within_deadline`]), or within the timer's
/// resolution (1 ms) of it: the caller cuts the future then, and the wait
/// would only lose the failure it follows.
pub(crate) fn wait_fits_deadline(delay: Duration) -> bool {
    DEADLINE.get().is_none_or(|deadline| {
        let end = Instant::now().checked_add(delay.saturating_add(TIMER_RESOLUTION));
        end.is_some_and(|end| end <= deadline)
    })
}

impl CallContext {
    /// Records the context of `request`: a copy of everything but its body
    /// (the header values are shared, not copied).
    pub fn record<B>(request: &Request<B>) -> CallContext {
        CallContext::new(
            request.method(),
            request.uri(),
            request.version(),
            request.headers(),
            request.extensions(),
        )
    }

    /// Records the context of a request from its parts.
    pub(crate) fn of_parts(parts: &Parts) -> CallContext {
        CallContext::new(
            &parts.method,
            &parts.uri,
            parts.version,
            &parts.headers,
            &parts.extensions,
        )
    }

    fn new(
        method: &Method,
        uri: &Uri,
        version: Version,
        headers: &HeaderMap,
        extensions: &Extensions,
    ) -> CallContext {
        let mut list = Vec::with_capacity(headers.len());
        list.extend(headers.iter().map(|(n, v)| (n.clone(), v.clone())));
        CallContext {
            recorded: Arc::new(Recorded {
                method: method.clone(),
                uri: uri.clone(),
                version,
                headers: list,
                map: OnceLock::new(),
                extensions: extensions.clone(),
            }),
        }
    }

    /// The context entered on this thread, if a layer above is calling
    /// below with one entered (see [`enter`](Self::enter)).
    pub fn current() -> Option<CallContext> {
        CURRENT.with(|current| current.borrow().as_ref().map(|e| e.context.clone()))
    }

    /// True while a layer above is calling below with a context entered:
    /// [`current`](Self::current) without the reference it hands out.
    pub fn is_entered() -> bool {
        CURRENT.with(|current| current.borrow().is_some())
    }

    /// The [`current`](Self::current) context if it
    /// [`describes`](Self::describes) `request`: what a layer below looks
    /// for at its `call`.
    pub fn find<B>(request: &Request<B>) -> Option<CallContext> {
        CallContext::find_setting(request).map(|(context, _)| context)
    }

    /// [`find`](Self::find), with the value `request` carries of the
    /// header the layer which entered the context set (see
    /// [`enter_setting`](Self::enter_setting)): a credential the recorded
    /// copy does not hold, or holds an older one of, that a layer below
    /// must scrub from what it logs as well.
    pub(crate) fn find_setting<B>(
        request: &Request<B>,
    ) -> Option<(CallContext, Option<&HeaderValue>)> {
        CURRENT.with(|current| {
            let current = current.borrow();
            let entered = current.as_ref()?;
            let carried = entered.context.matches(request, entered.set.as_ref())?;
            Some((entered.context.clone(), carried))
        })
    }

    /// Makes this the [`current`](Self::current) context until the guard
    /// drops: a layer enters its context around its inner service's
    /// `call`, so that the layers below find it there. The previous one
    /// comes back when the guard drops.
    pub fn enter(&self) -> Entered {
        self.enter_as(None)
    }

    /// [`enter`](Self::enter)s this context as a layer that set `header`
    /// on the request before calling below (the auth layer, its
    /// credential): a layer below [`find`](Self::find)s it although the
    /// request it receives carries that header, which the recorded copy
    /// does not show (or shows with another value: the credential a layer
    /// used alone recorded is its first, not a renewed one). The layer that
    /// set it scrubs the echoes of its value from what it returns; the
    /// crate's layers below scrub them too, from what they log before.
    pub fn enter_setting(&self, header: &HeaderName) -> Entered {
        self.enter_as(Some(header.clone()))
    }

    fn enter_as(&self, set: Option<HeaderName>) -> Entered {
        let entered = Current {
            context: self.clone(),
            set,
        };
        let previous = CURRENT.with(|current| current.replace(Some(entered)));
        Entered { previous }
    }

    /// True when `request` is the request this context recorded, as far as
    /// a layer below can tell: the same method, URI and version, as many
    /// extensions, and the same headers in the same order, sharing their
    /// storage with the recorded copy (a header set or replaced in between,
    /// even to an equal value, a URI rewritten, the version changed or an
    /// extension added, does not match; an extension replaced by one of its
    /// type is not seen). A layer uses a context only
    /// when it describes the request: [`find`](Self::find) checks it,
    /// leaving out the header that the layer which entered the context
    /// set (see [`enter_setting`](Self::enter_setting)).
    pub fn describes<B>(&self, request: &Request<B>) -> bool {
        self.matches(request, None).is_some()
    }

    /// [`describes`](Self::describes), with the header `set` left out on
    /// both sides: `None` if not, else the request's value of `set` (met
    /// on the way, so never looked up).
    fn matches<'r, B>(
        &self,
        request: &'r Request<B>,
        set: Option<&HeaderName>,
    ) -> Option<Option<&'r HeaderValue>> {
        let recorded = &*self.recorded;
        let same = recorded.version == request.version()
            && recorded.extensions.len() == request.extensions().len();
        if !same || recorded.method != request.method() || !same_uri(&recorded.uri, request.uri()) {
            return None;
        }
        let unset = |name: &HeaderName| set != Some(name);
        let mut kept = recorded.headers.iter().filter(|(name, _)| unset(name));
        let mut carried = None;
        for (name, value) in request.headers() {
            if !unset(name) {
                carried = Some(value);
                continue;
            }
            let next = kept.next();
            if !next.is_some_and(|(n, v)| name == n && same_storage(value, v)) {
                return None;
            }
        }
        kept.next().is_none().then_some(carried)
    }

    field_getters! {
        /// The request method.
        pub fn method -> &Method { &recorded.method }

        /// The request URI (print it redacted: [`request`](Self::request) or
        /// [`RedactedUri`](crate::redact::RedactedUri)).
        pub fn uri -> &Uri { &recorded.uri }

        /// The request extensions.
        pub fn extensions -> &Extensions { &recorded.extensions }
    }

    /// The request headers, credentials included: never print them.
    pub fn headers(&self) -> &HeaderMap {
        let headers = &self.recorded.headers;
        self.recorded
            .map
            .get_or_init(|| headers.iter().cloned().collect())
    }

    /// The request's first value of header `name`, read from the recorded
    /// copy (no header map built).
    #[cfg(feature = "grpc")]
    pub(crate) fn header(&self, name: &str) -> Option<&HeaderValue> {
        let mut headers = self.recorded.headers.iter();
        headers.find_map(|(found, value)| (found == name).then_some(value))
    }

    /// The request as telemetry reads it: method, URI and headers (their
    /// `Host` names the server of an origin-form URI).
    pub(crate) fn sent(&self) -> (&Method, &Uri, &HeaderMap) {
        (&self.recorded.method, &self.recorded.uri, self.headers())
    }

    /// The request as errors name it: method and redacted URI.
    pub fn request(&self) -> RequestContext {
        RequestContext::new(self.recorded.method.clone(), self.recorded.uri.clone())
    }

    /// The request again, with `body` (a [`ReplayBody::replay`] copy, or a
    /// clone of a `Clone` body): the replay handle a layer that sends the
    /// request again uses, instead of a copy of its own.
    pub fn rebuild<B>(&self, body: B) -> Request<B> {
        let recorded = &*self.recorded;
        let mut request = Request::new(body);
        *request.method_mut() = recorded.method.clone();
        *request.uri_mut() = recorded.uri.clone();
        *request.version_mut() = recorded.version;
        *request.headers_mut() = self.headers().clone();
        *request.extensions_mut() = recorded.extensions.clone();
        request
    }

    /// Fingerprints of the request's credentials, for scrubbing their
    /// echoes from a failure body.
    pub(crate) fn secrets(&self) -> RequestSecrets {
        RequestSecrets::of(self.headers())
    }
}

/// Two URIs that share their storage (one is a clone of the other, or
/// built from its parts): the same scheme, and authority and path that
/// point to the same text.
pub(crate) fn same_uri(a: &Uri, b: &Uri) -> bool {
    let at = |part: Option<&str>| part.map(|text| (text.as_ptr(), text.len()));
    a.scheme() == b.scheme()
        && at(a.authority().map(|x| x.as_str())) == at(b.authority().map(|x| x.as_str()))
        && at(a.path_and_query().map(|x| x.as_str())) == at(b.path_and_query().map(|x| x.as_str()))
}

/// Two header values that share their storage (one is a clone of the other).
fn same_storage(a: &HeaderValue, b: &HeaderValue) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && std::ptr::eq(a.as_ptr(), b.as_ptr())
}

debug_fields!([] CallContext (&self) {
    request: self.request(),
    ..
});

/// The guard of [`CallContext::enter`]: the previous context comes back
/// when it drops.
#[must_use = "the context is current only while the guard lives"]
#[derive(Debug)]
pub struct Entered {
    previous: Option<Current>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        CURRENT.with(|current| *current.borrow_mut() = self.previous.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Request<()> {
        Request::get("https://api.example.com/v1/items?page=2")
            .header("accept", "application/json")
            .header("authorization", "Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc")
            .body(())
            .unwrap()
    }

    #[test]
    fn describes_the_request_it_recorded_and_nothing_else() {
        let request = request();
        let context = CallContext::record(&request);
        assert!(context.describes(&request));
        let mut changed = request.clone();
        changed.headers_mut().insert(
            "authorization",
            HeaderValue::from_static("Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc"),
        );
        assert!(
            !context.describes(&changed),
            "an equal value set in between"
        );
        let mut added = request.clone();
        added
            .headers_mut()
            .insert("x-api-key", HeaderValue::from_static("k_1234567"));
        assert!(!context.describes(&added));
        let mut moved = request.clone();
        *moved.uri_mut() = Uri::from_static("https://api.example.com/v2/items");
        assert!(!context.describes(&moved));
    }

    #[test]
    fn a_header_set_in_between_is_left_out_when_declared() {
        let mut request = request();
        request.headers_mut().remove("authorization");
        let context = CallContext::record(&request);
        let mut authed = request.clone();
        authed.headers_mut().insert(
            "authorization",
            HeaderValue::from_static("Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc"),
        );
        assert!(!context.describes(&authed));
        {
            let _plain = context.enter();
            assert!(CallContext::find(&authed).is_none(), "not declared");
        }
        let _setting = context.enter_setting(&http::header::AUTHORIZATION);
        assert!(CallContext::find(&authed).is_some());
        assert!(CallContext::find(&request).is_some());
        authed
            .headers_mut()
            .insert("x-api-key", HeaderValue::from_static("k_1234567"));
        assert!(
            CallContext::find(&authed).is_none(),
            "another header set in between"
        );
    }

    #[test]
    fn entered_while_the_guard_lives_and_nested_as_a_stack() {
        let outer = CallContext::record(&request());
        let inner = CallContext::record(&Request::post("/x").body(()).unwrap());
        assert!(CallContext::current().is_none());
        assert!(!CallContext::is_entered());
        {
            let _outer = outer.enter();
            assert!(CallContext::is_entered());
            assert_eq!(CallContext::current().unwrap().method(), Method::GET);
            {
                let _inner = inner.enter();
                assert_eq!(CallContext::current().unwrap().method(), Method::POST);
            }
            assert_eq!(CallContext::current().unwrap().method(), Method::GET);
        }
        assert!(CallContext::current().is_none());
    }

    #[test]
    fn rebuilds_the_request_and_never_prints_a_credential() {
        let context = CallContext::record(&request());
        let again = context.rebuild("body");
        assert_eq!(again.uri(), "https://api.example.com/v1/items?page=2");
        assert_eq!(again.headers().len(), 2);
        assert_eq!(*again.body(), "body");
        assert!(!format!("{context:?}").contains("sk_test"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_fits_the_deadline_it_is_polled_within_the_earlier_of_two() {
        let second = Duration::from_secs(1);
        assert!(wait_fits_deadline(Duration::from_secs(1 << 40)), "none");
        let at = |secs| Some(Instant::now() + secs * second);
        let (outer, inner) = within_deadline(at(10), async {
            let inner = within_deadline(at(5), async {
                (
                    wait_fits_deadline(4 * second),
                    wait_fits_deadline(5 * second),
                )
            })
            .await;
            let outer = (
                wait_fits_deadline(9 * second),
                wait_fits_deadline(10 * second),
            );
            (outer, inner)
        })
        .await;
        assert_eq!((outer, inner), ((true, false), (true, false)));
        let wider = within_deadline(
            at(5),
            within_deadline(at(60), async { wait_fits_deadline(30 * second) }),
        );
        assert!(!wider.await, "an inner deadline does not widen the outer");
        assert!(wait_fits_deadline(Duration::from_secs(1 << 40)), "restored");
    }

    #[test]
    fn is_send_sync_clone() {
        fn check<T: Send + Sync + Clone>() {}
        check::<CallContext>();
    }
}
