//! A resource server that trusts jwtd's tokens, with `jwtd-verify`: every
//! request is checked in-process (signature, claims, and jwtd's revocations,
//! followed live), so a logout at jwtd is refused here within milliseconds
//! and jwtd is never on the request path.
//!
//! Against a local jwtd, in two commands:
//!
//! ```sh
//! JWTD_ADMIN_TOKEN=dev-admin-token-0123 cargo run --release -- serve
//! JWTD_ADMIN_TOKEN=dev-admin-token-0123 cargo run --example resource-server
//! ```
//!
//! then `curl -H "Authorization: Bearer $ACCESS" http://127.0.0.1:9000/hello`.
//! Environment: `JWTD_URL` (default `http://127.0.0.1:8080`), `JWTD_ISSUER`
//! (default: the URL), `JWTD_AUDIENCE` (`jwtd`), the feed credentials
//! `JWTD_CLIENT_ID` and `JWTD_CLIENT_SECRET` (`jwtd client add NAME --feed`)
//! or `JWTD_ADMIN_TOKEN`, `JWTD_MAX_STALENESS` (`5s`), `LISTEN`
//! (`127.0.0.1:9000`).

use std::env;
use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use jwtd_verify::{Auth, Credentials, Options, Verifier};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let var = |k: &str| env::var(k).ok().filter(|v| !v.is_empty());
    let url = var("JWTD_URL").unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let issuer = var("JWTD_ISSUER").unwrap_or_else(|| url.clone());
    let audience = var("JWTD_AUDIENCE").unwrap_or_else(|| "jwtd".into());
    let credentials = match (var("JWTD_CLIENT_ID"), var("JWTD_CLIENT_SECRET")) {
        (Some(id), Some(secret)) => Credentials::client(id, secret),
        _ => Credentials::AdminToken(
            var("JWTD_ADMIN_TOKEN")
                .ok_or("set JWTD_CLIENT_ID and JWTD_CLIENT_SECRET, or JWTD_ADMIN_TOKEN")?,
        ),
    };
    let max_staleness = match var("JWTD_MAX_STALENESS") {
        Some(s) => jwtd::core::duration::parse(&s)?,
        None => Duration::from_secs(5),
    };
    let verifier = Verifier::start(
        Options::new(url, issuer, audience)
            .credentials(credentials)
            .max_staleness(max_staleness),
    )
    .await?;
    let stats = verifier.clone();
    let app = Router::new()
        .route("/hello", get(hello))
        .layer(verifier.layer())
        // Outside the layer: liveness, the verifier's own numbers, and the
        // same kind of answer with no auth at all (the benchmark's baseline).
        .route("/healthz", get(|| async { "ok" }))
        .route("/open", get(open))
        .route(
            "/stats",
            get(move || {
                let s = stats.stats();
                async move { Json(json!({"staleness_ms": s.staleness_ms, "revocations": s.revocations, "keys": s.keys, "accepted": s.accepted, "rejected": s.rejected, "unavailable": s.unavailable})) }
            }),
        );
    let listen = var("LISTEN").unwrap_or_else(|| "127.0.0.1:9000".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    eprintln!("resource-server listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

/// An open route answering like `/hello`, for comparison.
async fn open() -> Json<Value> {
    Json(json!({"hello": "anyone", "sub": "-", "session_id": "-", "client_id": "-"}))
}

/// A protected route: who is calling.
async fn hello(auth: Auth) -> Json<Value> {
    let c = &auth.token.claims;
    Json(
        json!({"hello": c.preferred_username, "sub": c.sub, "session_id": c.sid, "client_id": c.client_id}),
    )
}
