//! [`StatusClassifierLayer`].

use super::{Classify, DefaultClassifier, StatusClassifier};
use tower::Layer;

/// Wraps a service in a [`StatusClassifier`], which stamps a
/// [`Classification`](super::Classification) into every response's
/// extensions.
///
/// # Clone
/// Cloning clones the classifier; [`DefaultClassifier`] is a zero-sized type.
#[derive(Debug, Clone, Default)]
pub struct StatusClassifierLayer<C = DefaultClassifier> {
    classifier: C,
}

impl StatusClassifierLayer {
    /// A layer with the [`DefaultClassifier`].
    pub fn new() -> Self {
        StatusClassifierLayer::default()
    }
}

impl<C> StatusClassifierLayer<C> {
    /// Replaces the classifier.
    pub fn classifier<C2: Classify + Clone>(self, classifier: C2) -> StatusClassifierLayer<C2> {
        StatusClassifierLayer { classifier }
    }
}

impl<S, C: Clone> Layer<S> for StatusClassifierLayer<C> {
    type Service = StatusClassifier<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        StatusClassifier::with_classifier(inner, self.classifier.clone())
    }
}
