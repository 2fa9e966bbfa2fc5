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
//! * each connection tracks what it is doing (`Activity`): idle (no
//!   request in flight, no byte of the next one), reading a head (since its
//!   first byte), or busy (a request in flight, its response not yet
//!   finished). A watchdog closes it when it has been idle for
//!   `idle_timeout` or reading one head for `header_read_timeout`. A busy
//!   connection is never timed out: SSE streams are long by design.
//! * at most `max_connections` are served at once; past that a new
//!   connection is closed at once, so the ones held keep being answered and
//!   the process never runs out of file descriptors.
//! * on shutdown the listener closes, every connection is told to finish
//!   its request in flight and close (idle ones close at once), and after
//!   `shutdown_grace` whatever is left is cut off and logged.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tower_service::Service as _;

use crate::config::Config;

/// The connection knobs of [`Config`].
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// A head must arrive within this of its first byte.
    pub header_read_timeout: Duration,
    /// An idle connection is closed after this.
    pub idle_timeout: Duration,
    /// Connections served at once, at most.
    pub max_connections: usize,
    /// How long requests in flight may finish after shutdown begins.
    pub shutdown_grace: Duration,
}

impl Limits {
    /// The limits a configuration sets.
    pub fn of(config: &Config) -> Self {
        Self {
            header_read_timeout: config.serve.header_read_timeout,
            idle_timeout: config.serve.idle_timeout,
            max_connections: config.max_connections,
            shutdown_grace: config.serve.shutdown_grace,
        }
    }
}

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

/// What a connection is doing, for its watchdog.
const IDLE: u8 = 0;
const HEAD: u8 = 1;
const BUSY: u8 = 2;

/// A connection's state and since when, in ms after `epoch`: written by
/// its reads (idle → head), its service (→ busy) and its response body's
/// end (→ idle); read by its watchdog, which every change wakes. Atomics,
/// not a lock: every read of the socket looks at it.
struct Activity {
    epoch: Instant,
    state: AtomicU8,
    since_ms: AtomicU64,
    changed: tokio::sync::Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            state: AtomicU8::new(IDLE),
            since_ms: AtomicU64::new(0),
            changed: tokio::sync::Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn set(&self, state: u8) {
        self.since_ms.store(self.now_ms(), Ordering::Release);
        self.state.store(state, Ordering::Release);
        self.changed.notify_waiters();
    }

    /// Bytes arrived: an idle connection has begun a request head.
    fn read_some(&self) {
        if self.state.load(Ordering::Acquire) == IDLE {
            self.since_ms.store(self.now_ms(), Ordering::Release);
            if self
                .state
                .compare_exchange(IDLE, HEAD, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                self.changed.notify_waiters();
            }
        }
    }

    /// Resolves when the connection has been idle or reading one head for
    /// too long.
    async fn expired(&self, limits: &Limits) {
        loop {
            // Registered before the state is read, so a change made after
            // the read still wakes this wait.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let limit = match self.state.load(Ordering::Acquire) {
                IDLE => limits.idle_timeout,
                HEAD => limits.header_read_timeout,
                _ => {
                    changed.await;
                    continue;
                }
            };
            let since = Duration::from_millis(self.since_ms.load(Ordering::Acquire));
            let deadline = self.epoch + since + limit;
            if Instant::now() >= deadline {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep_until(deadline.into()) => {}
                () = changed => {}
            }
        }
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
        let io = TokioIo::new(Watched {
            stream,
            activity: activity.clone(),
        });
        let (router, peer, in_flight) = (self.router, self.peer, self.in_flight);
        let svc_activity = activity.clone();
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            svc_activity.set(BUSY);
            in_flight.fetch_add(1, Ordering::AcqRel);
            let guard = InFlight {
                activity: svc_activity.clone(),
                in_flight: in_flight.clone(),
            };
            let response = router.clone().call(req);
            async move {
                let response = response.await?;
                Ok::<_, Infallible>(response.map(|body| GuardedBody {
                    body,
                    guard: Some(guard),
                }))
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

/// A request in flight: counted for the shutdown log, and its connection
/// busy, until its response body ends or is dropped.
struct InFlight {
    activity: Arc<Activity>,
    in_flight: Arc<AtomicUsize>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.activity.set(IDLE);
    }
}

pin_project_lite::pin_project! {
    /// A response body that ends its request's [`InFlight`] when it ends.
    struct GuardedBody {
        #[pin]
        body: Body,
        guard: Option<InFlight>,
    }
}

impl hyper::body::Body for GuardedBody {
    type Data = axum::body::Bytes;
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

pin_project_lite::pin_project! {
    /// The socket, reporting reads to its connection's [`Activity`].
    struct Watched {
        #[pin]
        stream: TcpStream,
        activity: Arc<Activity>,
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let polled = this.stream.poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.read_some();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.project().stream.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.project().stream.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().stream.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().stream.poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_start_a_head_only_on_an_idle_connection() {
        let a = Activity::new();
        assert_eq!(a.state.load(Ordering::Acquire), IDLE);
        a.read_some();
        assert_eq!(a.state.load(Ordering::Acquire), HEAD);
        a.set(BUSY);
        a.read_some();
        assert_eq!(a.state.load(Ordering::Acquire), BUSY, "a body read");
        a.set(IDLE);
        assert_eq!(a.state.load(Ordering::Acquire), IDLE);
    }
}
