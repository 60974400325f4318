//! Scopes: which requests share state that outlives a request (a learned
//! quota, a breaker, learned latencies): the authority, optionally split by
//! a partition of the request, and the one documented hash that keeps
//! partition values (API keys, tenants) out of keys, logs and errors.
//! Floor 1: used by every layer that keeps per-scope state; imports no layer.

use http::{header::HOST, Extensions, HeaderMap, HeaderValue, Method, Request, Uri};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// The one hash of scopes: 64-bit FNV-1a over `value`'s bytes.
///
/// Over explicit bytes, never a value's `Hash` output (which Rust does not
/// promise stable across its versions or 32/64-bit targets): every build,
/// Rust version and platform computes the same digest, so a fleet mid-deploy
/// agrees on scope keys. It is a digest, not a secret: it keeps
/// high-entropy values (API keys) unreadable, not low-entropy ones (a
/// tenant id could be guessed back from it; such ids are not secrets
/// either).
///
/// ```
/// use tower_api_errors::quota::digest;
/// assert_eq!(digest("sk-live-1"), digest(b"sk-live-1"));
/// assert_ne!(digest("sk-live-1"), digest("sk-live-2"));
/// // FNV-1a's published test vector: the same on every platform.
/// assert_eq!(digest("a"), 0xaf63_dc4c_8601_ec8c);
/// ```
pub fn digest<T: AsRef<[u8]> + ?Sized>(value: &T) -> u64 {
    let mut hasher = Fnv1a::default();
    hasher.write_bytes(value.as_ref());
    hasher.finish()
}

/// FNV-1a, 64 bits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    pub(crate) fn write_bytes(&mut self, bytes: &[u8]) {
        bytes.iter().for_each(|byte| self.step(*byte));
    }

    /// [`write_bytes`](Self::write_bytes) of `bytes` in ASCII lower case.
    pub(crate) fn write_lowercase(&mut self, bytes: &[u8]) {
        bytes.iter().for_each(|b| self.step(b.to_ascii_lowercase()));
    }

    /// FNV-1a's step: xor in the byte, multiply by the 64-bit prime.
    fn step(&mut self, byte: u8) {
        self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }

    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}

/// Hashes a key that is a digest already (FNV-1a above) as it is: the maps
/// keyed by scope need no second hash.
#[derive(Debug, Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
}

/// A map keyed by digests, with no second hash.
pub(crate) type DigestMap<K, V> = HashMap<K, V, BuildHasherDefault<KeyHasher>>;

/// The digest of a scope, documented so that any implementation can
/// compute it: FNV-1a 64 ([`digest`]) over the authority's bytes (`host`
/// or `host:port`, without user-info) in ASCII lower case, then, when
/// partitioned, one byte `0xff` (never part of an authority) and the
/// partition digest's eight bytes, little-endian. Lower case because a
/// host's case carries no meaning (RFC 3986 §6.2.2.1): `API.example.com`
/// and `api.example.com` are one vendor, so one scope.
pub(crate) fn authority_digest(authority: &[u8], partition: Option<u64>) -> u64 {
    let mut hasher = Fnv1a::default();
    hasher.write_lowercase(authority);
    if let Some(partition) = partition {
        hasher.write_bytes(&[0xff]);
        hasher.write_bytes(&partition.to_le_bytes());
    }
    hasher.finish()
}

/// A layer's partition: the value of a request, already a [`digest`].
pub(crate) type PartitionFn = dyn Fn(&ScopeRequest<'_>) -> Option<u64> + Send + Sync;

/// The `partition(f)` of every layer that keeps per-scope state: `f`, its
/// value hashed as soon as it returns, before anything keeps, stores or
/// logs it.
pub(crate) fn partition<F, K>(f: F) -> Arc<PartitionFn>
where
    F: Fn(&ScopeRequest<'_>) -> Option<K> + Send + Sync + 'static,
    K: AsRef<[u8]>,
{
    Arc::new(move |request| f(request).map(|value| digest(&value)))
}

/// The scope key of `request`: its authority, split by `partition` (when
/// the layer has one and it names a value for this request).
pub(crate) fn key(request: &ScopeRequest<'_>, partition: Option<&PartitionFn>) -> u64 {
    authority_digest(
        authority(request.uri, request.headers),
        partition.and_then(|f| f(request)),
    )
}

/// What a `partition` (or `cost`) closure sees of a request: method, URI,
/// headers and extensions, borrowed. The quota layer names it
/// [`QuotaRequest`](crate::quota::QuotaRequest).
#[derive(Debug, Clone, Copy)]
pub struct ScopeRequest<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    extensions: &'a Extensions,
}

impl<'a> ScopeRequest<'a> {
    /// The view of `request`.
    pub fn new<B>(request: &'a Request<B>) -> Self {
        ScopeRequest {
            method: request.method(),
            uri: request.uri(),
            headers: request.headers(),
            extensions: request.extensions(),
        }
    }

    field_getters! {
        /// The method.
        pub fn method -> &'a Method;

        /// The URI.
        pub fn uri -> &'a Uri;

        /// The headers.
        pub fn headers -> &'a HeaderMap;

        /// The extensions (a tenant a layer above put there, say).
        pub fn extensions -> &'a Extensions;
    }
}

/// The one rule of "the server a request names", for scopes, breaker
/// events and telemetry's `server.address` alike: host and port, from the
/// URI (never its user-info, nor the port its scheme implies:
/// `https://h:443/` is `https://h/`, RFC 3986 §6.2.3), else, for an
/// origin-form URI (`/path`, as hyper's `client::conn` sends), the `Host`
/// header (RFC 9110 §7.2); empty when the request names neither.
pub(crate) fn authority<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> &'a [u8] {
    // Bytes: an authority is ASCII, and a few bytes long (a char
    // pattern's search is set up for long texts).
    let text = match uri.authority() {
        Some(authority) => authority.as_str().as_bytes(),
        None => headers.get(HOST).map_or(&[][..], HeaderValue::as_bytes),
    };
    // (A `Host` has no user-info, RFC 9110 §7.2: stripped all the same.)
    let host = text.rsplit(|byte| *byte == b'@').next().unwrap_or(text);
    match split_port(host) {
        (name, port) if port.is_none_or(|port| Some(port) == default_port(uri)) => name,
        _ => host,
    }
}

/// `authority` (without user-info) split into its host and its port, if
/// it names one: after the last `:`, outside an IPv6 literal's brackets.
pub(crate) fn split_port(authority: &[u8]) -> (&[u8], Option<u16>) {
    let colon = authority.iter().rposition(|byte| *byte == b':');
    let at = colon.filter(|at| !authority[*at..].contains(&b']'));
    let port = at.and_then(|at| std::str::from_utf8(&authority[at + 1..]).ok()?.parse().ok());
    (&authority[..at.unwrap_or(authority.len())], port)
}

/// The port a URI's scheme implies (RFC 9110 §4.2.1-2, RFC 6455 §3 for
/// `ws`/`wss`).
pub(crate) fn default_port(uri: &Uri) -> Option<u16> {
    match uri.scheme_str() {
        Some("https" | "wss") => Some(443),
        Some("http" | "ws") => Some(80),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_the_authority_without_userinfo_and_split_by_partition() {
        let key_of = |uri: &str, partition| {
            let request = Request::get(uri).body(()).unwrap();
            authority_digest(authority(request.uri(), request.headers()), partition)
        };
        let base = key_of("https://api.example.com/a", None);
        assert_eq!(base, key_of("https://u:secret@api.example.com/b?x=1", None));
        assert_eq!(base, key_of("https://api.example.com:/c", None));
        assert_ne!(base, key_of("https://api.example.com:8443/a", None));
        // One vendor however its host is cased or its port implied
        // (RFC 3986 §6.2.2.1, §6.2.3); another port is another scope.
        assert_eq!(base, key_of("https://API.Example.COM/a", None));
        assert_eq!(base, key_of("https://api.example.com:443/a", None));
        assert_ne!(base, key_of("https://api.example.com:80/a", None));
        let plain = key_of("http://api.example.com/a", None);
        assert_eq!(plain, key_of("http://Api.example.com:80/a", None));
        assert_ne!(plain, key_of("http://api.example.com:8080/a", None));
        // Partition values keep their case: an API key is case-sensitive.
        assert_ne!(digest("sk-LIVE-1"), digest("sk-live-1"));
        assert_ne!(
            base,
            key_of("https://api.example.com/a", Some(digest("k1")))
        );
        assert_ne!(
            key_of("https://api.example.com/a", Some(digest("k1"))),
            key_of("https://api.example.com/a", Some(digest("k2")))
        );
        let relative = Request::get("/x")
            .header("host", "api.example.com")
            .body(())
            .unwrap();
        assert_eq!(base, key(&ScopeRequest::new(&relative), None));
        let shouted = Request::get("/x").header("host", "API.EXAMPLE.COM");
        let shouted = shouted.body(()).unwrap();
        assert_eq!(base, key(&ScopeRequest::new(&shouted), None));
        // A layer's partition: its value hashed into the documented key;
        // `None` leaves the request in its authority's scope.
        let tenant = partition(|r| r.headers().get("x-tenant").cloned());
        let tagged = Request::get("https://api.example.com/a").header("x-tenant", "k1");
        let tagged = tagged.body(()).unwrap();
        let split = key_of("https://api.example.com/a", Some(digest("k1")));
        assert_eq!(split, key(&ScopeRequest::new(&tagged), Some(&*tenant)));
        assert_eq!(base, key(&ScopeRequest::new(&relative), Some(&*tenant)));
    }
}
