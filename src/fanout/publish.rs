//! The publishing side of the fan-out: after a commit, the committing
//! instance publishes what it committed (see [`super`]).

use std::time::Duration;

use jwtd_core::revocation::Revocation;
use jwtd_core::wire::RevocationItem;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

/// How long a publish may take before the request goes on without it (the
/// log poll will deliver the revocation anyway).
const PUBLISH_TIMEOUT: Duration = Duration::from_millis(250);

/// One message on the channel.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Event {
    /// A committed revocation.
    Revocation(RevocationItem),
    /// Signing keys changed (rotation or revocation): reload them.
    Keys,
}

impl From<&Revocation> for Event {
    fn from(r: &Revocation) -> Self {
        Self::Revocation(RevocationItem::from(r))
    }
}

/// The publishing side: one multiplexed connection, re-made after errors.
pub struct Fanout {
    client: redis::Client,
    channel: String,
    conn: Mutex<Option<redis::aio::MultiplexedConnection>>,
}

impl Fanout {
    /// A fan-out over `url` on `channel` (connects lazily).
    pub fn new(url: &str, channel: &str) -> Result<Self, redis::RedisError> {
        Ok(Self {
            client: redis::Client::open(url)?,
            channel: channel.to_owned(),
            conn: Mutex::new(None),
        })
    }

    /// Publishes events, best effort: a failure is logged and counted, and
    /// the log poll delivers them instead.
    pub async fn publish(&self, events: &[Event]) {
        if events.is_empty() {
            return;
        }
        let sent = tokio::time::timeout(PUBLISH_TIMEOUT, self.try_publish(events)).await;
        if !matches!(sent, Ok(Ok(()))) {
            metrics::counter!("jwtd_fanout_publish_failures_total").increment(1);
            tracing::warn!("redis publish failed; peers will catch up from the log");
            *self.conn.lock().await = None;
        }
    }

    async fn try_publish(&self, events: &[Event]) -> redis::RedisResult<()> {
        // The lock covers only getting a handle: a multiplexed connection is
        // a cheap clone that pipelines concurrent commands, so publishes from
        // concurrent requests go out together instead of one network round
        // trip at a time.
        let mut conn = {
            let mut guard = self.conn.lock().await;
            match guard.as_ref() {
                Some(conn) => conn.clone(),
                None => {
                    let conn = self.client.get_multiplexed_async_connection().await?;
                    *guard = Some(conn.clone());
                    conn
                }
            }
        };
        let mut pipe = redis::pipe();
        for e in events {
            let payload = serde_json::to_string(e).unwrap_or_default();
            pipe.cmd("PUBLISH").arg(&self.channel).arg(payload).ignore();
        }
        pipe.query_async::<()>(&mut conn).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jwtd_core::revocation::RevocationKind;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// Splits complete RESP commands (arrays of bulk strings) off `buf`.
    fn commands(buf: &mut Vec<u8>) -> Vec<Vec<String>> {
        fn line(b: &[u8], at: usize) -> Option<(&[u8], usize)> {
            let end = b.get(at..)?.windows(2).position(|w| w == b"\r\n")? + at;
            Some((&b[at..end], end + 2))
        }
        let mut out = Vec::new();
        loop {
            let parsed = (|| {
                let (head, mut at) = line(buf, 0)?;
                let n: usize = std::str::from_utf8(head.strip_prefix(b"*")?)
                    .ok()?
                    .parse()
                    .ok()?;
                let mut args = Vec::new();
                for _ in 0..n {
                    let (len, next) = line(buf, at)?;
                    let len: usize = std::str::from_utf8(len.strip_prefix(b"$")?)
                        .ok()?
                        .parse()
                        .ok()?;
                    let arg = buf.get(next..next + len)?;
                    args.push(String::from_utf8_lossy(arg).into_owned());
                    at = next + len + 2;
                    if buf.len() < at {
                        return None;
                    }
                }
                Some((args, at))
            })();
            match parsed {
                Some((args, used)) => {
                    buf.drain(..used);
                    out.push(args);
                }
                None => return out,
            }
        }
    }

    /// Publishes from concurrent requests are in flight together: a fake
    /// Redis holds its replies to PUBLISH until it has seen all of them
    /// (or a second passes), and counts how many arrived meanwhile. With a
    /// lock held across the network call, only one ever would.
    #[tokio::test]
    async fn concurrent_publishes_share_the_connection() {
        const N: usize = 8;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds a port");
        let addr = listener.local_addr().expect("a local address");
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.expect("accepts a connection");
            let (mut buf, mut held, mut most) = (Vec::new(), 0usize, 0usize);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
            let mut chunk = [0u8; 4096];
            loop {
                let read = tokio::time::timeout_at(deadline, sock.read(&mut chunk)).await;
                let n = match read {
                    Ok(Ok(0)) | Ok(Err(_)) => return most,
                    Ok(Ok(n)) => n,
                    Err(_) => 0,
                };
                buf.extend_from_slice(&chunk[..n]);
                let mut reply = Vec::new();
                for cmd in commands(&mut buf) {
                    if cmd
                        .first()
                        .is_some_and(|c| c.eq_ignore_ascii_case("publish"))
                    {
                        held += 1;
                        most = most.max(held);
                    } else {
                        reply.extend_from_slice(b"+OK\r\n");
                    }
                }
                if !reply.is_empty() {
                    let _ = sock.write_all(&reply).await;
                }
                if held >= N || n == 0 {
                    let _ = sock.write_all(&b":0\r\n".repeat(held)).await;
                    return most;
                }
            }
        });
        let fanout = std::sync::Arc::new(
            Fanout::new(&format!("redis://{addr}"), "test").expect("constructs"),
        );
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..N {
            let f = fanout.clone();
            tasks.spawn(async move { f.publish(&[Event::Keys]).await });
        }
        while tasks.join_next().await.is_some() {}
        let most = server.await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(most, N, "publishes waited for each other");
    }

    #[test]
    fn events_round_trip_as_json() {
        let r = Revocation {
            kind: RevocationKind::Session,
            value: "abc".into(),
            revoked_at: 1,
            expires_at: 2,
        };
        let e = Event::from(&r);
        let text = serde_json::to_string(&e).expect("to_string succeeds");
        assert!(text.contains(r#""t":"revocation""#), "{text}");
        assert_eq!(serde_json::from_str::<Event>(&text).ok(), Some(e));
        assert_eq!(
            serde_json::from_str::<Event>(r#"{"t":"keys"}"#).ok(),
            Some(Event::Keys)
        );
    }
}
