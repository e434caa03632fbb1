//! The Lambda runtime loop of the HTTP functions: each `main.rs` hands its handler to
//! [`serve_http`].

use std::future::Future;
use std::pin::Pin;

use lambda_http::{service_fn, Body, Error, IntoResponse, Request, Response};

/// Serves API Gateway (HTTP API, payload v2) requests with `handler` until the runtime stops.
///
/// Every handler answers a finished [`Response<Body>`] (JSON text or empty, built by
/// [`crate::api::http`]), so it is handed to the runtime as it is: lambda_http's own conversion of
/// a `Response<B>` would re-read the body and decode it by the `Content-Type` charset, which links
/// encoding_rs' tables (~0.15 MB) into every bootstrap to turn UTF-8 into UTF-8.
pub async fn serve_http<F, Fut>(handler: F) -> Result<(), Error>
where
    F: Fn(Request) -> Fut,
    Fut: Future<Output = Response<Body>> + Send,
{
    lambda_http::run(service_fn(|req: Request| {
        let answer = handler(req);
        async move { Ok::<_, Error>(Finished(answer.await)) }
    }))
    .await
}

/// A response that is already what the runtime sends.
struct Finished(Response<Body>);

impl IntoResponse for Finished {
    fn into_response(self) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>> {
        Box::pin(std::future::ready(self.0))
    }
}
