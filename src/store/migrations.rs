//! Schema migrations: numbered SQL files applied in order, each once, each
//! with the SHA-256 of its text recorded beside its version. A migration
//! whose text no longer matches what was applied stops the store from
//! opening: an edited migration would otherwise leave databases migrated
//! before and after the edit silently different.
//!
//! Each backend runs the steps in its own transactions (PostgreSQL under an
//! advisory lock, so instances starting together migrate once); what to do
//! with each migration is decided here. Own runner rather than
//! `sqlx::migrate`: databases created by earlier releases already keep
//! their versions in `schema_migrations`, and sqlx's runner would start
//! over in its own table.

use aws_lc_rs::digest;

use super::types::StoreError;

/// One migration.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    /// Applied in increasing order.
    pub version: i64,
    /// Its SQL (several statements).
    pub sql: &'static str,
    /// A check run before the SQL (see [`Guard`]), if the migration has one.
    pub guard: Option<Guard>,
}

/// A query that must find nothing for a migration to run: each row it
/// returns is one conflict, described by its single text column, and the
/// migration is refused with `refusal` followed by them all. For data a
/// migration cannot fix by itself (two usernames that fold to one), so the
/// operator is told what to resolve instead of being shown a constraint
/// violation.
#[derive(Clone, Copy, Debug)]
pub struct Guard {
    /// Returns one text per conflict.
    pub query: &'static str,
    /// What the conflicts are, for the error message.
    pub refusal: &'static str,
}

/// Usernames that would collide once lowercased (migration 2).
pub const USERNAME_FOLDING: Guard = Guard {
    query: "SELECT string_agg(username, ' and ') FROM users GROUP BY lower(username) HAVING count(*) > 1",
    refusal: "usernames would collide once case-folded (SPEC §2); rename or delete one of each with the previous release",
};

impl Migration {
    /// SHA-256 of the SQL text, as recorded.
    pub fn checksum(&self) -> Vec<u8> {
        digest::digest(&digest::SHA256, self.sql.as_bytes())
            .as_ref()
            .to_vec()
    }
}

/// What the runner does with a migration.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Not applied yet: run it and record its version and checksum.
    Apply,
    /// Applied, and unchanged since.
    Done,
    /// Applied by a release that kept no checksums: record this one.
    RecordChecksum,
}

/// Decides the step for `m`, given what `schema_migrations` holds for its
/// version: no row, or a row with its checksum (`None` from releases before
/// checksums).
pub fn step(m: &Migration, recorded: Option<Option<Vec<u8>>>) -> Result<Step, StoreError> {
    match recorded {
        None => Ok(Step::Apply),
        Some(None) => Ok(Step::RecordChecksum),
        Some(Some(sum)) if sum == m.checksum() => Ok(Step::Done),
        Some(Some(_)) => Err(StoreError::Migration(format!(
            "migration {} was edited after it was applied to this database; \
             restore its text and add the change as a new migration",
            m.version
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edited_migration_is_refused_and_a_legacy_one_is_recorded() {
        let m = Migration {
            version: 1,
            sql: "CREATE TABLE t (x INTEGER);",
            guard: None,
        };
        assert_eq!(step(&m, None).ok(), Some(Step::Apply));
        assert_eq!(step(&m, Some(None)).ok(), Some(Step::RecordChecksum));
        assert_eq!(step(&m, Some(Some(m.checksum()))).ok(), Some(Step::Done));
        let edited = Migration {
            sql: "CREATE TABLE t (x INTEGER, y TEXT);",
            ..m
        };
        let e = step(&edited, Some(Some(m.checksum()))).err();
        assert!(
            matches!(&e, Some(StoreError::Migration(msg)) if msg.contains("migration 1 was edited")),
            "{e:?}"
        );
    }
}
