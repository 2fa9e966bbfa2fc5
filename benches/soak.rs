//! Soak: a mixed load at ~70% of peak throughput for minutes, on the real
//! release binary. Reports, every window: requests, errors, p50/p99 latency
//! and the server's RSS, so "0 errors, flat RSS, stable p99" can be read
//! off the output (figures in `docs/soak.md`).
//!
//! The mix, over 10,000 live sessions of 200 users: 90% `GET /protected`,
//! 6% `/token/refresh`, 2% `/logout` then a new login, 2% `/oauth/revoke`
//! of the access token then a refresh. Latency is counted from when a
//! request was *due* (open loop), so a stall shows as latency rather than
//! as fewer requests. argon2 runs at 1 MiB here (logins are a small part of
//! the mix; the soak is about the steady state, not the password hash).
//!
//! Access tokens live 2 minutes (purge every 10 s), so revocations expire
//! within the run and RSS reaches its steady state.
//!
//! `taskset -c 0 cargo bench --bench soak` (10 minutes; the server pins
//! itself to CPU 1); `SOAK_SECS=60` shortens it, `SOAK_LOAD=0.7` sets the
//! fraction of the measured peak.

// A benchmark harness: a failed setup stops it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const USERS: usize = 200;
const SESSIONS: usize = 10_000;
const PASSWORD: &str = "soak-password-123";
const WINDOW: Duration = Duration::from_secs(30);

#[derive(Clone)]
struct Slot {
    user: usize,
    access: String,
    refresh: String,
}

struct Load {
    http: reqwest::Client,
    url: String,
    slots: Vec<Mutex<Slot>>,
    /// Latencies (µs) of the current window, and its error and 401 counts.
    window: Mutex<Vec<u32>>,
    errors: AtomicU64,
    rejected: AtomicU64,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Load {
    async fn post(&self, path: &str, body: Value) -> Option<(u16, Value)> {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .ok()?;
        let status = r.status().as_u16();
        Some((status, r.json().await.unwrap_or(Value::Null)))
    }

    async fn login(&self, user: usize) -> Option<Slot> {
        let body = json!({"username": format!("soak-{user}"), "password": PASSWORD});
        let (200, v) = self.post("/login", body).await? else {
            return None;
        };
        Some(Slot {
            user,
            access: v["access_token"].as_str()?.to_owned(),
            refresh: v["refresh_token"].as_str()?.to_owned(),
        })
    }

    async fn refresh(&self, slot: &Slot) -> Option<Slot> {
        let (200, v) = self
            .post("/token/refresh", json!({"refresh_token": slot.refresh}))
            .await?
        else {
            return None;
        };
        Some(Slot {
            user: slot.user,
            access: v["access_token"].as_str()?.to_owned(),
            refresh: v["refresh_token"].as_str()?.to_owned(),
        })
    }

    /// One operation of the mix on a random slot; `Ok(true)` when every
    /// answer was the expected one, `Ok(false)` for a 401 on a token that
    /// a concurrent operation on the same slot had just replaced.
    async fn one(&self, dice: u64) -> Result<bool, ()> {
        let k = (dice >> 8) as usize % self.slots.len();
        let slot = self.slots[k].lock().map_err(|_| ())?.clone();
        let replaced = match dice % 100 {
            0..90 => {
                let r = self
                    .http
                    .get(format!("{}/protected", self.url))
                    .bearer_auth(&slot.access)
                    .send()
                    .await
                    .map_err(|_| ())?;
                return match r.status().as_u16() {
                    200 => Ok(true),
                    401 => Ok(false),
                    _ => Err(()),
                };
            }
            90..96 => self.refresh(&slot).await,
            96..98 => {
                let r = self
                    .http
                    .post(format!("{}/logout", self.url))
                    .bearer_auth(&slot.access)
                    .send()
                    .await
                    .map_err(|_| ())?;
                if r.status().as_u16() != 200 {
                    return Err(());
                }
                self.login(slot.user).await
            }
            _ => {
                let r = self
                    .http
                    .post(format!("{}/oauth/revoke", self.url))
                    .form(&[("token", slot.access.as_str())])
                    .send()
                    .await
                    .map_err(|_| ())?;
                if r.status().as_u16() != 200 {
                    return Err(());
                }
                self.refresh(&slot).await
            }
        };
        match replaced {
            Some(new) => {
                *self.slots[k].lock().map_err(|_| ())? = new;
                Ok(true)
            }
            // A concurrent operation on the slot got there first.
            None => Ok(false),
        }
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

/// SplitMix64, for the mix.
fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[tokio::main]
async fn main() {
    let secs: u64 = env_or("SOAK_SECS", 600);
    let load_fraction: f64 = env_or("SOAK_LOAD", 0.7);
    let dir = tempfile::tempdir().expect("a temp dir");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut server = std::process::Command::new("taskset")
        .args(["-c", "1", env!("CARGO_BIN_EXE_jwtd"), "serve", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--argon2-memory-kib", "1024", "--argon2-iterations", "1"])
        // Revocations expire (and are purged) within the run, so its RSS
        // shows the steady state rather than an index still filling up.
        .args(["--access-ttl", "2m", "--purge-interval", "10s"])
        .args(["--admin-token", "soak-admin-token-0123456789"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn jwtd (needs taskset): {e}"));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(512)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("builds");
    let started = Instant::now();
    while http.get(format!("{url}/healthz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "jwtd did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let provision = Load {
        http: http.clone(),
        url: url.clone(),
        slots: Vec::new(),
        window: Mutex::new(Vec::new()),
        errors: AtomicU64::new(0),
        rejected: AtomicU64::new(0),
    };
    for u in 0..USERS {
        let body = json!({"username": format!("soak-{u}"), "password": PASSWORD});
        provision.post("/register", body).await;
    }
    let mut slots = Vec::with_capacity(SESSIONS);
    let mut pending = Vec::new();
    for i in 0..SESSIONS {
        pending.push(provision.login(i % USERS));
        if pending.len() == 64 || i + 1 == SESSIONS {
            for s in futures_util::future::join_all(pending.drain(..)).await {
                slots.push(Mutex::new(
                    s.unwrap_or_else(|| panic!("provisioning login failed")),
                ));
            }
        }
    }
    drop(pending);
    let load = Arc::new(Load { slots, ..provision });
    println!(
        "provisioned {SESSIONS} sessions of {USERS} users in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    // Peak: closed loop, 64 workers, 20 s.
    let done = Arc::new(AtomicU64::new(0));
    let peak_until = Instant::now() + Duration::from_secs(20);
    let workers: Vec<_> = (0..64u64)
        .map(|w| {
            let (load, done) = (load.clone(), done.clone());
            tokio::spawn(async move {
                let mut n = w << 40;
                while Instant::now() < peak_until {
                    n += 1;
                    let _ = load.one(mix(n)).await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
    let peak = done.load(Ordering::Relaxed) as f64 / 20.0;
    let rate = peak * load_fraction;
    println!("peak {peak:.0} req/s (closed loop, 64 workers); soak at {rate:.0} req/s for {secs}s");
    println!(
        "| window | requests | errors | 401 on a replaced token | p50 ms | p99 ms | RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|");

    // Soak: open loop at `rate`, reported per window.
    let pid = server.id();
    let soak_start = Instant::now();
    let mut issued = 0u64;
    let mut window_start = Instant::now();
    let mut window_n = 0;
    let tick = Duration::from_millis(2);
    while soak_start.elapsed() < Duration::from_secs(secs) {
        let due_total = (soak_start.elapsed().as_secs_f64() * rate) as u64;
        while issued < due_total {
            issued += 1;
            let load = load.clone();
            let due = Instant::now();
            let dice = mix(issued ^ 0x5eed);
            tokio::spawn(async move {
                let ok = load.one(dice).await;
                let micros = u32::try_from(due.elapsed().as_micros()).unwrap_or(u32::MAX);
                match ok {
                    Ok(true) => {}
                    Ok(false) => {
                        load.rejected.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(()) => {
                        load.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if let Ok(mut w) = load.window.lock() {
                    w.push(micros);
                }
            });
        }
        if window_start.elapsed() >= WINDOW {
            window_n += 1;
            let mut lat =
                std::mem::take(&mut *load.window.lock().unwrap_or_else(|e| e.into_inner()));
            lat.sort_unstable();
            println!(
                "| {window_n} | {} | {} | {} | {:.2} | {:.2} | {:.1} |",
                lat.len(),
                load.errors.swap(0, Ordering::Relaxed),
                load.rejected.swap(0, Ordering::Relaxed),
                percentile(&lat, 0.5),
                percentile(&lat, 0.99),
                rss_kib(pid) as f64 / 1024.0
            );
            window_start = Instant::now();
        }
        tokio::time::sleep(tick).await;
    }
    let _ = server.kill();
    let _ = server.wait();
}
