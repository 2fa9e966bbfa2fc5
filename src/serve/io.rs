//! The socket as hyper sees it: reads and writes reported to the
//! connection's [`Activity`], and the answers hyper makes itself given the
//! SPEC's JSON error shape.
//!
//! hyper answers a request it cannot parse (a bad request line or header
//! 400, a URI over 64 KiB 414, a head too large 431) by itself, with an
//! empty body, and has no hook to change that. It writes such an answer
//! only when no response of the service is being written and then closes
//! the connection; so a response head written while the service owes none
//! ([`Activity::nothing_owed`]) is hyper's, and is swapped here for the
//! same status with a JSON body. (One case is left as hyper writes it: a
//! pipelined head that fails to parse while the previous response is still
//! being flushed goes out in the same write; its status is still right.)

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::activity::Activity;

/// The JSON error response for a request hyper refused with `status`.
fn refusal(status: u16) -> Vec<u8> {
    let (reason, code, description) = match status {
        414 => (
            "URI Too Long",
            "uri_too_long",
            "the request target is too long",
        ),
        431 => (
            "Request Header Fields Too Large",
            "headers_too_large",
            "the request head is too large",
        ),
        _ => (
            "Bad Request",
            "invalid_request",
            "the request could not be parsed as HTTP/1.1",
        ),
    };
    let status = if matches!(status, 414 | 431) {
        status
    } else {
        400
    };
    let body = serde_json::json!({"error": code, "error_description": description}).to_string();
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The status of a response head (`HTTP/1.1 431 …`), once all of it is in.
fn head_status(head: &[u8]) -> Option<u16> {
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    let line = head.get(..end)?.split(|b| *b == b'\r').next()?;
    let code = line.split(|b| *b == b' ').nth(1)?;
    std::str::from_utf8(code).ok()?.parse().ok()
}

/// Largest head hyper writes for its own answers; anything longer is not
/// one, and is passed through.
const MAX_OWN_HEAD: usize = 512;

pin_project_lite::pin_project! {
    /// The socket, reporting reads and writes to its connection's
    /// [`Activity`].
    pub struct Watched {
        #[pin]
        stream: TcpStream,
        activity: Arc<Activity>,
        // hyper's own answer, collected until its head is complete.
        own_head: Vec<u8>,
        // Bytes to write before anything hyper writes next (our answer in
        // place of hyper's), and how much of them is written.
        pending: Vec<u8>,
        written: usize,
        // hyper's answer was replaced: whatever it adds is swallowed.
        replaced: bool,
    }
}

impl Watched {
    /// Wraps an accepted socket.
    pub fn new(stream: TcpStream, activity: Arc<Activity>) -> Self {
        Self {
            stream,
            activity,
            own_head: Vec::new(),
            pending: Vec::new(),
            written: 0,
            replaced: false,
        }
    }

    /// Writes what is left of `pending`; ready once all of it is out.
    fn poll_pending(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let mut this = self.project();
        while let Some(rest) = this.pending.get(*this.written..).filter(|r| !r.is_empty()) {
            match this.stream.as_mut().poll_write(cx, rest) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => {
                    this.activity.write_progressed();
                    *this.written += n;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    this.activity.write_waiting();
                    return Poll::Pending;
                }
            }
        }
        this.pending.clear();
        *this.written = 0;
        Poll::Ready(Ok(()))
    }

    /// Takes a write of hyper's while the service owes no response: the
    /// head of hyper's own answer, collected and replaced once complete.
    /// `None` when it cannot be one (too long): what was held is queued
    /// and this write goes out as it is.
    fn take_own(self: Pin<&mut Self>, buf: &[u8]) -> Option<usize> {
        let this = self.project();
        if this.own_head.len() + buf.len() > MAX_OWN_HEAD {
            let held = std::mem::take(this.own_head);
            this.pending.extend_from_slice(&held);
            return None;
        }
        this.own_head.extend_from_slice(buf);
        if let Some(status) = head_status(this.own_head) {
            this.pending.extend_from_slice(&refusal(status));
            this.own_head.clear();
            *this.replaced = true;
        }
        Some(buf.len())
    }
}

/// Reports a write's outcome to the activity.
fn report<T>(activity: &Activity, polled: &Poll<std::io::Result<T>>) {
    match polled {
        Poll::Pending => activity.write_waiting(),
        Poll::Ready(Ok(_)) => activity.write_progressed(),
        Poll::Ready(Err(_)) => {}
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
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        std::task::ready!(self.as_mut().poll_pending(cx))?;
        if self.replaced {
            return Poll::Ready(Ok(buf.len()));
        }
        if self.activity.nothing_owed() || !self.own_head.is_empty() {
            if let Some(n) = self.as_mut().take_own(buf) {
                return Poll::Ready(Ok(n));
            }
            std::task::ready!(self.as_mut().poll_pending(cx))?;
        }
        let this = self.project();
        let polled = this.stream.poll_write(cx, buf);
        report(this.activity, &polled);
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        if self.activity.nothing_owed()
            || self.replaced
            || !self.pending.is_empty()
            || !self.own_head.is_empty()
        {
            // Rare (hyper's own answers): one slice at a time, through
            // the path that recognises them.
            return match bufs.iter().find(|b| !b.is_empty()) {
                Some(b) => self.poll_write(cx, b),
                None => Poll::Ready(Ok(0)),
            };
        }
        let this = self.project();
        let polled = this.stream.poll_write_vectored(cx, bufs);
        report(this.activity, &polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if !self.own_head.is_empty() {
            // Flushed with a head still incomplete: it was not hyper's
            // answer; it goes out as it was.
            let this = self.as_mut().project();
            let held = std::mem::take(this.own_head);
            this.pending.extend_from_slice(&held);
        }
        std::task::ready!(self.as_mut().poll_pending(cx))?;
        // hyper writes all it buffered before it flushes.
        self.activity.flushed();
        self.project().stream.poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        std::task::ready!(self.as_mut().poll_pending(cx))?;
        self.project().stream.poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_heads_are_recognised_once_complete() {
        assert_eq!(head_status(b"HTTP/1.1 431 Request Header"), None);
        assert_eq!(
            head_status(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n"
            ),
            Some(431)
        );
        assert_eq!(head_status(b"garbage\r\n\r\n"), None);
    }

    #[test]
    fn refusals_carry_the_json_shape() {
        for (status, code) in [
            (400, "invalid_request"),
            (414, "uri_too_long"),
            (431, "headers_too_large"),
            (505, "invalid_request"),
        ] {
            let r = String::from_utf8(refusal(status)).expect("ascii");
            let (head, body) = r.split_once("\r\n\r\n").expect("a head and a body");
            let expect = if status == 505 { 400 } else { status };
            assert!(head.starts_with(&format!("HTTP/1.1 {expect} ")), "{head}");
            assert!(head.contains(&format!("content-length: {}", body.len())));
            let v: serde_json::Value = serde_json::from_str(body).expect("JSON");
            assert_eq!(v["error"], code);
        }
    }
}
