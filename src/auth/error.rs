//! The auth layer's errors: the types live in the error module (below every
//! layer) and are re-exported here; what stays is the auth layer's own
//! check of a token source's error for the credential.

use super::Credential;
use crate::error::Message;
use crate::BoxError;
use std::error::Error as StdError;
use std::sync::Arc;

pub use crate::error::{AuthFailure, AuthReport, Renewal, Unauthorized};
pub(crate) use crate::error::{Failure, SharedSource};

/// A token source's error whose text contained the credential.
const WITHHELD: Message =
    Message("the token source's error was withheld: its text contained the credential");

/// `error`, unless its text (`Display` or `Debug`, anywhere along its
/// source chain) contains `secret`: then a [`WITHHELD`] note instead. Runs
/// only when a refresh fails.
pub(crate) fn checked(error: BoxError, secret: Option<&Credential>) -> SharedSource {
    let Some(secret) = secret else {
        return Arc::from(error);
    };
    let shows = |error: &(dyn StdError + 'static)| {
        secret.appears_in(&error.to_string()) || secret.appears_in(&format!("{error:?}"))
    };
    if crate::error::chain(&*error).any(shows) {
        return Arc::new(WITHHELD);
    }
    Arc::from(error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("refresh failed")
        }
    }
    impl StdError for Outer {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn an_error_that_shows_the_credential_is_withheld() {
        let secret = Credential::new("tok-9").unwrap();
        let clean = checked("endpoint said 503".into(), Some(&secret));
        assert_eq!(clean.to_string(), "endpoint said 503");
        let direct = checked("cannot refresh tok-9".into(), Some(&secret));
        assert!(direct.to_string().contains("withheld"), "{direct}");
        // Deep in the chain, and only in Debug: still found.
        let nested = Outer(std::io::Error::other("bad grant for tok-9"));
        let nested = checked(Box::new(nested), Some(&secret));
        assert!(nested.to_string().contains("withheld"));
        assert!(nested.source().is_none());
        // Quoted as the form it was sent in (`+`, `/`, `=` escaped).
        let secret = Credential::new("ya29.a0Af+Hb/Xy9=KLMN").unwrap();
        let echo = "invalid_grant: subject_token=ya29.a0Af%2BHb%2FXy9%3DKLMN";
        assert!(checked(echo.into(), Some(&secret))
            .to_string()
            .contains("withheld"));
    }
}
