//! A lenient reader for the RFC 8941 lists the IETF rate-limit draft uses:
//! `"default";r=50;t=30, "daily";q=1000;w=86400`.
//!
//! Why not a full RFC 8941 parser: a strict parser rejects a whole field for
//! one bad member, and here a partial answer is worth more than none (one
//! policy with an odd parameter must not hide the exhausted one beside it).
//! We read only what the draft needs: a list of items (string or token) with
//! integer parameters; members or parameters we cannot read are skipped.

/// One list member: its name and its integer parameters.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Member<'a> {
    pub(crate) name: &'a str,
    params: Vec<(&'a str, u64)>,
}

impl Member<'_> {
    /// The value of integer parameter `key`, if present and non-negative.
    pub(crate) fn param(&self, key: &str) -> Option<u64> {
        self.params.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

/// Splits `text` into members, tolerating whitespace and skipping members
/// without a name.
pub(crate) fn parse_list(text: &str) -> Vec<Member<'_>> {
    split_outside_quotes(text, ',')
        .into_iter()
        .filter_map(parse_member)
        .collect()
}

fn parse_member(text: &str) -> Option<Member<'_>> {
    let mut parts = split_outside_quotes(text, ';').into_iter();
    let name = parts.next()?.trim();
    let name = name
        .strip_prefix('"')
        .and_then(|n| n.strip_suffix('"'))
        .unwrap_or(name);
    if name.is_empty() {
        return None;
    }
    let params = parts
        .filter_map(|param| {
            let (key, value) = param.split_once('=')?;
            let value = value.trim();
            // RFC 8941 integers are at most 15 digits; a sign means negative.
            if value.is_empty() || value.len() > 15 || !value.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some((key.trim(), value.parse().ok()?))
        })
        .collect();
    Some(Member { name, params })
}

/// Splits on `separator` where it is not inside a quoted string (`\"`
/// escapes are honoured).
fn split_outside_quotes(text: &str, separator: char) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut escaped = false;
    for (index, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            c if c == separator && !in_quotes => {
                pieces.push(&text[start..index]);
                start = index + c.len_utf8();
            }
            _ => {}
        }
    }
    pieces.push(&text[start..]);
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draft_examples() {
        let members = parse_list(r#""default";r=50;t=30"#);
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].name, "default");
        assert_eq!(members[0].param("r"), Some(50));
        assert_eq!(members[0].param("t"), Some(30));

        let members = parse_list(r#""burst";q=100;w=60,"daily";q=1000;w=86400"#);
        assert_eq!(members.len(), 2);
        assert_eq!(members[1].name, "daily");
        assert_eq!(members[1].param("q"), Some(1000));
    }

    #[test]
    fn tolerates_tokens_quotes_and_garbage() {
        let members = parse_list(r#"day ; r=0 ; t=5, "a,b;c";r=1, ;r=3, "x";r=-1;t=abc"#);
        assert_eq!(members.len(), 3);
        assert_eq!(members[0].name, "day");
        assert_eq!(members[0].param("r"), Some(0));
        assert_eq!(members[1].name, "a,b;c");
        assert_eq!(members[2].param("r"), None);
        assert_eq!(members[2].param("t"), None);
    }
}
