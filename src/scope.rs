//! Which requests share state that outlives a request (a breaker, learned
//! latencies): the authority, optionally split by a partition of the
//! request. Floor 1: used by the layers that keep per-scope state and
//! import no layer.

use http::{Extensions, HeaderMap, Method, Request, Uri};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};

/// What a `partition` closure sees of a request (the
/// [`CircuitBreakerLayer`](crate::breaker::CircuitBreakerLayer)'s, for
/// one): method, URI, headers and extensions, borrowed.
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

    /// The view of a request's parts.
    pub(crate) fn from_parts(parts: &'a http::request::Parts) -> Self {
        ScopeRequest {
            method: &parts.method,
            uri: &parts.uri,
            headers: &parts.headers,
            extensions: &parts.extensions,
        }
    }

    /// The method.
    pub fn method(&self) -> &'a Method {
        self.method
    }

    /// The URI.
    pub fn uri(&self) -> &'a Uri {
        self.uri
    }

    /// The headers.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The extensions (a tenant a layer above put there, say).
    pub fn extensions(&self) -> &'a Extensions {
        self.extensions
    }

    /// Host and port, from the URI (never its user-info), else the `Host`
    /// header; empty when the request names neither.
    pub(crate) fn authority(&self) -> &'a [u8] {
        match self.uri.authority() {
            Some(authority) => {
                let text = authority.as_str();
                let host = text.rsplit_once('@').map_or(text, |(_, host)| host);
                host.strip_suffix(':').unwrap_or(host).as_bytes()
            }
            None => self
                .headers
                .get(http::header::HOST)
                .map_or(&[][..], |host| host.as_bytes()),
        }
    }
}

/// A per-process key maker: a scope's authority and partition digest
/// hashed with a key chosen at random for this map of scopes (the keys
/// are never shown nor shared, so no stable hash is needed).
#[derive(Debug, Clone, Default)]
pub(crate) struct Scopes {
    hasher: RandomState,
}

impl Scopes {
    /// The key of `request` with `partition` (already a digest).
    pub(crate) fn key(&self, request: &ScopeRequest<'_>, partition: Option<u64>) -> u64 {
        self.hasher.hash_one((request.authority(), partition))
    }
}

/// A partition value's digest, taken as soon as the closure returns, so
/// no state ever holds the value (an API key, say).
pub(crate) fn digest<K: Hash>(value: &K) -> u64 {
    // A fixed key: the same value gives the same digest in every map.
    std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
        .hash_one(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_the_authority_without_userinfo_and_split_by_partition() {
        let scopes = Scopes::default();
        let key = |uri: &str, partition| {
            let request = Request::get(uri).body(()).unwrap();
            scopes.key(&ScopeRequest::new(&request), partition)
        };
        let base = key("https://api.example.com/a", None);
        assert_eq!(base, key("https://u:secret@api.example.com/b?x=1", None));
        assert_eq!(base, key("https://api.example.com:/c", None));
        assert_ne!(base, key("https://api.example.com:8443/a", None));
        assert_ne!(base, key("https://api.example.com/a", Some(digest(&"k1"))));
        assert_ne!(
            key("https://api.example.com/a", Some(digest(&"k1"))),
            key("https://api.example.com/a", Some(digest(&"k2")))
        );
        let relative = Request::get("/x")
            .header("host", "api.example.com")
            .body(())
            .unwrap();
        assert_eq!(base, scopes.key(&ScopeRequest::new(&relative), None));
    }
}
