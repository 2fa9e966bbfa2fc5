//! Decoding rows into the store's records.

use jwtd_core::revocation::{Revocation, RevocationKind};
use sqlx::Row as _;

use super::super::backend::DbRow;
use crate::store::types::{SessionRecord, StoreError, UserRecord};

pub(in crate::store) fn user_from_row(r: &DbRow) -> Result<UserRecord, StoreError> {
    user_at(r, 0)
}

/// A user whose four columns start at column `i` (of a join).
pub(in crate::store) fn user_at(r: &DbRow, i: usize) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        id: r.try_get(i)?,
        username: r.try_get(i + 1)?,
        password_hash: r.try_get(i + 2)?,
        created_at: r.try_get(i + 3)?,
    })
}

pub(in crate::store) fn session_from_row(r: &DbRow) -> Result<SessionRecord, StoreError> {
    session_at(r, 0)
}

/// A session whose columns (`SESSION_COLS`) start at column `i`.
pub(in crate::store) fn session_at(r: &DbRow, i: usize) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        id: r.try_get(i)?,
        user_id: r.try_get(i + 1)?,
        created_at: r.try_get(i + 2)?,
        last_seen_at: r.try_get(i + 3)?,
        user_agent: r.try_get(i + 4)?,
        ip: r.try_get(i + 5)?,
        expires_at: r.try_get(i + 6)?,
        access_expires_at: r.try_get(i + 7)?,
        revoked_at: r.try_get(i + 8)?,
        client_id: r.try_get(i + 9)?,
    })
}

pub(in crate::store) fn parse_kind(kind: &str) -> Result<RevocationKind, StoreError> {
    kind.parse()
        .map_err(|_| StoreError::Corrupt(format!("revocation kind {kind:?}")))
}

/// A log row selected with its `seq` fifth: the revocation and its position.
pub(in crate::store) fn positioned_from_row(r: &DbRow) -> Result<(i64, Revocation), StoreError> {
    Ok((r.try_get(4)?, revocation_from_row(r)?))
}

pub(in crate::store) fn revocation_from_row(r: &DbRow) -> Result<Revocation, StoreError> {
    Ok(Revocation {
        kind: parse_kind(r.try_get(0)?)?,
        value: r.try_get(1)?,
        revoked_at: r.try_get(2)?,
        expires_at: r.try_get(3)?,
    })
}

/// The columns of a session row, in the order `session_from_row` reads.
pub(in crate::store) const SESSION_COLS: &str = "id, user_id, created_at, last_seen_at, user_agent, ip, expires_at, access_expires_at, revoked_at, client_id";

/// An insert's outcome: a unique violation is `Conflict` (a taken
/// username, an existing client id).
pub(in crate::store) fn inserted<T>(r: Result<T, sqlx::Error>) -> Result<(), StoreError> {
    match r {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict),
        Err(e) => Err(e.into()),
    }
}
