//! A bare axum route: `GET /bare` answers a short JSON body. The HTTP
//! benchmark divides every jwtd figure by this one, measured in the same run.
//! Same allocator as jwtd (mimalloc), so the ratio is jwtd's own work.

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:18999".into());
    let app = Router::new().route("/bare", get(|| async { r#"{"message":"Access granted"}"# }));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
