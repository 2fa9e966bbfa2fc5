//! Filling a revocation index from [`Store::load_live`](crate::store::Store::load_live):
//! the server at startup, and `jwtd inspect`.

use jwtd_core::revocation::{RevocationIndex, RevocationKind};

use crate::store::BulkSink;

/// Fills an index from the store's bulk load.
pub struct IndexLoader {
    /// The index being filled.
    pub index: RevocationIndex,
    /// Entries that were not ids of ours and so reject nothing.
    pub skipped: std::sync::atomic::AtomicUsize,
}

impl Default for IndexLoader {
    fn default() -> Self {
        Self {
            index: RevocationIndex::new(),
            skipped: Default::default(),
        }
    }
}

impl BulkSink for IndexLoader {
    fn push(&self, kind: RevocationKind, value: &str, revoked_at: i64, expires_at: i64) {
        // Only a token or session value that is not one of our ids can fail
        // here, and no token we signed carries such an id, so nothing it
        // could reject exists; count it rather than refuse to start.
        if self
            .index
            .insert_parts(kind, value, revoked_at, expires_at)
            .is_err()
        {
            self.skipped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}
