//! The bodies a connection wraps around each request and response, so its
//! [`Activity`] knows when a request body is in and when a response ends.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use hyper::body::{Frame, Incoming, SizeHint};
use tokio::time::Sleep;

use super::activity::Activity;

/// The error a request body gives its reader once `body_read_timeout` has
/// passed without it arriving; the connection answers 408 instead of
/// whatever the handler made of it.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within body_read_timeout")]
pub struct BodyTimeout;

pin_project_lite::pin_project! {
    /// A request body that must arrive within `limit` of the end of its
    /// head (when its connection entered the body state). The timer is
    /// made on the first read that has to wait, so a body that came with
    /// its head costs nothing, not even a clock read.
    pub struct TimedBody {
        #[pin]
        inner: Incoming,
        activity: Arc<Activity>,
        limit: Duration,
        timer: Option<Pin<Box<Sleep>>>,
        done: bool,
    }
}

impl TimedBody {
    /// Wraps `inner`, whose head ended when `activity` entered the body
    /// state.
    pub fn new(inner: Incoming, activity: Arc<Activity>, limit: Duration) -> Self {
        Self {
            inner,
            activity,
            limit,
            timer: None,
            done: false,
        }
    }
}

impl hyper::body::Body for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        if *this.done {
            return Poll::Ready(None);
        }
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(frame))),
            Poll::Ready(other) => {
                *this.done = true;
                this.activity.body_done();
                Poll::Ready(other.map(|r| r.map_err(Into::into)))
            }
            Poll::Pending => {
                let deadline = this.activity.since() + *this.limit;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline.into())));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        *this.done = true;
                        this.activity.body_timed_out();
                        Poll::Ready(Some(Err(Box::new(BodyTimeout))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request in flight: counted for the shutdown log, and its connection
/// busy, until its response body ends or is dropped.
pub struct InFlight {
    activity: Arc<Activity>,
    in_flight: Arc<AtomicUsize>,
}

impl InFlight {
    /// Counts a request that the service has just taken.
    pub fn start(activity: Arc<Activity>, in_flight: Arc<AtomicUsize>, has_body: bool) -> Self {
        activity.request_started(has_body);
        in_flight.fetch_add(1, Ordering::AcqRel);
        Self {
            activity,
            in_flight,
        }
    }
}

impl InFlight {
    /// Whether its request's body did not arrive in time.
    pub fn body_did_time_out(&self) -> bool {
        self.activity.body_did_time_out()
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.activity.response_ended();
    }
}

pin_project_lite::pin_project! {
    /// A response body that ends its request's [`InFlight`] when it ends.
    pub struct GuardedBody {
        #[pin]
        body: Body,
        guard: Option<InFlight>,
    }
}

impl GuardedBody {
    /// `body`, ending `guard` when it ends.
    pub fn new(body: Body, guard: InFlight) -> Self {
        Self {
            body,
            guard: Some(guard),
        }
    }
}

impl hyper::body::Body for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = this.body.poll_frame(cx);
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            this.guard.take();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
