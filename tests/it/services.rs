//! The real PostgreSQL and Redis of the machine (fresh database and channel
//! per test), and faults we control: a private `redis-server` we can kill
//! and restart, and a TCP proxy to PostgreSQL we can cut.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::helpers::free_port;

/// The machine's PostgreSQL, as the admin URL of its `postgres` database.
const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// The machine's Redis.
pub const REDIS: &str = "redis://127.0.0.1:6379";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A missing service fails the test in CI and skips it (with a reason)
/// elsewhere.
fn unavailable(what: &str) -> Option<String> {
    assert!(
        !in_ci(),
        "{what} is not reachable; scripts/test.sh starts it"
    );
    eprintln!("skipping: {what} is not reachable");
    None
}

/// Creates a fresh database and returns its URL.
pub async fn fresh_database() -> Option<String> {
    let Ok(admin) = sqlx::PgPool::connect(PG_ADMIN).await else {
        return unavailable("PostgreSQL at 127.0.0.1:5432");
    };
    // The name carries its creation time, so later runs can drop databases
    // that earlier runs left behind (older than an hour: never a live one).
    let now = jwtd::core::clock::unix_now();
    let existing: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'jwtd_test_%'")
            .fetch_all(&admin)
            .await
            .expect("fetch_all succeeds");
    for old in existing {
        let created = old.split('_').nth(2).and_then(|t| t.parse::<i64>().ok());
        if created.is_none_or(|t| t < now - 3600) {
            let drop = format!("DROP DATABASE IF EXISTS {old} WITH (FORCE)");
            let _ = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&admin).await;
        }
    }
    let random: String = jwtd::core::id::Id128::random().0[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let name = format!("jwtd_test_{now}_{random}");
    let sql = format!("CREATE DATABASE {name}");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&admin)
        .await
        .expect("execute succeeds");
    admin.close().await;
    Some(format!("postgres://postgres@127.0.0.1:5432/{name}"))
}

/// Whether the machine's Redis answers.
pub async fn redis_up() -> bool {
    let ok = async {
        let c = redis::Client::open(REDIS).ok()?;
        let mut conn = c.get_multiplexed_async_connection().await.ok()?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .ok()
    };
    if tokio::time::timeout(Duration::from_secs(2), ok)
        .await
        .ok()
        .flatten()
        .is_some()
    {
        true
    } else {
        unavailable("Redis at 127.0.0.1:6379").is_some()
    }
}

/// A fresh channel name, so concurrent clusters never hear each other.
pub fn fresh_channel() -> String {
    format!("jwtd-test:{}", jwtd::core::id::Id128::random())
}

/// A private redis-server on a free port, stopped by its own pid.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl PrivateRedis {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut r = Self {
            port: free_port(),
            child: None,
            dir,
        };
        r.restart();
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// (Re)starts it on the same port and waits until it answers.
    pub fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &self.port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("redis-server: {e}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "private redis did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, by pid.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A TCP proxy to `target` that can be cut (every connection dropped, new
/// ones refused) and restored: a database outage for one instance only.
pub struct CuttableProxy {
    pub addr: SocketAddr,
    cut: Arc<AtomicBool>,
    cut_tx: watch::Sender<bool>,
}

impl CuttableProxy {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds a port");
        let addr = listener.local_addr().expect("a local address");
        let cut = Arc::new(AtomicBool::new(false));
        let (cut_tx, cut_rx) = watch::channel(false);
        let flag = cut.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if flag.load(Ordering::SeqCst) {
                    continue; // dropped: connection refused in effect
                }
                let mut rx = cut_rx.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = rx.wait_for(|c| *c) => {}
                    }
                });
            }
        });
        Self { addr, cut, cut_tx }
    }

    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        let _ = self.cut_tx.send(true);
    }

    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
        let _ = self.cut_tx.send(false);
    }
}
