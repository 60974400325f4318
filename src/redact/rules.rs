//! [`Redaction`]: the names and path shapes a program adds to the built-in
//! rules, installed once for the whole process.
//!
//! Why process-wide: redaction is a safety policy, not a per-layer setting.
//! An error built by one layer may be printed by another, by the caller, or
//! by a log pipeline far away; every one of them must hide the same
//! secrets. The rules are read only when something is printed, never on the
//! success path.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

/// Extra redaction rules, added to the built-in ones (which cannot be
/// turned off).
///
/// ```
/// use http::Uri;
/// use tower_api_errors::redact::{redact_uri, Redaction};
///
/// Redaction::new()
///     .secret_name("tenant_pin")
///     .segment_after("keys")
///     .install();
/// let uri: Uri = "https://api.test/v1/keys/k-123/usage?tenant_pin=42&page=2".parse().unwrap();
/// assert_eq!(
///     redact_uri(&uri),
///     "https://api.test/v1/keys/REDACTED/usage?tenant_pin=REDACTED&page=2"
/// );
/// ```
#[derive(Debug, Clone, Default)]
pub struct Redaction {
    names: Vec<String>,
    segments_after: Vec<String>,
    segment_prefixes: Vec<String>,
}

static INSTALLED: RwLock<Option<Arc<Redaction>>> = RwLock::new(None);
/// Set once rules are installed: until then, no lock is ever taken.
static ANY_INSTALLED: AtomicBool = AtomicBool::new(false);

impl Redaction {
    /// No extra rules.
    pub fn new() -> Self {
        Redaction::default()
    }

    config_setters! {
        self;

        /// A query parameter (or request header) name whose value is always
        /// redacted, matched case-insensitively and exactly.
        pub fn secret_name(name: impl Into<String>) |r| {
            r.names.push(name.into().to_ascii_lowercase())
        };

        /// Redacts the path segment that follows a segment equal to `segment`
        /// (`segment_after("keys")`: `/keys/k-123/usage` → `/keys/REDACTED/usage`).
        pub fn segment_after(segment: impl Into<String>) |r| r.segments_after.push(segment.into());

        /// Redacts the rest of any path segment that starts with `prefix`
        /// (`segment_prefix("bot")`: `/bot123:abc/getMe` → `/botREDACTED/getMe`).
        /// Telegram's `bot<id>:<token>` shape is redacted without this rule.
        pub fn segment_prefix(prefix: impl Into<String>) |r| {
            r.segment_prefixes.push(prefix.into())
        };
    }

    /// Makes these the process's extra rules, replacing any installed
    /// before. Errors already built are printed with the new rules too.
    pub fn install(self) {
        let mut installed = INSTALLED.write().unwrap_or_else(PoisonError::into_inner);
        *installed = Some(Arc::new(self));
        ANY_INSTALLED.store(true, Ordering::Release);
    }

    /// The rules installed now, if any.
    pub(crate) fn installed() -> Option<Arc<Redaction>> {
        let any = ANY_INSTALLED.load(Ordering::Acquire);
        let installed = any.then(|| INSTALLED.read().unwrap_or_else(PoisonError::into_inner))?;
        installed.clone()
    }

    /// How many bytes of `segment` stay visible: `None` keeps the whole
    /// segment; `Some(n)` redacts what follows its first `n` bytes.
    pub(crate) fn segment_rule(&self, previous: Option<&str>, segment: &str) -> Option<usize> {
        if previous.is_some_and(|previous| self.segments_after.iter().any(|s| s == previous)) {
            return Some(0);
        }
        self.segment_prefixes
            .iter()
            .find(|prefix| segment.len() > prefix.len() && segment.starts_with(prefix.as_str()))
            .map(String::len)
    }
}

/// True for a name a user installed with [`Redaction::secret_name`].
pub(crate) fn is_user_secret_name(name: &str) -> bool {
    let names = |rules: Arc<Redaction>| rules.names.iter().any(|n| n.eq_ignore_ascii_case(name));
    Redaction::installed().is_some_and(names)
}
