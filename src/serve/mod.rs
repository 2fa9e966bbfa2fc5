//! The accept loop: HTTP/1 connections with a bound on how many are open,
//! a header-read and an idle timeout, and graceful shutdown (SPEC §1).
//!
//! `axum::serve` has none of these: it keeps every connection for as long
//! as the client likes (a slowloris client, or thousands of idle keep-alive
//! connections, hold file descriptors forever) and waits for every one of
//! them at shutdown (an SSE consumer made SIGTERM wait forever). hyper's
//! own `header_read_timeout` counts from the end of the previous response,
//! so it is an idle timeout and a header timeout in one; the SPEC has two.
//! So jwtd serves hyper connections itself:
//!
//! * each connection tracks what it is doing ([`activity`]): idle,
//!   reading a head, reading a body, or busy; each state but busy has its
//!   limit (`idle_timeout`, `header_read_timeout`, `body_read_timeout`),
//!   and a write that makes no progress for `idle_timeout` closes it in any
//!   state. A busy connection whose writes progress is never timed out:
//!   SSE streams are long by design.
//! * a body that does not arrive within `body_read_timeout` of its head
//!   fails its reader ([`body`]); the handler's answer is replaced with a
//!   408 JSON error and the connection closes.
//! * the errors hyper answers itself (400, 414, 431) get the JSON error
//!   shape ([`io`]).
//! * at most `max_connections` are served at once; past that a new
//!   connection is closed at once, so the ones held keep being answered and
//!   the process never runs out of file descriptors.
//! * on shutdown the listener closes, every connection is told to finish
//!   its request in flight and close (idle ones close at once), and after
//!   `shutdown_grace` whatever is left is cut off and logged.

mod activity;
mod body;
mod io;
mod limits;

pub use limits::Limits;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tower_service::Service as _;

use self::activity::Activity;
use self::body::{GuardedBody, InFlight, TimedBody};
use self::io::Watched;

/// Serves `router` on `listener` until `shutdown` resolves, then drains
/// (see the module docs). Returns once every connection is closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let (drain_tx, drain_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        // Reap finished connections, so the set holds only live ones.
        while connections.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors or similar: back off rather than
                // spin on an error that the next accept will repeat.
                tracing::warn!(error = %e, "accept failed");
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(Duration::from_millis(50)) => continue,
                }
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics::counter!("jwtd_connections_refused_total").increment(1);
            drop(stream);
            continue;
        };
        let conn = Connection {
            router: router.clone(),
            limits,
            peer,
            in_flight: in_flight.clone(),
            _slot: slot,
        };
        connections.spawn(conn.run(stream, drain_rx.clone()));
    }
    drop(listener);
    let _ = drain_tx.send(true);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            requests = in_flight.load(Ordering::Acquire),
            connections = connections.len(),
            "shutdown grace over: cutting off requests still in flight"
        );
        connections.shutdown().await;
    }
}

/// One accepted connection and what serving it needs.
struct Connection {
    router: Router,
    limits: Limits,
    peer: SocketAddr,
    in_flight: Arc<AtomicUsize>,
    /// Its place under `max_connections`, given back when it closes.
    _slot: OwnedSemaphorePermit,
}

impl Connection {
    async fn run(self, stream: TcpStream, mut drain: watch::Receiver<bool>) {
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Watched::new(stream, activity.clone()));
        let (router, peer, in_flight) = (self.router, self.peer, self.in_flight);
        let (svc_activity, body_limit) = (activity.clone(), self.limits.body_read_timeout);
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let has_body = !hyper::body::Body::is_end_stream(req.body());
            let mut req = req.map(|b| TimedBody::new(b, svc_activity.clone(), body_limit));
            req.extensions_mut().insert(ConnectInfo(peer));
            let guard = InFlight::start(svc_activity.clone(), in_flight.clone(), has_body);
            let response = router.clone().call(req);
            async move {
                let mut response = response.await?;
                if guard.body_did_time_out() {
                    // Whatever the handler made of a body that never came.
                    response = body_timeout_response();
                }
                Ok::<_, Infallible>(response.map(|body| GuardedBody::new(body, guard)))
            }
        });
        let conn = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
        tokio::pin!(conn);
        let mut draining = *drain.borrow();
        if draining {
            conn.as_mut().graceful_shutdown();
        }
        loop {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    return;
                }
                () = activity.expired(&self.limits) => {
                    // Dropping the connection closes the socket.
                    tracing::debug!(%peer, "connection timed out");
                    metrics::counter!("jwtd_connections_timed_out_total").increment(1);
                    return;
                }
                changed = drain.changed(), if !draining => {
                    draining = true;
                    if changed.is_ok() {
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        }
    }
}

/// 408 for a request whose body did not arrive within
/// `body_read_timeout`; the connection closes after it (what is left of
/// the body could never be told from the next request).
fn body_timeout_response() -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let mut response = crate::http::ApiError::RequestTimeout.into_response();
    response.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    response
}
