//! Group commit, the part both backends share: a bounded queue of writes,
//! one task that takes them in batches, and its supervisor.
//!
//! Concurrent writes on the hot paths share one transaction and so one
//! commit (one fsync, and on PostgreSQL one hold of the revocation log's
//! lock). Each write is answered only after that commit, so "2xx means
//! durable" holds unchanged. How a batch runs inside its transaction is the
//! backend's (SQLite runs the jobs back to back, PostgreSQL folds a batch's
//! log appends into one statement); in both, a job that fails rolls its
//! group back and the group runs again so that the failing job fails alone
//! (SQLite: a savepoint per job; PostgreSQL: a transaction per job).
//!
//! The queue is bounded ([`QUEUE`]): past it, writers wait for room, so a
//! flood slows its senders down instead of growing memory. The committing
//! task is supervised: if it panics, the jobs of its batch fail (503, as any
//! failed commit) and a new task takes over the queue, so one bad job cannot
//! leave every later write failing.

use std::future::Future;
use std::sync::Arc;

use jwtd_core::revocation::Revocation;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::types::{
    NewSession, RefreshOutcome, RefreshRequest, Revoked, SessionRevocation, StoreError,
};

/// Jobs waiting for a commit, at most.
const QUEUE: usize = 4096;

/// Most jobs in one transaction: bounds how long the first waits.
const MAX_GROUP: usize = 256;

/// Where a job's result goes.
pub(super) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// A write waiting for the next group commit, with where to send its result.
#[derive(Debug)]
pub(super) enum Job {
    RevokeSessions(SessionRevocation, Reply<Revoked>),
    InsertRevocations(Vec<Revocation>, Reply<()>),
    CreateSession(NewSession, Reply<()>),
    Refresh(RefreshRequest, Reply<RefreshOutcome>),
    /// Panics inside the committing task, to test its supervision.
    #[cfg(test)]
    Panic(Reply<()>),
    /// Runs these statements, then fails: a fault injected after partial
    /// writes, to test that a failed job leaves nothing behind.
    #[cfg(test)]
    FailAfter(Vec<&'static str>, Reply<()>),
}

impl Job {
    /// Answers the job with a failure, without running it.
    pub(super) fn fail(self, msg: &str) {
        self.answer(Err(unavailable(msg)), &Ok(()));
    }
}

/// Answers every job of a batch with the same failure.
pub(super) fn fail_all(batch: Vec<Job>, msg: &str) {
    for job in batch {
        job.fail(msg);
    }
}

/// The queue of a backend's group committer.
#[derive(Clone, Debug)]
pub(super) struct GroupCommit {
    jobs: mpsc::Sender<Job>,
}

/// The store is closed or its committer is gone.
pub(super) fn group_gone() -> StoreError {
    StoreError::Unavailable(sqlx::Error::PoolClosed)
}

/// A failed commit (or begin), reported to each job it took down.
pub(super) fn unavailable(msg: &str) -> StoreError {
    StoreError::Unavailable(sqlx::Error::Io(std::io::Error::other(msg.to_owned())))
}

impl GroupCommit {
    /// Starts the committer: `run` commits one batch and answers each of
    /// its jobs.
    pub(super) fn start<F, Fut>(run: F) -> Self
    where
        F: Fn(Vec<Job>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (jobs, rx) = mpsc::channel::<Job>(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        let run = Arc::new(run);
        tokio::spawn(async move {
            loop {
                let worker = tokio::spawn(commit_batches(run.clone(), rx.clone()));
                match worker.await {
                    Err(e) if e.is_panic() => {
                        metrics::counter!("jwtd_group_commit_restarts_total").increment(1);
                        tracing::error!("group commit task panicked; its batch failed, restarting");
                    }
                    // Every store handle is gone, or the runtime is ending.
                    _ => return,
                }
            }
        });
        Self { jobs }
    }

    /// Queues a job; its answer comes on the job's reply channel.
    pub(super) async fn submit(&self, job: Job) -> Result<(), StoreError> {
        self.jobs.send(job).await.map_err(|_| group_gone())
    }

    /// Queues the job `make` builds around a reply channel and waits for
    /// its answer.
    pub(super) async fn run<T>(&self, make: impl FnOnce(Reply<T>) -> Job) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(make(tx)).await?;
        rx.await.unwrap_or_else(|_| Err(group_gone()))
    }
}

/// Commits batches until every sender is gone. The receiver is shared with
/// the supervisor so a replacement task picks up the same queue.
async fn commit_batches<F, Fut>(run: Arc<F>, rx: Arc<Mutex<mpsc::Receiver<Job>>>)
where
    F: Fn(Vec<Job>) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut rx = rx.lock().await;
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run(batch).await;
    }
}

/// What a job produced inside its transaction, before the commit.
#[derive(Debug)]
pub(super) enum Done {
    Revoked(Revoked),
    Unit,
    Refresh(Box<RefreshOutcome>),
}

impl Job {
    /// Answers the job with its result, once its group's commit is known:
    /// a job that succeeded inside a group whose commit failed failed.
    pub(super) fn answer(self, result: Result<Done, StoreError>, commit: &Result<(), String>) {
        let result = match (commit, result) {
            (Err(msg), Ok(_)) => Err(unavailable(msg)),
            (_, r) => r,
        };
        // A caller that has gone has nobody to tell.
        let _ = match self {
            Job::RevokeSessions(_, reply) => reply
                .send(result.and_then(|d| match d {
                    Done::Revoked(r) => Ok(r),
                    _ => mismatched(),
                }))
                .is_ok(),
            Job::InsertRevocations(_, reply) | Job::CreateSession(_, reply) => reply
                .send(result.and_then(|d| match d {
                    Done::Unit => Ok(()),
                    _ => mismatched(),
                }))
                .is_ok(),
            Job::Refresh(_, reply) => reply
                .send(result.and_then(|d| match d {
                    Done::Refresh(o) => Ok(*o),
                    _ => mismatched(),
                }))
                .is_ok(),
            #[cfg(test)]
            Job::Panic(reply) | Job::FailAfter(_, reply) => reply.send(result.map(|_| ())).is_ok(),
        };
    }
}

/// A job's result of another job's kind: a bug, answered as one.
fn mismatched<T>() -> Result<T, StoreError> {
    Err(StoreError::Corrupt(
        "a job answered with another's result".into(),
    ))
}

/// Answers every job of a batch with its result, after the group's commit.
pub(super) fn answer_all(
    batch: Vec<Job>,
    results: Vec<Result<Done, StoreError>>,
    commit: Result<(), String>,
) {
    for (job, result) in batch.into_iter().zip(results) {
        job.answer(result, &commit);
    }
}
