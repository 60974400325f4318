//! [`ErrorBodyParseLayer`].

use super::{Dialect, ErrorBodyParse, ErrorParser};
use crate::classification::{Classify, DefaultClassifier};
use std::sync::Arc;
use std::time::Duration;
use tower::Layer;

/// The default cap on an error body: 64 KiB.
pub const DEFAULT_MAX_BODY: usize = 64 * 1024;
/// The default time allowed to read an error body: 10 seconds.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Configuration of the layer and its services: the classifier by value,
/// what only a failure needs behind one `Arc` (one reference count per
/// request, and a small future).
#[derive(Debug, Clone)]
pub(crate) struct ParseConfig<C> {
    pub(crate) classifier: C,
    pub(crate) failure: Arc<FailureConfig>,
}

/// What reading and parsing a failure body needs.
#[derive(Debug, Clone)]
pub(crate) struct FailureConfig {
    pub(crate) parser: ErrorParser,
    pub(crate) max_body: usize,
    pub(crate) body_timeout: Duration,
}

impl Default for ParseConfig<DefaultClassifier> {
    fn default() -> Self {
        ParseConfig {
            classifier: DefaultClassifier::new(),
            failure: Arc::new(FailureConfig {
                parser: ErrorParser::new(),
                max_body: DEFAULT_MAX_BODY,
                body_timeout: DEFAULT_BODY_TIMEOUT,
            }),
        }
    }
}

impl<C> ParseConfig<C> {
    pub(crate) fn with_classifier<C2>(self, classifier: C2) -> ParseConfig<C2> {
        ParseConfig {
            classifier,
            failure: self.failure,
        }
    }
}

/// Wraps a service in an [`ErrorBodyParse`]: successes pass untouched;
/// failures become `Err(Error::Api(ApiError))`.
///
/// # Clone
/// Cheap: the parser's dialects are shared.
#[derive(Debug, Clone)]
pub struct ErrorBodyParseLayer<C = DefaultClassifier> {
    /// Its classifier is read by [`ApiErrorsLayer`](crate::ApiErrorsLayer),
    /// whose retry layer agrees with it.
    pub(crate) config: ParseConfig<C>,
}

impl Default for ErrorBodyParseLayer {
    fn default() -> Self {
        let config = ParseConfig::default();
        ErrorBodyParseLayer { config }
    }
}

impl ErrorBodyParseLayer {
    /// The layer with the built-in dialects, a 64 KiB cap, a 10 s body
    /// timeout and the [`DefaultClassifier`].
    pub fn new() -> Self {
        ErrorBodyParseLayer::default()
    }
}

impl<C> ErrorBodyParseLayer<C> {
    parse_setters!();

    /// Adds a [`Dialect`], tried before the built-in ones.
    pub fn dialect(mut self, dialect: impl Dialect) -> Self {
        let failure = Arc::make_mut(&mut self.config.failure);
        failure.parser = failure.parser.clone().dialect(dialect);
        self
    }

    /// The classifier used for responses that carry no
    /// [`Classification`](crate::classify::Classification) stamp (no
    /// [`StatusClassifierLayer`](crate::StatusClassifierLayer) below).
    pub fn classifier<C2: Classify + Clone>(self, classifier: C2) -> ErrorBodyParseLayer<C2> {
        let config = self.config.with_classifier(classifier);
        ErrorBodyParseLayer { config }
    }
}

impl<S, C: Clone> Layer<S> for ErrorBodyParseLayer<C> {
    type Service = ErrorBodyParse<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        ErrorBodyParse::from_config(inner, self.config.clone())
    }
}
