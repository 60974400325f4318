//! Scopes: which requests share a learned quota, and the digest that keeps
//! partition values (API keys, tenants) out of keys, logs and errors.

use super::ScopeKey;
use http::{Extensions, HeaderMap, Method, Request, Uri};

/// The one hash of the quota layer: 64-bit FNV-1a over `value`'s bytes.
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
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    pub(crate) fn finish(&self) -> u64 {
        self.0
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
    let authority = match request.uri.authority() {
        // The authority as written is `host` or `host:port` once any
        // user-info is cut off: hashed as it stands.
        Some(authority) => host_and_port(authority.as_str()).as_bytes(),
        None => request
            .headers
            .get(http::header::HOST)
            .map_or(&[][..], |host| host.as_bytes()),
    };
    ScopeKey::from_u64(authority_digest(authority, partition))
}

/// The digest of a scope, documented so that any implementation can
/// compute it: FNV-1a 64 ([`digest`]) over the authority's bytes (`host`
/// or `host:port`, as written, without user-info), then, when partitioned,
/// one byte `0xff` (never part of an authority) and the partition digest's
/// eight bytes, little-endian.
pub(crate) fn authority_digest(authority: &[u8], partition: Option<u64>) -> u64 {
    let mut hasher = Fnv1a::default();
    hasher.write_bytes(authority);
    if let Some(partition) = partition {
        hasher.write_bytes(&[0xff]);
        hasher.write_bytes(&partition.to_le_bytes());
    }
    hasher.finish()
}

fn host_and_port(authority: &str) -> &str {
    let after_userinfo = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    after_userinfo.strip_suffix(':').unwrap_or(after_userinfo)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PINNED_SK_LIVE_1: u64 = 0xc952_6df4_6de3_cd9a;
    const PINNED_API: u64 = 0x79e1_6f3b_5f1e_daa4;
    const PINNED_LOOPBACK: u64 = 0x1cf0_caae_52b4_57cc;
    const PINNED_PARTITIONED: u64 = 0xb462_0e18_ad77_0c96;

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
    fn scope_keys_are_pinned() {
        // Computed once, independently (FNV-1a 64 over the documented
        // bytes): any build, Rust version or platform must agree.
        assert_eq!(digest(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(digest("sk-live-1"), PINNED_SK_LIVE_1);
        assert_eq!(ScopeKey::new("api.example.com", None).as_u64(), PINNED_API);
        assert_eq!(
            ScopeKey::new("127.0.0.1:8080", None).as_u64(),
            PINNED_LOOPBACK
        );
        assert_eq!(
            ScopeKey::new("api.example.com", Some(digest("sk-live-1"))).as_u64(),
            PINNED_PARTITIONED
        );
    }

    #[test]
    fn the_digest_is_stable_fnv1a() {
        // FNV-1a test vector: "a" -> 0xaf63dc4c8601ec8c.
        let mut hasher = Fnv1a::default();
        hasher.write_bytes(b"a");
        assert_eq!(hasher.finish(), 0xaf63_dc4c_8601_ec8c);
        // Scopes differ by every byte of the authority, and by partition.
        let hosts = [
            "api.example.com",
            "api.example.co",
            "api.example.con",
            "api.example.com:1",
        ];
        for (i, a) in hosts.iter().enumerate() {
            for b in &hosts[i + 1..] {
                assert_ne!(ScopeKey::new(a, None), ScopeKey::new(b, None));
            }
        }
        assert_ne!(ScopeKey::new("", None), ScopeKey::new("", Some(0)));
        // User-info is cut at its last `@`, wherever it falls in a word.
        for uri in [
            "https://u@api.example.com/",
            "https://user:secret@api.example.com/",
            "https://a@b@api.example.com/",
        ] {
            let request = Request::get(uri).body(()).unwrap();
            assert_eq!(
                scope_of(&QuotaRequest::new(&request), None),
                ScopeKey::new("api.example.com", None),
                "{uri}"
            );
        }
        // And the key never shows the value.
        let key = ScopeKey::new("api.example.com", Some(digest("sk-live-SECRET")));
        assert!(!format!("{key} {key:?}").contains("SECRET"));
    }
}
