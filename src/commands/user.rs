//! `jwtd user add|list|delete|passwd`.

use std::io::BufRead as _;

use anyhow::{Context as _, anyhow};
use jwtd_core::password::PasswordHasher;

use super::ctx::{CommandError, Ctx};
use crate::accounts::{check_password, check_username, fold_username};
use crate::cli::UserCommand;
use crate::revoke;
use crate::store::{StoreError, UserRecord};

/// Runs a `user` subcommand.
pub async fn run(ctx: &Ctx, cmd: UserCommand) -> Result<(), CommandError> {
    match cmd {
        UserCommand::Add { name, .. } => add(ctx, &name).await,
        UserCommand::List => list(ctx).await,
        UserCommand::Delete { name } => delete(ctx, &name).await,
        UserCommand::Passwd { name, .. } => passwd(ctx, &name).await,
    }
}

/// The first line of stdin, without its line ending; never echoed or logged.
fn read_password() -> Result<String, CommandError> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    let pw = line.trim_end_matches(['\n', '\r']).to_owned();
    check_password(&pw).map_err(|e| anyhow!(e))?;
    Ok(pw)
}

fn hash(ctx: &Ctx, password: &str) -> Result<String, CommandError> {
    let hasher = PasswordHasher::new(ctx.config.password).map_err(|e| anyhow!(e))?;
    Ok(hasher.hash(password.as_bytes()).map_err(|e| anyhow!(e))?)
}

async fn add(ctx: &Ctx, name: &str) -> Result<(), CommandError> {
    check_username(name).map_err(|e| anyhow!(e))?;
    let password = read_password()?;
    let user = UserRecord {
        id: uuid::Uuid::now_v7().to_string(),
        username: fold_username(name),
        password_hash: hash(ctx, &password)?,
        created_at: ctx.now,
    };
    match ctx.store.create_user(&user).await {
        Ok(()) => {
            println!("created user {} ({})", user.username, user.id);
            Ok(())
        }
        Err(StoreError::Conflict) => Err(anyhow!("username {name:?} is taken").into()),
        Err(e) => Err(anyhow!(e).into()),
    }
}

async fn list(ctx: &Ctx) -> Result<(), CommandError> {
    let users = ctx.store.users().await.context("listing users")?;
    println!("USERNAME\tUSER_ID\tCREATED_AT");
    for u in users {
        println!("{}\t{}\t{}", u.username, u.id, u.created_at);
    }
    Ok(())
}

async fn delete(ctx: &Ctx, name: &str) -> Result<(), CommandError> {
    match ctx.revocations().delete_user(name, ctx.now).await {
        Ok(Some(revoked)) => {
            let id = revoked.last().map_or("", |r| r.value.as_str());
            println!("deleted user {name} ({id}); their tokens are revoked");
            Ok(())
        }
        Ok(None) => Err(anyhow!("no user named {name:?}").into()),
        Err(e) => Err(anyhow!(e).into()),
    }
}

async fn passwd(ctx: &Ctx, name: &str) -> Result<(), CommandError> {
    let user = ctx
        .store
        .user_by_name(name)
        .await
        .context("looking up the user")?
        .ok_or_else(|| anyhow!("no user named {name:?}"))?;
    let password = read_password()?;
    ctx.store
        .set_password(&user.id, &hash(ctx, &password)?)
        .await
        .context("storing the password")?;
    // A new password means every existing session ends: whoever knew the
    // old one may hold them.
    let which = revoke::Sessions::Everywhere;
    let revoked = ctx
        .revocations()
        .sessions(&user.id, which, ctx.now)
        .await
        .context("logging the user out")?;
    println!(
        "password changed for {name}; {} sessions ended",
        revoked.live_sessions
    );
    Ok(())
}
