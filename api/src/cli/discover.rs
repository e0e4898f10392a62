//! `freeway credential discover` and `freeway model add-discovered`: model discovery from the
//! command line, through the same code as the admin API's.

use std::sync::RwLock;

use anyhow::{Result, bail};
use clap::Args;
use freeway_wire::discovery::AddDiscovered;
use freeway_wire::pool::Modality;
use uuid::Uuid;

use super::provider_named;
use crate::config::Config;
use crate::crypto::Keyring;
use crate::probes::discovery::{self, DiscoveryError};

#[derive(Debug, Args)]
pub struct AddDiscoveredArgs {
    /// The provider's name or id.
    provider: String,
    /// The provider's model ids, as its listing gives them.
    #[arg(required = true)]
    models: Vec<String>,
    /// Instead of the modality inferred from each id.
    #[arg(long, value_enum)]
    modality: Option<Modality>,
    /// The models call tools (chat models do unless `--no-tools`).
    #[arg(long, conflicts_with = "no_tools")]
    tools: bool,
    #[arg(long)]
    no_tools: bool,
    /// The models take image input (else inferred from each id: `vision`, `-vl`, ...).
    #[arg(long)]
    vision: bool,
    /// The models have no JSON mode.
    #[arg(long)]
    no_json: bool,
    /// Their context window, in tokens (the listing's, as `credential discover` shows it).
    #[arg(long)]
    context: Option<u64>,
}

pub(super) async fn discover(db: &sqlx::PgPool, config: &Config, id: Uuid) -> Result<()> {
    let keyring = RwLock::new(Keyring::from_config(
        config.master_key.as_deref(),
        config.master_key_file.as_deref(),
    )?);
    crate::startup::install_crypto_provider();
    let http = crate::providers::upstream::reqwest_client()?;
    let found = match discovery::discover(db, &http, &keyring, id).await {
        Ok(found) => found,
        Err(DiscoveryError::Store(error)) => return Err(error.into()),
        Err(DiscoveryError::Upstream(error)) => {
            bail!("credential {id}: {} Nothing was changed.", error.message)
        }
    };
    println!("{} (credential {})", found.provider, found.credential_id);
    for model in &found.new {
        let context = model
            .context_window
            .map_or_else(String::new, |c| format!("\tcontext {c}"));
        println!("new\t{}\t{}{context}", model.id, model.modality);
    }
    for id in &found.missing {
        println!("missing\t{id}\t(unavailable for this credential)");
    }
    for id in &found.known {
        println!("known\t{id}");
    }
    Ok(())
}

pub(super) async fn add(db: &sqlx::PgPool, actor: &str, args: AddDiscoveredArgs) -> Result<()> {
    let provider = provider_named(db, &args.provider).await?;
    let request = AddDiscovered {
        models: args.models,
        modality: args.modality,
        tools: match (args.tools, args.no_tools) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        vision: args.vision.then_some(true),
        json: args.no_json.then_some(false),
        context_window: args.context,
    };
    for model in discovery::add(db, actor, &provider, &request).await? {
        println!(
            "Added model {} to {} ({})",
            model.model_id, provider.name, model.modality
        );
    }
    Ok(())
}
