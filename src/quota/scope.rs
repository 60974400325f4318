//! Scopes of the quota layer: which requests share a learned quota. The
//! view, the hash and the authority rule live in the shared scope module,
//! one home for every layer that keeps per-scope state.

pub use crate::scope::digest;
use crate::scope::ScopeRequest;

/// What the [`partition`](super::QuotaLayer::partition) and
/// [`cost`](super::QuotaLayer::cost) closures see of a request: the
/// crate's one request view, under the quota layer's name.
pub type QuotaRequest<'a> = ScopeRequest<'a>;

#[cfg(test)]
mod tests {
    use super::super::ScopeKey;
    use super::*;

    /// The quota layer's scope of a request (`crate::scope::key`).
    fn scope_of(request: &QuotaRequest<'_>, partition: Option<u64>) -> ScopeKey {
        let authority = crate::scope::authority(request.uri(), request.headers());
        ScopeKey::from_u64(crate::scope::authority_digest(authority, partition))
    }
    use crate::scope::Fnv1a;
    use http::Request;

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
