//! Logging and metrics.
//!
//! Logs: `tracing` to stderr as text or JSON, filtered by `RUST_LOG`
//! (default `info`). Handlers log ids (user, session, key) and reasons,
//! never a token, refresh token, password or admin token.
//!
//! Metrics: one process-wide Prometheus recorder, rendered by `/metrics`.
//! Metric names are defined here and nowhere else.

use jwtd_core::sigcache::CacheStats;
use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::sync::{OnceLock, RwLock};
use std::time::Duration;

use axum::http::Method;
use jwtd_core::revocation::{Revocation, RevocationKind};
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global log subscriber; a second call is a no-op.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Latency buckets in seconds: from a cached verify to a slow fsync.
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// The process-wide recorder, installed on first use. `None` only if
/// another recorder was installed first (then metrics are not rendered).
pub fn recorder() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets(BUCKETS)
                .ok()?
                .install_recorder()
                .ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

/// What each metric is, for `# HELP` lines: every metric jwtd records is
/// here (a test checks the source against this list).
const METRICS: &[(&str, Kind, &str)] = &[
    (
        "jwtd_connections_refused_total",
        Kind::Counter,
        "Connections closed at accept because max_connections were open",
    ),
    (
        "jwtd_connections_timed_out_total",
        Kind::Counter,
        "Connections closed by a timeout: idle, head, body, or a write that made no progress",
    ),
    (
        "jwtd_fanout_publish_failures_total",
        Kind::Counter,
        "Revocation events that could not be published to Redis (other instances catch up by polling)",
    ),
    (
        "jwtd_group_commit_restarts_total",
        Kind::Counter,
        "Times the group-commit task panicked and was restarted (its batch failed)",
    ),
    (
        "jwtd_group_commit_retries_total",
        Kind::Counter,
        "Write groups that failed on one job and ran again job by job",
    ),
    (
        "jwtd_http_request_duration_seconds",
        Kind::Histogram,
        "HTTP request latency by route pattern and method",
    ),
    (
        "jwtd_http_requests_total",
        Kind::Counter,
        "HTTP requests by route pattern, method and status",
    ),
    (
        "jwtd_purge_runs_total",
        Kind::Counter,
        "Purges of expired revocations, sessions and keys",
    ),
    (
        "jwtd_purged_index_entries_total",
        Kind::Counter,
        "Expired entries dropped from the in-memory revocation index",
    ),
    (
        "jwtd_purged_store_rows_total",
        Kind::Counter,
        "Expired rows deleted from the store",
    ),
    (
        "jwtd_revocation_entries",
        Kind::Gauge,
        "Live entries in the in-memory revocation index, by kind",
    ),
    (
        "jwtd_revocation_view_lag_seconds",
        Kind::Gauge,
        "Age of this instance's view of the revocation log (cluster mode)",
    ),
    (
        "jwtd_revocations_total",
        Kind::Counter,
        "Revocations committed by this instance, by kind",
    ),
    (
        "jwtd_store_duration_seconds",
        Kind::Histogram,
        "Store call latency by operation",
    ),
    (
        "jwtd_verify_cache_capacity",
        Kind::Gauge,
        "Entries the verified-token cache can hold",
    ),
    (
        "jwtd_verify_cache_entries",
        Kind::Gauge,
        "Tokens in the verified-token cache",
    ),
    (
        "jwtd_verify_cache_evictions_total",
        Kind::Counter,
        "Tokens evicted from the verified-token cache",
    ),
    (
        "jwtd_verify_cache_hits_total",
        Kind::Counter,
        "Token checks that skipped the signature check (cache hit)",
    ),
    (
        "jwtd_verify_cache_misses_total",
        Kind::Counter,
        "Token checks that verified a signature (cache miss)",
    ),
    (
        "jwtd_verify_total",
        Kind::Counter,
        "Access-token checks by outcome: ok or the rejection reason",
    ),
];

/// A metric's Prometheus type.
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Registers every metric's description with the recorder.
fn describe() {
    for (name, kind, help) in METRICS {
        match kind {
            Kind::Counter => metrics::describe_counter!(*name, *help),
            Kind::Gauge => metrics::describe_gauge!(*name, *help),
            Kind::Histogram => metrics::describe_histogram!(*name, *help),
        }
    }
}

/// Renders every metric in Prometheus text format, with the live
/// revocation entry gauges (`counts`: token, session, user, key) and the
/// verified-token cache's figures set now.
pub fn render(counts: [usize; 4], lag_ms: i64, cache: CacheStats) -> String {
    metrics::gauge!("jwtd_verify_cache_entries").set(cache.entries as f64);
    metrics::gauge!("jwtd_verify_cache_capacity").set(cache.capacity as f64);
    metrics::counter!("jwtd_verify_cache_hits_total").absolute(cache.hits);
    metrics::counter!("jwtd_verify_cache_misses_total").absolute(cache.misses);
    metrics::counter!("jwtd_verify_cache_evictions_total").absolute(cache.evictions);
    // How far behind the shared revocation log this instance may be (the
    // age of its last successful catch-up; meaningful in cluster mode).
    metrics::gauge!("jwtd_revocation_view_lag_seconds").set(lag_ms as f64 / 1000.0);
    for (kind, n) in RevocationKind::ALL.iter().zip(counts) {
        metrics::gauge!("jwtd_revocation_entries", "kind" => kind.as_str()).set(n as f64);
    }
    upkeep();
    recorder().map_or_else(String::new, PrometheusHandle::render)
}

/// Folds recorded histogram samples into their buckets (see the sweeper).
pub fn upkeep() {
    if let Some(h) = recorder() {
        h.run_upkeep();
    }
}

/// Counts one answered request and records its latency, labelled by route
/// pattern, method and status.
///
/// The counter and histogram of each (route, method, status) are
/// registered once and reused: building metric keys (label vectors,
/// hashing) on every request showed up in the request-path profile. The
/// route is a pattern of ours (or `unmatched`) and the method one of the
/// standard nine (or `other`), so a client cannot grow the label set.
/// `method` is a [`method_label`]: a constant, never client text.
pub fn request_done(route: &str, method: &'static str, status: u16, elapsed: Duration) {
    type Handles = HashMap<String, HashMap<(&'static str, u16), (Counter, Histogram)>, FastHash>;
    static HANDLES: OnceLock<RwLock<Handles>> = OnceLock::new();
    let handles = HANDLES.get_or_init(Default::default);
    let key = (method, status);
    let record = |(count, latency): &(Counter, Histogram)| {
        count.increment(1);
        latency.record(elapsed.as_secs_f64());
    };
    if let Some(h) = handles
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(route)
        .and_then(|by_route| by_route.get(&key))
    {
        return record(h);
    }
    let (method, status) = key;
    let h = (
        metrics::counter!("jwtd_http_requests_total", "route" => route.to_owned(), "method" => method, "status" => status.to_string()),
        metrics::histogram!("jwtd_http_request_duration_seconds", "route" => route.to_owned(), "method" => method),
    );
    let mut map = handles.write().unwrap_or_else(|e| e.into_inner());
    record(
        map.entry(route.to_owned())
            .or_default()
            .entry(key)
            .or_insert(h),
    );
}

/// Hashing for maps keyed by our own labels (never client input), where
/// SipHash's flood resistance buys nothing.
type FastHash = foldhash::fast::FixedState;

/// The metric label of a method: the standard ones by name, any other
/// (clients may invent methods) as `other`.
pub fn method_label(m: &Method) -> &'static str {
    const KNOWN: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::PATCH, "PATCH"),
        (Method::HEAD, "HEAD"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::CONNECT, "CONNECT"),
        (Method::TRACE, "TRACE"),
    ];
    KNOWN
        .iter()
        .find(|(k, _)| k == m)
        .map_or("other", |(_, label)| label)
}

/// One bearer-token verification and its outcome (`ok` or a reason).
pub fn verify_outcome(outcome: &'static str) {
    // The common case skips the map (a lock and a hash per request).
    static OK: OnceLock<Counter> = OnceLock::new();
    if outcome == "ok" {
        OK.get_or_init(|| metrics::counter!("jwtd_verify_total", "outcome" => "ok"))
            .increment(1);
        return;
    }
    static HANDLES: OnceLock<RwLock<HashMap<&'static str, Counter, FastHash>>> = OnceLock::new();
    let handles = HANDLES.get_or_init(Default::default);
    if let Some(c) = handles
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(outcome)
    {
        c.increment(1);
        return;
    }
    let c = metrics::counter!("jwtd_verify_total", "outcome" => outcome);
    c.increment(1);
    handles
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(outcome, c);
}

/// Revocations committed by this instance, by kind.
pub fn revocations_committed(rs: &[Revocation]) {
    for r in rs {
        metrics::counter!("jwtd_revocations_total", "kind" => r.kind.as_str()).increment(1);
    }
}

/// One purge run and what it removed.
pub fn purge_run(index_entries: usize, store_rows: u64) {
    metrics::counter!("jwtd_purge_runs_total").increment(1);
    metrics::counter!("jwtd_purged_index_entries_total").increment(index_entries as u64);
    metrics::counter!("jwtd_purged_store_rows_total").increment(store_rows);
}

/// Latency of one store operation.
pub fn store_latency(op: &'static str, elapsed: Duration) {
    metrics::histogram!("jwtd_store_duration_seconds", "op" => op).record(elapsed.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::METRICS;

    /// Every `"jwtd_…"` metric name in the source has a description.
    #[test]
    fn every_metric_is_described() {
        let mut files = vec![std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")];
        let mut missing = Vec::new();
        while let Some(path) = files.pop() {
            if path.is_dir() {
                let entries = std::fs::read_dir(&path).expect("the source is readable");
                files.extend(entries.map(|e| e.expect("an entry").path()));
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("the source is readable");
            for piece in text.split("\"jwtd_").skip(1) {
                let name: String = piece
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                let name = format!("jwtd_{name}");
                if name.len() > "jwtd_".len()
                    && piece[name.len() - 5..].starts_with('"')
                    && !METRICS.iter().any(|(m, _, _)| *m == name)
                {
                    missing.push(format!("{name} ({})", path.display()));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "metrics without a description: {missing:?}"
        );
    }
}
