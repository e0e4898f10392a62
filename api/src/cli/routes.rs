//! `freeway routes`, `freeway limits set`, `freeway profile set` and `freeway mappings`: the
//! router as admins see and steer it from the command line.

// A command-line tool prints its results.
#![allow(clippy::print_stdout)]

use std::collections::HashMap;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use freeway_wire::routing::Strategy;
use sqlx::PgPool;
use uuid::Uuid;

use crate::providers::mappings::precedence;
use crate::store::limits::{self, LimitColumns, LimitTarget};
use crate::store::{Cursor, cooldowns, credentials, mappings, models, profiles, providers};

#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Requests per minute.
    #[arg(long)]
    rpm: Option<i32>,
    /// Requests per hour.
    #[arg(long)]
    rph: Option<i32>,
    /// Requests per day (the day ends at the provider's own midnight).
    #[arg(long)]
    rpd: Option<i32>,
    /// Tokens per minute.
    #[arg(long)]
    tpm: Option<i64>,
    /// Tokens per day.
    #[arg(long)]
    tpd: Option<i64>,
}

#[derive(Debug, Subcommand)]
pub enum LimitsCommand {
    /// Set the limits of a provider account (`--provider`), a model's routes (`--provider
    /// --model`), a credential (`--credential`), or one route (`--model` and `--credential`).
    /// Limits not given are cleared.
    Set {
        #[arg(long)]
        provider: Option<String>,
        #[arg(long)]
        model: Option<String>,
        /// A credential id, as `freeway credential list` shows it.
        #[arg(long)]
        credential: Option<Uuid>,
        #[command(flatten)]
        limits: LimitArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Create or replace a routing profile: an alias that tries models in the given order.
    /// `auto` is one too: defining it replaces the default (every chat model by priority).
    Set {
        name: String,
        /// `provider/model`, in the order to try them (repeatable).
        #[arg(long = "model", required = true)]
        models: Vec<String>,
        /// Do not hand conversations off between the profile's models.
        #[arg(long)]
        no_handoff: bool,
        /// How the profile orders its routes; ties keep the order given.
        #[arg(long, value_enum, default_value_t = Strategy::Priority)]
        strategy: Strategy,
    },
}

#[derive(Debug, Subcommand)]
pub enum MappingsCommand {
    /// Every mapping as `PATTERN<TAB>TARGET`, most specific first: the order in which a name
    /// nothing in the pool answers to is tried against them.
    List,
    /// Create or replace a mapping: a requested name that fits PATTERN and that nothing in
    /// the pool answers to is served as TARGET would be.
    Set {
        /// A model name in which `*` is any run of characters, such as `claude-*` (quote it
        /// in a shell).
        pattern: String,
        /// A model id, `provider/model`, a profile, `auto` or an embedding family.
        target: String,
    },
    /// Delete a mapping.
    Delete { pattern: String },
}

async fn model_row(db: &PgPool, pinned: &str) -> Result<Uuid> {
    let (provider, model) = pinned
        .split_once('/')
        .with_context(|| format!("{pinned:?}: expected provider/model"))?;
    let provider = super::provider_named(db, provider).await?;
    let found = models::find(db, &provider, model).await?;
    found
        .map(|m| m.id)
        .with_context(|| format!("provider {} has no model {model:?}", provider.name))
}

pub async fn limits(db: &PgPool, actor: &str, command: LimitsCommand) -> Result<()> {
    let LimitsCommand::Set {
        provider,
        model,
        credential,
        limits,
    } = command;
    let columns = LimitColumns {
        rpm: limits.rpm,
        rph: limits.rph,
        rpd: limits.rpd,
        tpm: limits.tpm,
        tpd: limits.tpd,
    };
    let target = match (provider.as_deref(), model.as_deref(), credential) {
        (Some(p), None, None) => LimitTarget::Provider(super::provider_named(db, p).await?.id),
        (Some(p), Some(m), None) => LimitTarget::Model(model_row(db, &format!("{p}/{m}")).await?),
        (None, Some(m), Some(c)) => LimitTarget::Route {
            model: model_row(db, m).await?,
            credential: c,
        },
        (None, None, Some(c)) => LimitTarget::Credential(c),
        _ => bail!(
            "name one target: --provider P, --provider P --model M, --credential ID, or --model P/M --credential ID"
        ),
    };
    limits::set(db, actor, target, columns).await?;
    println!("Limits set: {target:?} {columns:?}");
    Ok(())
}

pub async fn profile(db: &PgPool, actor: &str, command: ProfileCommand) -> Result<()> {
    let ProfileCommand::Set {
        name,
        models,
        no_handoff,
        strategy,
    } = command;
    let mut ids = Vec::new();
    for model in &models {
        ids.push(model_row(db, model).await?);
    }
    profiles::put(db, actor, &name, !no_handoff, strategy, &ids).await?;
    println!(
        "Profile {name} tries {} (strategy {strategy}, context handoff {})",
        models.join(", "),
        if no_handoff { "off" } else { "on" }
    );
    Ok(())
}

pub async fn mappings(db: &PgPool, actor: &str, command: MappingsCommand) -> Result<()> {
    match command {
        MappingsCommand::List => {
            let mut rows = mappings::list(db).await?;
            rows.sort_by(|a, b| precedence(&a.pattern, &b.pattern));
            for row in rows {
                println!("{}\t{}", row.pattern, row.target);
            }
        }
        MappingsCommand::Set { pattern, target } => {
            let row = mappings::put(db, actor, &pattern, &target).await?;
            println!("Mapping {} -> {}", row.pattern, row.target);
        }
        MappingsCommand::Delete { pattern } => {
            if !mappings::delete(db, actor, &pattern).await? {
                bail!("no mapping of pattern {pattern:?}");
            }
            println!("Deleted mapping {pattern}");
        }
    }
    Ok(())
}

fn show(limits: [Option<i64>; 5]) -> String {
    let names = ["rpm", "rph", "rpd", "tpm", "tpd"];
    let set: Vec<String> = names
        .iter()
        .zip(limits)
        .filter_map(|(n, v)| v.map(|v| format!("{n} {v}")))
        .collect();
    if set.is_empty() {
        "-".into()
    } else {
        set.join(", ")
    }
}

/// Every route with its configured limits, what the router learned, and its cooldowns.
pub async fn list(db: &PgPool) -> Result<()> {
    let providers = providers::list(db, Cursor::ALL).await?;
    let models = models::list(db, None, Cursor::ALL).await?;
    let credentials = credentials::list(db, None, Cursor::ALL).await?;
    let learned: HashMap<String, limits::LearnedRow> = limits::list_learned(db)
        .await?
        .into_iter()
        .map(|r| (r.scope_key.clone(), r))
        .collect();
    let cooldowns: HashMap<String, (chrono::DateTime<chrono::Utc>, String)> = cooldowns::active(db)
        .await?
        .into_iter()
        .map(|c| (c.scope_key, (c.until, c.reason)))
        .collect();
    println!("route\tcredential\tmodality\tlimits\tlearned\tcooldown");
    for provider in providers.iter().filter(|p| p.enabled) {
        let creds: Vec<Option<&credentials::CredentialRow>> = if provider.keyless {
            vec![None]
        } else {
            credentials
                .iter()
                .filter(|c| c.provider_id == provider.id && c.enabled)
                .map(Some)
                .collect()
        };
        for model in models
            .iter()
            .filter(|m| m.provider_id == provider.id && m.enabled)
        {
            for credential in &creds {
                let key = match credential {
                    Some(c) => format!("route:{}:{}", model.id, c.id),
                    None => format!("route:{}:keyless", model.id),
                };
                let configured = model.limits.values();
                let learned = learned
                    .get(&key)
                    .map(|l| show(l.limits.values()))
                    .unwrap_or_else(|| "-".into());
                let cooling = [
                    Some(key.clone()),
                    credential.map(|c| format!("credential:{}", c.id)),
                    Some(format!("model:{}", model.id)),
                ]
                .into_iter()
                .flatten()
                .find_map(|k| cooldowns.get(&k))
                .map_or("-".into(), |(until, reason)| {
                    format!("until {} ({reason})", until.to_rfc3339())
                });
                println!(
                    "{}/{}\t{}\t{}\t{}\t{learned}\t{cooling}",
                    provider.name,
                    model.model_id,
                    credential.map_or("keyless".into(), |c| format!("…{} {}", c.last4, c.id)),
                    model.modality,
                    show(configured),
                );
            }
        }
    }
    Ok(())
}
