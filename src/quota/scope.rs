//! Scopes: which requests share a learned quota, and the digest that keeps
//! partition values (API keys, tenants) out of keys, logs and errors.

use super::ScopeKey;
use http::{Extensions, HeaderMap, Method, Request, Uri};
use std::hash::{Hash, Hasher};

/// A stable 64-bit digest of `value` (FNV-1a over its `Hash` bytes).
///
/// Stable across processes and runs of the same build (unlike
/// `std`'s randomly keyed hasher), so a fleet agrees on scope keys. It
/// is a digest, not a secret: it keeps high-entropy values (API keys)
/// unreadable, not low-entropy ones (a tenant id could be guessed back
/// from it; such ids are not secrets either).
///
/// ```
/// use tower_api_errors::quota::digest;
/// assert_eq!(digest("sk-live-1"), digest("sk-live-1"));
/// assert_ne!(digest("sk-live-1"), digest("sk-live-2"));
/// ```
pub fn digest<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut hasher = Fnv1a::default();
    value.hash(&mut hasher);
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
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    pub(crate) fn finish_u64(&self) -> u64 {
        self.0
    }
}

impl Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.write_bytes(bytes);
    }
}

/// What the [`partition`](super::QuotaLayer::partition) and
/// [`cost`](super::QuotaLayer::cost) closures see of a request.
#[derive(Debug, Clone, Copy)]
pub struct QuotaRequest<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    extensions: &'a Extensions,
}

impl<'a> QuotaRequest<'a> {
    /// The view of `request`.
    pub fn new<B>(request: &'a Request<B>) -> Self {
        QuotaRequest {
            method: request.method(),
            uri: request.uri(),
            headers: request.headers(),
            extensions: request.extensions(),
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
}

/// The scope of a request: host and port (from the URI, else the `Host`
/// header; never user-info) plus the partition digest.
pub(crate) fn scope_of(request: &QuotaRequest<'_>, partition: Option<u64>) -> ScopeKey {
    let mut hasher = Fnv1a::default();
    match request.uri.authority() {
        // The authority as written is `host` or `host:port` once any
        // user-info is cut off: hashed as it stands, with no parsing of
        // host and port on every request.
        Some(authority) => hasher.write_bytes(host_and_port(authority.as_str()).as_bytes()),
        None => {
            if let Some(host) = request.headers.get(http::header::HOST) {
                hasher.write_bytes(host.as_bytes());
            }
        }
    }
    if let Some(partition) = partition {
        hasher.write_bytes(&[0xff]);
        hasher.write_bytes(&partition.to_le_bytes());
    }
    ScopeKey::from_u64(hasher.finish_u64())
}

/// `host` or `host:port` of an authority: without user-info (a credential),
/// and without the `:` of an empty port (`host:` is `host`).
fn host_and_port(authority: &str) -> &str {
    // A plain loop: `rfind` calls `memrchr`, slower on a short string.
    let after_userinfo = match authority.bytes().rposition(|b| b == b'@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    after_userinfo.strip_suffix(':').unwrap_or(after_userinfo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_ignores_userinfo_path_and_query_but_not_port_or_partition() {
        let scope = |uri: &str, partition| {
            let request = Request::get(uri).body(()).unwrap();
            scope_of(&QuotaRequest::new(&request), partition)
        };
        let base = scope("https://api.example.com/a", None);
        assert_eq!(
            base,
            scope("https://user:secret@api.example.com/b?token=x", None)
        );
        assert_ne!(base, scope("https://api.example.com:8443/a", None));
        assert_ne!(
            base,
            scope("https://api.example.com/a", Some(digest("key-1")))
        );
        assert_ne!(
            scope("https://api.example.com/a", Some(digest("key-1"))),
            scope("https://api.example.com/a", Some(digest("key-2")))
        );
        // ScopeKey::new and the Host header agree with the request form.
        assert_eq!(
            ScopeKey::new("api.example.com", Some(7)),
            scope("https://api.example.com/", Some(7))
        );
        assert_eq!(
            ScopeKey::new("127.0.0.1:8080", None),
            scope("http://127.0.0.1:8080/x", None)
        );
        assert_eq!(
            ScopeKey::new("[::1]:8080", None),
            scope("http://u:p@[::1]:8080/x", None)
        );
        assert_eq!(base, scope("https://api.example.com:/a", None));
        let relative = Request::get("/x")
            .header("host", "127.0.0.1:8080")
            .body(())
            .unwrap();
        assert_eq!(
            scope_of(&QuotaRequest::new(&relative), None),
            scope("http://127.0.0.1:8080/y", None)
        );
    }

    #[test]
    fn relative_uris_scope_by_host_header() {
        let a = Request::get("/x")
            .header("host", "a.example")
            .body(())
            .unwrap();
        let b = Request::get("/x")
            .header("host", "b.example")
            .body(())
            .unwrap();
        assert_ne!(
            scope_of(&QuotaRequest::new(&a), None),
            scope_of(&QuotaRequest::new(&b), None)
        );
    }

    #[test]
    fn the_digest_is_stable_fnv1a() {
        // FNV-1a test vector: "a" -> 0xaf63dc4c8601ec8c.
        let mut hasher = Fnv1a::default();
        hasher.write_bytes(b"a");
        assert_eq!(hasher.finish_u64(), 0xaf63_dc4c_8601_ec8c);
        // And the key never shows the value.
        let key = ScopeKey::new("api.example.com", Some(digest("sk-live-SECRET")));
        assert!(!format!("{key} {key:?}").contains("SECRET"));
    }
}
