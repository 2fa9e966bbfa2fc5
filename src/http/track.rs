//! The one layer around every route: request metrics.
//!
//! A hand-written tower layer rather than `axum::middleware::from_fn`:
//! `from_fn` clones the inner service and boxes both it and its future on
//! every request, which cost more than the whole revocation check. This
//! future records the answer when it completes and allocates nothing.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::response::Response;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

/// Wraps every route (applied with `Router::layer`, so after routing: the
/// request carries its [`MatchedPath`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct TrackRequestsLayer;

impl<S> Layer<S> for TrackRequestsLayer {
    type Service = TrackRequests<S>;
    fn layer(&self, inner: S) -> TrackRequests<S> {
        TrackRequests { inner }
    }
}

/// The service [`TrackRequestsLayer`] makes.
#[derive(Clone, Debug)]
pub struct TrackRequests<S> {
    inner: S,
}

impl<S> Service<Request> for TrackRequests<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Tracked<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        Tracked {
            // The pattern (`/sessions/{id}`), never the raw path, so ids do
            // not explode the label set; cloning it is a reference count.
            route: req.extensions().get::<MatchedPath>().cloned(),
            method: crate::telemetry::method_label(req.method()),
            start: Instant::now(),
            inner: self.inner.call(req),
        }
    }
}

pin_project! {
    /// A route's future that counts and times its answer.
    pub struct Tracked<F> {
        #[pin]
        inner: F,
        route: Option<MatchedPath>,
        method: &'static str,
        start: Instant,
    }
}

impl<F, E> Future for Tracked<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = ready!(this.inner.poll(cx));
        if let Ok(resp) = &out {
            let route = this.route.as_ref().map_or("unmatched", |m| m.as_str());
            crate::telemetry::request_done(
                route,
                this.method,
                resp.status().as_u16(),
                this.start.elapsed(),
            );
        }
        Poll::Ready(out)
    }
}
