//! The in-memory revocation index: is this verified token revoked?
//!
//! Four kinds of entry (SPEC §4): a token (`jti`), a session (`sid`), a user
//! (a cut-off: tokens issued strictly before it) and a key (`kid`). Each entry
//! carries `expires_at`, the moment after which no token it could reject is
//! still valid; [`RevocationIndex::sweep`] drops entries past it (except key
//! entries, which stay for the life of the process: see `sweep`). That is
//! the only way an entry leaves: the index is never a size-bounded cache,
//! because evicting an entry would silently un-revoke a token.
//!
//! Token and session ids are 128 random bits, so entries are 16-byte keys
//! hashed by taking 8 of their bytes as-is (they are already uniform, and
//! they come from tokens we signed, so no one can choose them to collide),
//! with a 4-byte expiry: about 20 bytes of payload per entry.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::str::FromStr;
use std::sync::RwLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::id::Id128;

/// What a revocation applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RevocationKind {
    /// One access token, by `jti`.
    Token,
    /// A session, by `sid`: its refresh token and all its access tokens.
    Session,
    /// A user, by `sub`: every token issued strictly before the cut-off.
    User,
    /// A signing key, by `kid`: every token it signed.
    Key,
}

impl RevocationKind {
    /// The SPEC's name for the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Session => "session",
            Self::User => "user",
            Self::Key => "key",
        }
    }

    /// Every kind.
    pub const ALL: [RevocationKind; 4] = [Self::Token, Self::Session, Self::User, Self::Key];
}

impl fmt::Display for RevocationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RevocationKind {
    type Err = RevocationError;
    fn from_str(s: &str) -> Result<Self, RevocationError> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(RevocationError::UnknownKind)
    }
}

/// Errors from building index entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RevocationError {
    /// The kind is not token, session, user or key.
    #[error("unknown revocation kind")]
    UnknownKind,
    /// A token or session value is not a 128-bit id.
    #[error("revocation value is not a valid id")]
    BadValue,
}

/// One revocation, as stored and as sent between instances.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    /// What is revoked.
    pub kind: RevocationKind,
    /// The jti, sid, user id or kid.
    pub value: String,
    /// When it was revoked; for users, the cut-off.
    pub revoked_at: i64,
    /// After this, no token the entry could reject is still valid.
    pub expires_at: i64,
}

/// The parts of a verified token that revocation looks at.
#[derive(Clone, Copy, Debug)]
pub struct TokenRef<'a> {
    /// Token id.
    pub jti: Id128,
    /// Session id.
    pub sid: Id128,
    /// User id.
    pub sub: &'a str,
    /// Issued at.
    pub iat: i64,
    /// Signing key id.
    pub kid: &'a str,
}

/// Revocations of all four kinds, shared by every request thread.
#[derive(Default)]
pub struct RevocationIndex {
    tokens: IdSet,
    sessions: IdSet,
    users: SmallMap<UserCut>,
    keys: SmallMap<i64>,
}

#[derive(Clone, Copy, Debug)]
struct UserCut {
    cutoff: i64,
    expires_at: i64,
}

impl RevocationIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a revocation. Re-adding keeps the later expiry (and, for users,
    /// the later cut-off: cut-offs and expiries rise together, since each is
    /// "now" or "now + access_ttl + leeway" at the time of the revocation).
    pub fn insert(&self, r: &Revocation) -> Result<(), RevocationError> {
        self.insert_parts(r.kind, &r.value, r.revoked_at, r.expires_at)
    }

    /// [`RevocationIndex::insert`] without building a [`Revocation`]: the
    /// bulk load at startup feeds a million of these from borrowed text.
    pub fn insert_parts(
        &self,
        kind: RevocationKind,
        value: &str,
        revoked_at: i64,
        expires_at: i64,
    ) -> Result<(), RevocationError> {
        match kind {
            RevocationKind::Token | RevocationKind::Session => {
                let id = Id128::parse(value).ok_or(RevocationError::BadValue)?;
                self.ids(kind).insert(id, expires_at);
            }
            RevocationKind::User => self.users.upsert(value, |old| match old {
                Some(u) => UserCut {
                    cutoff: u.cutoff.max(revoked_at),
                    expires_at: u.expires_at.max(expires_at),
                },
                None => UserCut {
                    cutoff: revoked_at,
                    expires_at,
                },
            }),
            RevocationKind::Key => self
                .keys
                .upsert(value, |old| old.map_or(expires_at, |e| e.max(expires_at))),
        }
        Ok(())
    }

    fn ids(&self, kind: RevocationKind) -> &IdSet {
        if kind == RevocationKind::Token {
            &self.tokens
        } else {
            &self.sessions
        }
    }

    /// Which revocation, if any, rejects the token. Checked in order key,
    /// user, session, token: the widest reason is the one reported.
    #[inline]
    pub fn check(&self, t: &TokenRef<'_>) -> Option<RevocationKind> {
        if self.keys.contains(t.kid, |_| true) {
            return Some(RevocationKind::Key);
        }
        if self.users.contains(t.sub, |u| t.iat < u.cutoff) {
            return Some(RevocationKind::User);
        }
        if self.sessions.contains(&t.sid) {
            return Some(RevocationKind::Session);
        }
        if self.tokens.contains(&t.jti) {
            return Some(RevocationKind::Token);
        }
        None
    }

    /// Drops every token, session and user entry whose `expires_at` is
    /// before `now`; returns how many.
    ///
    /// Key entries are never dropped: a key is revoked because its private
    /// half may have leaked, and whoever holds it can sign tokens with any
    /// `exp`, so "no token it signed is still valid" never comes. A kid is
    /// forgotten only with the process, by which time the key has either
    /// left the store (its kid is unknown) or is loaded as revoked again.
    /// There is one entry per revoked key, so memory is not a concern.
    pub fn sweep(&self, now: i64) -> usize {
        self.tokens.sweep(now)
            + self.sessions.sweep(now)
            + self.users.sweep(|u| u.expires_at >= now)
    }

    /// Live entries of each kind: (token, session, user, key).
    pub fn counts(&self) -> [usize; 4] {
        [
            self.tokens.len(),
            self.sessions.len(),
            self.users.len(),
            self.keys.len(),
        ]
    }

    /// Total live entries.
    pub fn len(&self) -> usize {
        self.counts().iter().sum()
    }

    /// Whether the index holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

const SHARDS: usize = 16;

/// A set of 128-bit ids with expiries, sharded so writers (revocations,
/// sweeps) block only 1/16 of readers, with a std `RwLock` per shard: reads
/// are one uncontended atomic add, and nothing is held across an await.
struct IdSet {
    shards: [RwLock<HashMap<Id128, u32, IdHash>>; SHARDS],
    len: AtomicUsize,
}

impl Default for IdSet {
    fn default() -> Self {
        Self {
            shards: std::array::from_fn(|_| RwLock::new(HashMap::with_hasher(IdHash))),
            len: AtomicUsize::new(0),
        }
    }
}

/// Expiries are stored as u32 seconds (good until 2106) to keep entries at
/// 20 bytes; out-of-range values clamp, the safe way, to "forever".
fn expiry_u32(t: i64) -> u32 {
    u32::try_from(t.max(0)).unwrap_or(u32::MAX)
}

impl IdSet {
    fn shard(&self, id: &Id128) -> &RwLock<HashMap<Id128, u32, IdHash>> {
        // Byte 15 picks the shard; bytes 0..8 are the in-shard hash, so the
        // two are independent.
        &self.shards[usize::from(id.0[15]) % SHARDS]
    }

    fn insert(&self, id: Id128, expires_at: i64) {
        let exp = expiry_u32(expires_at);
        let mut map = self.shard(&id).write().unwrap_or_else(|e| e.into_inner());
        // One probe (the entry API), not a lookup then an insert: at a
        // million entries each probe is a cache miss, and the startup load
        // makes a million of these.
        match map.entry(id) {
            Entry::Occupied(mut old) => {
                let e = old.get_mut();
                *e = (*e).max(exp);
            }
            Entry::Vacant(slot) => {
                slot.insert(exp);
                self.len.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    #[inline]
    fn contains(&self, id: &Id128) -> bool {
        if self.len.load(Ordering::Relaxed) == 0 {
            return false;
        }
        // A poisoned lock only means a writer panicked mid-insert; the map
        // itself is still sound, and failing open here is not an option.
        let map = self.shard(id).read().unwrap_or_else(|e| e.into_inner());
        map.contains_key(id)
    }

    fn sweep(&self, now: i64) -> usize {
        let now = expiry_u32(now);
        let mut removed = 0;
        for shard in &self.shards {
            let mut map = shard.write().unwrap_or_else(|e| e.into_inner());
            let before = map.len();
            map.retain(|_, exp| *exp >= now);
            removed += before - map.len();
        }
        self.len.fetch_sub(removed, Ordering::Relaxed);
        removed
    }

    fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }
}

/// A map for the rare kinds (users, keys): usually empty, so the read path
/// first checks a counter and takes no lock at all.
struct SmallMap<V> {
    map: RwLock<HashMap<String, V>>,
    len: AtomicUsize,
}

impl<V> Default for SmallMap<V> {
    fn default() -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
            len: AtomicUsize::new(0),
        }
    }
}

impl<V: Copy> SmallMap<V> {
    fn upsert(&self, key: &str, f: impl FnOnce(Option<V>) -> V) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        let new = f(map.get(key).copied());
        map.insert(key.to_owned(), new);
        self.len.store(map.len(), Ordering::Relaxed);
    }

    #[inline]
    fn contains(&self, key: &str, pred: impl FnOnce(&V) -> bool) -> bool {
        if self.len.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        map.get(key).is_some_and(pred)
    }

    fn sweep(&self, keep: impl Fn(&V) -> bool) -> usize {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        let before = map.len();
        map.retain(|_, v| keep(v));
        self.len.store(map.len(), Ordering::Relaxed);
        before - map.len()
    }

    fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }
}

/// Hashes an [`Id128`] by reading 8 of its random bytes: no hashing work at
/// all. Safe only because ids come from our CSPRNG inside tokens we signed.
#[derive(Clone, Copy, Default)]
struct IdHash;

impl BuildHasher for IdHash {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}

struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // [u8; 16] hashes as one 16-byte write (after a length prefix, which
        // goes through write_usize and is ignored below).
        let mut b = [0u8; 8];
        let n = bytes.len().min(8);
        b[..n].copy_from_slice(&bytes[..n]);
        self.0 ^= u64::from_le_bytes(b);
    }
    fn write_usize(&mut self, _len: usize) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(n: u8) -> Id128 {
        let mut b = [0u8; 16];
        b[0] = n;
        b[15] = n.wrapping_mul(7);
        Id128(b)
    }

    fn rev(kind: RevocationKind, value: String, revoked_at: i64, expires_at: i64) -> Revocation {
        Revocation {
            kind,
            value,
            revoked_at,
            expires_at,
        }
    }

    #[test]
    fn each_kind_rejects_what_it_names() {
        let ix = RevocationIndex::new();
        let t = TokenRef {
            jti: id(1),
            sid: id(2),
            sub: "u1",
            iat: 100,
            kid: "k1",
        };
        assert_eq!(ix.check(&t), None);
        ix.insert(&rev(RevocationKind::Token, id(1).to_string(), 0, 500))
            .ok();
        assert_eq!(ix.check(&t), Some(RevocationKind::Token));
        ix.insert(&rev(RevocationKind::Session, id(2).to_string(), 0, 500))
            .ok();
        assert_eq!(ix.check(&t), Some(RevocationKind::Session));
        ix.insert(&rev(RevocationKind::User, "u1".into(), 101, 500))
            .ok();
        assert_eq!(ix.check(&t), Some(RevocationKind::User));
        ix.insert(&rev(RevocationKind::Key, "k1".into(), 0, 500))
            .ok();
        assert_eq!(ix.check(&t), Some(RevocationKind::Key));
        assert_eq!(ix.len(), 4);
        assert_eq!(ix.sweep(501), 3);
        assert_eq!(
            ix.check(&t),
            Some(RevocationKind::Key),
            "a revoked key outlives its entry's expiry"
        );
        assert_eq!(ix.len(), 1);
    }

    #[test]
    fn user_cutoff_spares_tokens_issued_at_or_after_it() {
        // Same-second re-login after a global logout must work: the cut-off
        // is strict, and the sessions alive at logout are revoked one by one.
        let ix = RevocationIndex::new();
        ix.insert(&rev(RevocationKind::User, "u".into(), 100, 1000))
            .ok();
        let at = |iat| TokenRef {
            jti: id(1),
            sid: id(2),
            sub: "u",
            iat,
            kid: "k",
        };
        assert_eq!(ix.check(&at(99)), Some(RevocationKind::User));
        assert_eq!(ix.check(&at(100)), None);
        assert_eq!(
            ix.check(&TokenRef {
                sub: "other",
                ..at(1)
            }),
            None
        );
    }

    #[test]
    fn bad_values_are_refused() {
        let ix = RevocationIndex::new();
        let r = rev(RevocationKind::Token, "nope".into(), 0, 1);
        assert_eq!(ix.insert(&r), Err(RevocationError::BadValue));
        assert_eq!("user".parse(), Ok(RevocationKind::User));
        assert_eq!(
            "x".parse::<RevocationKind>(),
            Err(RevocationError::UnknownKind)
        );
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(RevocationKind, u8, i64, i64),
        Sweep(i64),
        Check(u8, u8, u8, i64, u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        let kind = prop::sample::select(RevocationKind::ALL.to_vec());
        prop_oneof![
            4 => (kind, 0u8..6, 0i64..200, 0i64..100)
                .prop_map(|(k, v, at, ttl)| Op::Insert(k, v, at, at + ttl)),
            1 => (0i64..300).prop_map(Op::Sweep),
            4 => (0u8..6, 0u8..6, 0u8..6, 0i64..300, 0u8..6)
                .prop_map(|(j, s, u, iat, k)| Op::Check(j, s, u, iat, k)),
        ]
    }

    fn value(kind: RevocationKind, v: u8) -> String {
        match kind {
            RevocationKind::Token | RevocationKind::Session => id(v).to_string(),
            RevocationKind::User => format!("user{v}"),
            RevocationKind::Key => format!("key{v}"),
        }
    }

    proptest! {
        /// The index answers exactly like a plain list of revocations that a
        /// sweep filters by expiry (keys excepted: they are never swept). User entries follow the real invariant
        /// (expiry = cut-off + a constant), under which merging is exact.
        #[test]
        fn index_matches_a_plain_model(ops in prop::collection::vec(op(), 1..120)) {
            let ix = RevocationIndex::new();
            let mut model: Vec<Revocation> = Vec::new();
            for op in ops {
                match op {
                    Op::Insert(kind, v, at, exp) => {
                        let exp = if kind == RevocationKind::User { at + 50 } else { exp };
                        let r = rev(kind, value(kind, v), at, exp);
                        prop_assert!(ix.insert(&r).is_ok());
                        model.push(r);
                    }
                    Op::Sweep(now) => {
                        ix.sweep(now);
                        model.retain(|r| r.kind == RevocationKind::Key || r.expires_at >= now);
                    }
                    Op::Check(j, s, u, iat, k) => {
                        let (sub, kid) = (value(RevocationKind::User, u), value(RevocationKind::Key, k));
                        let t = TokenRef { jti: id(j), sid: id(s), sub: &sub, iat, kid: &kid };
                        let hit = |kind: RevocationKind, val: &str| model.iter().any(|r| {
                            r.kind == kind && r.value == val
                                && (kind != RevocationKind::User || iat < r.revoked_at)
                        });
                        let want = if hit(RevocationKind::Key, &kid) {
                            Some(RevocationKind::Key)
                        } else if hit(RevocationKind::User, &sub) {
                            Some(RevocationKind::User)
                        } else if hit(RevocationKind::Session, &id(s).to_string()) {
                            Some(RevocationKind::Session)
                        } else if hit(RevocationKind::Token, &id(j).to_string()) {
                            Some(RevocationKind::Token)
                        } else {
                            None
                        };
                        prop_assert_eq!(ix.check(&t), want);
                    }
                }
            }
        }
    }
}
