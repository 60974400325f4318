//! Which parameter and header names carry credentials.
//!
//! A name is split into words at every separator (`_`, `-`, `.`, `[`, `]`,
//! spaces, anything not a letter or digit) and at camelCase boundaries
//! (`accessToken` → `access`, `token`; `APIKey` → `api`, `key`), then
//! matched word by word, case-insensitively. All-lowercase run-together
//! names (`accesstoken`, `clientsecret`) are caught by their endings.
//! Nothing is allocated unless the name has percent-escapes.

use super::rules;

/// Words that make a name a credential wherever they stand in it
/// (`api_key`, `accessToken`, `X-Session-Id`, `user[password]`), each with
/// whether it also marks a run-together lowercase name as an ending
/// (`accesstoken`, `clientsecret`, `dbpassword`, `xapikey`).
const SECRET_WORDS: &[(&str, bool)] = &[
    ("apikey", true),
    // RFC 7521 §4.2's `client_assertion` (a signed JWT or SAML assertion).
    ("assertion", false),
    ("bearer", false),
    ("credential", true),
    ("credentials", true),
    ("jwt", false),
    ("key", false),
    // One-time passwords and passcodes (`otp`, `sms_passcode`).
    ("otp", false),
    ("passcode", true),
    ("passphrase", false),
    ("passwd", true),
    ("password", true),
    ("pwd", false),
    ("secret", true),
    ("session", false),
    ("sessionid", true),
    ("signature", true),
    ("token", true),
];

/// Whole names that are credentials only on their own: as words they are
/// too common (`auth` in `auth_type`, `code` in `status_code`). Written
/// folded (`-` as `_`): `X-Auth` and `X-Authorization` are gateways' and
/// several APIs' credential headers, `Authentication` a common misnaming.
/// The session cookies of Java servlets (`JSESSIONID`), PHP (`PHPSESSID`,
/// also put in the query without cookies) and Express (`connect.sid`),
/// and the `sid` of many others, are credentials no word of theirs names.
const SECRET_NAMES: &[&str] = &[
    "auth",
    "authentication",
    "authorization",
    "code",
    "connect.sid",
    "jsessionid",
    "phpsessid",
    "sid",
    "sig",
    "x_auth",
    "x_authorization",
];

/// True when a query parameter or header of this name carries a
/// credential. Case-insensitive, percent-escapes decoded, user-installed
/// names (see [`Redaction`](super::Redaction)) included.
///
/// ```
/// use tower_api_errors::redact::is_secret_param;
/// for name in ["api_key", "X-Amz-Signature", "github_token", "api%5Fkey", "accessToken",
///              "clientSecret", "sessionToken", "jwt", "bearer", "api_key[]", "user[password]",
///              "X-Api-Key", "accesstoken", "X-Authorization", "X-Auth", "passcode", "otp",
///              "client_assertion"] {
///     assert!(is_secret_param(name), "{name}");
/// }
/// for name in ["page", "status_code", "author", "monkey", "keyword", "sort"] {
///     assert!(!is_secret_param(name), "{name}");
/// }
/// ```
pub fn is_secret_param(name: &str) -> bool {
    // Borrowed as it is when there is no escape to decode.
    is_secret_name(&percent_encoding::percent_decode_str(name).decode_utf8_lossy())
}

pub(crate) fn is_secret_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    if SECRET_NAMES.iter().any(|known| eq_folded(bytes, known)) {
        return true;
    }
    if !may_hold_a_secret_word(bytes) {
        return rules::is_user_secret_name(name);
    }
    let mut secret = false;
    for_each_word(bytes, |word| {
        let ending = word.len() > 4 && word.iter().all(|b| !b.is_ascii_uppercase());
        secret = secret
            || SECRET_WORDS.iter().any(|&(known, ends)| {
                eq_folded(word, known) || (ends && ending && ends_with_folded(word, known))
            });
    });
    secret || rules::is_user_secret_name(name)
}

/// A quick, sound pre-filter: every secret word and ending holds one of
/// these letter pairs (`ke`y, `be`arer, `cr`edential, `jw`t, `ot`p,
/// `pa`ssword, `pw`d, `se`cret, `se`ssion, `si`gnature, `to`ken), so a name without any
/// (`accept`, `content-type`, `host`) is not split into words at all. The
/// parse layer runs this on every request header name.
fn may_hold_a_secret_word(name: &[u8]) -> bool {
    name.windows(2).any(|pair| {
        // `| 0x20` lowercases ASCII letters; what it does to other bytes
        // can only let more names through to the full check.
        let lower = [pair[0] | 0x20, pair[1] | 0x20];
        matches!(
            &lower,
            b"ke" | b"be" | b"cr" | b"jw" | b"ot" | b"pa" | b"pw" | b"se" | b"si" | b"to"
        )
    })
}

/// Calls `f` with each word of `name` (see the module docs).
fn for_each_word(name: &[u8], mut f: impl FnMut(&[u8])) {
    let mut start = None::<usize>;
    for index in 0..name.len() {
        let b = name[index];
        if !b.is_ascii_alphanumeric() {
            if let Some(s) = start.take() {
                f(&name[s..index]);
            }
            continue;
        }
        match start {
            None => start = Some(index),
            Some(s) if index > s && is_camel_boundary(name, index) => {
                f(&name[s..index]);
                start = Some(index);
            }
            Some(_) => {}
        }
    }
    if let Some(s) = start {
        f(&name[s..]);
    }
}

/// A word starts at `index`: `aB` (lower or digit, then upper), or `ABc`
/// (the last capital of an acronym that a lowercase letter follows).
fn is_camel_boundary(name: &[u8], index: usize) -> bool {
    let (previous, current) = (name[index - 1], name[index]);
    let acronym_ends = || name.get(index + 1).is_some_and(u8::is_ascii_lowercase);
    current.is_ascii_uppercase()
        && (previous.is_ascii_lowercase()
            || previous.is_ascii_digit()
            || previous.is_ascii_uppercase() && acronym_ends())
}

fn eq_folded(word: &[u8], known: &str) -> bool {
    word.len() == known.len() && word.iter().zip(known.bytes()).all(|(a, b)| fold(*a) == b)
}

fn ends_with_folded(word: &[u8], end: &str) -> bool {
    word.len() >= end.len() && eq_folded(&word[word.len() - end.len()..], end)
}

/// Lowercase, with `-` read as `_` (so `x-amz-signature` matches too).
fn fold(b: u8) -> u8 {
    match b {
        b'-' => b'_',
        b => b.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(name: &str) -> Vec<String> {
        let mut out = Vec::new();
        for_each_word(name.as_bytes(), |w| {
            out.push(String::from_utf8(w.to_vec()).unwrap())
        });
        out
    }

    #[test]
    fn splits_every_case_convention() {
        assert_eq!(words("accessToken"), ["access", "Token"]);
        assert_eq!(words("APIKey"), ["API", "Key"]);
        assert_eq!(words("x-api-key"), ["x", "api", "key"]);
        assert_eq!(words("user[password]"), ["user", "password"]);
        assert_eq!(words("oauth2Token"), ["oauth2", "Token"]);
        assert_eq!(words("SESSION_ID"), ["SESSION", "ID"]);
        assert_eq!(words("__"), Vec::<String>::new());
    }

    #[test]
    fn the_pre_filter_passes_every_secret_word_and_ending() {
        // The endings are among the words.
        for (word, _) in SECRET_WORDS {
            assert!(may_hold_a_secret_word(word.as_bytes()), "{word}");
            assert!(
                may_hold_a_secret_word(word.to_uppercase().as_bytes()),
                "{word}"
            );
        }
        for common in [
            "accept",
            "content-type",
            "host",
            "content-length",
            "x-request-id",
        ] {
            assert!(!may_hold_a_secret_word(common.as_bytes()), "{common}");
        }
    }

    #[test]
    fn names_from_the_wild() {
        let secret = [
            "accessToken",
            "apiToken",
            "clientSecret",
            "sessionToken",
            "jwt",
            "bearer",
            "api_key[]",
            "x-api-key",
            "X-Goog-Api-Key",
            "x-shopify-access-token",
            "X-Auth-Token",
            "sessionid",
            "private_key",
            "refresh_token",
            "id_token",
            "code",
            "X-Amz-Credential",
            "X-Amz-Security-Token",
            "sig",
            "apikey",
            "authorization",
            "db_password",
            "passphrase",
            "clientsecret",
            "JSESSIONID",
            "PHPSESSID",
            "connect.sid",
            "sid",
        ];
        for name in secret {
            assert!(is_secret_name(name), "{name} should be secret");
        }
        let public = [
            "page",
            "per_page",
            "status_code",
            "author",
            "authority",
            "monkey",
            "keyword",
            "sort",
            "q",
            "cursor",
            "limit",
            "content-type",
            "accept",
            "user-agent",
            "x-request-id",
            "account_sid",
            "side",
        ];
        for name in public {
            assert!(!is_secret_name(name), "{name} should not be secret");
        }
    }
}
