//! `jwtd client add|list|delete`.

use anyhow::{Context as _, anyhow};

use super::ctx::{CommandError, Ctx};
use crate::cli::ClientCommand;
use crate::clients;

/// Runs a `client` subcommand.
pub async fn run(ctx: &Ctx, cmd: ClientCommand) -> Result<(), CommandError> {
    match cmd {
        ClientCommand::Add {
            name,
            introspect,
            feed,
        } => {
            clients::check_name(&name).map_err(|e| anyhow!(e))?;
            let reg = clients::register(&name, introspect, feed, ctx.now);
            ctx.store
                .create_client(&reg.record)
                .await
                .context("registering the client")?;
            println!("client_id={}", reg.record.id);
            println!("client_secret={}", reg.secret);
            eprintln!("the secret is shown only now: store it");
            Ok(())
        }
        ClientCommand::List => {
            let list = ctx.store.clients().await.context("reading clients")?;
            println!("CLIENT_ID\tNAME\tRIGHTS\tCREATED_AT");
            for c in list {
                let rights: Vec<&str> = [("introspect", c.introspect), ("feed", c.feed)]
                    .into_iter()
                    .filter_map(|(r, has)| has.then_some(r))
                    .collect();
                let rights = if rights.is_empty() {
                    "-".to_owned()
                } else {
                    rights.join(",")
                };
                println!("{}\t{}\t{rights}\t{}", c.id, c.name, c.created_at);
            }
            Ok(())
        }
        ClientCommand::Delete { id } => {
            let revoked = ctx
                .revocations()
                .delete_client(&id, ctx.now)
                .await
                .context("deleting the client")?
                .ok_or_else(|| anyhow!("no client {id:?}"))?;
            println!("deleted client {id}; {} sessions revoked", revoked.len());
            Ok(())
        }
    }
}
