//! Cluster mode: revocation events between instances through Redis.
//!
//! Redis is only the fast path. After a commit, the committing instance
//! publishes the revocation; every instance subscribed applies it within
//! milliseconds. Nothing depends on Redis for correctness: each instance
//! also replays the ordered revocation log in PostgreSQL after every
//! (re)subscription and on a short timer, so a lost message, a Redis
//! restart or a partition only delays a revocation, bounded by
//! `max_staleness` (past which protected requests fail closed).

pub mod publish;
pub mod subscribe;

pub use publish::{Event, Fanout};
pub use subscribe::spawn_subscriber;
