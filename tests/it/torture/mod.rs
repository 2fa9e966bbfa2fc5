//! The torture harness: a seeded, randomized, concurrent workload of every
//! operation (register, logins right and wrong and in bursts, refreshes
//! with replays, parallel tabs and stolen-token reuse, every logout scope,
//! RFC 7009 revocation, admin logout, key rotation and revocation, CLI
//! revocations) against real jwtd processes, while faults are injected:
//! `kill -9` and restart of instances, and in cluster mode Redis killed and
//! restarted and an instance's PostgreSQL connections cut. Every answer is
//! recorded; afterwards [`history::check`] proves the invariants:
//!
//! * (a) no request is accepted with a token whose revocation was
//!   acknowledged before the request began (plus the propagation bound for
//!   another instance or the CLI), and no expired token is;
//! * (b) the same across every restart (the probes after each one);
//! * (c) no refresh chain forks, and no revoked session refreshes;
//! * (d) at most `login_max_failures` password checks per (user, IP);
//! * (e) no 5xx but 503s during faults, every fault followed by recovery;
//! * (f) RSS stays bounded.
//!
//! CI runs a short seeded run of each mode. Longer, other seeds:
//! `JWTD_TORTURE_DURATION=30m JWTD_TORTURE_SEED=7 cargo test --release
//! --test it torture -- --nocapture` (see `docs/torture.md`).

mod history;
mod nodes;
mod workload;

use std::time::{Duration, Instant};

use history::{Bounds, Event};
use nodes::Node;
use workload::{CliTarget, Client, Rng, World};

use crate::helpers::{PASSWORD, server_args};
use crate::services::{self, CuttableProxy, PrivateRedis};

/// Clients running at once.
const CLIENTS: usize = 10;
/// RSS any instance may reach (f).
const MAX_RSS_KIB: u64 = 512 * 1024;
/// Cluster mode's `max_staleness`.
const MAX_STALENESS: Duration = Duration::from_secs(2);

/// Duration and seed of a run, from `JWTD_TORTURE_DURATION` and
/// `JWTD_TORTURE_SEED`.
fn settings(default_run: Duration) -> (Duration, u64) {
    let run = std::env::var("JWTD_TORTURE_DURATION")
        .ok()
        .map(|d| {
            jwtd::config::parse::duration(&d)
                .unwrap_or_else(|e| panic!("JWTD_TORTURE_DURATION: {e}"))
        })
        .unwrap_or(default_run);
    let seed = std::env::var("JWTD_TORTURE_SEED")
        .ok()
        .map(|s| {
            s.parse()
                .unwrap_or_else(|_| panic!("JWTD_TORTURE_SEED: {s:?}"))
        })
        .unwrap_or(1);
    (run, seed)
}

/// Server options shared by both modes: short tokens (expiry and purges
/// happen during the run), one login-failure window for the whole run.
fn common_args(run: Duration) -> Vec<String> {
    let window = (run * 2).max(Duration::from_secs(900)).as_secs();
    let mut args = server_args("1024", "1");
    args.extend(
        [
            "--access-ttl",
            "10s",
            "--leeway",
            "2s",
            "--purge-interval",
            "1s",
            "--login-max-failures",
            "5",
            "--login-failure-window",
            &format!("{window}s"),
        ]
        .map(str::to_owned),
    );
    args
}

/// What a fault injector can act on.
struct Faults {
    nodes: Vec<Node>,
    redis: Option<PrivateRedis>,
    proxies: Vec<CuttableProxy>,
}

impl Faults {
    /// Injects one random fault, recorded with its window.
    async fn inject(&mut self, world: &World, rng: &mut Rng) {
        let start = world.ms();
        let choice = rng.below(if self.redis.is_some() { 3 } else { 1 });
        let i = rng.below(self.nodes.len());
        let (what, instance) = match choice {
            0 => {
                self.nodes[i].kill9().await;
                tokio::time::sleep(rng.millis(100, 800)).await;
                self.nodes[i].restart().await;
                ("kill -9 and restart", Some(i))
            }
            1 => {
                if let Some(r) = self.redis.as_mut() {
                    r.kill();
                    tokio::time::sleep(rng.millis(500, 2000)).await;
                    r.restart();
                }
                ("redis killed and restarted", None)
            }
            _ => {
                self.proxies[i].cut();
                tokio::time::sleep(rng.millis(500, 3000)).await;
                self.proxies[i].restore();
                ("postgres connections cut", Some(i))
            }
        };
        world.record(Event::Fault {
            what,
            instance,
            start,
            end: world.ms(),
        });
    }
}

/// Runs the workload and the faults until the deadline, then the final
/// recovery and probe phases; returns the peak RSS seen per instance.
async fn torture(world: &World, faults: &mut Faults, seed: u64) -> Vec<u64> {
    let clients = (0..CLIENTS)
        .map(|n| Client::new(world, seed ^ ((n as u64 + 1) * 0x9e37), format!("c{n}")).run());
    let mut rng = Rng::new(seed);
    let mut peak = vec![0u64; faults.nodes.len()];
    let chaos = async {
        while Instant::now() + Duration::from_secs(6) < world.deadline {
            let calm = rng.millis(2000, 6000);
            let until = Instant::now() + calm;
            while Instant::now() < until {
                for (p, n) in peak.iter_mut().zip(&faults.nodes) {
                    *p = (*p).max(n.rss_kib().unwrap_or(0));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            faults.inject(world, &mut rng).await;
        }
    };
    tokio::join!(futures_util::future::join_all(clients), chaos);
    peak
}

/// (e), the end: every instance serves a fresh login and answers ready.
async fn recovered(world: &World, i: usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    let name = format!("recovery-{i}");
    let creds = serde_json::json!({"username": name, "password": PASSWORD});
    let url = |p: &str| format!("{}{p}", world.urls[i]);
    let _ = world.http.post(url("/register")).json(&creds).send().await;
    while Instant::now() < deadline {
        let ready = world.http.get(url("/readyz")).send().await;
        let login = world.http.post(url("/login")).json(&creds).send().await;
        if let (Ok(ready), Ok(login)) = (ready, login)
            && ready.status().is_success()
            && login.status().is_success()
        {
            let body: serde_json::Value = login.json().await.expect("a JSON body");
            let access = body["access_token"]
                .as_str()
                .expect("access_token is a string");
            let ok = world
                .http
                .get(url("/protected"))
                .bearer_auth(access)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// After the run: recovery on every instance, a last probe of tokens seen
/// (on every instance), then every invariant.
async fn verdict(world: &World, seed: u64, bounds: Bounds, peak: &[u64]) {
    let mut problems = Vec::new();
    for i in 0..world.urls.len() {
        if !recovered(world, i).await {
            problems.push(format!("instance {i} did not recover after the faults"));
        }
    }
    let mut rng = Rng::new(seed ^ 0xf1a1);
    for (raw, info) in world.sample_seen(300, &mut rng) {
        for i in 0..world.urls.len() {
            world.probe(i, &raw, &info).await;
        }
    }
    for (i, kib) in peak.iter().enumerate() {
        if *kib > MAX_RSS_KIB {
            problems.push(format!("instance {i} reached {kib} KiB RSS"));
        }
    }
    let events = world.events.lock().unwrap_or_else(|e| e.into_inner());
    problems.extend(history::check(&events, bounds));
    for e in events.iter() {
        if let Event::Fault {
            what,
            instance,
            start,
            end,
        } = e
        {
            println!("fault {start}-{end} ms on {instance:?}: {what}");
        }
    }
    let count = |f: fn(&Event) -> bool| events.iter().filter(|e| f(e)).count();
    println!(
        "torture seed {seed}: {} events, {} protected answers, {} revocations, \
         {} refreshes, {} password checks, {} faults, {} 5xx, {} unanswered; \
         peak RSS KiB {peak:?}",
        events.len(),
        count(|e| matches!(e, Event::Protected { .. })),
        count(|e| matches!(e, Event::Revoked { .. })),
        count(|e| matches!(e, Event::Refreshed { .. })),
        count(|e| matches!(e, Event::PasswordChecked { .. })),
        count(|e| matches!(e, Event::Fault { .. })),
        count(|e| matches!(e, Event::ServerError { .. })),
        count(|e| matches!(e, Event::Transport { .. })),
    );
    assert!(
        problems.is_empty(),
        "seed {seed}: {} invariant violations:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Registers the users that only ever get wrong passwords.
async fn besieged(url: &str) -> Vec<String> {
    let http = reqwest::Client::new();
    let names: Vec<String> = (0..3).map(|n| format!("besieged-{n}")).collect();
    for name in &names {
        let creds = serde_json::json!({"username": name, "password": PASSWORD});
        let r = http
            .post(format!("{url}/register"))
            .json(&creds)
            .send()
            .await;
        assert!(r.is_ok_and(|r| r.status().is_success()), "register {name}");
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torture_embedded() {
    let (run, seed) = settings(Duration::from_secs(40));
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut args = common_args(run);
    args.extend(["--data-dir".into(), dir.path().display().to_string()]);
    let node = Node::start(args).await;
    let names = besieged(&node.url()).await;
    let world = World::new(
        vec![node.url()],
        CliTarget::DataDir(dir.path().to_path_buf()),
        run,
        names,
    );
    let mut faults = Faults {
        nodes: vec![node],
        redis: None,
        proxies: Vec::new(),
    };
    let peak = torture(&world, &mut faults, seed).await;
    let bounds = Bounds {
        // The CLI's revocations: the server polls the log every 100 ms
        // and promises 1 s.
        propagation_ms: 1000,
        recovery_ms: 5000,
        max_password_checks: 5,
        leeway_s: 2,
    };
    verdict(&world, seed, bounds, &peak).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torture_cluster() {
    let (run, seed) = settings(Duration::from_secs(45));
    let Some(db) = services::fresh_database().await else {
        return;
    };
    let redis = PrivateRedis::start();
    let channel = services::fresh_channel();
    let pg = "127.0.0.1:5432".parse().expect("parses");
    let mut nodes = Vec::new();
    let mut proxies = Vec::new();
    for _ in 0..3 {
        let proxy = CuttableProxy::start(pg).await;
        let mut args = common_args(run);
        args.extend([
            "--database-url".into(),
            db.replace("127.0.0.1:5432", &proxy.addr.to_string()),
            "--redis-url".into(),
            redis.url(),
            "--redis-channel".into(),
            channel.clone(),
            "--max-staleness".into(),
            format!("{}s", MAX_STALENESS.as_secs()),
        ]);
        nodes.push(Node::start(args).await);
        proxies.push(proxy);
    }
    let names = besieged(&nodes[0].url()).await;
    let world = World::new(
        nodes.iter().map(Node::url).collect(),
        CliTarget::Database(db),
        run,
        names,
    );
    let mut faults = Faults {
        nodes,
        redis: Some(redis),
        proxies,
    };
    let peak = torture(&world, &mut faults, seed).await;
    let bounds = Bounds {
        // Another instance enforces a revocation within max_staleness
        // (the log poll), whatever Redis does.
        propagation_ms: u64::try_from(MAX_STALENESS.as_millis()).unwrap_or(2000) + 500,
        recovery_ms: 10_000,
        max_password_checks: 5,
        leeway_s: 2,
    };
    verdict(&world, seed, bounds, &peak).await;
}
