//! Background upkeep: purges expired revocations and sessions (so storage
//! stays bounded by live tokens), and picks up revocations written to the
//! store by other processes, such as `jwtd revoke` on the same data dir.
//! Also folds recorded latency samples into the Prometheus histograms.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::follow::Follower;
use crate::store::ChangeStamp;

/// How often the embedded store is checked for other writers' changes
/// (such as `jwtd revoke` on the same data dir). The SPEC wants CLI
/// revocations enforced within 1 s; checking ten times that often leaves
/// room for a loaded machine. A check is two `stat` calls; the log and key
/// table are only polled when they say something was committed.
const CATCH_UP_EVERY: Duration = Duration::from_millis(100);

/// The embedded store is polled at least this often even when its files
/// look unchanged, in case a file system keeps coarse modification times.
/// Between those polls the stamp stands in for two queries through the
/// driver, which would run on the cores that serve requests.
const FULL_POLL_EVERY: Duration = Duration::from_millis(500);

/// How often recorded latency samples are folded into histogram buckets.
/// The recorder keeps every sample until then: without this, an instance
/// nobody scrapes grows by 8 bytes a request, and the first scrape after a
/// busy hour drains hundreds of millions of them in one go.
const METRICS_UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// What the sweeper needs of the configuration.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// How often expired state is purged.
    pub purge_interval: Duration,
    /// Cluster mode's staleness bound, which the log poll keeps.
    pub max_staleness: Duration,
    /// `login_failure_window`, in seconds: older failure counts are purged.
    pub failure_window: i64,
    /// Clock-skew allowance, in seconds.
    pub leeway: i64,
}

impl Policy {
    /// The sweeper's part of `config`.
    pub fn of(config: &Config) -> Self {
        Self {
            purge_interval: config.serve.purge_interval,
            max_staleness: config.serve.max_staleness,
            failure_window: crate::config::secs(config.serve.login_failure_window),
            leeway: config.leeway_secs(),
        }
    }
}

/// Starts the background tasks; they stop when `stop` turns true.
pub fn spawn(
    follower: Follower,
    policy: Policy,
    stop: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let purge = {
        let follower = follower.clone();
        every_until_stopped(policy.purge_interval, stop.clone(), move || {
            let follower = follower.clone();
            async move {
                purge_once(&follower, &policy).await;
            }
        })
    };
    // In cluster mode the poll is what bounds staleness (Redis is only the
    // fast path), so it runs several times per `max_staleness`.
    let period = if follower.store.is_shared() {
        (policy.max_staleness / 4).clamp(Duration::from_millis(50), Duration::from_secs(1))
    } else {
        CATCH_UP_EVERY
    };
    let upkeep = every_until_stopped(METRICS_UPKEEP_EVERY, stop.clone(), || async {
        crate::telemetry::upkeep();
    });
    let mut watch = ChangeWatch::<ChangeStamp>::default();
    let catch_up = every_until_stopped(period, stop, move || {
        let due = watch.due(follower.store.change_stamp(), Instant::now());
        let follower = follower.clone();
        async move {
            follower.switch_keys_if_due().await;
            if due && let Err(e) = follower.catch_up().await {
                tracing::warn!(error = %e, "revocation log poll failed");
            }
        }
    });
    vec![purge, upkeep, catch_up]
}

/// Decides whether a catch-up poll is due: always without a stamp (cluster
/// mode), else when the stamp moved or the last poll is
/// [`FULL_POLL_EVERY`] old.
/// Generic over the stamp so the rule is unit-tested without files.
struct ChangeWatch<S> {
    stamp: Option<S>,
    polled: Option<Instant>,
}

impl<S> Default for ChangeWatch<S> {
    fn default() -> Self {
        Self {
            stamp: None,
            polled: None,
        }
    }
}

impl<S: PartialEq> ChangeWatch<S> {
    fn due(&mut self, stamp: Option<S>, now: Instant) -> bool {
        let fresh = self
            .polled
            .is_some_and(|t| now.duration_since(t) < FULL_POLL_EVERY);
        if stamp.is_some() && stamp == self.stamp && fresh {
            return false;
        }
        self.stamp = stamp;
        self.polled = Some(now);
        true
    }
}

/// One purge of the index and the store.
pub async fn purge_once(follower: &Follower, policy: &Policy) {
    let now = follower.clock.now();
    let dropped = follower.enforcement.view.index().sweep(now);
    let purged = follower
        .store
        .purge(now, policy.leeway, now - policy.failure_window)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_when_the_stamp_moves_and_at_least_every_full_period() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut w = ChangeWatch::default();
        assert!(w.due(Some(1), t0), "first check polls");
        assert!(!w.due(Some(1), ms(100)));
        assert!(w.due(Some(2), ms(200)), "a commit moved the stamp");
        assert!(!w.due(Some(2), ms(300)));
        assert!(
            w.due(Some(2), ms(200) + FULL_POLL_EVERY),
            "an unchanged stamp is still polled every FULL_POLL_EVERY"
        );
        // No stamp (cluster mode): every tick polls.
        let mut w = ChangeWatch::<u8>::default();
        assert!(w.due(None, t0));
        assert!(w.due(None, t0));
    }
}
