//! This crate's `tracing` output captured as text, for tests that read what
//! was logged (feature `tracing`).
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use tracing::subscriber::DefaultGuard;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt;

/// A log sink the test can read.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Captures this crate's events (and, with `spans`, its spans as they
/// close) on this thread until the guard drops. Only our target: hyper-util's
/// own TRACE events print URI userinfo in its connection-pool keys, which
/// is outside this crate's reach (see SECURITY.md).
pub fn capture(spans: FmtSpan) -> (Captured, DefaultGuard) {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(logs.clone())
                .with_ansi(false)
                .with_span_events(spans),
        )
        .with(Targets::new().with_target("tower_api_errors", tracing::Level::TRACE));
    let guard = tracing::subscriber::set_default(subscriber);
    // Another test thread may have hit one of our callsites for the first
    // time while this subscriber was being registered: `tracing` then
    // caches that callsite's interest from the dispatchers it saw before
    // (none that wants it), and this thread would never see its events.
    // Computed again now, with this subscriber among them.
    tracing::callsite::rebuild_interest_cache();
    (logs, guard)
}
