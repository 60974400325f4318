//! What a kept `ApiError` retains, measured with a counting allocator
//! (issue #13 item 2): at most twice the body read plus 1 KiB, for every
//! body shape, as long as `details()` has not been asked for.

use http::{HeaderMap, StatusCode};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use tower_api_errors::{parse_error, ApiError};

/// Counts the bytes the current thread holds, allocated while counting.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<i64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            LIVE.with(|n| n.set(n.get() + layout.size() as i64));
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.with(Cell::get) {
            LIVE.with(|n| n.set(n.get() - layout.size() as i64));
        }
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes still held after `make` returns, by what it returned.
fn retained<T>(make: impl FnOnce() -> T) -> (T, i64) {
    LIVE.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    let kept = make();
    COUNTING.with(|c| c.set(false));
    (kept, LIVE.with(Cell::get))
}

fn parse(body: &[u8]) -> ApiError {
    parse_error(StatusCode::BAD_REQUEST, &HeaderMap::new(), body)
}

/// JSON bodies of about `size` bytes, in the shapes that cost most parsed.
fn bodies(size: usize) -> Vec<(&'static str, String)> {
    let flat = format!(
        "{{\"error\":\"bad_request\",\"message\":\"Invalid input\",{}\"end\":0}}",
        (0..size / 24)
            .map(|i| format!("\"key{i:06}\":\"value{i:06}\","))
            .collect::<String>()
    );
    let depth = 60; // 120 levels: under serde_json's recursion limit
    let nested = format!(
        "{{\"message\":\"Nested\",\"data\":{}\"{}\"{}}}",
        "{\"a\":[".repeat(depth),
        "x".repeat(size.saturating_sub(depth * 8)),
        "]}".repeat(depth)
    );
    let small_objects = format!(
        "{{\"message\":\"Many\",\"items\":[{}{{}}]}}",
        "{\"a\":1},".repeat(size / 8)
    );
    let field_errors = format!(
        "{{\"message\":\"Validation failed\",\"errors\":[{}{{}}]}}",
        (0..size / 48)
            .map(|i| format!("{{\"field\":\"f{i}\",\"message\":\"is invalid\"}},"))
            .collect::<String>()
    );
    let top_array = format!(
        "[{}1]",
        "{\"message\":\"m\",\"errorCode\":\"E\"},".repeat(size / 32)
    );
    let field_map = format!(
        "{{\"errors\":{{{}\"z\":[\"x\"]}}}}",
        (0..size / 12)
            .map(|i| format!("\"f{i}\":[\"x\"],"))
            .collect::<String>()
    );
    // Discord's tree: one long path shared by many short errors.
    let shared_path = format!(
        "{{\"message\":\"m\",\"errors\":{{\"{}\":{{\"_errors\":[{}{{}}]}}}}}}",
        "p".repeat(120),
        "{\"message\":\"x\"},".repeat(size / 16)
    );
    vec![
        ("field map", field_map),
        ("shared path", shared_path),
        ("flat", flat),
        ("nested", nested),
        ("many small objects", small_objects),
        ("field errors", field_errors),
        ("top-level array", top_array),
    ]
}

#[test]
fn kept_errors_retain_at_most_twice_the_body() {
    let _ = parse(b"{}"); // the default parser is built once, outside the count
    for size in [4 * 1024, 64 * 1024] {
        for (shape, body) in bodies(size) {
            assert!(
                serde_json::from_str::<serde_json::Value>(&body).is_ok(),
                "{shape}"
            );
            let (error, kept) = retained(|| parse(body.as_bytes()));
            let bound = 2 * body.len() as i64 + 1024;
            eprintln!(
                "{shape} ({} B body): kept {kept} B (bound {bound} B)",
                body.len()
            );
            assert!(
                kept <= bound,
                "{shape} ({} B): kept {kept} B > {bound} B",
                body.len()
            );
            // `details()` still works, and is what costs when asked for.
            let (parsed, materialised) = retained(|| error.details().is_some());
            assert!(parsed);
            eprintln!("  after details(): +{materialised} B");
            drop(error);
        }
    }
}
