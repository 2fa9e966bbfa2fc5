//! The subscribing side of the fan-out: applies what other instances
//! published, and replays the log after every (re)subscription (see
//! [`super`]).

use std::time::Duration;

use futures_util::StreamExt as _;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::publish::Event;
use crate::follow::Follower;

/// Subscribes to the channel for as long as the app runs, resubscribing
/// after any error and replaying the log after every (re)subscription.
pub fn spawn_subscriber(
    follower: Follower,
    url: String,
    channel: String,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            let run = subscribe_once(&follower, &url, &channel);
            tokio::select! {
                result = run => {
                    if let Err(e) = result {
                        tracing::warn!(error = %e, "redis subscription lost; retrying");
                    }
                }
                _ = stop.changed() => return,
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                _ = stop.changed() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    })
}

async fn subscribe_once(state: &Follower, url: &str, channel: &str) -> redis::RedisResult<()> {
    let client = redis::Client::open(url)?;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    tracing::info!("subscribed to revocation fan-out");
    // Anything published while we were not listening is in the log.
    if let Err(e) = state.catch_up().await {
        tracing::warn!(error = %e, "catch-up after subscribing failed; the poll will retry");
    }
    let mut messages = pubsub.on_message();
    while let Some(msg) = messages.next().await {
        let Ok(payload) = msg.get_payload::<String>() else {
            continue;
        };
        match serde_json::from_str::<Event>(&payload) {
            Ok(Event::Revocation(item)) => match item.revocation() {
                Some(r) => state.enforcement.apply(&[r]),
                None => tracing::warn!("fan-out event of unknown kind ignored"),
            },
            Ok(Event::Keys) => {
                if let Err(e) = state.reload_keys().await {
                    tracing::warn!(error = %e, "key reload after fan-out event failed");
                }
            }
            Err(_) => tracing::warn!("unreadable fan-out event ignored"),
        }
    }
    Err(redis::RedisError::from((
        redis::ErrorKind::Io,
        "subscription stream ended",
    )))
}
