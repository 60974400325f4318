//! A scripted identity provider for the auth suites: a token source run
//! by a script, given the call number (1-based, `current` and `refresh`
//! alike) and, for a refresh, the rejected secret; and the scripts' usual
//! answers.

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::Arc;
use tower_api_errors::auth::{Credential, TokenFuture, TokenSource};

type Script = Box<dyn Fn(u32, Option<String>) -> TokenFuture<'static> + Send + Sync>;

pub struct Idp {
    calls: AtomicU32,
    refreshes: AtomicU32,
    script: Script,
}

#[allow(dead_code)] // Each suite uses its own part.
impl Idp {
    pub fn new(
        script: impl Fn(u32, Option<String>) -> TokenFuture<'static> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Idp {
            calls: AtomicU32::new(0),
            refreshes: AtomicU32::new(0),
            script: Box::new(script),
        })
    }

    /// Calls of either kind so far.
    pub fn calls(&self) -> u32 {
        self.calls.load(SeqCst)
    }

    /// Refreshes so far.
    pub fn refreshes(&self) -> u32 {
        self.refreshes.load(SeqCst)
    }
}

impl TokenSource for Idp {
    fn current(&self) -> TokenFuture<'_> {
        let n = self.calls.fetch_add(1, SeqCst) + 1;
        (self.script)(n, None)
    }
    fn refresh<'a>(&'a self, rejected: &'a Credential) -> TokenFuture<'a> {
        let n = self.calls.fetch_add(1, SeqCst) + 1;
        self.refreshes.fetch_add(1, SeqCst);
        let rejected = String::from_utf8_lossy(rejected.expose_secret()).into_owned();
        (self.script)(n, Some(rejected))
    }
}

/// A script's answer: `secret`.
pub fn ok(secret: &str) -> TokenFuture<'static> {
    let credential = Credential::new(secret).unwrap();
    Box::pin(async move { Ok(credential) })
}

/// A script's answer: a failure saying `text`.
pub fn err(text: &str) -> TokenFuture<'static> {
    let text = text.to_owned();
    Box::pin(async move { Err(text.into()) })
}

/// A script's answer: never.
#[allow(dead_code)]
pub fn hang() -> TokenFuture<'static> {
    Box::pin(std::future::pending())
}

/// `tok-1`, `tok-2`, ... one per call.
pub fn numbered() -> Arc<Idp> {
    Idp::new(|n, _| ok(&format!("tok-{n}")))
}
