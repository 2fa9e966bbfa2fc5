//! `jwtd inspect TOKEN`: decoded header and claims, and the verdict.

use anyhow::Context as _;
use jwtd_core::token::{self, Expiry};

use super::ctx::{CommandError, Ctx};
use crate::index_loader::IndexLoader;

/// Runs `inspect`: exit 0 when valid, 1 when not.
pub async fn run(ctx: &Ctx, raw: &str) -> Result<(), CommandError> {
    let raw = raw.trim();
    match token::decode_unverified(raw) {
        Some((header, claims)) => {
            println!(
                "header: {}",
                serde_json::to_string_pretty(&header).unwrap_or_default()
            );
            println!(
                "claims: {}",
                serde_json::to_string_pretty(&claims).unwrap_or_default()
            );
        }
        None => println!("(not a decodable JWT)"),
    }
    let (ring, v) = ctx.verifier().await?;
    let t = match token::verify_uncached(&ring, raw, &v, ctx.now, Expiry::Enforce) {
        Ok(t) => t,
        Err(e) => {
            println!("verdict: not valid ({e})");
            return Err(CommandError::NotValid(e.to_string()));
        }
    };
    let loaded = std::sync::Arc::new(IndexLoader::default());
    ctx.store
        .load_live(ctx.now, loaded.clone())
        .await
        .context("reading revocations")?;
    let r = t.revocation_ref();
    if let Some(kind) = loaded.index.check(&r) {
        println!("verdict: revoked ({kind})");
        return Err(CommandError::NotValid(format!("revoked ({kind})")));
    }
    println!("verdict: valid (expires at {})", t.claims.exp);
    Ok(())
}
