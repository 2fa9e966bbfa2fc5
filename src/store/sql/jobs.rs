//! One group-commit job (see `store::group`), run inside an open
//! transaction: the same for both backends, whichever way each batches.

use sqlx::Transaction;

use super::{
    Db, create_session_in, insert_revocations_in, lock_log, refresh_in, revoke_sessions_in,
};
use crate::store::StoreError;
use crate::store::group::{Job, Settle, settle};

/// Runs `job` inside `tx`; answers whether it succeeded and how to send
/// its result once the commit is known.
pub(in crate::store) async fn run_job(
    tx: &mut Transaction<'static, Db>,
    job: Job,
) -> (bool, Settle) {
    match job {
        Job::RevokeSessions(req, reply) => settle(revoke_sessions_in(tx, &req).await, reply),
        Job::InsertRevocations(rs, reply) => settle(insert_revocations_in(tx, &rs).await, reply),
        Job::CreateSession(n, reply) => settle(create_session_in(tx, &n).await, reply),
        #[cfg(test)]
        Job::Panic(_) => panic!("a job that panics"),
        Job::Refresh(r, reply) => {
            // With the log lock held the outcome is final: a theft can
            // append at once (SQLite's one writer always holds it).
            let outcome = match lock_log(tx).await {
                Ok(()) => refresh_in(tx, &r, true).await.and_then(|o| {
                    o.ok_or_else(|| StoreError::Corrupt("refresh without an outcome".into()))
                }),
                Err(e) => Err(e),
            };
            settle(outcome, reply)
        }
    }
}
