//! What one connection is doing, and the watchdog that closes it when it
//! has been doing one thing too long (SPEC §1 and revision 3).
//!
//! A connection is in one of four states, each with its own limit:
//!
//! | state | since | limit |
//! |---|---|---|
//! | idle: no request in flight, no byte of the next | the last response ended | `idle_timeout` |
//! | head: bytes of a request head arriving | its first byte | `header_read_timeout` |
//! | body: the handler has the head, its body is still arriving | the end of the head | `body_read_timeout` (+1 s, see [`BODY_BACKSTOP`]) |
//! | busy: the body is in, the response is being made or written | the end of the body | none |
//!
//! and, whatever the state, a write the socket has accepted nothing of
//! for `idle_timeout` closes the connection: a client that stops reading
//! (a pipeliner that never reads its answers, a feed consumer that stalled)
//! holds its slot no longer than an idle one. A busy connection whose
//! writes progress is never timed out: feed streams are long by design,
//! and stay open exactly while the server is the one writing.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::limits::Limits;

/// No request in flight.
pub const IDLE: u8 = 0;
/// Reading a request head.
pub const HEAD: u8 = 1;
/// Reading a request body.
pub const BODY: u8 = 2;
/// Making or writing a response.
pub const BUSY: u8 = 3;

/// How much longer than `body_read_timeout` the watchdog waits before it
/// closes a connection in the body state itself. The request's body
/// ([`super::body::TimedBody`]) times out first and the handler answers
/// 408; the watchdog is the backstop for a handler that is not reading.
pub const BODY_BACKSTOP: Duration = Duration::from_secs(1);

/// A connection's state and since when, in ms after `epoch`: written by
/// its reads (idle → head), its service (→ body or busy), its request
/// body's end (→ busy) and its response's end (→ idle); read by its
/// watchdog, which every change wakes. Atomics, not a lock: every read and
/// write of the socket looks at it.
pub struct Activity {
    epoch: Instant,
    state: AtomicU8,
    since_ms: AtomicU64,
    /// When a write began waiting for the socket (ms after `epoch`, plus
    /// one so that 0 means "not waiting").
    write_blocked: AtomicU64,
    /// Responses the service owes the connection: made (or being made)
    /// and not yet flushed to the socket. A write while none is owed is
    /// hyper answering a request it could not parse ([`super::io`]).
    owed: AtomicUsize,
    /// Responses that ended since the last flush of the socket.
    ended: AtomicUsize,
    /// The current request's body did not arrive in time: its answer is
    /// replaced by a 408.
    body_timed_out: AtomicBool,
    changed: Notify,
}

impl Activity {
    /// A new connection: idle.
    pub fn new() -> Self {
        Self {
            epoch: Instant::now(),
            state: AtomicU8::new(IDLE),
            since_ms: AtomicU64::new(0),
            write_blocked: AtomicU64::new(0),
            owed: AtomicUsize::new(0),
            ended: AtomicUsize::new(0),
            body_timed_out: AtomicBool::new(false),
            changed: Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// When the current state began.
    pub fn since(&self) -> Instant {
        self.epoch + Duration::from_millis(self.since_ms.load(Ordering::Acquire))
    }

    /// The state now (for tests and the watchdog).
    pub fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }

    fn set(&self, state: u8) {
        self.since_ms.store(self.now_ms(), Ordering::Release);
        self.state.store(state, Ordering::Release);
        self.changed.notify_waiters();
    }

    /// The service took a request: a response is owed, and its body (if
    /// it has one) is still to be read.
    pub fn request_started(&self, has_body: bool) {
        self.owed.fetch_add(1, Ordering::AcqRel);
        self.body_timed_out.store(false, Ordering::Release);
        self.set(if has_body { BODY } else { BUSY });
    }

    /// The request body is in (or failed): nothing more to wait for from
    /// the client until the response is written.
    pub fn body_done(&self) {
        if self.state() == BODY {
            self.set(BUSY);
        }
    }

    /// The request body did not arrive within `body_read_timeout`.
    pub fn body_timed_out(&self) {
        self.body_timed_out.store(true, Ordering::Release);
        self.body_done();
    }

    /// Whether the current request's body timed out.
    pub fn body_did_time_out(&self) -> bool {
        self.body_timed_out.load(Ordering::Acquire)
    }

    /// The response ended (or was dropped): the connection is idle, and
    /// the response is no longer owed once the socket is next flushed.
    pub fn response_ended(&self) {
        self.ended.fetch_add(1, Ordering::AcqRel);
        self.set(IDLE);
    }

    /// The socket was flushed: hyper writes everything it buffered before
    /// it flushes, so every response that had ended is out.
    pub fn flushed(&self) {
        let ended = self.ended.swap(0, Ordering::AcqRel);
        if ended > 0 {
            // Saturating: the counts are only ever a response apart.
            let _ = self
                .owed
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |o| {
                    Some(o.saturating_sub(ended))
                });
        }
    }

    /// Whether no response of the service is owed: what is written now is
    /// hyper's own.
    pub fn nothing_owed(&self) -> bool {
        self.owed.load(Ordering::Acquire) == 0
    }

    /// Bytes arrived: an idle connection has begun a request head.
    pub fn read_some(&self) {
        if self.state() == IDLE {
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

    /// A write found the socket full.
    pub fn write_waiting(&self) {
        if self.write_blocked.load(Ordering::Acquire) == 0 {
            self.write_blocked
                .store(self.now_ms().saturating_add(1), Ordering::Release);
            self.changed.notify_waiters();
        }
    }

    /// A write went through.
    pub fn write_progressed(&self) {
        if self.write_blocked.load(Ordering::Acquire) != 0 {
            self.write_blocked.store(0, Ordering::Release);
        }
    }

    /// When the connection must be closed if nothing changes, if ever.
    fn deadline(&self, limits: &Limits) -> Option<Instant> {
        let limit = match self.state() {
            IDLE => Some(limits.idle_timeout),
            HEAD => Some(limits.header_read_timeout),
            BODY => Some(limits.body_read_timeout + BODY_BACKSTOP),
            _ => None,
        };
        let since = Duration::from_millis(self.since_ms.load(Ordering::Acquire));
        let by_state = limit.map(|l| self.epoch + since + l);
        let blocked = match self.write_blocked.load(Ordering::Acquire) {
            0 => None,
            b => Some(self.epoch + Duration::from_millis(b - 1) + limits.idle_timeout),
        };
        match (by_state, blocked) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Resolves when the connection has been in one state, or waiting to
    /// write, for longer than its limit.
    pub async fn expired(&self, limits: &Limits) {
        loop {
            // Registered before the state is read, so a change made after
            // the read still wakes this wait.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let Some(deadline) = self.deadline(limits) else {
                changed.await;
                continue;
            };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(5),
            max_connections: 1,
            shutdown_grace: Duration::from_secs(1),
        }
    }

    #[test]
    fn reads_start_a_head_only_on_an_idle_connection() {
        let a = Activity::new();
        assert_eq!(a.state(), IDLE);
        a.read_some();
        assert_eq!(a.state(), HEAD);
        a.request_started(true);
        a.read_some();
        assert_eq!(a.state(), BODY, "a body read");
        a.body_done();
        assert_eq!(a.state(), BUSY);
        a.response_ended();
        assert_eq!(a.state(), IDLE);
    }

    #[test]
    fn every_state_but_a_progressing_busy_one_has_a_deadline() {
        let a = Activity::new();
        let l = limits();
        let at = |a: &Activity| a.deadline(&l).map(|d| d.duration_since(a.epoch).as_secs());
        assert_eq!(at(&a), Some(60));
        a.read_some();
        assert_eq!(at(&a), Some(10));
        a.request_started(true);
        assert_eq!(at(&a), Some(6), "body_read_timeout and the backstop");
        a.body_done();
        assert_eq!(at(&a), None, "busy and writing: never timed out");
        a.write_waiting();
        assert_eq!(at(&a), Some(60), "a write stuck for idle_timeout");
        a.write_progressed();
        assert_eq!(at(&a), None);
    }

    #[test]
    fn a_response_is_owed_until_the_flush_after_it_ends() {
        let a = Activity::new();
        assert!(a.nothing_owed());
        a.request_started(false);
        a.request_started(false);
        assert!(!a.nothing_owed());
        a.response_ended();
        a.flushed();
        assert!(!a.nothing_owed(), "the second is still owed");
        a.flushed();
        assert!(!a.nothing_owed(), "a flush alone settles nothing");
        a.response_ended();
        a.flushed();
        assert!(a.nothing_owed());
    }
}
