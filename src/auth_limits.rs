//! Limits on failed client and admin authentications (SPEC revision 3 §1,
//! `client_auth_max_failures`): like logins, failures are counted per
//! (client id or admin, client IP) within `login_failure_window`, and past
//! the limit every attempt of that pair is answered 429
//! `too_many_attempts` — the right secret included, or the limit would
//! only slow the guesses that are wrong.
//!
//! The count lives in the store (the login counter's table, under keys no
//! username can take: `client:<id>` and `admin:`), so every instance of a
//! cluster shares it. Unlike a login, an authentication is not reserved
//! before it is checked: introspection and the feed authenticate on every
//! call, and a write per success would put the writer on their path.
//! Instead, checks in flight on this instance are counted in memory and,
//! once a pair has a failure counted, added to the stored count, so past
//! its first failure an instance never runs more checks than the limit
//! leaves room for. The bound is therefore `client_auth_max_failures`
//! plus the checks already in flight when a window's first failure is
//! counted (plus, in a cluster, those in flight on other instances). A
//! success forgets the pair's failures, as a successful login does.
//!
//! Unknown ids and wrong secrets are counted, answered and timed alike
//! (see `http::client_auth`); missing credentials are not guesses and are
//! not counted.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::store::{Store, StoreError};

/// Whose credentials were tried.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Principal {
    /// The admin token.
    Admin,
    /// A client id, as presented (it may not exist).
    Client(String),
}

impl Principal {
    /// Its key in the failure counter.
    fn key(&self) -> String {
        match self {
            Self::Admin => "admin:".to_owned(),
            Self::Client(id) => format!("client:{id}"),
        }
    }
}

/// The knobs, from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// Failures per (principal, IP) within the window.
    pub max_failures: u32,
    /// `login_failure_window`, in seconds.
    pub window: i64,
}

type Pending = Arc<Mutex<HashMap<(String, IpAddr), u32>>>;

/// Checks in flight on this instance, per (principal key, IP).
#[derive(Default)]
pub struct AuthLimits {
    pending: Pending,
}

/// Why an attempt may not be checked.
#[derive(Debug)]
pub enum Refused {
    /// Over the limit: retry after this many seconds.
    Limited(i64),
    /// The store could not tell.
    Store(StoreError),
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl AuthLimits {
    /// Admits one check of `who`'s credentials from `ip`, or refuses it
    /// (over the limit). The returned [`Attempt`] must be told how the
    /// check went; dropped untold, it counts for nothing.
    pub async fn admit(
        &self,
        store: &Store,
        policy: Policy,
        who: &Principal,
        ip: IpAddr,
        now: i64,
    ) -> Result<Attempt, Refused> {
        let key = who.key();
        let ip_text = ip.to_string();
        // Counted in flight first, and the count taken then, before the
        // store is read: a check that finishes meanwhile has written its
        // failure before it stops counting in flight, so it is seen in
        // one or the other (at worst in both), never in neither.
        let in_flight = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let n = pending.entry((key.clone(), ip)).or_insert(0);
            *n += 1;
            i64::from(*n)
        };
        let attempt = Attempt {
            pending: self.pending.clone(),
            key,
            ip,
            ip_text,
            policy,
            now,
            failures_seen: false,
        };
        // Dropping `attempt` on a refusal takes it out of flight again.
        let stored = store
            .failures(&attempt.key, &attempt.ip_text, now - policy.window)
            .await?;
        let (failures, start) = stored.unwrap_or((0, now));
        let max = i64::from(policy.max_failures);
        if failures >= max {
            return Err(Refused::Limited((start + policy.window - now).max(1)));
        }
        // Checks in flight count only once a failure is: a client with
        // none may run as many checks at once as it likes (a resource
        // server introspecting in parallel), while one being guessed at
        // gets no more checks in flight than its failures leave room for.
        if failures > 0 && failures + in_flight > max {
            // The checks in flight may yet succeed: a retry in a second
            // may find room.
            return Err(Refused::Limited(1));
        }
        let mut attempt = attempt;
        attempt.failures_seen = failures > 0;
        Ok(attempt)
    }
}

/// One admitted check: counted in flight until it is told how it went.
pub struct Attempt {
    pending: Pending,
    key: String,
    ip: IpAddr,
    ip_text: String,
    policy: Policy,
    now: i64,
    /// Failures were counted for the pair when it was admitted.
    failures_seen: bool,
}

impl Attempt {
    /// The credentials were right: failures counted for the pair are
    /// forgotten, as a successful login forgets its own (a write only
    /// when there were some).
    pub async fn succeeded(self, store: &Store) -> Result<(), StoreError> {
        if self.failures_seen {
            store.clear_failures(&self.key, &self.ip_text).await?;
        }
        Ok(())
    }

    /// The credentials were wrong: the failure is counted in the store
    /// before the check stops counting in flight, so no moment passes in
    /// which neither counts it.
    pub async fn failed(self, store: &Store) -> Result<(), StoreError> {
        store
            .count_failure(
                &self.key,
                &self.ip_text,
                self.now,
                self.now - self.policy.window,
                self.policy.max_failures,
            )
            .await
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let slot = (std::mem::take(&mut self.key), self.ip);
        if let Some(n) = pending.get_mut(&slot) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                pending.remove(&slot);
            }
        }
    }
}
