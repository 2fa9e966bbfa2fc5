//! What the torture run saw, and the invariants checked on it afterwards.
//!
//! Times are milliseconds since the run began, taken by the client: a
//! request's `start` before it is sent, its `end` once its answer is read.
//! The checks give the server the benefit of every doubt a client cannot
//! resolve (a token obtained while a logout was in flight may or may not be
//! covered by it), and none beyond that.

use std::collections::{HashMap, HashSet};

/// An access token as the client learned it.
#[derive(Clone, Debug)]
pub struct TokenInfo {
    pub jti: String,
    pub sid: String,
    pub sub: String,
    pub kid: String,
    pub exp: i64,
    /// When the login that created its session was answered.
    pub session_created: u64,
    /// When the answer that carried it was read.
    pub obtained: u64,
}

/// What an acknowledged revocation covers.
#[derive(Clone, Debug)]
pub enum Target {
    /// One token.
    Token(String),
    /// One session, whenever its tokens were minted (refresh races
    /// included).
    Session(String),
    /// Every session of a user created before the request began, but
    /// `except`.
    UserSessions { sub: String, except: Option<String> },
    /// Every token a key signed, ever.
    Key(String),
}

/// One thing that happened.
#[derive(Clone, Debug)]
pub enum Event {
    /// A `/protected` answer.
    Protected {
        token: TokenInfo,
        instance: usize,
        start: u64,
        status: u16,
        /// The server's clock when the request began, in Unix seconds.
        unix_start: i64,
    },
    /// A revocation the server acknowledged (2xx, or a CLI exit 0).
    Revoked {
        /// The operation that revoked.
        what: &'static str,
        target: Target,
        /// `None`: made by the CLI, enforced within the poll bound.
        instance: Option<usize>,
        start: u64,
        end: u64,
    },
    /// A successful refresh: which token was presented (its hash) and
    /// which successor came back.
    Refreshed {
        sid: String,
        presented: String,
        successor: String,
        start: u64,
    },
    /// A wrong-password login answered 401 (a password check happened).
    PasswordChecked { user: String },
    /// Something the client saw that is wrong in itself (e.g. a stolen
    /// refresh token accepted).
    Violation(String),
    /// An answer of 500 or above.
    ServerError {
        instance: usize,
        at: u64,
        status: u16,
        what: &'static str,
    },
    /// No answer at all (connection refused or cut).
    Transport {
        instance: usize,
        at: u64,
        what: &'static str,
    },
    /// A fault injected on an instance (`None`: on all of them).
    Fault {
        what: &'static str,
        instance: Option<usize>,
        start: u64,
        end: u64,
    },
}

/// The bounds the checks allow.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Extra delay allowed for a revocation made on another instance (or by
    /// the CLI) to be enforced.
    pub propagation_ms: u64,
    /// After a fault ends, how long errors may go on.
    pub recovery_ms: u64,
    /// Password checks allowed per (user, IP) in the run's one window.
    pub max_password_checks: usize,
    /// The server's `leeway`, in seconds: how long past `exp` a token
    /// may still be accepted.
    pub leeway_s: i64,
}

/// Every invariant that failed, as readable lines.
pub fn check(events: &[Event], bounds: Bounds) -> Vec<String> {
    let mut bad = Vec::new();
    accepted_after_revocation(events, bounds, &mut bad);
    chains_do_not_fork(events, bounds, &mut bad);
    password_checks_bounded(events, bounds, &mut bad);
    errors_only_during_faults(events, bounds, &mut bad);
    bad.extend(events.iter().filter_map(|e| match e {
        Event::Violation(v) => Some(v.clone()),
        _ => None,
    }));
    bad
}

fn covers(target: &Target, t: &TokenInfo, revocation_start: u64) -> bool {
    match target {
        Target::Token(jti) => *jti == t.jti,
        Target::Session(sid) => *sid == t.sid,
        Target::UserSessions { sub, except } => {
            *sub == t.sub && t.session_created < revocation_start && except.as_ref() != Some(&t.sid)
        }
        Target::Key(kid) => *kid == t.kid,
    }
}

/// (a)+(b): no `/protected` 200 for a token whose revocation was
/// acknowledged before the request began (plus the propagation bound when
/// another instance or the CLI made it), restarts included; and none for
/// an expired token.
fn accepted_after_revocation(events: &[Event], bounds: Bounds, bad: &mut Vec<String>) {
    type Rev<'a> = (&'a str, &'a Target, Option<usize>, u64, u64);
    // Indexed by what each revocation names, so a long run's hundreds of
    // thousands of answers are each checked against a handful, not all.
    let mut by_name: HashMap<&str, Vec<Rev<'_>>> = HashMap::new();
    for e in events {
        if let Event::Revoked {
            what,
            target,
            instance,
            start,
            end,
        } = e
        {
            let name = match target {
                Target::Token(v) | Target::Session(v) | Target::Key(v) => v.as_str(),
                Target::UserSessions { sub, .. } => sub.as_str(),
            };
            by_name
                .entry(name)
                .or_default()
                .push((*what, target, *instance, *start, *end));
        }
    }
    for e in events {
        let Event::Protected {
            token,
            instance,
            start,
            status: 200,
            unix_start,
        } = e
        else {
            continue;
        };
        // One more second: the client's clock read and the server's may
        // straddle a second boundary.
        if token.exp + bounds.leeway_s < *unix_start - 1 {
            bad.push(format!(
                "expired token {} accepted at {start} ms",
                token.jti
            ));
        }
        let names = [&token.jti, &token.sid, &token.sub, &token.kid];
        let candidates = names
            .iter()
            .filter_map(|n| by_name.get(n.as_str()))
            .flatten();
        for (what, target, by, r_start, r_end) in candidates {
            let allowed = if *by == Some(*instance) {
                *r_end
            } else {
                r_end + bounds.propagation_ms
            };
            if *start > allowed && covers(target, token, *r_start) {
                bad.push(format!(
                    "instance {instance} accepted token {} of session {} (obtained at {} ms) \
                     at {start} ms; {what} {target:?} was acknowledged at {r_end} ms by {by:?}",
                    token.jti, token.sid, token.obtained
                ));
            }
        }
    }
}

/// (c): one successor per presented refresh token, and no successful
/// refresh of a session begun after its revocation was acknowledged.
fn chains_do_not_fork(events: &[Event], bounds: Bounds, bad: &mut Vec<String>) {
    let mut successors: HashMap<&str, HashSet<&str>> = HashMap::new();
    let mut dead: HashMap<&str, u64> = HashMap::new();
    for e in events {
        if let Event::Revoked {
            target: Target::Session(sid),
            end,
            ..
        } = e
        {
            let at = dead.entry(sid.as_str()).or_insert(u64::MAX);
            *at = (*at).min(*end);
        }
    }
    for e in events {
        let Event::Refreshed {
            sid,
            presented,
            successor,
            start,
        } = e
        else {
            continue;
        };
        successors
            .entry(presented.as_str())
            .or_default()
            .insert(successor.as_str());
        if dead
            .get(sid.as_str())
            .is_some_and(|d| *start > d + bounds.propagation_ms)
        {
            bad.push(format!(
                "session {sid} refreshed at {start} ms after its revocation"
            ));
        }
    }
    for (presented, next) in successors {
        if next.len() > 1 {
            bad.push(format!(
                "refresh token {presented} forked into {} successors",
                next.len()
            ));
        }
    }
}

/// (d): wrong-password checks per user (all from one IP) stay within the
/// limit for the run's window.
fn password_checks_bounded(events: &[Event], bounds: Bounds, bad: &mut Vec<String>) {
    let mut checks: HashMap<&str, usize> = HashMap::new();
    for e in events {
        if let Event::PasswordChecked { user } = e {
            *checks.entry(user.as_str()).or_default() += 1;
        }
    }
    for (user, n) in checks {
        if n > bounds.max_password_checks {
            bad.push(format!("{n} password checks for {user} in one window"));
        }
    }
}

/// (e): 500s never; 503s and unanswered requests only while a fault is on
/// (for that instance, or for all) or within the recovery bound after it.
fn errors_only_during_faults(events: &[Event], bounds: Bounds, bad: &mut Vec<String>) {
    let faults: Vec<(Option<usize>, u64, u64)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Fault {
                instance,
                start,
                end,
                ..
            } => Some((*instance, *start, *end)),
            _ => None,
        })
        .collect();
    let excused = |instance: usize, at: u64| {
        faults.iter().any(|(i, s, e)| {
            i.is_none_or(|i| i == instance) && at + 50 >= *s && at <= e + bounds.recovery_ms
        })
    };
    for e in events {
        match e {
            Event::ServerError {
                instance,
                at,
                status,
                what,
            } if *status != 503 || !excused(*instance, *at) => {
                bad.push(format!(
                    "{status} from instance {instance} at {at} ms ({what}) outside any fault"
                ));
            }
            Event::Transport { instance, at, what } if !excused(*instance, *at) => {
                bad.push(format!(
                    "no answer from instance {instance} at {at} ms ({what}) outside any fault"
                ));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: Bounds = Bounds {
        propagation_ms: 100,
        recovery_ms: 1000,
        max_password_checks: 5,
        leeway_s: 2,
    };

    fn token(sid: &str) -> TokenInfo {
        TokenInfo {
            jti: format!("j-{sid}"),
            sid: sid.into(),
            sub: "u".into(),
            kid: "k".into(),
            exp: 2_000_000_000,
            session_created: 10,
            obtained: 10,
        }
    }

    fn protected(sid: &str, instance: usize, start: u64) -> Event {
        Event::Protected {
            token: token(sid),
            instance,
            start,
            status: 200,
            unix_start: 1_900_000_000,
        }
    }

    fn revoked(target: Target, instance: Option<usize>, end: u64) -> Event {
        Event::Revoked {
            what: "test",
            target,
            instance,
            start: end - 5,
            end,
        }
    }

    #[test]
    fn an_acceptance_after_an_acknowledged_revocation_is_caught() {
        let session = Target::Session("s".into());
        // Same instance: anything after the acknowledgement is a violation.
        let events = [
            revoked(session.clone(), Some(0), 100),
            protected("s", 0, 101),
        ];
        assert_eq!(check(&events, BOUNDS).len(), 1);
        // Another instance gets the propagation bound, no more.
        let events = [
            revoked(session.clone(), Some(1), 100),
            protected("s", 0, 150),
        ];
        assert!(check(&events, BOUNDS).is_empty());
        let events = [revoked(session, Some(1), 100), protected("s", 0, 201)];
        assert_eq!(check(&events, BOUNDS).len(), 1);
        // A user-wide logout spares sessions created after it began.
        let user = Target::UserSessions {
            sub: "u".into(),
            except: None,
        };
        let mut late = token("t");
        late.session_created = 500;
        let events = [
            revoked(user, Some(0), 100),
            Event::Protected {
                token: late,
                instance: 0,
                start: 600,
                status: 200,
                unix_start: 1_900_000_000,
            },
        ];
        assert!(check(&events, BOUNDS).is_empty());
    }

    #[test]
    fn forks_floods_and_unexcused_errors_are_caught() {
        let refreshed = |successor: &str| Event::Refreshed {
            sid: "s".into(),
            presented: "r0".into(),
            successor: successor.into(),
            start: 1,
        };
        assert!(check(&[refreshed("r1"), refreshed("r1")], BOUNDS).is_empty());
        assert_eq!(check(&[refreshed("r1"), refreshed("r2")], BOUNDS).len(), 1);
        let checked = Event::PasswordChecked { user: "v".into() };
        assert!(check(&vec![checked.clone(); 5], BOUNDS).is_empty());
        assert_eq!(check(&vec![checked; 6], BOUNDS).len(), 1);
        let error = |status, at| Event::ServerError {
            instance: 0,
            at,
            status,
            what: "x",
        };
        let fault = Event::Fault {
            what: "kill",
            instance: Some(0),
            start: 100,
            end: 200,
        };
        assert!(check(&[fault.clone(), error(503, 150)], BOUNDS).is_empty());
        assert_eq!(check(&[fault.clone(), error(503, 1500)], BOUNDS).len(), 1);
        assert_eq!(check(&[fault, error(500, 150)], BOUNDS).len(), 1);
    }
}
