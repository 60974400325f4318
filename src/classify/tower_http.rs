//! Our classifiers as tower-http classifiers (features `tower-http-07` and
//! `tower-http-06`), so the same verdicts can drive tower-http's
//! `TraceLayer` (or any tower-http middleware that takes a `MakeClassifier`).
//!
//! Each of our classifiers implements `ClassifyResponse` of each enabled
//! tower-http version with [`Failure`] as its failure class; wrap one in
//! that version's `SharedClassifier` for a `MakeClassifier`. Errors from the
//! inner service classify as [`ErrorKind::Transport`], retryable.

use super::{Classification, Classify, ClassifyFn, DefaultClassifier, Failure, Refine, WithStatus};
use crate::ErrorKind;
use http::{HeaderMap, Response, StatusCode};

/// Implements `$krate`'s `ClassifyResponse` for one of our classifiers.
macro_rules! impl_classify_response {
    ($krate:ident; $ty:ty $(, $param:ident: $($bound:path)|+)*) => {
        impl<$($param),*> ::$krate::classify::ClassifyResponse for $ty
        where
            Self: Classify,
            $($param: $($bound +)*,)*
        {
            type FailureClass = Failure;
            type ClassifyEos = ::$krate::classify::NeverClassifyEos<Failure>;

            fn classify_response<B>(
                self,
                response: &Response<B>,
            ) -> ::$krate::classify::ClassifiedResponse<Failure, Self::ClassifyEos> {
                use ::$krate::classify::ClassifiedResponse;
                match self.classify(response.status(), response.headers()) {
                    Classification::Success => ClassifiedResponse::Ready(Ok(())),
                    Classification::Failure(failure) => ClassifiedResponse::Ready(Err(failure)),
                }
            }

            fn classify_error<E>(self, _error: &E) -> Failure
            where
                E: std::fmt::Display + 'static,
            {
                Failure::new(ErrorKind::Transport)
            }
        }
    };
}

/// Every classifier of ours, for one tower-http version.
/// The two versions' traits have the same shape.
macro_rules! impl_for_tower_http {
    ($krate:ident) => {
        impl_classify_response!($krate; DefaultClassifier);
        impl_classify_response!($krate; WithStatus<C>, C: Classify);
        impl_classify_response!($krate; Refine<C, F>, C: Classify, F: Fn(StatusCode, &HeaderMap, Classification) -> Classification);
        impl_classify_response!($krate; ClassifyFn<F>, F: Fn(StatusCode, &HeaderMap) -> Classification);
    };
}

#[cfg(feature = "tower-http-07")]
impl_for_tower_http!(tower_http);
#[cfg(feature = "tower-http-06")]
impl_for_tower_http!(tower_http_06);

#[cfg(test)]
mod tests {
    use super::*;

    /// The test of one tower-http version's classifiers.
    macro_rules! drives_tower_http {
        ($krate:ident) => {
            mod $krate {
                use super::*;
                use ::$krate::classify::{
                    ClassifiedResponse, ClassifyResponse, MakeClassifier, SharedClassifier,
                };

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
        };
    }

    #[cfg(feature = "tower-http-07")]
    drives_tower_http!(tower_http);
    #[cfg(feature = "tower-http-06")]
    drives_tower_http!(tower_http_06);
}
