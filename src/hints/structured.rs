//! A lenient, linear reader for the RFC 8941 lists and dictionaries the
//! rate-limit drafts use:
//! `"default";r=50;t=30, "daily";q=1000;w=86400` (current draft) and
//! `limit=100, remaining=50, reset=5` (the older single-field draft).
//!
//! Why not a full RFC 8941 parser: a strict parser rejects a whole field for
//! one bad member, and here a partial answer is worth more than none (one
//! policy with an odd parameter must not hide the exhausted one beside it).
//! We read only what the drafts need: members (string, token or number,
//! optionally `key=value`) with parameters; what we cannot read is skipped.
//!
//! # Bounds
//!
//! The reader visits each byte of its input at most once, moving forward
//! only, and **stops after [`MAX_MEMBERS`] members** (a budget shared by all
//! lines of one field). Each member keeps at most [`MAX_PARAMS`] parameters;
//! further ones are skipped (still in the same single forward scan). Nothing
//! is allocated.

/// Members read per field (all its lines together); later members are not
/// read at all.
pub(crate) const MAX_MEMBERS: usize = 16;
/// Parameters kept per member; later ones are skipped.
pub(crate) const MAX_PARAMS: usize = 8;

#[cfg(test)]
thread_local! {
    /// Work counter for the linearity tests: bytes scanned, header fields
    /// visited and names compared, by every header reader.
    pub(crate) static STEPS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Counts `n` units of work (test builds only; free otherwise).
#[inline(always)]
pub(crate) fn step(n: usize) {
    #[cfg(test)]
    STEPS.with(|steps| steps.set(steps.get() + n as u64));
    #[cfg(not(test))]
    let _ = n;
}

/// A parameter's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Value<'a> {
    /// A non-negative integer of at most 15 digits (RFC 8941's limit).
    Int(u64),
    /// A string or token (`qu="requests"`, `qu=requests`).
    Text(&'a str),
    /// Anything else (a byte sequence, a boolean, a negative number...).
    #[default]
    Other,
}

/// One list member: its name, its value when it is a dictionary member
/// (`limit=100`), and its parameters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Member<'a> {
    pub(crate) name: &'a str,
    /// `Some` for a dictionary member (`key=value`), the value's text.
    pub(crate) value: Option<&'a str>,
    params: [(&'a str, Value<'a>); MAX_PARAMS],
    len: usize,
}

impl<'a> Member<'a> {
    /// The value of integer parameter `key`, if present and non-negative.
    pub(crate) fn param(&self, key: &str) -> Option<u64> {
        match self.get(key)? {
            Value::Int(value) => Some(value),
            _ => None,
        }
    }

    /// Parameter `key`'s value, if present: its last, as a repeated key
    /// overwrites the earlier value (RFC 8941 §4.2.3.2).
    pub(crate) fn get(&self, key: &str) -> Option<Value<'a>> {
        let mut params = self.params[..self.len].iter().rev();
        params.find(|(k, _)| *k == key).map(|(_, value)| *value)
    }

    fn push(&mut self, key: &'a str, value: Value<'a>) {
        if self.len < MAX_PARAMS && !key.is_empty() {
            self.params[self.len] = (key, value);
            self.len += 1;
        }
    }
}

/// The members of `text`, at most `*budget` of them (the budget is
/// decremented per member read, so several lines of one field share it).
/// Members without a name are skipped and cost no budget (each still
/// consumes at least one byte, so the scan stays linear).
pub(crate) fn members<'a, 'b>(text: &'a str, budget: &'b mut usize) -> Members<'a, 'b> {
    Members {
        text,
        pos: 0,
        budget,
    }
}

/// Iterator returned by [`members`].
#[derive(Debug)]
pub(crate) struct Members<'a, 'b> {
    text: &'a str,
    pos: usize,
    budget: &'b mut usize,
}

impl<'a> Iterator for Members<'a, '_> {
    type Item = Member<'a>;

    fn next(&mut self) -> Option<Member<'a>> {
        while *self.budget > 0 && self.pos < self.text.len() {
            if let Some(member) = self.member() {
                *self.budget -= 1;
                return Some(member);
            }
        }
        None
    }
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

impl<'a> Members<'a, '_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    /// Advances while `keep` holds; returns the slice passed over.
    fn scan_while(&mut self, mut keep: impl FnMut(u8) -> bool) -> &'a str {
        let start = self.pos;
        let bytes = self.text.as_bytes();
        while self.pos < bytes.len() && keep(bytes[self.pos]) {
            self.pos += 1;
        }
        step(self.pos - start);
        // Every stop is at an ASCII byte or the end, so this is a char boundary.
        self.text.get(start..self.pos).unwrap_or("")
    }

    fn skip_ows(&mut self) {
        self.scan_while(is_ows);
    }

    /// Skips whitespace, then `byte` and the whitespace after it when it
    /// comes next: true when it did.
    fn eat(&mut self, byte: u8) -> bool {
        self.skip_ows();
        let found = self.peek() == Some(byte);
        if found {
            self.pos += 1;
            self.skip_ows();
        }
        found
    }

    /// A name or a member's value: a quoted string's content, or a bare item.
    fn text(&mut self) -> &'a str {
        match self.peek() {
            Some(b'"') => self.quoted(),
            _ => self.bare(),
        }
    }

    /// A quoted string's content (escapes left as sent), after its opening
    /// quote; an unterminated string runs to the end.
    fn quoted(&mut self) -> &'a str {
        self.pos += 1;
        let mut escaped = false;
        let content = self.scan_while(|b| {
            let closes = b == b'"' && !escaped;
            escaped = b == b'\\' && !escaped;
            !closes
        });
        if self.peek().is_some() {
            self.pos += 1; // the closing quote
        }
        content
    }

    /// A bare item: a token or number, up to a delimiter.
    fn bare(&mut self) -> &'a str {
        self.scan_while(|b| !matches!(b, b';' | b',' | b'=' | b'"') && !is_ows(b))
    }

    fn value(&mut self) -> Value<'a> {
        match self.peek() {
            Some(b'"') => Value::Text(self.quoted()),
            Some(b':') => {
                // A byte sequence: `:base64:`.
                self.pos += 1;
                self.scan_while(|b| !matches!(b, b':' | b',' | b';'));
                if self.peek() == Some(b':') {
                    self.pos += 1;
                }
                Value::Other
            }
            _ => {
                let text = self.bare();
                // (An empty text parses as no number: `Other`.)
                if text.len() <= 15 && text.bytes().all(|b| b.is_ascii_digit()) {
                    text.parse().map_or(Value::Other, Value::Int)
                } else if text.bytes().next().is_some_and(|b| b.is_ascii_alphabetic()) {
                    Value::Text(text)
                } else {
                    Value::Other
                }
            }
        }
    }

    /// Reads one member and consumes through the `,` after it. `None` for a
    /// member without a name.
    fn member(&mut self) -> Option<Member<'a>> {
        self.skip_ows();
        let mut member = Member {
            name: self.text(),
            ..Member::default()
        };
        member.value = self.eat(b'=').then(|| self.text());
        // Parameters past the cap are not parsed: the skip below passes
        // over them in one scan.
        while member.len < MAX_PARAMS && self.eat(b';') {
            let key = self.bare();
            let value = self.eat(b'=').then(|| self.value());
            member.push(key, value.unwrap_or(Value::Other));
        }
        // Skip what we could not read, up to the next member.
        loop {
            self.scan_while(|b| b != b',' && b != b'"');
            if self.peek() != Some(b'"') {
                break;
            }
            self.quoted();
        }
        if self.peek().is_some() {
            self.pos += 1; // the comma
        }
        (!member.name.is_empty()).then_some(member)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Vec<Member<'_>> {
        let mut budget = MAX_MEMBERS;
        members(text, &mut budget).collect()
    }

    #[test]
    fn draft_examples() {
        let list = all(r#""default";r=50;t=30"#);
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].name, "default");
        assert_eq!(list[0].param("r"), Some(50));
        assert_eq!(list[0].param("t"), Some(30));

        let list = all(r#""burst";q=100;w=60,"daily";q=1000;w=86400"#);
        assert_eq!(list.len(), 2);
        assert_eq!(list[1].name, "daily");
        assert_eq!(list[1].param("q"), Some(1000));
    }

    #[test]
    fn draft_string_and_byte_sequence_parameters() {
        let list = all(r#""peruser";q=100;w=60;qu="requests";pk=:cHsdsRa894==:, "x";r=1"#);
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].get("qu"), Some(Value::Text("requests")));
        assert_eq!(list[0].get("pk"), Some(Value::Other));
        assert_eq!(list[0].param("w"), Some(60));
        assert_eq!(list[1].param("r"), Some(1));
    }

    #[test]
    fn older_draft_dictionary() {
        let list = all("limit=100, remaining=50, reset=5");
        assert_eq!(list.len(), 3);
        assert_eq!(list[0].name, "limit");
        assert_eq!(list[0].value, Some("100"));
        assert_eq!(list[2].value, Some("5"));
    }

    #[test]
    fn tolerates_tokens_quotes_and_garbage() {
        let list = all(r#"day ; r=0 ; t=5, "a,b;c";r=1, ;r=3, "x";r=-1;t=abc"#);
        assert_eq!(list.len(), 3);
        assert_eq!(list[0].name, "day");
        assert_eq!(list[0].param("r"), Some(0));
        assert_eq!(list[1].name, "a,b;c");
        assert_eq!(list[2].param("r"), None);
        assert_eq!(list[2].param("t"), None);
        // Unterminated quotes and stray bytes end the field without a panic.
        assert_eq!(all(r#""open;r=1"#).len(), 1);
        assert_eq!(all(r#"a;r="x, b"#).len(), 1);
        assert!(all(",,,;;;===").is_empty());
    }

    #[test]
    fn stops_after_the_member_budget() {
        let text = "a;r=1,".repeat(1000);
        let mut budget = MAX_MEMBERS;
        STEPS.with(|s| s.set(0));
        assert_eq!(members(&text, &mut budget).count(), MAX_MEMBERS);
        assert_eq!(budget, 0);
        let steps = STEPS.with(|s| s.get());
        assert!(steps <= (MAX_MEMBERS * 8) as u64, "{steps}");
    }

    #[test]
    fn parameters_beyond_the_cap_are_skipped_in_one_scan() {
        let text = format!("a{}", ";p=1".repeat(10_000));
        STEPS.with(|s| s.set(0));
        let list = all(&text);
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].len, MAX_PARAMS);
        let steps = STEPS.with(|s| s.get());
        assert!(
            steps <= text.len() as u64 + 100,
            "{steps} for {}",
            text.len()
        );
    }
}
