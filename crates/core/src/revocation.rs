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
//! Token and session ids are 128 random bits, and user ids are UUIDs (v7:
//! 74 random bits), so entries are 16-byte keys hashed by one multiply of
//! their two halves (they come from ids we minted and tokens we signed, so
//! no one can choose them to collide), with a 4-byte expiry for tokens and
//! sessions: about 20 bytes of payload per entry. Every kind is read
//! without a lock shared by all requests: ids and users go to one of 16
//! shards by their bytes, and revoked keys (a handful, read on every
//! request) are matched by fingerprints in atomics.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::str::FromStr;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::id::{Id128, fold_mul};

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
    /// The user id's bytes, when it is a canonical UUID (as jwtd writes
    /// them): looked up by those. Other user ids are looked up by text.
    pub user: Option<Id128>,
    /// Issued at.
    pub iat: i64,
    /// Signing key id.
    pub kid: &'a str,
}

/// Revocations of all four kinds, shared by every request thread.
#[derive(Default)]
pub struct RevocationIndex {
    tokens: IdMap<u32>,
    sessions: IdMap<u32>,
    users: IdMap<UserCut>,
    /// Cut-offs of user ids that are not UUIDs (none, unless ids were
    /// made outside jwtd).
    other_users: SmallMap<UserCut>,
    keys: KeySet,
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
                let exp = expiry_u32(expires_at);
                self.ids(kind)
                    .upsert(id, |old| old.map_or(exp, |e| e.max(exp)));
            }
            RevocationKind::User => {
                let cut = |old: Option<UserCut>| match old {
                    Some(u) => UserCut {
                        cutoff: u.cutoff.max(revoked_at),
                        expires_at: u.expires_at.max(expires_at),
                    },
                    None => UserCut {
                        cutoff: revoked_at,
                        expires_at,
                    },
                };
                match Id128::parse_uuid(value) {
                    Some(id) => self.users.upsert(id, cut),
                    None => self.other_users.upsert(value, cut),
                }
            }
            RevocationKind::Key => self.keys.insert(value),
        }
        Ok(())
    }

    fn ids(&self, kind: RevocationKind) -> &IdMap<u32> {
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
        if self.keys.contains(t.kid) {
            return Some(RevocationKind::Key);
        }
        let cut = |u: &UserCut| t.iat < u.cutoff;
        let user_cut = match t.user {
            Some(id) => self.users.contains(&id, cut),
            None => self.other_users.contains(t.sub, cut),
        };
        if user_cut {
            return Some(RevocationKind::User);
        }
        if self.sessions.contains(&t.sid, |_| true) {
            return Some(RevocationKind::Session);
        }
        if self.tokens.contains(&t.jti, |_| true) {
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
        let now32 = expiry_u32(now);
        self.tokens.sweep(|&exp| exp >= now32)
            + self.sessions.sweep(|&exp| exp >= now32)
            + self.users.sweep(|u| u.expires_at >= now)
            + self.other_users.sweep(|u| u.expires_at >= now)
    }

    /// Live entries of each kind: (token, session, user, key).
    pub fn counts(&self) -> [usize; 4] {
        [
            self.tokens.len(),
            self.sessions.len(),
            self.users.len() + self.other_users.len(),
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

/// A map from 128-bit ids to `V`, sharded so writers (revocations,
/// sweeps) block only 1/16 of readers, with a std `RwLock` per shard: reads
/// are one uncontended atomic add, and nothing is held across an await.
struct IdMap<V> {
    shards: [RwLock<HashMap<Id128, V, IdHash>>; SHARDS],
    len: AtomicUsize,
}

impl<V> Default for IdMap<V> {
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

impl<V: Copy> IdMap<V> {
    fn shard(&self, id: &Id128) -> &RwLock<HashMap<Id128, V, IdHash>> {
        // The top half of the mixed hash picks the shard; hashbrown uses the
        // low bits and the top seven for its own tags.
        &self.shards[(id_hash(id) >> 32) as usize % SHARDS]
    }

    /// Sets the value of `id` to `f(its old value)`.
    fn upsert(&self, id: Id128, f: impl FnOnce(Option<V>) -> V) {
        let mut map = self.shard(&id).write().unwrap_or_else(|e| e.into_inner());
        // One probe (the entry API), not a lookup then an insert: at a
        // million entries each probe is a cache miss, and the startup load
        // makes a million of these.
        match map.entry(id) {
            Entry::Occupied(mut old) => {
                let v = old.get_mut();
                *v = f(Some(*v));
            }
            Entry::Vacant(slot) => {
                slot.insert(f(None));
                self.len.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Whether `id` is present with a value `pred` accepts.
    #[inline]
    fn contains(&self, id: &Id128, pred: impl FnOnce(&V) -> bool) -> bool {
        if self.len.load(Ordering::Relaxed) == 0 {
            return false;
        }
        // A poisoned lock only means a writer panicked mid-insert; the map
        // itself is still sound, and failing open here is not an option.
        let map = self.shard(id).read().unwrap_or_else(|e| e.into_inner());
        map.get(id).is_some_and(pred)
    }

    /// Drops the entries `keep` refuses; returns how many.
    fn sweep(&self, keep: impl Fn(&V) -> bool) -> usize {
        let mut removed = 0;
        for shard in &self.shards {
            let mut map = shard.write().unwrap_or_else(|e| e.into_inner());
            let before = map.len();
            map.retain(|_, v| keep(v));
            removed += before - map.len();
        }
        self.len.fetch_sub(removed, Ordering::Relaxed);
        removed
    }

    fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }
}

/// Revoked key ids: read on every request, changed once in a long while,
/// never shrunk (see [`RevocationIndex::sweep`]).
///
/// The read path takes no lock and writes nothing shared: it compares a
/// 64-bit fingerprint of the kid with the first [`KEY_SLOTS`] revoked
/// keys' fingerprints, each in its own atomic. Only a fingerprint match
/// (in practice: a token of a revoked key) takes the lock, to compare the
/// kid's text, so a fingerprint collision can never reject a good token.
/// Past [`KEY_SLOTS`] revoked keys in one process's life, the rest are
/// compared under the lock.
struct KeySet {
    seed: u64,
    filled: AtomicUsize,
    slots: [AtomicU64; KEY_SLOTS],
    kids: RwLock<Vec<Box<str>>>,
}

/// Revoked keys whose fingerprints are read lock-free.
const KEY_SLOTS: usize = 32;

impl Default for KeySet {
    fn default() -> Self {
        let mut seed = [0u8; 8];
        crate::id::fill_random(&mut seed);
        Self {
            seed: u64::from_le_bytes(seed),
            filled: AtomicUsize::new(0),
            slots: std::array::from_fn(|_| AtomicU64::new(0)),
            kids: RwLock::new(Vec::new()),
        }
    }
}

impl KeySet {
    fn fingerprint(&self, kid: &str) -> u64 {
        let mut h = self.seed ^ kid.len() as u64;
        for chunk in kid.as_bytes().chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            h = fold_mul(h ^ u64::from_le_bytes(w), 0x9e37_79b9_7f4a_7c15);
        }
        h
    }

    fn insert(&self, kid: &str) {
        let mut kids = self.kids.write().unwrap_or_else(|e| e.into_inner());
        if kids.iter().any(|k| &**k == kid) {
            return;
        }
        kids.push(kid.into());
        let n = self.filled.load(Ordering::Relaxed);
        if n < KEY_SLOTS {
            self.slots[n].store(self.fingerprint(kid), Ordering::Relaxed);
        }
        // Published after its slot: a reader that sees the count sees it.
        self.filled.store(n + 1, Ordering::Release);
    }

    #[inline]
    fn contains(&self, kid: &str) -> bool {
        let n = self.filled.load(Ordering::Acquire);
        if n == 0 {
            return false;
        }
        let f = self.fingerprint(kid);
        let maybe = n > KEY_SLOTS
            || self.slots[..n.min(KEY_SLOTS)]
                .iter()
                .any(|s| s.load(Ordering::Relaxed) == f);
        maybe && {
            let kids = self.kids.read().unwrap_or_else(|e| e.into_inner());
            kids.iter().any(|k| &**k == kid)
        }
    }

    fn len(&self) -> usize {
        self.filled.load(Ordering::Relaxed)
    }
}

/// A map for user ids that are not UUIDs: empty unless ids were made
/// outside jwtd, so the read path first checks a counter and takes no lock
/// at all.
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

/// Hashes an [`Id128`] with one 64×64→128-bit multiply of its two
/// halves: no real hashing work. Token and session ids are random
/// throughout; a UUIDv7 user id has a timestamp in its first half and
/// random bits in its second, and the multiply carries those into every
/// bit of the result. Safe only because the ids are ours (minted from the
/// CSPRNG, inside tokens we signed): nobody can choose them to collide.
#[derive(Clone, Copy, Default)]
struct IdHash;

fn id_hash(id: &Id128) -> u64 {
    let (lo, hi) = id.0.split_at(8);
    let lo = u64::from_le_bytes(lo.try_into().unwrap_or_default());
    let hi = u64::from_le_bytes(hi.try_into().unwrap_or_default());
    fold_mul(lo ^ 0x9e37_79b9_7f4a_7c15, hi | 1)
}

impl BuildHasher for IdHash {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}

/// The [`Hasher`] of [`IdHash`].
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // An Id128 hashes as one 16-byte write (see its `Hash`).
        if let Ok(b) = <[u8; 16]>::try_from(bytes) {
            self.0 = id_hash(&Id128(b));
        }
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
            user: None,
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
    fn revoked_keys_past_the_lock_free_slots_are_still_revoked() {
        let keys = KeySet::default();
        assert!(!keys.contains("k0"));
        for i in 0..KEY_SLOTS + 8 {
            keys.insert(&format!("k{i}"));
            keys.insert(&format!("k{i}"));
        }
        assert_eq!(keys.len(), KEY_SLOTS + 8);
        assert!((0..KEY_SLOTS + 8).all(|i| keys.contains(&format!("k{i}"))));
        assert!(!keys.contains("k999"));
        assert!(!keys.contains(""));
    }

    #[test]
    fn uuid_user_ids_are_cut_off_by_their_bytes() {
        let ix = RevocationIndex::new();
        let u = "0193b1c2-4d5e-7f60-8a1b-2c3d4e5f6071";
        ix.insert(&rev(RevocationKind::User, u.into(), 100, 1000))
            .ok();
        let at = |sub: &'static str, iat| TokenRef {
            jti: id(1),
            sid: id(2),
            sub,
            user: Id128::parse_uuid(sub),
            iat,
            kid: "k",
        };
        assert_eq!(ix.check(&at(u, 99)), Some(RevocationKind::User));
        assert_eq!(ix.check(&at(u, 100)), None);
        assert_eq!(
            ix.check(&at("0193b1c2-4d5e-7f60-8a1b-2c3d4e5f6072", 1)),
            None
        );
        assert_eq!(ix.counts(), [0, 0, 1, 0]);
        assert_eq!(ix.sweep(1001), 1);
        assert_eq!(ix.check(&at(u, 99)), None);
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
            user: None,
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
                        let t = TokenRef { jti: id(j), sid: id(s), sub: &sub, user: Id128::parse_uuid(&sub), iat, kid: &kid };
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
