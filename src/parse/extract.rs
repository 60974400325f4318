//! What every dialect needs: finding a message, a code, field errors and a
//! retry hint in a JSON object, by the names real APIs use, and bounding
//! everything taken from the body.

use crate::hints::MAX_HINT;
use crate::FieldError;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::time::Duration;

/// Longest message kept, in characters; longer ones end in `…`.
pub(crate) const MAX_MESSAGE_CHARS: usize = 1024;
/// Longest code or field name kept, in characters.
pub(crate) const MAX_CODE_CHARS: usize = 128;
/// Most field errors kept from one body.
pub(crate) const MAX_FIELD_ERRORS: usize = 100;
/// Most entries of one list, or members of one object, a dialect walks.
pub(crate) const MAX_VISITED: usize = 1024;
/// Deepest nesting a dialect follows (field-error trees, `innererror`
/// chains, tag paths).
pub(crate) const MAX_DEPTH: usize = 8;

/// Keys that hold a human-readable message, most specific first.
pub(crate) const MESSAGE_KEYS: &[&str] = &[
    "message",
    "Message",
    "detail",
    "error_description",
    "description",
    "Description",
    "errorMessage",
    "error_message",
    "errorSummary",
    "msg",
    "reason",
    // Mambu's `errorReason` (`INVALID_PARAMETERS`): its errors' only text.
    "errorReason",
    "title",
    "err",
    "errmsg",
    "err_msg",
    "retMsg",
    "error_messages",
    "error_codes",
    "text",
];

/// Keys that hold a machine-readable code, most specific first.
pub(crate) const CODE_KEYS: &[&str] = &[
    "code",
    "error_code",
    "errorCode",
    "errcode",
    "err_code",
    "retCode",
    "serviceErrorCode",
    "ECODE",
    "__type",
    "name",
    "type",
    // Xero's `Type` (`ValidationException`).
    "Type",
    "error_type",
];

/// Keys that name the error broadly, or only in some APIs: a code when
/// nothing more specific is (HubSpot's `category` and `errorType`,
/// Postmark's `ErrorCode`, Heroku's `id` when it reads as a word, CoinGate's
/// `reason` when it reads as an identifier, see [`code_in`]).
pub(crate) const FALLBACK_CODE_KEYS: &[&str] =
    &["category", "errorType", "ErrorCode", "id", "reason"];

/// True when `text` is already what [`one_line`] would make of it: printable
/// ASCII, single spaces inside, none at the ends, within `max_chars`. Checked
/// on bytes, so the common case costs one pass and no decoding.
fn is_one_line(text: &str, max_chars: usize) -> bool {
    is_line::<false>(text, max_chars)
}

/// [`is_one_line`] without a `<` either: text that neither markup
/// stripping nor [`one_line`] would change, told in the same one pass.
pub(crate) fn is_plain_line(text: &str, max_chars: usize) -> bool {
    is_line::<true>(text, max_chars)
}

fn is_line<const NO_ANGLE: bool>(text: &str, max_chars: usize) -> bool {
    let bytes = text.as_bytes();
    if bytes.len() > max_chars || bytes.first() == Some(&b' ') || bytes.last() == Some(&b' ') {
        return false;
    }
    // Printable ASCII only (no `<` when asked), and no space after a space.
    bytes
        .iter()
        .all(|&byte| (0x20..0x7f).contains(&byte) && !(NO_ANGLE && byte == b'<'))
        && !bytes.windows(2).any(|pair| pair == b"  ")
}

/// Collapses whitespace and control characters to single spaces, drops
/// bidirectional controls (embeddings, overrides, isolates: UAX #9 §2,
/// which reorder how a log line reads, CVE-2021-42574), and bounds the
/// length, so that a message is one line of reasonable size: at most
/// `max_chars` characters, the ellipsis that marks a cut included.
///
/// A cut falls between words, never in one: the word may be an echoed
/// credential, whose scrubbing (after the parse) finds it only whole.
/// Text whose first word alone is past the bound is cut to nothing (a
/// code is then absent, a message the status's reason), not to a lone
/// ellipsis.
pub(crate) fn one_line(text: &str, max_chars: usize) -> String {
    if is_one_line(text, max_chars) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len().min(max_chars + 4));
    let mut chars = 0;
    let mut pending_space = false;
    let reordering = |c| matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    for c in text.chars().filter(|c| !reordering(*c)) {
        if c.is_whitespace() || c.is_control() {
            pending_space = !out.is_empty();
            continue;
        }
        if chars + usize::from(pending_space) >= max_chars {
            // Whole words only, and room for the ellipsis: the word under
            // way (or, with no room left, the last whole one) goes.
            if !(pending_space && chars < max_chars) {
                out.truncate(out.rfind(' ').unwrap_or(0));
            }
            if !out.is_empty() {
                out.push('…');
            }
            return out;
        }
        if pending_space {
            out.push(' ');
            chars += 1;
            pending_space = false;
        }
        out.push(c);
        chars += 1;
    }
    out
}

/// `text` as [`one_line`] would make it, reusing the string when it is
/// already one line within `max_chars` (the common case).
pub(crate) fn bounded(text: String, max_chars: usize) -> String {
    if is_one_line(&text, max_chars) {
        text
    } else {
        one_line(&text, max_chars)
    }
}

/// A non-empty string value, made one line.
pub(crate) fn text(value: &Value) -> Option<String> {
    text_ref(value).map(Cow::into_owned)
}

/// [`text`], borrowing the string when it is one line already (most are):
/// no copy until the text is stored.
fn text_ref(value: &Value) -> Option<Cow<'_, str>> {
    let text = value.as_str()?;
    let line = bounded_ref(text, MAX_MESSAGE_CHARS);
    (!line.is_empty()).then_some(line)
}

/// [`one_line`] without a copy when `text` is one line already.
fn bounded_ref(text: &str, max_chars: usize) -> Cow<'_, str> {
    if is_one_line(text, max_chars) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(one_line(text, max_chars))
    }
}

/// A code: a string (made one line) or a number (stringified).
pub(crate) fn code(value: &Value) -> Option<String> {
    match value {
        // One pass, straight to a code's bound (the same as making it a
        // message first, then bounding that).
        Value::String(text) => Some(one_line(text, MAX_CODE_CHARS)).filter(|code| !code.is_empty()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// True for a code that is a number (`"429"`, `"-32601"`): in a body
/// with a named code too, it repeats the status.
pub(crate) fn is_number(code: &str) -> bool {
    !code.is_empty() && code.bytes().all(|b| b.is_ascii_digit() || b == b'-')
}

/// True for a string that reads as an identifier, not a sentence:
/// `invalid_token`, `VERSION_OUTDATED`, `RecordNotFound`, `E0000011`.
pub(crate) fn is_identifier(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_CODE_CHARS
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '#' | '/'))
}

/// The value of the first of `keys` (in their order) for which `convert`
/// gives something, found in one pass over the object's entries rather than
/// a lookup per key.
fn pick<'a, T>(
    object: &'a Map<String, Value>,
    keys: &[&str],
    convert: impl Fn(&str, &'a Value) -> Option<T>,
) -> Option<T> {
    let mut best: Option<(usize, T)> = None;
    for (key, value) in object {
        // Length and first byte before the full compare: a `memcmp` call
        // per candidate of the same length cost more than the rest.
        let first = key.as_bytes().first();
        let Some(rank) = keys
            .iter()
            .position(|k| k.len() == key.len() && k.as_bytes().first() == first && *k == key)
        else {
            continue;
        };
        // Converted only when it would rank first so far.
        let better = best.as_ref().is_none_or(|(known, _)| rank <= *known);
        if let Some(found) = better.then(|| convert(key, value)).flatten() {
            best = Some((rank, found));
        }
    }
    best.map(|(_, found)| found)
}

/// The first message among `keys`: a string, or an array of strings joined
/// with "; " (NestJS sends `"message": ["a", "b"]`).
pub(crate) fn message_in(object: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    pick(object, keys, message_of).map(Cow::into_owned)
}

/// A message value (of any key, for [`pick`]): a string, or an array of
/// strings joined with "; "; borrowed when it is a string that is one line
/// already.
fn message_of<'a>(_: &str, value: &'a Value) -> Option<Cow<'a, str>> {
    match value {
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().filter_map(text).take(10).collect();
            (!parts.is_empty()).then(|| Cow::Owned(one_line(&parts.join("; "), MAX_MESSAGE_CHARS)))
        }
        value => text_ref(value),
    }
}

/// The first code among `keys`. A `type` of `about:blank` (RFC 9457's "no
/// type") is not a code, nor an `id` other than a lower-case word; AWS's
/// `__type` is its [`aws_type`].
pub(crate) fn code_in(object: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    pick(object, keys, code_under)
}

/// The code a member gives, by its key: see [`code_in`].
fn code_under(key: &str, value: &Value) -> Option<String> {
    let found = code(value)?;
    let word_byte = |b: u8| b.is_ascii_lowercase() || b == b'_' || b == b'.';
    match key {
        "type" if found == "about:blank" => None,
        "__type" => Some(aws_type(&found).to_owned()),
        // `name` is a code only when it reads as one (PayPal's
        // "VALIDATION_ERROR"); elsewhere it is often a person's name.
        "name" | "reason" | "error" if !is_identifier(&found) => None,
        // Heroku's error `id` is a word (`rate_limit`), Mattermost's dotted
        // words (`api.context.session_expired.app_error`, "the.error.id" in
        // its API docs); elsewhere an `id` names the occurrence (a UUID, `req_8f3a`).
        "id" if !found.bytes().all(word_byte) => None,
        _ => Some(found),
    }
}

/// An AWS error type (`__type`, the `X-Amzn-Errortype` header) as its
/// shape's name: without a `:uri` suffix, then without a `namespace#`
/// prefix (Smithy's AWS protocol tests,
/// `smithy-aws-protocol-tests/model/restJson1/errors.smithy`).
pub(crate) fn aws_type(raw: &str) -> &str {
    let before_uri = raw.split(':').next().unwrap_or(raw);
    before_uri.rsplit('#').next().unwrap_or(before_uri)
}

/// The [`aws_type`] an `X-Amzn-Errortype` header names, if any.
pub(crate) fn aws_header_type(headers: &http::HeaderMap) -> Option<String> {
    let raw = headers.get("x-amzn-errortype")?.to_str().ok()?;
    Some(aws_type(raw).to_owned()).filter(|name| !name.is_empty())
}

/// Keys under which an entry names its field, most specific first.
const FIELD_KEYS: &[&str] = &[
    "field",
    "param",
    "parameter",
    "property",
    "attribute",
    "target",
    "name",
    "key",
    "pointer",
    // Mambu's `errorSource`: "JSON pointer, field name, or rule identifier".
    "errorSource",
    "location",
    "propertyref",
    "in",
    // Gusto's `error_key` ("identifies the attribute/parameter").
    "error_key",
];

/// Keys under which an entry says what is wrong with its field.
const FIELD_MESSAGE_KEYS: &[&str] = &[
    "message",
    // Hetzner Cloud's `{"name", "messages": ["is too long"]}`.
    "messages",
    "error_message",
    "errorSummary",
    "detail",
    "description",
    "msg",
    "reason",
    "issue",
    "title",
    "code",
    "type",
];

/// `message`, with "(and N more)" when it is the first of `count` errors.
pub(crate) fn and_more(message: String, count: usize) -> String {
    match count.saturating_sub(1) {
        0 => message,
        more => one_line(&format!("{message} (and {more} more)"), MAX_MESSAGE_CHARS),
    }
}

/// `message` with the first of a list of plain-string causes beside it, and
/// "(and N more)" when there are several: a body's message is often the
/// generic word ("Invalid Input Provided", PagerDuty's code 2001) and its
/// `errors` the "human-readable error details" (PagerDuty's REST API
/// schema; its Events API's "specific error messages"). A cause the message already says is not repeated;
/// a list of objects is read as field errors instead.
pub(crate) fn with_causes(message: String, causes: Option<&Value>) -> String {
    let strings = |c: &&Vec<Value>| c.iter().all(Value::is_string);
    let causes = causes.and_then(Value::as_array).filter(strings);
    match causes.and_then(|c| Some((c.iter().find_map(text)?, c.len()))) {
        Some((cause, count)) if !message.contains(&cause) => {
            and_more(format!("{}: {cause}", message.trim_end_matches('.')), count)
        }
        _ => message,
    }
}

/// The one field an error object names beside its message: Stripe's,
/// Mistral's and Hume's `param` (`""` when none; Hume's a JSON pointer),
/// Razorpay's and Mollie's `field` (`null`, or absent, when none).
pub(crate) fn named_field(of: &Map<String, Value>, message: Option<&str>) -> Option<FieldError> {
    let field = pick(of, &["param", "field"], |_, value| text(value))?;
    Some(FieldError::from_parts(&normalise_pointer(&field), message?))
}

/// Field errors from any of the shapes APIs use:
///
/// - arrays of objects naming a field (`{"field", "message"}`, RFC 9457's
///   `{"pointer", "detail"}`, `invalid-params`' `{"name", "reason"}`,
///   JSON:API's `{"source": {"pointer"}, "detail"}`, FastAPI's `{"loc": [...], "msg"}`,
///   GraphQL's `{"path": [...], "message"}` (Strapi's too, whose `name` is
///   the error's class), Google's `fieldViolations`,
///   Azure's `{"target", "message"}`);
/// - objects mapping a field to a message or a list of them (Rails,
///   ASP.NET: `{"email": ["is invalid"]}`).
pub(crate) fn field_errors(value: &Value) -> Vec<FieldError> {
    let mut walk = Walk::default();
    walk.collect(value, "", 0);
    walk.out
}

/// The [`field_errors`] under each of `keys` the object holds, in the
/// keys' order. An object under `details` is read only when it maps
/// fields to lists (Zendesk's); any other is data, not field errors
/// (Kubernetes' `Status` details; Dailymotion's "structured additional
/// context", `{"object_id", "reason", "param"}`).
pub(crate) fn field_errors_under(object: &Map<String, Value>, keys: &[&str]) -> Vec<FieldError> {
    let fields = |m: &Map<String, Value>| m.values().all(Value::is_array);
    let listed = |v: &&Value| v.as_object().is_none_or(fields);
    let get = |key: &&str| object.get(*key).filter(|v| *key != "details" || listed(v));
    keys.iter().filter_map(get).flat_map(field_errors).collect()
}

/// One walk over a field-error tree, bounded in entries visited
/// ([`MAX_VISITED`]), depth ([`MAX_DEPTH`]) and errors kept
/// ([`MAX_FIELD_ERRORS`]).
#[derive(Default)]
struct Walk {
    out: Vec<FieldError>,
    visited: usize,
}

impl Walk {
    /// Counts one visit; false when the walk should stop.
    fn visit(&mut self) -> bool {
        self.visited += 1;
        self.visited <= MAX_VISITED && self.out.len() < MAX_FIELD_ERRORS
    }

    fn collect(&mut self, value: &Value, prefix: &str, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        match value {
            Value::Array(entries) => {
                for entry in entries {
                    if !self.visit() {
                        return;
                    }
                    let Some(object) = entry.as_object() else {
                        continue;
                    };
                    if let Some(violations) = object.get("fieldViolations") {
                        self.collect(violations, prefix, depth + 1);
                        continue;
                    }
                    // A pointer to the whole request (`/`, Telnyx's "request-level
                    // errors") names no field, nor do Gusto's `base` and `request`.
                    let named = field_name(object)
                        .filter(|name| !matches!(name.as_ref(), "" | "base" | "request"));
                    let field = match (prefix.is_empty(), named) {
                        (true, None) => continue,
                        // Already a fixed point of `join`'s bounding.
                        (true, Some(name)) => name,
                        (false, named) => Cow::Owned(join(prefix, named.as_deref().unwrap_or(""))),
                    };
                    let message = pick(object, FIELD_MESSAGE_KEYS, message_of)
                        .unwrap_or(Cow::Borrowed("is invalid"));
                    // One allocation: the field error's own text.
                    self.out.push(FieldError::from_parts(&field, &message));
                }
            }
            Value::Object(map) => self.collect_map(map, prefix, depth),
            _ => {}
        }
    }

    /// A map of fields to messages, lists of messages, lists of error
    /// objects, or subtrees (Discord's `errors`, whose nodes hold their own
    /// errors under `_errors`). Reached through [`collect`](Self::collect),
    /// which bounds the depth.
    fn collect_map(&mut self, map: &Map<String, Value>, prefix: &str, depth: usize) {
        for (field, child) in map {
            if !self.visit() {
                return;
            }
            // Hetzner Cloud's `details.fields` and Strapi's `details.errors`
            // list entries that name their own field: a wrapper, as Discord's
            // `_errors` is, not a path (`child[0]` reads `Null`, never panics,
            // when the child is not a list).
            let wrapper = matches!(field.as_str(), "fields" | "errors") && child[0].is_object();
            if field == "_errors" || wrapper {
                self.collect(child, prefix, depth + 1);
                continue;
            }
            let path = join(prefix, field);
            match child {
                Value::Array(items) if !items.iter().any(Value::is_object) => {
                    for message in items.iter().filter_map(text) {
                        if !self.visit() {
                            return;
                        }
                        self.push(&path, message);
                    }
                }
                Value::Object(_) | Value::Array(_) => self.collect(child, &path, depth + 1),
                other => {
                    if let Some(message) = text(other) {
                        self.push(&path, message);
                    }
                }
            }
        }
    }

    fn push(&mut self, field: &str, message: String) {
        if self.out.len() < MAX_FIELD_ERRORS {
            let field = bounded_ref(field, MAX_CODE_CHARS);
            self.out.push(FieldError::from_parts(&field, &message));
        }
    }
}

/// `prefix.name`, or whichever is not empty, bounded like a code.
fn join(prefix: &str, name: &str) -> String {
    let joined = match (prefix.is_empty(), name.is_empty()) {
        (true, _) => name.to_owned(),
        (false, true) => prefix.to_owned(),
        (false, false) => format!("{prefix}.{name}"),
    };
    bounded(joined, MAX_CODE_CHARS)
}

/// A path given as an array of names and indexes (`["body", "email"]`),
/// each read as a [`code`] is, joined with dots.
fn path_of(value: &Value) -> Option<String> {
    let parts: Vec<String> = value.as_array()?.iter().filter_map(code).collect();
    (!parts.is_empty()).then(|| parts.join("."))
}

/// The field an error entry is about, normalised to a dotted path.
fn field_name(object: &Map<String, Value>) -> Option<Cow<'_, str>> {
    let named = |_: &str, value| text_ref(value);
    let list = |key| object.get(key).and_then(path_of).map(Cow::Owned);
    // An array `path` first: Strapi's (yup's) entries name their error
    // class beside it (`"name": "ValidationError"`).
    let raw = list("path")
        .or_else(|| pick(object, FIELD_KEYS, named))
        .or_else(|| {
            let source = object.get("source")?.as_object()?;
            pick(source, &["pointer", "parameter", "header"], named)
        })
        .or_else(|| list("loc"))
        .or_else(|| object.get("path").and_then(text_ref))?;
    Some(match raw {
        Cow::Borrowed(raw) => normalise_pointer(raw),
        Cow::Owned(raw) => Cow::Owned(normalise_pointer(&raw).into_owned()),
    })
}

/// `#/age` and `/data/attributes/firstName` (JSON pointers) become `age`
/// and `data.attributes.firstName`; other names are kept. Borrowed when
/// there is nothing to replace or collapse.
fn normalise_pointer(raw: &str) -> Cow<'_, str> {
    let trimmed = raw.strip_prefix('#').unwrap_or(raw);
    match trimmed.strip_prefix('/') {
        // A trailing `/` (Klaviyo's `/data/`) leaves no trailing dot.
        Some(pointer) if pointer.contains('/') => {
            let pointer = pointer.trim_end_matches('/');
            Cow::Owned(one_line(&pointer.replace('/', "."), MAX_CODE_CHARS))
        }
        name => bounded_ref(name.unwrap_or(trimmed), MAX_CODE_CHARS),
    }
}

/// The most specific code nested in an error object, when codes nest: the
/// deepest non-numeric `innererror`/`innerError` code (Azure, OData), else the first
/// identifier-like `reason` or `issue` of a `details` or `errors` entry
/// (Google's `ErrorInfo.reason` and older `errors[].reason`, PayPal's
/// `details[].issue`). Bounded: [`MAX_DEPTH`] levels, [`MAX_VISITED`] entries.
pub(crate) fn nested_code(object: &Map<String, Value>) -> Option<String> {
    let chain = std::iter::successors(Some(object), |current| {
        let mut keys = ["innererror", "innerError"].iter();
        keys.find_map(|key| current.get(*key)?.as_object())
    });
    // A numeric inner code repeats the status (Microsoft Graph's 429).
    let code_of = |inner: &Map<String, Value>| inner.get("code").and_then(code);
    let codes = chain.skip(1).take(MAX_DEPTH).filter_map(code_of);
    let deepest = codes.filter(|c| !is_number(c)).last();
    deepest.or_else(|| {
        ["details", "errors"]
            .iter()
            .filter_map(|key| object.get(*key)?.as_array())
            .flat_map(|entries| entries.iter().take(MAX_VISITED))
            .filter_map(Value::as_object)
            .find_map(|entry| {
                ["reason", "issue"].iter().find_map(|key| {
                    let found = entry.get(*key).filter(|v| v.is_string()).and_then(code)?;
                    is_identifier(&found).then_some(found)
                })
            })
    })
}

/// The first string in a JSON document that reads as human text (letters
/// and a space, not a URL), depth first, visiting at most [`MAX_VISITED`]
/// values and [`MAX_DEPTH`] levels.
pub(crate) fn first_human_text(root: &Value) -> Option<String> {
    let mut stack: Vec<(&Value, usize)> = vec![(root, 0)];
    let mut visited = 0;
    while let Some((value, depth)) = stack.pop() {
        visited += 1;
        if visited > MAX_VISITED {
            return None;
        }
        let room = MAX_VISITED.saturating_sub(visited + stack.len());
        match value {
            Value::String(s) => {
                let looks_human = s.contains(' ')
                    && s.chars().any(char::is_alphabetic)
                    && !s.starts_with("http://")
                    && !s.starts_with("https://");
                if looks_human {
                    return Some(one_line(s, MAX_MESSAGE_CHARS));
                }
            }
            Value::Array(items) if depth < MAX_DEPTH => {
                stack.extend(items.iter().take(room).rev().map(|v| (v, depth + 1)));
            }
            Value::Object(map) if depth < MAX_DEPTH => {
                stack.extend(map.values().take(room).rev().map(|v| (v, depth + 1)));
            }
            _ => {}
        }
    }
    None
}

/// The body's wait keys, seconds then milliseconds: `retry_after` and its
/// spellings, monday.com's `retry_in_seconds`, Hugging Face's
/// `estimated_time` (seconds until a loading model answers, sent with a
/// 503), Infura's `backoff_seconds` ("pause JSON-RPC activity for" it).
const WAIT_KEYS: [(&str, f64); 9] = [
    ("retry_after", 1.0),
    ("retryAfter", 1.0),
    ("retry_after_seconds", 1.0),
    ("retry_in_seconds", 1.0),
    ("retry-after", 1.0),
    ("estimated_time", 1.0),
    ("backoff_seconds", 1.0),
    ("retry_after_ms", 0.001),
    ("retryAfterMs", 0.001),
];

/// The retry hint in a body: a [`WAIT_KEYS`] key at the top level, in an
/// `error` object or its JSON-RPC `data` (Infura), in a `parameters` object
/// (Telegram's `ResponseParameters`, "the number of seconds left to wait
/// before the request can be repeated") or in the first GraphQL error's
/// `extensions`; Google's `RetryInfo.retryDelay` (`"30s"`) in
/// `error.details`, or the wait Shopify's GraphQL query cost implies
/// ([`cost_wait`]).
pub(crate) fn retry_after(root: &Value) -> Option<Duration> {
    let top = root.as_object()?;
    let nested = |key| top.get(key).and_then(Value::as_object);
    let graphql = top
        .get("errors")
        .and_then(|e| e.get(0)?.get("extensions")?.as_object());
    let error = nested("error");
    let rpc_data = error.and_then(|e| e.get("data")?.as_object());
    [Some(top), error, rpc_data, nested("parameters"), graphql]
        .into_iter()
        .flatten()
        // One pass over the keys first: most error objects name no retry
        // delay, and a lookup per candidate key costs more than that.
        .filter(|object| {
            let wait = |key: &String| WAIT_KEYS.iter().any(|&(wait, _)| wait == key);
            object.keys().any(|key| key == "details" || wait(key))
        })
        .find_map(|object| {
            WAIT_KEYS
                .iter()
                .find_map(|&(key, scale)| seconds(object.get(key)?, scale))
                .or_else(|| {
                    object
                        .get("details")?
                        .as_array()?
                        .iter()
                        .find_map(|detail| protobuf_duration(detail.get("retryDelay")?.as_str()?))
                })
        })
        .or_else(|| cost_wait(top))
}

/// The reset of an exhausted window the error object announces, Vercel's
/// `{"error": {"code": "rate_limited", "limit": {"remaining": 0, "reset":
/// 1571432075, "resetMs": 1571432075563, "total": 6}}}` (vercel.com/docs/rest-api/errors),
/// as its text: the parser reads it as a reset header is (a delta, or a
/// Unix time whose unit its size tells) against the response's clock.
/// A window with requests left names no wait.
pub(crate) fn limit_reset(root: &Value) -> Option<String> {
    let limit = root.get("error")?.get("limit")?.as_object()?;
    if limit.get("remaining")?.as_u64()? != 0 {
        return None;
    }
    code(limit.get("reset")?)
}

/// Phrases after which a message names its wait (lower case).
const WAIT_PHRASES: [&str; 3] = ["try again in ", "retry in ", "retry after "];

/// The wait a message names in prose, for a failure whose headers and
/// body name none: after the first of [`WAIT_PHRASES`], a Go duration
/// glued to its number (OpenAI's and Groq's "Please try again in 6s.",
/// `20ms`, `7.66s`; Gemini's "Please retry in 16.7s.") or a number and a
/// unit word (Azure OpenAI's "Please retry after 86400 seconds.",
/// Vercel's "Try again in 7 days"), saturating at [`MAX_HINT`]. A bare
/// number ("retry after 35") or words ("in a few minutes") name no wait.
/// Linear in the message: one lower-casing, three substring searches and
/// one scan after the phrase.
pub(crate) fn prose_wait(message: &str) -> Option<Duration> {
    let lower = message.to_ascii_lowercase();
    let (at, len) = WAIT_PHRASES
        .iter()
        .filter_map(|phrase| {
            let at = memchr::memmem::find(lower.as_bytes(), phrase.as_bytes())?;
            Some((at, phrase.len()))
        })
        .min()?;
    let rest = &lower[at + len..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
        .unwrap_or(rest.len());
    let token = Some(rest[..end].trim_end_matches('.'));
    let token = token.filter(|token| token.starts_with(|c: char| c.is_ascii_digit()))?;
    if let Some(wait) = crate::hints::parse_go_duration(token) {
        return Some(wait);
    }
    if !token.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let word = rest[end..]
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic());
    let scale = match word.into_iter().next()? {
        "ms" | "millisecond" | "milliseconds" => 0.001,
        "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
        "min" | "mins" | "minute" | "minutes" => 60.0,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600.0,
        "day" | "days" => 86_400.0,
        _ => return None,
    };
    text_seconds(token, scale)
}

/// Shopify's GraphQL cost (`extensions.cost`, GraphQL Admin API rate
/// limits): a leaky bucket that refills at `restoreRate` points a second
/// and must hold the query's `requestedQueryCost`. When it holds less, the
/// wait is the shortfall over the rate.
fn cost_wait(top: &Map<String, Value>) -> Option<Duration> {
    let cost = top.get("extensions")?.get("cost")?;
    let status = cost.get("throttleStatus")?;
    let number = |value: &Value, key: &str| value.get(key)?.as_f64();
    let short = number(cost, "requestedQueryCost")? - number(status, "currentlyAvailable")?;
    // Saturating: a bucket that never refills waits the longest hint.
    let wait = (short / number(status, "restoreRate")?).min(MAX_HINT.as_secs_f64());
    scaled(wait, 1.0).filter(|_| short > 0.0)
}

/// A non-negative number (or numeric string) times `scale` seconds,
/// saturating at [`MAX_HINT`].
fn seconds(value: &Value, scale: f64) -> Option<Duration> {
    match value {
        Value::Number(n) => scaled(n.as_f64()?, scale),
        Value::String(s) => text_seconds(s, scale),
        _ => None,
    }
}

/// A non-negative decimal in text times `scale` seconds (see [`seconds`]).
fn text_seconds(text: &str, scale: f64) -> Option<Duration> {
    scaled(text.trim().parse().ok()?, scale)
}

/// `number` times `scale` seconds, if that is a non-negative finite
/// number, saturating at [`MAX_HINT`].
fn scaled(number: f64, scale: f64) -> Option<Duration> {
    let secs = number * scale;
    let valid = secs.is_finite() && secs >= 0.0;
    valid.then(|| Duration::try_from_secs_f64(secs).map_or(MAX_HINT, |d| d.min(MAX_HINT)))
}

/// A protobuf JSON `Duration` such as `"30s"` or `"1.5s"`.
fn protobuf_duration(text: &str) -> Option<Duration> {
    text_seconds(text.strip_suffix('s')?, 1.0)
}

/// `text` with `%1`, `%2`... replaced by `variables` (a list, or one
/// string), in one pass: a variable's own `%2` stays as it is. A `%`
/// without a variable of its number stays too; without variables, `text`
/// is as it was. GSMA OneAPI's `text` and `variables`, Adobe Commerce's
/// `message` and `parameters`.
pub(crate) fn substitute(text: String, variables: Option<&Value>) -> String {
    let variables = match variables {
        None => return text,
        Some(Value::Array(list)) => list.as_slice(),
        Some(one) => std::slice::from_ref(one),
    };
    let mut parts = text.split('%');
    let mut out = parts.next().unwrap_or_default().to_owned();
    for part in parts {
        let digit = part.bytes().next().filter(u8::is_ascii_digit);
        let at = digit.and_then(|d| usize::from(d).checked_sub(usize::from(b'1')));
        match at.and_then(|at| variables.get(at)?.as_str()) {
            Some(value) if out.len() < MAX_MESSAGE_CHARS * 4 => out.extend([value, &part[1..]]),
            _ => out.extend(["%", part]),
        }
    }
    one_line(&out, MAX_MESSAGE_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_line_collapses_and_bounds() {
        assert_eq!(one_line("  a\n\n b\tc  ", 100), "a b c");
        assert_eq!(one_line("\u{0}\u{7}", 10), "");
    }

    /// The bound cuts at the last space before it, never in a word: the
    /// word may be an echoed credential, which scrubbing finds only whole.
    /// The ellipsis counts within the bound (parse module docs: "bounded
    /// to 1024 characters"); a first word past it leaves nothing.
    #[test]
    fn one_line_cuts_between_words() {
        assert_eq!(one_line("abcdef", 3), "");
        assert_eq!(one_line("invalid key sk_live_51HqLyj", 16), "invalid key…");
        assert_eq!(one_line("invalid key  sk_live_51HqLyj", 12), "invalid key…");
        assert_eq!(one_line("invalid key sk", 11), "invalid…");
        assert_eq!(one_line("a b c d", 3), "a…");
        assert_eq!(one_line("ab cd", 3), "ab…");
        for max in 1..40 {
            let cut = one_line("try again in a moment, or later ", max);
            assert!(cut.chars().count() <= max, "{max}: {cut:?}");
            assert_ne!(cut, "…");
        }
    }

    /// The word-at-a-time check agrees with the byte-at-a-time one on every
    /// byte value, at every position of a word, and on spaces that meet
    /// across a word's edge.
    #[test]
    fn is_one_line_agrees_with_a_byte_at_a_time_check() {
        fn by_bytes(text: &str, max_chars: usize) -> bool {
            let bytes = text.as_bytes();
            bytes.len() <= max_chars
                && bytes.first() != Some(&b' ')
                && bytes.last() != Some(&b' ')
                && bytes.iter().all(|b| (0x20..0x7f).contains(b))
                && !text.contains("  ")
        }
        let mut cases: Vec<String> = Vec::new();
        for byte in 0u8..=0x7f {
            for at in 0..17 {
                let mut text = vec![b'a'; 17];
                text[at] = byte;
                cases.push(String::from_utf8(text).unwrap());
            }
        }
        for at in 0..16 {
            let mut text = vec![b'a'; 18];
            text[at + 1] = b' ';
            text[at + 2] = b' ';
            cases.push(String::from_utf8(text.clone()).unwrap());
            text[at + 2] = b'b';
            cases.push(String::from_utf8(text).unwrap());
        }
        // Every length of tail, with each kind of byte at each place.
        for len in 1..=17 {
            for at in 0..len {
                for odd in [" ", "<", "\u{1f}", "\u{7f}", "\u{e9}", "  "] {
                    let mut text = "a".repeat(len);
                    text.replace_range(at..at + 1, odd);
                    cases.push(text);
                }
            }
        }
        cases.extend([
            "caf\u{e9} ok".to_owned(),
            "x\u{7f}yzabcdefgh".to_owned(),
            String::new(),
        ]);
        for text in &cases {
            assert_eq!(is_one_line(text, 100), by_bytes(text, 100), "{text:?}");
            assert_eq!(
                is_plain_line(text, 100),
                by_bytes(text, 100) && !text.contains('<'),
                "{text:?}"
            );
        }
        assert!(!is_one_line("abcdefghi", 8));
    }

    #[test]
    fn waits_in_prose() {
        let wait = |text: &str| prose_wait(text);
        let secs = |s: f64| Some(Duration::from_secs_f64(s));
        for (text, expected) in [
            (
                "Limit 10000, Used 9000, Requested 2000. Please try again in 6s.",
                secs(6.0),
            ),
            ("Please try again in 20ms.", secs(0.02)),
            ("Please try again in 7.66s", secs(7.66)),
            ("Please try again in 1m30s.", secs(90.0)),
            ("Please retry in 16.739049404s.", secs(16.739049404)),
            ("Please retry after 86400 seconds.", secs(86_400.0)),
            ("Try again in 7 days", secs(604_800.0)),
            ("try again in 20 seconds", secs(20.0)),
            ("Please retry after 1.5s", secs(1.5)),
            ("TRY AGAIN IN 2 Minutes", secs(120.0)),
            ("retry in 1 hour, or upgrade", secs(3_600.0)),
            // The first phrase counts.
            ("retry in 5 seconds; try again in 9 seconds", secs(5.0)),
            ("Try again in 99999999999999999999 days", Some(MAX_HINT)),
            // Nothing to read.
            ("Too Many Requests: retry after 35", None),
            ("Please try again in a few minutes.", None),
            ("Please try again later.", None),
            ("try again in 5 fortnights", None),
            ("try again in 5x", None),
            ("try again in .5s", None),
            ("try again in ", None),
            ("", None),
        ] {
            assert_eq!(wait(text), expected, "{text:?}");
        }
        // Long text costs one pass: a phrase at the end of a megabyte.
        let long = format!("{}try again in 3s", "try again ".repeat(100_000));
        assert_eq!(wait(&long), secs(3.0));
    }

    #[test]
    fn a_spent_windows_reset() {
        let reset = |body: Value| limit_reset(&body);
        let vercel = json!({"error": {"code": "rate_limited", "limit": {"remaining": 0, "reset": 1571432075, "resetMs": 1571432075563_u64, "total": 6}}});
        assert_eq!(reset(vercel).as_deref(), Some("1571432075"));
        let text = json!({"error": {"limit": {"remaining": 0, "reset": "30"}}});
        assert_eq!(reset(text).as_deref(), Some("30"));
        for body in [
            json!({"error": {"limit": {"remaining": 1, "reset": 30}}}),
            json!({"error": {"limit": {"reset": 30}}}),
            json!({"error": {"limit": {"remaining": 0, "reset": [30]}}}),
            json!({"error": {"limit": 6}}),
            json!({"limit": {"remaining": 0, "reset": 30}}),
            json!({"error": "rate_limited"}),
        ] {
            assert_eq!(reset(body.clone()), None, "{body}");
        }
    }

    #[test]
    fn body_retry_hints() {
        assert_eq!(
            retry_after(&json!({"retry_after": 60})),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            retry_after(&json!({"error": {"retry_after": 1.5}})),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            retry_after(&json!({"retry_after_ms": 250})),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            retry_after(&json!({"retryAfter": "2"})),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry_after(
                &json!({"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "30s"}]}})
            ),
            Some(Duration::from_secs(30))
        );
        // monday.com's GraphQL `extensions.retry_in_seconds`.
        assert_eq!(
            retry_after(&json!({"errors": [{"extensions": {"retry_in_seconds": 60}}]})),
            Some(Duration::from_secs(60))
        );
        // Telegram's `ResponseParameters`.
        assert_eq!(
            retry_after(&json!({"ok": false, "parameters": {"retry_after": 35}})),
            Some(Duration::from_secs(35))
        );
        assert_eq!(retry_after(&json!({"retry_after": "abc"})), None);
        assert_eq!(retry_after(&json!({"retry_after": -1})), None);
        assert_eq!(retry_after(&json!({"retry_after": 1e300})), Some(MAX_HINT));
        assert_eq!(retry_after(&json!({"retry_after": [1]})), None);
        // Shopify's GraphQL cost: the shortfall over the restore rate, only
        // when the bucket holds less than the query needs.
        let cost = |requested: f64, available: f64, rate: f64| {
            retry_after(
                &json!({"extensions": {"cost": {"requestedQueryCost": requested,
                "throttleStatus": {"currentlyAvailable": available, "restoreRate": rate}}}}),
            )
        };
        assert_eq!(cost(150.0, 50.0, 50.0), Some(Duration::from_secs(2)));
        assert_eq!(cost(50.0, 150.0, 50.0), None);
        assert_eq!(cost(150.0, 50.0, 0.0), Some(MAX_HINT));
        assert_eq!(cost(150.0, 50.0, -1.0), None);
        assert_eq!(cost(1e300, 0.0, 1e-300), Some(MAX_HINT));
    }

    /// Smithy's AWS protocol tests: the shape's name, whatever surrounds it.
    #[test]
    fn aws_types() {
        for (raw, name) in [
            ("FooError", "FooError"),
            ("aws.protocoltests.restjson#FooError", "FooError"),
            (
                "FooError:http://internal.amazon.com/coral/com.amazon.coral.validate/",
                "FooError",
            ),
            ("ns#FooError:http://internal.amazon.com/a#b", "FooError"),
            (":http://x", ""),
            ("", ""),
        ] {
            assert_eq!(aws_type(raw), name, "{raw}");
        }
    }

    #[test]
    fn field_error_shapes() {
        let rows = [
            (
                json!([{"field": "name", "message": "Name is required"}]),
                vec![("name", "Name is required")],
            ),
            (
                json!([{"pointer": "#/age", "detail": "must be a positive integer"}]),
                vec![("age", "must be a positive integer")],
            ),
            (
                json!([{"name": "age", "reason": "must be a positive integer"}]),
                vec![("age", "must be a positive integer")],
            ),
            (
                json!([{"source": {"pointer": "/data/attributes/firstName"}, "detail": "too short"}]),
                vec![("data.attributes.firstName", "too short")],
            ),
            (
                json!([{"loc": ["body", "email"], "msg": "field required"}]),
                vec![("body.email", "field required")],
            ),
            (
                json!({"email": ["has already been taken", "is invalid"]}),
                vec![("email", "has already been taken"), ("email", "is invalid")],
            ),
            (
                json!([{"fieldViolations": [{"field": "x", "description": "bad"}]}]),
                vec![("x", "bad")],
            ),
            (
                json!([{"resource": "Issue", "field": "title", "code": "missing_field"}]),
                vec![("title", "missing_field")],
            ),
            (json!([{"message": "no field here"}]), vec![]),
            (json!("not a list"), vec![]),
        ];
        for (value, expected) in rows {
            let got: Vec<(String, String)> = field_errors(&value)
                .into_iter()
                .map(|e| (e.field().to_owned(), e.message().to_owned()))
                .collect();
            let expected: Vec<(String, String)> = expected
                .into_iter()
                .map(|(f, m)| (f.into(), m.into()))
                .collect();
            assert_eq!(got, expected, "{value}");
        }
    }

    /// The field an entry names and the message it gives, by the lists'
    /// order of keys, whatever order the members come in.
    #[test]
    fn entry_field_and_message() {
        let long = "xxxx ".repeat(400);
        let (long_field, long_message) = (
            bounded(long.clone(), MAX_CODE_CHARS),
            bounded(long.clone(), MAX_MESSAGE_CHARS),
        );
        let cases = [
            (
                json!({"field": "name", "message": "Name is required"}),
                Some("name"),
                Some("Name is required"),
            ),
            (
                json!({"detail": "must be a positive integer", "pointer": "#/age"}),
                Some("age"),
                Some("must be a positive integer"),
            ),
            (
                json!({"pointer": "/a/b/c", "detail": "deep"}),
                Some("a.b.c"),
                Some("deep"),
            ),
            (
                json!({"pointer": "#/a  b", "detail": "  spaced\n out  "}),
                Some("a b"),
                Some("spaced out"),
            ),
            (
                json!({"name": "", "key": "k", "code": "c", "reason": ["a", "b"]}),
                Some("k"),
                Some("a; b"),
            ),
            (
                json!({"field": 3, "param": "  ", "target": "t\u{e9}", "msg": "", "title": "T"}),
                Some("t\u{e9}"),
                Some("T"),
            ),
            (
                json!({"source": {"parameter": "q", "header": "h"}, "type": "bad"}),
                Some("q"),
                Some("bad"),
            ),
            (
                json!({"loc": ["body", 0, "email"], "msg": "field required"}),
                Some("body.0.email"),
                Some("field required"),
            ),
            (
                json!({"path": ["a", 1], "message": ["x", "", "y"]}),
                Some("a.1"),
                Some("x; y"),
            ),
            (
                json!({"path": "p/q", "errorSummary": "s"}),
                Some("p/q"),
                Some("s"),
            ),
            (
                json!({"location": long, "description": long}),
                Some(long_field.as_str()),
                Some(long_message.as_str()),
            ),
            (
                json!({"propertyref": "#", "issue": "i", "property": "/"}),
                Some(""),
                Some("i"),
            ),
            (
                json!({"attribute": "\t", "parameter": "#/x/", "fieldViolations": []}),
                Some("x"),
                None,
            ),
            (json!({"other": "x"}), None, None),
        ];
        for (value, field, message) in &cases {
            let object = value.as_object().unwrap();
            assert_eq!(field_name(object).as_deref(), *field, "{value}");
            let found = pick(object, FIELD_MESSAGE_KEYS, message_of);
            assert_eq!(found.as_deref(), *message, "{value}");
        }
    }

    #[test]
    fn field_errors_are_bounded() {
        let many: Vec<Value> = (0..10_000)
            .map(|i| json!({"field": format!("f{i}"), "message": "x"}))
            .collect();
        assert_eq!(field_errors(&Value::Array(many)).len(), MAX_FIELD_ERRORS);
    }
}
