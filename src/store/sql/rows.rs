//! Decoding rows into the store's records.

use jwtd_core::revocation::{Revocation, RevocationKind};
use sqlx::Row as _;

use super::super::backend::DbRow;
use crate::store::types::{SessionRecord, StoreError, UserRecord};

/// The columns of a user row, by name; [`USER_IN_JOIN`] the same aliased
/// where a join has other `id`s and `created_at`s.
const USER: [&str; 4] = ["id", "username", "password_hash", "created_at"];
/// A user's columns in a join, aliased `u_…` (see `REFRESH_SELECT`).
pub(in crate::store) const USER_IN_JOIN: [&str; 4] =
    ["u_id", "u_username", "u_password_hash", "u_created_at"];

/// A user row (`SELECT id, username, password_hash, created_at`).
pub(in crate::store) fn user_from_row(r: &DbRow) -> Result<UserRecord, StoreError> {
    user_named(r, &USER)
}

/// A user whose columns are named `names` (in [`USER`]'s order).
pub(in crate::store) fn user_named(r: &DbRow, names: &[&str; 4]) -> Result<UserRecord, StoreError> {
    let [id, username, password_hash, created_at] = *names;
    Ok(UserRecord {
        id: r.try_get(id)?,
        username: r.try_get(username)?,
        password_hash: r.try_get(password_hash)?,
        created_at: r.try_get(created_at)?,
    })
}

/// The columns of a session row, by name (as [`SESSION_COLS`] selects them).
const SESSION: [&str; 10] = [
    "id",
    "user_id",
    "created_at",
    "last_seen_at",
    "user_agent",
    "ip",
    "expires_at",
    "access_expires_at",
    "revoked_at",
    "client_id",
];
/// A session's columns in a join, aliased `s_…` (see `REFRESH_SELECT`).
pub(in crate::store) const SESSION_IN_JOIN: [&str; 10] = [
    "s_id",
    "s_user_id",
    "s_created_at",
    "s_last_seen_at",
    "s_user_agent",
    "s_ip",
    "s_expires_at",
    "s_access_expires_at",
    "s_revoked_at",
    "s_client_id",
];

/// A session row (`SELECT {SESSION_COLS}`).
pub(in crate::store) fn session_from_row(r: &DbRow) -> Result<SessionRecord, StoreError> {
    session_named(r, &SESSION)
}

/// A session whose columns are named `names` (in [`SESSION`]'s order).
pub(in crate::store) fn session_named(
    r: &DbRow,
    names: &[&str; 10],
) -> Result<SessionRecord, StoreError> {
    let [
        id,
        user_id,
        created_at,
        last_seen_at,
        user_agent,
        ip,
        expires_at,
        access,
        revoked,
        client,
    ] = *names;
    Ok(SessionRecord {
        id: r.try_get(id)?,
        user_id: r.try_get(user_id)?,
        created_at: r.try_get(created_at)?,
        last_seen_at: r.try_get(last_seen_at)?,
        user_agent: r.try_get(user_agent)?,
        ip: r.try_get(ip)?,
        expires_at: r.try_get(expires_at)?,
        access_expires_at: r.try_get(access)?,
        revoked_at: r.try_get(revoked)?,
        client_id: r.try_get(client)?,
    })
}

pub(in crate::store) fn parse_kind(kind: &str) -> Result<RevocationKind, StoreError> {
    kind.parse()
        .map_err(|_| StoreError::Corrupt(format!("revocation kind {kind:?}")))
}

/// A log row selected with its `seq`: the revocation and its position.
pub(in crate::store) fn positioned_from_row(r: &DbRow) -> Result<(i64, Revocation), StoreError> {
    Ok((r.try_get("seq")?, revocation_from_row(r)?))
}

/// A log row (`SELECT kind, value, revoked_at, expires_at`).
pub(in crate::store) fn revocation_from_row(r: &DbRow) -> Result<Revocation, StoreError> {
    Ok(Revocation {
        kind: parse_kind(r.try_get("kind")?)?,
        value: r.try_get("value")?,
        revoked_at: r.try_get("revoked_at")?,
        expires_at: r.try_get("expires_at")?,
    })
}

/// The columns of a session row, as `session_from_row` reads them.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_columns_are_the_ones_selected() {
        let selected: Vec<&str> = SESSION_COLS.split(", ").collect();
        assert_eq!(selected, SESSION);
        for (plain, joined) in SESSION.iter().zip(SESSION_IN_JOIN) {
            assert_eq!(format!("s_{plain}"), joined);
        }
        for (plain, joined) in USER.iter().zip(USER_IN_JOIN) {
            assert_eq!(format!("u_{plain}"), joined);
        }
    }
}
