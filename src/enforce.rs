//! Where a committed revocation takes effect on this instance: the
//! in-memory view every request checks, the wake-up of feed streams, and
//! (cluster mode) the publication to the other instances. Nothing here
//! commits: [`crate::revoke`] commits and then hands what it committed to
//! [`Enforcement::committed`], so no handler can acknowledge a revocation
//! this instance does not enforce.

use jwtd_core::revocation::{Revocation, RevocationIndex, RevocationKind};
use jwtd_core::view::RevocationView;
use tokio::sync::Notify;

use crate::fanout::publish::{Event, Fanout};
use crate::store::{Revoked, StoredKey};

/// The in-memory side of revocation on one instance.
pub struct Enforcement {
    /// In-memory revocations, consulted on every request, with the log
    /// position applied and (cluster mode) the moment as of which every
    /// committed revocation is applied: the start of the last successful
    /// log catch-up. Protected requests fail closed once it is older than
    /// `max_staleness`. The same view an embedded verifier runs.
    pub view: RevocationView,
    /// Woken whenever revocations reach the view, for feed streams.
    pub events: Notify,
    /// Cluster mode: publishes committed revocations to the other instances.
    fanout: Option<Fanout>,
    /// Counts credentials removed here (client deletions): long-lived
    /// responses they authorised (feed streams) watch it and check their
    /// credential again, so a removal ends them at once. Removals
    /// elsewhere (the CLI, another instance) are found by the checks they
    /// make on their own.
    pub removals: tokio::sync::watch::Sender<u64>,
}

impl Enforcement {
    /// Enforcement over `view`, publishing through `fanout` if given.
    pub fn new(view: RevocationView, fanout: Option<Fanout>) -> Self {
        Self {
            view,
            events: Notify::new(),
            fanout,
            removals: tokio::sync::watch::Sender::new(0),
        }
    }

    /// A credential that may hold long-lived responses open was removed.
    pub fn credentials_removed(&self) {
        self.removals.send_modify(|n| *n += 1);
    }

    /// Applies revocations this instance has just committed: counted in the
    /// metrics, indexed, feed streams woken, and (cluster mode) published
    /// to the other instances, in that order. The log poll will see them
    /// again; indexing is idempotent, counting is not, hence a separate
    /// entry point from [`Enforcement::apply`].
    pub async fn committed(&self, revocations: &[Revocation]) {
        crate::telemetry::revocations_committed(revocations);
        self.apply(revocations);
        if let Some(f) = &self.fanout {
            let events: Vec<Event> = revocations.iter().map(Event::from).collect();
            f.publish(&events).await;
        }
    }

    /// Applies what a session revocation committed ([`Enforcement::committed`])
    /// and what it found revoked before: those are in the log already,
    /// but this instance may not have read them yet, and it is about to
    /// acknowledge them.
    pub async fn committed_sessions(&self, revoked: &Revoked) {
        self.apply(&revoked.known);
        self.committed(&revoked.revocations).await;
    }

    /// Tells the other instances that signing keys changed.
    pub async fn keys_changed(&self) {
        if let Some(f) = &self.fanout {
            f.publish(&[Event::Keys]).await;
        }
    }

    /// Applies revocations that the store has committed to the view.
    pub fn apply(&self, revocations: &[Revocation]) {
        for (r, e) in self.view.apply(revocations) {
            tracing::warn!(kind = %r.kind, error = %e, "revocation not indexed");
        }
        if !revocations.is_empty() {
            self.events.notify_waiters();
        }
    }
}

/// Indexes the revocation of every stored key marked revoked. The key
/// table is the record that outlives the key's log entry (which is purged
/// when its tokens would have expired): whatever order purges, polls and
/// restarts come in, a ring holding a revoked key is paired with an index
/// that rejects it. Key entries are never swept (see
/// [`RevocationIndex::sweep`]).
pub fn index_revoked_keys(index: &RevocationIndex, stored: &[StoredKey]) {
    for k in stored {
        if let Some(revoked_at) = k.revoked_at {
            let _ = index.insert_parts(
                RevocationKind::Key,
                &k.material.kid,
                revoked_at,
                k.verify_until.unwrap_or(revoked_at),
            );
        }
    }
}
