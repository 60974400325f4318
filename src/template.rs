//! [`RequestTemplate`]: the copy of a request that the layers which send
//! it again (the retry layer; the auth layer after a renewal) keep.

use crate::redact::RequestContext;
use http::request::Parts;
use http::{Extensions, HeaderMap, HeaderName, HeaderValue, Method, Request, Uri, Version};
use std::cell::OnceCell;

/// Everything of a request but its body, kept to build it again.
///
/// The headers are kept as a flat list: a copy of a `HeaderMap` allocates
/// its index table and its entries and costs more to drop, and most
/// requests are never sent again. The map is built from the list once, the
/// first time it is needed (a failure), and every re-send clones it.
pub(crate) struct RequestTemplate {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    version: Version,
    headers: Vec<(HeaderName, HeaderValue)>,
    // Boxed: only a failure builds it, and the futures that hold a
    // template move on every call.
    map: OnceCell<Box<HeaderMap>>,
    extensions: Extensions,
}

impl RequestTemplate {
    /// A copy of `parts` (the header values are shared, not copied).
    pub(crate) fn new(parts: &Parts) -> Self {
        let mut headers = Vec::with_capacity(parts.headers.len());
        headers.extend(
            parts
                .headers
                .iter()
                .map(|(name, value)| (name.clone(), value.clone())),
        );
        RequestTemplate {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            version: parts.version,
            headers,
            map: OnceCell::new(),
            extensions: parts.extensions.clone(),
        }
    }

    /// The headers as a map, built once from the list (order and repeated
    /// names kept).
    pub(crate) fn headers(&self) -> &HeaderMap {
        self.map.get_or_init(|| {
            let mut map = HeaderMap::with_capacity(self.headers.len());
            for (name, value) in &self.headers {
                map.append(name.clone(), value.clone());
            }
            Box::new(map)
        })
    }

    pub(crate) fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// The request again, with `body`.
    pub(crate) fn build<B>(&self, body: B) -> Request<B> {
        let mut request = Request::new(body);
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.version_mut() = self.version;
        *request.headers_mut() = self.headers().clone();
        *request.extensions_mut() = self.extensions.clone();
        request
    }

    /// The request as errors name it.
    pub(crate) fn context(&self) -> RequestContext {
        RequestContext::new(self.method.clone(), self.uri.clone())
    }
}
