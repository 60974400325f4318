//! Our classifiers as tower-http classifiers, so the same verdicts can drive
//! `tower_http::trace::TraceLayer` (or any tower-http middleware that takes a
//! `MakeClassifier`).
//!
//! Each of our classifiers implements
//! [`ClassifyResponse`](tower_http::classify::ClassifyResponse) with
//! [`Failure`] as its failure class; wrap one in
//! [`SharedClassifier`](tower_http::classify::SharedClassifier) for a
//! `MakeClassifier`. Errors from the inner service classify as
//! [`ErrorKind::Transport`], retryable.

use super::{Classification, Classify, ClassifyFn, DefaultClassifier, Failure, Refine, WithStatus};
use crate::ErrorKind;
use http::{HeaderMap, Response, StatusCode};
use std::fmt;
use tower_http::classify::{ClassifiedResponse, ClassifyResponse, NeverClassifyEos};

fn classify_response<C: Classify, B>(
    classifier: &C,
    response: &Response<B>,
) -> ClassifiedResponse<Failure, NeverClassifyEos<Failure>> {
    match classifier.classify(response.status(), response.headers()) {
        Classification::Success => ClassifiedResponse::Ready(Ok(())),
        Classification::Failure(failure) => ClassifiedResponse::Ready(Err(failure)),
    }
}

macro_rules! impl_classify_response {
    ($ty:ty $(, $param:ident: $($bound:path)|+)*) => {
        impl<$($param),*> ClassifyResponse for $ty
        where
            Self: Classify,
            $($param: $($bound +)*,)*
        {
            type FailureClass = Failure;
            type ClassifyEos = NeverClassifyEos<Failure>;

            fn classify_response<B>(
                self,
                response: &Response<B>,
            ) -> ClassifiedResponse<Failure, Self::ClassifyEos> {
                classify_response(&self, response)
            }

            fn classify_error<E>(self, _error: &E) -> Failure
            where
                E: fmt::Display + 'static,
            {
                Failure::new(ErrorKind::Transport)
            }
        }
    };
}

impl_classify_response!(DefaultClassifier);
impl_classify_response!(WithStatus<C>, C: Classify);
impl_classify_response!(Refine<C, F>, C: Classify, F: Fn(StatusCode, &HeaderMap, Classification) -> Classification);
impl_classify_response!(ClassifyFn<F>, F: Fn(StatusCode, &HeaderMap) -> Classification);

#[cfg(test)]
mod tests {
    use super::*;
    use tower_http::classify::{MakeClassifier, SharedClassifier};

    #[test]
    fn drives_tower_http_classification() {
        let make = SharedClassifier::new(DefaultClassifier::new());
        let request = http::Request::new(());
        let response = Response::builder().status(503).body(()).unwrap();
        match make.make_classifier(&request).classify_response(&response) {
            ClassifiedResponse::Ready(Err(failure)) => {
                assert_eq!(failure.kind(), ErrorKind::Unavailable);
                assert!(failure.is_retryable());
            }
            other => panic!("expected a ready failure, got {other:?}"),
        }
        let ok = Response::new(());
        assert!(matches!(
            make.make_classifier(&request).classify_response(&ok),
            ClassifiedResponse::Ready(Ok(()))
        ));
    }
}
