//! `jwtd keys list|rotate|revoke KID`.

use anyhow::{Context as _, anyhow};

use super::ctx::{CommandError, Ctx};
use crate::cli::KeysCommand;
use crate::keyring;

/// Runs a `keys` subcommand.
pub async fn run(ctx: &Ctx, cmd: KeysCommand) -> Result<(), CommandError> {
    match cmd {
        KeysCommand::List => {
            let keys = ctx.store.keys().await.context("reading keys")?;
            println!("KID\tALG\tSTATE\tCREATED_AT\tVERIFY_UNTIL");
            for k in keys {
                let state = if k.revoked_at.is_some() {
                    "revoked"
                } else if k.signs_at(ctx.now) {
                    "active"
                } else if k.is_next() {
                    "next"
                } else if k.is_scheduled(ctx.now) {
                    "scheduled"
                } else {
                    "retired"
                };
                let until = k.verify_until.map_or("-".to_owned(), |t| t.to_string());
                println!(
                    "{}\t{}\t{state}\t{}\t{until}",
                    k.material.kid, k.material.alg, k.created_at
                );
            }
            Ok(())
        }
        KeysCommand::Rotate { now } => {
            let (kid, active_at) = keyring::rotate(&ctx.store, &ctx.config, ctx.now, now)
                .await
                .map_err(|e| anyhow!(e))?;
            println!(
                "key {kid} signs from {active_at} (in {} s)",
                active_at - ctx.now
            );
            Ok(())
        }
        KeysCommand::Revoke { kid } => {
            match ctx
                .revocations()
                .key(&kid, ctx.now)
                .await
                .map_err(|e| anyhow!(e))?
            {
                Some(_) => {
                    println!("revoked key {kid}; every token it signed is rejected");
                    Ok(())
                }
                None => Err(anyhow!("no key {kid:?}").into()),
            }
        }
    }
}
