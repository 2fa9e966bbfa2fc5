//! Background upkeep: purges expired revocations and sessions (so storage
//! stays bounded by live tokens), and picks up revocations written to the
//! store by other processes, such as `jwtd revoke` on the same data dir.
//! Also folds recorded latency samples into the Prometheus histograms.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::AppState;

/// How often the revocation log (and the key table) is polled for other
/// writers' changes. The SPEC wants CLI revocations enforced within 1 s;
/// polling ten times that often leaves room for a loaded machine, and each
/// poll is two indexed queries that usually return nothing.
const CATCH_UP_EVERY: Duration = Duration::from_millis(100);

/// How often recorded latency samples are folded into histogram buckets.
/// The recorder keeps every sample until then: without this, an instance
/// nobody scrapes grows by 8 bytes a request, and the first scrape after a
/// busy hour drains hundreds of millions of them in one go.
const METRICS_UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Starts the background tasks; they stop when `stop` turns true.
pub fn spawn(state: AppState, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let purge = {
        let state = state.clone();
        let every = state.config.purge_interval;
        every_until_stopped(every, stop.clone(), move || {
            let state = state.clone();
            async move {
                purge_once(&state).await;
            }
        })
    };
    // In cluster mode the poll is what bounds staleness (Redis is only the
    // fast path), so it runs several times per `max_staleness`.
    let period = if state.store.is_shared() {
        (state.config.max_staleness / 4).clamp(Duration::from_millis(50), Duration::from_secs(1))
    } else {
        CATCH_UP_EVERY
    };
    let upkeep = every_until_stopped(METRICS_UPKEEP_EVERY, stop.clone(), || async {
        crate::telemetry::upkeep();
    });
    let catch_up = every_until_stopped(period, stop, move || {
        let state = state.clone();
        async move {
            if let Err(e) = state.catch_up().await {
                tracing::warn!(error = %e, "revocation log poll failed");
            }
        }
    });
    vec![purge, upkeep, catch_up]
}

/// One purge of the index and the store.
pub async fn purge_once(state: &AppState) {
    let now = state.clock.now();
    let dropped = state.index.sweep(now);
    let window = crate::config::secs(state.config.login_failure_window);
    let purged = state
        .store
        .purge(now, state.config.leeway_secs(), now - window)
        .await;
    match purged {
        Ok(report) => {
            let rows = report.revocations + report.sessions + report.refresh_tokens + report.keys;
            crate::telemetry::purge_run(dropped, rows);
            tracing::debug!(index = dropped, ?report, "purged expired state");
        }
        Err(e) => tracing::warn!(error = %e, "purge failed; will retry"),
    }
}

fn every_until_stopped<F, Fut>(
    period: Duration,
    mut stop: watch::Receiver<bool>,
    mut tick: F,
) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => tick().await,
                _ = stop.changed() => return,
            }
        }
    })
}
