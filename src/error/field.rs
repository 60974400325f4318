//! [`FieldError`]: one field that failed validation.

use crate::redact::Scrubber;
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

/// One field that failed validation.
///
/// Stored as one string (the field's name, then the message) and the
/// name's length: 24 bytes plus the text, so that a kept error with a
/// hundred field errors stays small.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FieldError {
    text: Box<str>,
    field_len: usize,
}

impl FieldError {
    /// A field error: the field's name (or path) and what is wrong with it.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError::from_parts(&field.into(), &message.into())
    }

    /// [`new`](Self::new) from borrowed parts: one allocation of exactly
    /// the text's size (growing the field's string by the message, then
    /// shrinking it to a box, could cost two more).
    pub(crate) fn from_parts(field: &str, message: &str) -> Self {
        FieldError {
            text: [field, message].concat().into_boxed_str(),
            field_len: field.len(),
        }
    }

    /// The field's name or path (`"email"`, `"data.attributes.name"`).
    pub fn field(&self) -> &str {
        &self.text[..self.field_len]
    }

    /// What is wrong with the field.
    pub fn message(&self) -> &str {
        &self.text[self.field_len..]
    }

    /// Bytes this field error holds, its own size included.
    pub(crate) fn footprint(&self) -> usize {
        std::mem::size_of::<Self>() + self.text.len()
    }

    pub(super) fn scrub(&mut self, scrubber: &Scrubber) {
        let field = scrubber.scrub(self.field());
        let message = scrubber.scrub(self.message());
        if matches!(field, Cow::Owned(_)) || matches!(message, Cow::Owned(_)) {
            *self = FieldError::new(field.into_owned(), message.into_owned());
        }
    }
}

debug_fields!([] FieldError (&self) {
    field: self.field(),
    message: self.message(),
});

/// The kept JSON text with echoed secrets replaced, or `None` when there
/// were none. Without escapes in the text, the raw text is scrubbed (what a
/// string holds is then what the text shows), and kept if it still parses;
/// otherwise the value is parsed, scrubbed and written out again.
pub(super) fn scrub_json_text(text: &[u8], scrubber: &Scrubber) -> Option<Box<[u8]>> {
    let raw = std::str::from_utf8(text).ok()?;
    if !raw.contains('\\') {
        let Cow::Owned(scrubbed) = scrubber.scrub(raw) else {
            return None;
        };
        if serde_json::from_str::<serde::de::IgnoredAny>(&scrubbed).is_ok() {
            return Some(scrubbed.into_bytes().into_boxed_slice());
        }
    }
    let mut value: Value = serde_json::from_str(raw).ok()?;
    scrub_value(&mut value, scrubber);
    serde_json::to_vec(&value).ok().map(Vec::into_boxed_slice)
}

/// Scrubs every string of a JSON value, keys included, in place.
fn scrub_value(value: &mut Value, scrubber: &Scrubber) {
    match value {
        Value::String(text) => {
            if let Cow::Owned(scrubbed) = scrubber.scrub(text) {
                *text = scrubbed;
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| scrub_value(item, scrubber)),
        Value::Object(map) => {
            let scrubbed_keys = map
                .keys()
                .any(|key| matches!(scrubber.scrub(key), Cow::Owned(_)));
            if scrubbed_keys {
                for (key, mut item) in std::mem::take(map) {
                    scrub_value(&mut item, scrubber);
                    map.insert(scrubber.scrub(&key).into_owned(), item);
                }
            } else {
                map.values_mut()
                    .for_each(|item| scrub_value(item, scrubber));
            }
        }
        _ => {}
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field(), self.message())
    }
}
