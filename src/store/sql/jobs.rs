//! One group-commit job (see `store::group`), run inside an open
//! transaction: the same for both backends, whichever way each batches.

use sqlx::Transaction;

use super::super::backend::{Db, lock_log};
use super::log::insert_revocations_in;
use super::sessions::{create_session_in, refresh_in, revoke_sessions_in};
use crate::store::group::{Done, Job};
use crate::store::types::StoreError;

/// Runs `job` inside `tx`. The job is only borrowed: a group that fails
/// runs its jobs again (see the backends' `run_group`).
pub(in crate::store) async fn run_job(
    tx: &mut Transaction<'static, Db>,
    job: &Job,
) -> Result<Done, StoreError> {
    match job {
        Job::RevokeSessions(req, _) => revoke_sessions_in(tx, req).await.map(Done::Revoked),
        Job::InsertRevocations(rs, _) => insert_revocations_in(tx, rs).await.map(|()| Done::Unit),
        Job::CreateSession(n, _) => create_session_in(tx, n).await.map(|()| Done::Unit),
        #[cfg(test)]
        Job::Panic(_) => panic!("a job that panics"),
        #[cfg(test)]
        Job::FailAfter(statements, _) => {
            for sql in statements {
                sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
                    .execute(&mut **tx)
                    .await?;
            }
            Err(StoreError::Corrupt("injected failure".into()))
        }
        Job::Refresh(r, _) => {
            // With the log lock held the outcome is final: a theft can
            // append at once (SQLite's one writer always holds it).
            lock_log(tx).await?;
            refresh_in(tx, r, true)
                .await?
                .map(|o| Done::Refresh(Box::new(o)))
                .ok_or_else(|| StoreError::Corrupt("refresh without an outcome".into()))
        }
    }
}
