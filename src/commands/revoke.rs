//! `jwtd revoke --token T | --session ID | --user NAME`.

use anyhow::{Context as _, anyhow};
use jwtd_core::token::{self, Expiry};

use super::ctx::{CommandError, Ctx};
use crate::cli::RevokeArgs;
use crate::revoke;

/// Runs `revoke`.
pub async fn run(ctx: &Ctx, args: RevokeArgs) -> Result<(), CommandError> {
    if let Some(t) = args.token {
        return revoke_token(ctx, &t).await;
    }
    if let Some(id) = args.session {
        let session = ctx
            .store
            .session(&id)
            .await
            .context("looking up the session")?
            .ok_or_else(|| anyhow!("no session {id:?}"))?;
        let which = revoke::Sessions::One(id.clone());
        ctx.revocations()
            .sessions(&session.user_id, which, ctx.now)
            .await
            .context("revoking the session")?;
        println!("revoked session {id}");
        return Ok(());
    }
    if let Some(name) = args.user {
        let user = ctx
            .store
            .user_by_name(&name)
            .await
            .context("looking up the user")?
            .ok_or_else(|| anyhow!("no user named {name:?}"))?;
        let which = revoke::Sessions::Everywhere;
        let r = ctx
            .revocations()
            .sessions(&user.id, which, ctx.now)
            .await
            .context("revoking the user")?;
        println!(
            "revoked every token of {name}; {} sessions ended",
            r.live_sessions
        );
        return Ok(());
    }
    Err(anyhow!("nothing to revoke").into())
}

async fn revoke_token(ctx: &Ctx, raw: &str) -> Result<(), CommandError> {
    let (ring, v) = ctx.verifier().await?;
    // Only a genuine token is revoked: a forged one names a jti we never
    // issued, and revoking it would only fill the index.
    let t = token::verify_uncached(&ring, raw.trim(), &v, ctx.now, Expiry::Ignore)
        .map_err(|e| anyhow!("not a token of this jwtd: {e}"))?;
    if t.claims.exp + ctx.config.leeway_secs() <= ctx.now {
        println!("token already expired; nothing to revoke");
        return Ok(());
    }
    ctx.revocations()
        .token(&t, ctx.now)
        .await
        .context("revoking the token")?;
    println!("revoked token {}", t.claims.jti);
    Ok(())
}
