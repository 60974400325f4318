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
    let authority = match request.uri.authority() {
        // The authority as written is `host` or `host:port` once any
        // user-info is cut off: hashed as it stands, with no parsing of
        // host and port on every request.
        Some(authority) => host_and_port(authority.as_str()).as_bytes(),
        None => request
            .headers
            .get(http::header::HOST)
            .map_or(&[][..], |host| host.as_bytes()),
    };
    ScopeKey::from_u64(authority_digest(authority, partition))
}

/// The digest of a scope: its authority (and partition), eight bytes at a
/// time. A scope is looked up on every request, and a host hashed a byte at
/// a time (FNV-1a) cost ~150 instructions of the nothing-learned path;
/// words cost a multiply each. Not a secret-keeping hash: a partition
/// value is already a [`digest`] when it gets here.
pub(crate) fn authority_digest(authority: &[u8], partition: Option<u64>) -> u64 {
    let length = authority.len();
    let mut hash = SEED ^ length as u64;
    let mut at = 0;
    while at + 8 <= length {
        hash = mix(hash, word_at(authority, at));
        at += 8;
    }
    if at < length {
        // The last bytes: the last eight read as one word, shifted so
        // that only the unread ones remain (a loop where there are fewer
        // than eight in all).
        let word = if length >= 8 {
            word_at(authority, length - 8) >> (8 * (8 - (length - at)))
        } else {
            authority
                .iter()
                .rev()
                .fold(0, |word, byte| word << 8 | u64::from(*byte))
        };
        hash = mix(hash, word);
    }
    if let Some(partition) = partition {
        hash = mix(hash ^ 0xff, partition);
    }
    finish(hash)
}

fn word_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// Whether `bytes` hold an `@`.
fn has_at_sign(bytes: &[u8]) -> bool {
    memchr::memchr(b'@', bytes).is_some()
}

const SEED: u64 = 0xcbf2_9ce4_8422_2325;

fn mix(hash: u64, word: u64) -> u64 {
    (hash ^ word)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .rotate_left(29)
}

/// MurmurHash3's 64-bit finaliser: every input bit reaches every output
/// bit.
fn finish(mut hash: u64) -> u64 {
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

fn host_and_port(authority: &str) -> &str {
    // User-info is rare: ruled out eight bytes at a time.
    let after_userinfo = match has_at_sign(authority.as_bytes()) {
        true => authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host),
        false => authority,
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
        assert!(
            has_at_sign(b"abcdefg@ijklmnop")
                && has_at_sign(b"abcdefghijklmno@")
                && has_at_sign(b"@")
        );
        assert!(!has_at_sign(b"api.example.com:8443") && !has_at_sign(b""));
        // And the key never shows the value.
        let key = ScopeKey::new("api.example.com", Some(digest("sk-live-SECRET")));
        assert!(!format!("{key} {key:?}").contains("SECRET"));
    }
}
