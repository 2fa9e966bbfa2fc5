//! The clients of a torture run: seeded random mixes of every operation a
//! user, an attacker and an operator perform, each answer recorded in the
//! history.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use jwtd::core::token::decode_unverified;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::history::{Event, Target, TokenInfo};
use crate::helpers::{ADMIN_TOKEN, PASSWORD, jwtd_bin};

/// SplitMix64: small, seedable, good enough to pick operations.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// Uniform in `lo..hi` milliseconds.
    pub fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo).max(1))
    }
}

/// How the CLI reaches the store the servers use.
pub enum CliTarget {
    DataDir(std::path::PathBuf),
    Database(String),
}

/// What every client shares: where the servers are, the clock of the run,
/// the history, and the tokens seen so far (probed by everyone).
pub struct World {
    pub urls: Vec<String>,
    pub epoch: Instant,
    pub deadline: Instant,
    pub http: reqwest::Client,
    pub cli: CliTarget,
    pub events: Mutex<Vec<Event>>,
    seen: Mutex<Vec<(String, TokenInfo)>>,
    /// Users that only ever get wrong passwords (the login limit's prey).
    pub besieged: Vec<String>,
}

/// Most tokens kept for probing.
const SEEN_CAP: usize = 4000;

impl World {
    pub fn new(urls: Vec<String>, cli: CliTarget, run: Duration, besieged: Vec<String>) -> Self {
        let http = reqwest::Client::builder()
            // Below the server's idle_timeout: a pooled connection the server
            // has just closed for idleness would fail a request.
            .pool_idle_timeout(Duration::from_secs(20))
            .timeout(Duration::from_secs(20))
            .build()
            .expect("builds");
        let epoch = Instant::now();
        Self {
            urls,
            epoch,
            deadline: epoch + run,
            http,
            cli,
            events: Mutex::new(Vec::new()),
            seen: Mutex::new(Vec::new()),
            besieged,
        }
    }

    pub fn ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub fn record(&self, e: Event) {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(e);
    }

    fn remember(&self, raw: &str, info: &TokenInfo, rng: &mut Rng) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() < SEEN_CAP {
            seen.push((raw.to_owned(), info.clone()));
        } else {
            let i = rng.below(SEEN_CAP);
            seen[i] = (raw.to_owned(), info.clone());
        }
    }

    fn any_seen(&self, rng: &mut Rng) -> Option<(String, TokenInfo)> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.is_empty() {
            return None;
        }
        Some(seen[rng.below(seen.len())].clone())
    }

    /// Up to `n` tokens seen, for the final probe.
    pub fn sample_seen(&self, n: usize, rng: &mut Rng) -> Vec<(String, TokenInfo)> {
        (0..n).filter_map(|_| self.any_seen(rng)).collect()
    }

    /// Sends a request to instance `i`; records 5xx and unanswered ones.
    async fn send(
        &self,
        i: usize,
        what: &'static str,
        req: reqwest::RequestBuilder,
    ) -> Option<(StatusCode, Value)> {
        match req.send().await {
            Ok(r) => {
                let status = r.status();
                if status.is_server_error() {
                    self.record(Event::ServerError {
                        instance: i,
                        at: self.ms(),
                        status: status.as_u16(),
                        what,
                    });
                }
                Some((status, r.json().await.unwrap_or(Value::Null)))
            }
            Err(_) => {
                self.record(Event::Transport {
                    instance: i,
                    at: self.ms(),
                    what,
                });
                // The instance is down: do not spin on it.
                tokio::time::sleep(Duration::from_millis(20)).await;
                None
            }
        }
    }

    fn url(&self, i: usize, path: &str) -> String {
        format!("{}{path}", self.urls[i])
    }

    /// `GET /protected` with `token` on instance `i`, recorded.
    pub async fn probe(&self, i: usize, raw: &str, token: &TokenInfo) {
        let start = self.ms();
        let unix_start = jwtd::core::clock::unix_now();
        let req = self.http.get(self.url(i, "/protected")).bearer_auth(raw);
        if let Some((status, _)) = self.send(i, "protected", req).await {
            self.record(Event::Protected {
                token: token.clone(),
                instance: i,
                start,
                status: status.as_u16(),
                unix_start,
            });
        }
    }
}

/// A session a client holds: its access token and its refresh chain.
struct Session {
    user: String,
    access: String,
    info: TokenInfo,
    chain: Vec<String>,
    rotated_at: Instant,
}

fn token_info(raw: &str, session_created: u64, obtained: u64) -> Option<TokenInfo> {
    let (header, claims) = decode_unverified(raw)?;
    let s = |v: &Value| v.as_str().map(str::to_owned);
    Some(TokenInfo {
        jti: s(&claims["jti"])?,
        sid: s(&claims["sid"])?,
        sub: s(&claims["sub"])?,
        kid: s(&header["kid"])?,
        exp: claims["exp"].as_i64()?,
        session_created,
        obtained,
    })
}

/// One client: registers its users, then performs random operations until
/// the deadline.
pub struct Client<'w> {
    world: &'w World,
    rng: Rng,
    users: Vec<String>,
    sessions: Vec<Session>,
    name: String,
}

impl<'w> Client<'w> {
    pub fn new(world: &'w World, seed: u64, name: String) -> Self {
        Self {
            world,
            rng: Rng::new(seed),
            users: Vec::new(),
            sessions: Vec::new(),
            name,
        }
    }

    fn instance(&mut self) -> usize {
        self.rng.below(self.world.urls.len())
    }

    pub async fn run(mut self) {
        while Instant::now() < self.world.deadline {
            if self.users.is_empty() || self.rng.below(100) < 2 {
                self.register().await;
                continue;
            }
            if self.sessions.is_empty() {
                self.login().await;
                continue;
            }
            match self.rng.below(1000) {
                0..200 => self.use_own_token().await,
                200..350 => self.probe_seen().await,
                350..500 => self.refresh().await,
                500..540 => self.parallel_refresh().await,
                540..580 => self.replay_within_grace().await,
                580..610 => self.reuse_stolen().await,
                610..690 => self.login().await,
                690..730 => self.wrong_password().await,
                730..760 => self.burst().await,
                760..820 => self.logout("local").await,
                820..840 => self.logout("others").await,
                840..850 => self.logout("global").await,
                850..890 => self.oauth_revoke().await,
                890..900 => self.admin_logout().await,
                900..910 => self.cli_revoke().await,
                910..913 => self.rotate_key().await,
                913..915 => self.revoke_key().await,
                _ => self.use_own_token().await,
            }
        }
    }

    async fn register(&mut self) {
        let name = format!("{}-{}", self.name, self.users.len());
        let i = self.instance();
        let req = self
            .world
            .http
            .post(self.world.url(i, "/register"))
            .json(&json!({"username": name, "password": PASSWORD}));
        if let Some((s, _)) = self.world.send(i, "register", req).await
            && (s == StatusCode::CREATED || s == StatusCode::CONFLICT)
        {
            self.users.push(name);
        }
    }

    /// Logs one of this client's users in with `password` on a random
    /// instance: the user and the answer.
    async fn try_login(&mut self, password: &str) -> (String, Option<(StatusCode, Value)>) {
        let user = self.users[self.rng.below(self.users.len())].clone();
        let i = self.instance();
        let req = self
            .world
            .http
            .post(self.world.url(i, "/login"))
            .json(&json!({"username": user, "password": password}));
        let answer = self.world.send(i, "login", req).await;
        (user, answer)
    }

    async fn login(&mut self) {
        let (user, answer) = self.try_login(PASSWORD).await;
        let Some((StatusCode::OK, body)) = answer else {
            return;
        };
        let created = self.world.ms();
        let (Some(access), Some(refresh)) = (
            body["access_token"].as_str(),
            body["refresh_token"].as_str(),
        ) else {
            return;
        };
        let Some(info) = token_info(access, created, self.world.ms()) else {
            return;
        };
        self.world.remember(access, &info, &mut self.rng);
        self.sessions.push(Session {
            user,
            access: access.to_owned(),
            info,
            chain: vec![refresh.to_owned()],
            rotated_at: Instant::now(),
        });
    }

    fn pick_session(&mut self) -> usize {
        self.rng.below(self.sessions.len())
    }

    /// A random session of this client, a random instance, and the
    /// session's current access token.
    fn pick(&mut self) -> (usize, usize, String, TokenInfo) {
        let k = self.pick_session();
        let i = self.instance();
        (
            k,
            i,
            self.sessions[k].access.clone(),
            self.sessions[k].info.clone(),
        )
    }

    /// Records a revocation acknowledged now, by instance `i` (or the CLI).
    fn acknowledged(&self, what: &'static str, target: Target, i: Option<usize>, start: u64) {
        self.world.record(Event::Revoked {
            what,
            target,
            instance: i,
            start,
            end: self.world.ms(),
        });
    }

    async fn use_own_token(&mut self) {
        let (_, i, raw, info) = self.pick();
        self.world.probe(i, &raw, &info).await;
    }

    async fn probe_seen(&mut self) {
        let i = self.instance();
        if let Some((raw, info)) = self.world.any_seen(&mut self.rng) {
            self.world.probe(i, &raw, &info).await;
        }
    }

    /// Presents `presented` of session `k` to `/token/refresh` on `i`;
    /// records a success and returns the new pair.
    async fn present(&self, k: usize, i: usize, presented: &str) -> Option<(StatusCode, Value)> {
        let start = self.world.ms();
        let req = self
            .world
            .http
            .post(self.world.url(i, "/token/refresh"))
            .json(&json!({"refresh_token": presented}));
        let answer = self.world.send(i, "refresh", req).await?;
        if answer.0 == StatusCode::OK
            && let Some(successor) = answer.1["refresh_token"].as_str()
        {
            self.world.record(Event::Refreshed {
                sid: self.sessions[k].info.sid.clone(),
                presented: presented.to_owned(),
                successor: successor.to_owned(),
                start,
            });
        }
        Some(answer)
    }

    /// Takes a successful refresh answer into session `k`.
    fn rotated(&mut self, k: usize, body: &Value) {
        let (Some(access), Some(refresh)) = (
            body["access_token"].as_str(),
            body["refresh_token"].as_str(),
        ) else {
            return;
        };
        let created = self.sessions[k].info.session_created;
        let Some(info) = token_info(access, created, self.world.ms()) else {
            return;
        };
        self.world.remember(access, &info, &mut self.rng);
        let s = &mut self.sessions[k];
        s.access = access.to_owned();
        s.info = info;
        if s.chain.last().map(String::as_str) != Some(refresh) {
            s.chain.push(refresh.to_owned());
            s.rotated_at = Instant::now();
        }
    }

    async fn refresh(&mut self) {
        let k = self.pick_session();
        let i = self.instance();
        let current = self.sessions[k]
            .chain
            .last()
            .cloned()
            .expect("a session has tokens");
        match self.present(k, i, &current).await {
            Some((StatusCode::OK, body)) => self.rotated(k, &body),
            Some((StatusCode::UNAUTHORIZED, _)) => {
                self.sessions.swap_remove(k);
            }
            _ => {}
        }
    }

    /// Two tabs refresh with the same token at once, on two instances.
    async fn parallel_refresh(&mut self) {
        let k = self.pick_session();
        let current = self.sessions[k]
            .chain
            .last()
            .cloned()
            .expect("a session has tokens");
        let (a, b) = (self.instance(), self.instance());
        let (ra, rb) = tokio::join!(self.present(k, a, &current), self.present(k, b, &current));
        for r in [ra, rb].into_iter().flatten() {
            if r.0 == StatusCode::OK {
                self.rotated(k, &r.1);
            }
        }
    }

    /// A lost response: the previous token again, within the grace.
    async fn replay_within_grace(&mut self) {
        let k = self.pick_session();
        let s = &self.sessions[k];
        if s.chain.len() < 2 || s.rotated_at.elapsed() > Duration::from_secs(5) {
            return self.refresh().await;
        }
        let previous = s.chain[s.chain.len() - 2].clone();
        let i = self.instance();
        if let Some((StatusCode::OK, body)) = self.present(k, i, &previous).await {
            self.rotated(k, &body);
        }
    }

    /// An attacker replays an ancestor (or a predecessor past the grace):
    /// the session must die.
    async fn reuse_stolen(&mut self) {
        let k = self.pick_session();
        let s = &self.sessions[k];
        let stolen = if s.chain.len() >= 3 {
            s.chain[s.chain.len() - 3].clone()
        } else if s.chain.len() == 2 && s.rotated_at.elapsed() > Duration::from_secs(12) {
            s.chain[0].clone()
        } else {
            return self.refresh().await;
        };
        let sid = s.info.sid.clone();
        let i = self.instance();
        let start = self.world.ms();
        match self.present(k, i, &stolen).await {
            Some((StatusCode::OK, _)) => self.world.record(Event::Violation(format!(
                "a retired refresh token of session {sid} was accepted"
            ))),
            Some((StatusCode::UNAUTHORIZED, _)) => {
                self.acknowledged("stolen refresh token", Target::Session(sid), Some(i), start);
                self.sessions.swap_remove(k);
            }
            _ => {}
        }
    }

    async fn wrong_password(&mut self) {
        self.try_login("not-the-password").await;
    }

    /// A dozen guesses at once for a besieged user, over every instance.
    async fn burst(&mut self) {
        let world = self.world;
        let user = world.besieged[self.rng.below(world.besieged.len())].clone();
        let guesses = (0..12).map(|n| {
            let i = (self.rng.below(world.urls.len()) + n) % world.urls.len();
            let req = world
                .http
                .post(world.url(i, "/login"))
                .json(&json!({"username": user, "password": format!("guess-{n}-guess")}));
            async move { world.send(i, "login", req).await }
        });
        for answer in futures_util::future::join_all(guesses).await {
            match answer {
                Some((StatusCode::UNAUTHORIZED, _)) => {
                    world.record(Event::PasswordChecked { user: user.clone() });
                }
                Some((StatusCode::OK, _)) => world.record(Event::Violation(format!(
                    "a wrong password logged {user} in"
                ))),
                _ => {}
            }
        }
    }

    async fn logout(&mut self, scope: &str) {
        let (k, i, raw, info) = self.pick();
        let start = self.world.ms();
        let req = self
            .world
            .http
            .post(self.world.url(i, &format!("/logout?scope={scope}")))
            .bearer_auth(&raw);
        let Some((StatusCode::OK, out)) = self.world.send(i, "logout", req).await else {
            return;
        };
        // A token already revoked (its jti, say) logs out nothing (SPEC
        // §5): only a logout that ended sessions is a revocation. `others`
        // with no other session claims nothing either.
        if out["sessions_revoked"].as_u64().unwrap_or(0) == 0 {
            return;
        }
        let target = match scope {
            "local" => Target::Session(info.sid.clone()),
            "others" => Target::UserSessions {
                sub: info.sub.clone(),
                except: Some(info.sid.clone()),
            },
            _ => Target::UserSessions {
                sub: info.sub.clone(),
                except: None,
            },
        };
        self.acknowledged("logout", target, Some(i), start);
        let user = self.sessions[k].user.clone();
        let keep = info.sid;
        self.sessions.retain(|s| match scope {
            "local" => s.info.sid != keep,
            "others" => s.user != user || s.info.sid == keep,
            _ => s.user != user,
        });
    }

    async fn oauth_revoke(&mut self) {
        let (_, i, raw, info) = self.pick();
        let start = self.world.ms();
        let req = self
            .world
            .http
            .post(self.world.url(i, "/oauth/revoke"))
            .form(&[("token", raw.as_str())]);
        if let Some((StatusCode::OK, _)) = self.world.send(i, "oauth_revoke", req).await {
            self.acknowledged("oauth revoke", Target::Token(info.jti), Some(i), start);
        }
    }

    async fn admin_logout(&mut self) {
        let k = self.pick_session();
        let i = self.instance();
        let (user, sub) = (
            self.sessions[k].user.clone(),
            self.sessions[k].info.sub.clone(),
        );
        let start = self.world.ms();
        let req = self
            .world
            .http
            .post(self.world.url(i, &format!("/admin/users/{user}/logout")))
            .bearer_auth(ADMIN_TOKEN);
        if let Some((StatusCode::OK, _)) = self.world.send(i, "admin_logout", req).await {
            self.acknowledged(
                "admin logout",
                Target::UserSessions { sub, except: None },
                Some(i),
                start,
            );
            self.sessions.retain(|s| s.user != user);
        }
    }

    /// `jwtd revoke --session` from another process, on the same store.
    async fn cli_revoke(&mut self) {
        let k = self.pick_session();
        let sid = self.sessions[k].info.sid.clone();
        let mut cmd = tokio::process::Command::new(jwtd_bin());
        cmd.args(["revoke", "--session", &sid])
            .env("JWTD_ISSUER", crate::helpers::ISSUER)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        match &self.world.cli {
            CliTarget::DataDir(d) => cmd.arg("--data-dir").arg(d),
            CliTarget::Database(url) => cmd.args(["--database-url", url]),
        };
        let start = self.world.ms();
        if cmd.status().await.is_ok_and(|s| s.success()) {
            self.acknowledged("cli revoke", Target::Session(sid), None, start);
            self.sessions.swap_remove(k);
        }
    }

    async fn rotate_key(&mut self) {
        let i = self.instance();
        let req = self
            .world
            .http
            .post(self.world.url(i, "/admin/keys/rotate?immediate=true"))
            .bearer_auth(ADMIN_TOKEN);
        self.world.send(i, "rotate_key", req).await;
    }

    async fn revoke_key(&mut self) {
        let k = self.pick_session();
        let kid = self.sessions[k].info.kid.clone();
        let i = self.instance();
        let start = self.world.ms();
        let req = self
            .world
            .http
            .post(self.world.url(i, &format!("/admin/keys/{kid}/revoke")))
            .bearer_auth(ADMIN_TOKEN);
        if let Some((StatusCode::OK, _)) = self.world.send(i, "revoke_key", req).await {
            self.acknowledged("key revoke", Target::Key(kid), Some(i), start);
        }
    }
}
