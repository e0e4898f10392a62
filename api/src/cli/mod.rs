//! The `freeway` command line: serving, migrations, master keys, and the bootstrap commands
//! that make the gateway usable with no UI.

// A command-line tool prints its results.
#![allow(clippy::print_stdout)]

mod catalog;
mod discover;
mod import;
mod routes;

use freeway_wire::auth::Role;
use freeway_wire::pool::{ImportFormat, Modality};
use freeway_wire::tenants::MemberRole;
use freeway_wire::tenants::QuotaScope;
use std::io::{BufRead, IsTerminal};
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use chrono::{Duration, Utc};
use clap::{Args, Parser, Subcommand};

use crate::config::Config;
use crate::crypto::{self, Keyring, Secret};
use crate::startup::{Application, Signals};
use crate::store::api_keys::{self, KeyRef, NewKeyRow};
use crate::store::credentials::{self, CredentialFields, SealedCredential};
use crate::store::members::{self, NewMember};
use crate::store::models::{self, ModelFields};
use crate::store::providers::{self, ProviderFields};
use crate::store::quotas::{self, QuotaColumns, QuotaRow};
use crate::store::tenants::{self, Tenant};
use crate::store::{self, Cursor, Found, Search, StoreError};

#[derive(Debug, Parser)]
#[command(
    name = "freeway",
    version,
    about = "A self-hosted, multi-tenant, OpenAI-compatible LLM gateway",
    long_about = "A self-hosted, multi-tenant, OpenAI-compatible LLM gateway.\n\n\
    Configuration comes from an optional TOML file (--config or FREEWAY_CONFIG), then FREEWAY_* \
    variables (FREEWAY_LISTEN, FREEWAY_MASTER_KEY_FILE, FREEWAY_USAGE__BATCH_SIZE, ...) and DATABASE_URL."
)]
pub struct Cli {
    /// A TOML configuration file.
    #[arg(long, global = true, env = "FREEWAY_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply migrations, load the pool and serve the gateway, the admin API and the UI.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document.
    Openapi,
    /// Master keys: generate a key file, rotate to a new version.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Tenants: the teams that share this Freeway.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Members of a tenant.
    #[command(subcommand)]
    Member(MemberCommand),
    /// Members' api keys for /v1.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Quotas of a tenant, a member or an api key, enforced on /v1.
    #[command(subcommand)]
    Quota(QuotaCommand),
    /// Upstream providers (any OpenAI-compatible base URL).
    #[command(subcommand)]
    Provider(ProviderCommand),
    /// Models a provider serves.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Provider secrets, stored envelope-encrypted.
    #[command(subcommand)]
    Credential(CredentialCommand),
    /// Every route with its limits, what the router learned from providers, and cooldowns.
    Routes,
    /// Admin users of the admin API and UI.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Limits of providers, models, credentials and single routes.
    #[command(subcommand)]
    Limits(routes::LimitsCommand),
    /// Routing profiles: aliases such as `auto` that try models in order.
    #[command(subcommand)]
    Profile(routes::ProfileCommand),
    /// Model-name mappings: names nothing in the pool answers to (`claude-*`) served as
    /// another name (`auto`).
    #[command(subcommand, alias = "mapping")]
    Mappings(routes::MappingsCommand),
    /// The provider catalog: import a newer one (diff first), make a signing key, sign one.
    #[command(subcommand)]
    Catalog(catalog::CatalogCommand),
    /// Run the programmable mock OpenAI-compatible upstream of the tests and benchmarks.
    ///
    /// `--default` sets how it answers (a query string: `status=429&retry_after=30`,
    /// `hang=1`, `latency_ms=200`, `cut_after=1`, `stall_after=1`, `error_after=1`, `empty=1`,
    /// `in_band_error=1`, `echo_auth=1`, `chunk_delay_ms=10`, `reply=...`, `usage=0`,
    /// `dimensions=8`, `tool=NAME&tool_args=JSON`); `POST /__mock/push?...` queues answers
    /// while it runs.
    MockUpstream {
        #[arg(long, default_value = "127.0.0.1:9090")]
        listen: SocketAddr,
        #[arg(long, default_value = "", value_parser = |q: &str| crate::mock::Behavior::from_query(q))]
        default: crate::mock::Behavior,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a master key file (0600) with one fresh key, unless it exists.
    Generate {
        #[arg(long, env = "FREEWAY_MASTER_KEY_FILE")]
        file: PathBuf,
    },
    /// Re-wrap every credential's data key under a new master-key version. With a key file,
    /// a new version is added to it first; with FREEWAY_MASTER_KEY, add the new version to
    /// the variable (`1:<old>,2:<new>`) before running this. Servers keep serving throughout.
    Rotate {
        /// Re-wrap under the newest version already in the keyring instead of adding one.
        #[arg(long)]
        no_new_version: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an admin user; a one-time password is printed.
    Create {
        username: String,
        #[arg(long, value_enum, default_value_t = Role::InstanceAdmin)]
        role: Role,
        /// For tenant admins and members: their tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// For members: who they are in the tenant.
        #[arg(long)]
        member: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant.
    Create { name: String },
    /// List tenants.
    List,
}

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Create a member in a tenant.
    Create {
        #[arg(long)]
        tenant: String,
        name: String,
        #[arg(long)]
        email: Option<String>,
        /// `member` or `tenant_admin`.
        #[arg(long, value_enum, default_value_t = MemberRole::Member)]
        role: MemberRole,
    },
    /// List a tenant's members.
    List {
        #[arg(long)]
        tenant: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an api key for a member; the secret is printed once.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        member: String,
        #[arg(long, default_value = "")]
        name: String,
        /// Restrict the key to these models (repeatable); all models when absent.
        #[arg(long = "model")]
        models: Vec<String>,
        /// Expire the key after this many days (1 to 3650).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=3650))]
        expires_in_days: Option<u32>,
    },
    /// Revoke a key by its prefix (`fw-<public id>`).
    Revoke { prefix: String },
    /// List a tenant's keys (prefixes only).
    List {
        #[arg(long)]
        tenant: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum QuotaCommand {
    /// Set (replace) the quota of a tenant, or of one of its members or api keys. Limits
    /// left out are unlimited.
    Set {
        #[arg(long)]
        tenant: String,
        /// The member's quota instead of the tenant's.
        #[arg(long, conflicts_with = "key")]
        member: Option<String>,
        /// The api key's quota (`fw-<public id>`) instead of the tenant's.
        #[arg(long)]
        key: Option<String>,
        #[arg(long)]
        rpm: Option<u32>,
        #[arg(long)]
        rpd: Option<u32>,
        #[arg(long)]
        tpm: Option<u64>,
        #[arg(long)]
        tpd: Option<u64>,
        #[arg(long)]
        tokens_per_month: Option<u64>,
        /// Allow only these models (repeatable); all models when absent.
        #[arg(long = "model")]
        models: Vec<String>,
        /// The quota expires after this many days (1 to 3650); then /v1 refuses the scope.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=3650))]
        expires_in_days: Option<u32>,
    },
    /// List the quotas of a tenant, its members and api keys.
    List {
        #[arg(long)]
        tenant: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProviderCommand {
    /// Add an OpenAI-compatible provider.
    Add {
        /// Lowercase id, e.g. `groq` or `local-vllm`.
        name: String,
        /// Base URL to which `/chat/completions` is appended, e.g. https://api.groq.com/openai/v1
        #[arg(long)]
        base_url: String,
        /// Models it serves (repeatable); more with `freeway model add`.
        #[arg(long = "model")]
        models: Vec<String>,
        /// Called without a credential.
        #[arg(long)]
        keyless: bool,
        /// Lower is tried first.
        #[arg(long, default_value_t = 100)]
        priority: i32,
        /// Per-attempt timeout.
        #[arg(long, default_value_t = 60)]
        timeout_secs: u32,
    },
    /// List providers.
    List,
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Add a model to a provider.
    Add(ModelArgs),
    /// Add models a provider lists (`freeway credential discover` shows them), with the
    /// capabilities given; the rest is inferred from each id.
    AddDiscovered(discover::AddDiscoveredArgs),
    /// List models.
    List,
}

#[derive(Debug, Args)]
pub struct ModelArgs {
    #[arg(long)]
    provider: String,
    /// The provider's model id, sent upstream unchanged.
    model: String,
    #[arg(long, value_enum, default_value_t = Modality::Chat)]
    modality: Modality,
    #[arg(long)]
    context_window: Option<i32>,
    /// The model cannot call tools (requests with `tools` go elsewhere).
    #[arg(long)]
    no_tools: bool,
    /// The model takes image input.
    #[arg(long)]
    vision: bool,
    /// The model has no JSON mode (`response_format`).
    #[arg(long)]
    no_json: bool,
    /// For embedding models: the family its vectors belong to (e.g. `bge-m3`).
    #[arg(long, requires = "dimensions")]
    family: Option<String>,
    /// For embedding models: the vectors' length.
    #[arg(long, requires = "family")]
    dimensions: Option<i32>,
    #[arg(long, default_value_t = 100)]
    priority: i32,
}

#[derive(Debug, Subcommand)]
pub enum CredentialCommand {
    /// Add a provider secret. It is read from FREEWAY_CREDENTIAL_SECRET or standard input,
    /// never from the command line (which shells keep in their history).
    Add {
        #[arg(long)]
        provider: String,
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long, default_value_t = 100)]
        priority: i32,
    },
    /// List credentials (last four characters only).
    List,
    /// List the provider's models with this credential, beside the catalog: new, missing
    /// (marked unavailable for the credential) and known.
    Discover {
        /// The credential's id (`freeway credential list` shows it).
        id: uuid::Uuid,
    },
    /// Import many provider keys from a `.env`, JSON or CSV file (`-` for standard input):
    /// `GROQ_API_KEY=...`, `GROQ_API_KEY_2=...`, `GEMINI_API_KEYS=a,b`, `{"groq": ["..."]}`,
    /// or a CSV with a `provider,key[,name]` header. Shows a preview (provider, name, last
    /// four characters, new/duplicate/unknown/invalid/test_failed) and asks before importing.
    Import {
        /// The file; its keys are read from it, never from the command line.
        file: PathBuf,
        /// Guessed from the file's extension, then from its text.
        #[arg(long, value_enum)]
        format: Option<ImportFormat>,
        /// Only show the preview.
        #[arg(long, conflicts_with = "yes")]
        dry_run: bool,
        /// Import without asking.
        #[arg(long, short = 'y')]
        yes: bool,
        /// Do not test the keys with one small call each (keys that fail it are left out).
        #[arg(long)]
        skip_test: bool,
    },
}

fn actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

pub async fn run(cli: Cli, config: Config) -> Result<()> {
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            let applied = store::migrate::run(&config.database_url).await?;
            if applied.is_empty() {
                println!("The database is up to date.");
            } else {
                println!(
                    "Applied {} migration(s): {}",
                    applied.len(),
                    applied.join(", ")
                );
            }
            let db = store::connect(&config.database_url, 2).await?;
            println!("Seeded the {}.", store::catalog::seed_builtin(&db).await?);
            Ok(())
        }
        Command::Openapi => {
            print!("{}", crate::admin::openapi_json_pretty());
            Ok(())
        }
        Command::Keys(command) => keys(command, &config).await,
        Command::Catalog(command) => catalog::run(command, &config, &actor()).await,
        Command::MockUpstream { listen, default } => {
            let mock = crate::mock::MockUpstream::start_on(listen).await?;
            mock.set_default(default);
            println!("Mock upstream on {}", mock.base_url());
            mock.wait().await?;
            Ok(())
        }
        command => admin(command, &config).await,
    }
}

async fn serve(config: Config) -> Result<()> {
    let listen = config.listen;
    let app = Application::build(config, Signals::Handle).await?;
    let url = format!("http://{}:{}", listen.ip(), app.port());
    tracing::info!(%url, "Freeway is serving");
    println!(
        "Freeway {} is serving on {url} (UI at {url}/, OpenAI API at {url}/v1).",
        freeway_wire::VERSION
    );
    if let Some((username, password)) = app.first_admin() {
        println!(
            "\nFirst start: created the instance admin `{username}` with the one-time password\n  {password}\n\
             Log in with POST {url}/admin/v1/auth/login and change it (POST /admin/v1/auth/password).\n\
             This password is not shown again; `freeway admin create` makes more admins."
        );
    }
    if app.first_start() {
        println!(
            "\nFirst start: no tenant yet. Bootstrap from another shell (same DATABASE_URL and master key):\n  \
             echo \"$GROQ_API_KEY\" | freeway credential add --provider groq\n  \
             freeway tenant create my-team\n  \
             freeway member create --tenant my-team alice\n  \
             freeway key create --tenant my-team --member alice\n\
             Then point any OpenAI client at {url}/v1 with the printed key."
        );
    }
    app.run_until_stopped().await?;
    Ok(())
}

async fn keys(command: KeysCommand, config: &Config) -> Result<()> {
    match command {
        KeysCommand::Generate { file } => {
            if Keyring::generate_file(&file)? {
                println!(
                    "Created master key file {} (mode 0600). Back it up: credentials cannot be decrypted without it.",
                    file.display()
                );
            } else {
                println!(
                    "Master key file {} already exists; left unchanged.",
                    file.display()
                );
            }
            Ok(())
        }
        KeysCommand::Rotate { no_new_version } => {
            let keyring = match (&config.master_key, &config.master_key_file, no_new_version) {
                (None, Some(file), false) => Keyring::add_version_to_file(file)?,
                (Some(_), _, false) => bail!(
                    "FREEWAY_MASTER_KEY is set, so the new version cannot be added for you: \
                     add it to the variable (`1:<old>,2:<new>`), restart the servers with it, and run \
                     `freeway keys rotate --no-new-version`"
                ),
                _ => Keyring::from_config(
                    config.master_key.as_deref(),
                    config.master_key_file.as_deref(),
                )?,
            };
            let pool = store::connect(&config.database_url, 2).await?;
            let count = credentials::rewrap(&pool, &actor(), &keyring).await?;
            println!(
                "Re-wrapped {count} credential data key(s) under master key version {}.",
                keyring.current().version
            );
            Ok(())
        }
    }
}

async fn admin(command: Command, config: &Config) -> Result<()> {
    let db = store::connect(&config.database_url, 2).await?;
    store::migrate::run(&config.database_url).await?;
    store::catalog::seed_builtin(&db).await?;
    let actor = actor();
    match command {
        Command::Tenant(TenantCommand::Create { name }) => {
            let tenant = tenants::create(&db, &actor, &name).await?;
            println!("Created tenant {} ({})", tenant.name, tenant.id);
        }
        Command::Tenant(TenantCommand::List) => {
            for t in tenants::list(&db, Cursor::ALL, None, &Search::NONE).await? {
                println!(
                    "{}\t{}\t{}",
                    t.name,
                    t.id,
                    if t.disabled { "disabled" } else { "active" }
                );
            }
        }
        Command::Member(MemberCommand::Create {
            tenant,
            name,
            email,
            role,
        }) => {
            let tenant = tenant_named(&db, &tenant).await?;
            let new = NewMember {
                name: &name,
                email: email.as_deref(),
                role,
            };
            let member = members::create(&db, &actor, &tenant, new).await?;
            println!(
                "Created member {} in tenant {} ({})",
                member.name, tenant.name, member.id
            );
        }
        Command::Member(MemberCommand::List { tenant }) => {
            let tenant = tenant_named(&db, &tenant).await?;
            for m in members::list(&db, tenant.id, Cursor::ALL, None, &Search::NONE).await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    m.name,
                    m.role,
                    m.email.unwrap_or_default(),
                    m.id
                );
            }
        }
        Command::Key(KeyCommand::Create {
            tenant,
            member,
            name,
            models,
            expires_in_days,
        }) => {
            let tenant = tenant_named(&db, &tenant).await?;
            let member = member_named(&db, &tenant, &member).await?;
            let key = crypto::api_key::generate();
            let info = api_keys::create(
                &db,
                &actor,
                NewKeyRow {
                    member: &member,
                    name: &name,
                    key: &key,
                    allowed_models: (!models.is_empty()).then_some(models),
                    expires_at: expires_in_days.map(days_from_now).transpose()?,
                },
            )
            .await?;
            println!(
                "Created api key {} for {}/{}. The secret is shown once; store it now:\n{}",
                info.display_prefix,
                tenant.name,
                member.name,
                key.token.expose()
            );
        }
        Command::Key(KeyCommand::Revoke { prefix }) => {
            let key = KeyRef::Prefix {
                tenant: None,
                prefix: &prefix,
            };
            let info = api_keys::revoke(&db, &actor, key)
                .await?
                .or_not_found(|| format!("api key {prefix:?}"))?;
            println!("Revoked api key {}", info.display_prefix);
        }
        Command::Key(KeyCommand::List { tenant }) => {
            let tenant = tenant_named(&db, &tenant).await?;
            for k in api_keys::list(&db, tenant.id, None, Cursor::ALL, &Search::NONE).await? {
                let state = if k.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                let last = k.last_used_at.map_or("never".into(), |t| t.to_rfc3339());
                println!(
                    "{}\t{}\t{state}\tcreated {}\tlast used {last}",
                    k.display_prefix,
                    k.name,
                    k.created_at.to_rfc3339()
                );
            }
        }
        Command::Quota(command) => quota(&db, &actor, command).await?,
        Command::Provider(ProviderCommand::Add {
            name,
            base_url,
            models,
            keyless,
            priority,
            timeout_secs,
        }) => {
            let timeout_ms = i32::try_from(u64::from(timeout_secs) * 1000)
                .context("--timeout-secs is too large")?;
            let fields = ProviderFields {
                keyless,
                priority,
                timeout_ms,
                ..ProviderFields::new(&name, &base_url)
            };
            let provider = providers::create(&db, &actor, fields).await?;
            println!("Added provider {} ({})", provider.name, provider.base_url);
            for model in models {
                // `freeway model add --no-tools` declares a chat model without tools.
                models::create(&db, &actor, &provider, &ModelFields::chat(&model)).await?;
                println!("Added model {model}");
            }
        }
        Command::Provider(ProviderCommand::List) => {
            for p in providers::list(&db, Cursor::ALL).await? {
                println!(
                    "{}\t{}\tpriority {}\t{}{}",
                    p.name,
                    p.base_url,
                    p.priority,
                    if p.enabled { "enabled" } else { "disabled" },
                    if p.keyless { "\tkeyless" } else { "" }
                );
            }
        }
        Command::Model(ModelCommand::Add(args)) => {
            let provider = provider_named(&db, &args.provider).await?;
            let fields = ModelFields {
                // A family makes it an embedding model whatever `--modality` says.
                modality: match args.family {
                    Some(_) => Modality::Embedding,
                    None => args.modality,
                },
                supports_tools: !args.no_tools,
                supports_vision: args.vision,
                supports_json: !args.no_json,
                context_window: args.context_window,
                embedding_family: args.family,
                embedding_dimensions: args.dimensions,
                priority: args.priority,
                ..ModelFields::chat(&args.model)
            };
            let model = models::create(&db, &actor, &provider, &fields).await?;
            println!("Added model {} to {}", model.model_id, provider.name);
        }
        Command::Model(ModelCommand::AddDiscovered(args)) => {
            discover::add(&db, &actor, args).await?;
        }
        Command::Credential(CredentialCommand::Discover { id }) => {
            discover::discover(&db, config, id).await?;
        }
        Command::Model(ModelCommand::List) => {
            let providers = providers::list(&db, Cursor::ALL).await?;
            for m in models::list(&db, None, Cursor::ALL).await? {
                let provider = providers
                    .iter()
                    .find(|p| p.id == m.provider_id)
                    .map_or("?", |p| p.name.as_str());
                println!("{provider}/{}\t{}", m.model_id, m.modality);
            }
        }
        Command::Credential(CredentialCommand::Add {
            provider,
            name,
            priority,
        }) => {
            let provider = provider_named(&db, &provider).await?;
            let keyring = Keyring::from_config(
                config.master_key.as_deref(),
                config.master_key_file.as_deref(),
            )?;
            let sealed = SealedCredential::seal(&keyring, read_secret()?.expose())?;
            let fields = CredentialFields {
                name,
                enabled: true,
                priority,
                limits: Default::default(),
            };
            let credential = credentials::create(&db, &actor, &provider, &sealed, fields).await?;
            println!(
                "Added credential …{} to {} ({})",
                credential.last4, provider.name, credential.id
            );
        }
        Command::Credential(CredentialCommand::List) => {
            let providers = providers::list(&db, Cursor::ALL).await?;
            for c in credentials::list(&db, None, Cursor::ALL).await? {
                let provider = providers
                    .iter()
                    .find(|p| p.id == c.provider_id)
                    .map_or("?", |p| p.name.as_str());
                println!(
                    "{provider}\t{}\t…{}\tkey v{}\t{}\t{}",
                    c.name,
                    c.last4,
                    c.sealed.key_version,
                    if c.enabled { "enabled" } else { "disabled" },
                    c.id
                );
            }
        }
        Command::Credential(CredentialCommand::Import {
            file,
            format,
            dry_run,
            yes,
            skip_test,
        }) => {
            let keyring = Keyring::from_config(
                config.master_key.as_deref(),
                config.master_key_file.as_deref(),
            )?;
            import::run(
                &db, &actor, keyring, &file, format, dry_run, yes, !skip_test,
            )
            .await?;
        }
        Command::Routes => routes::list(&db).await?,
        Command::Admin(AdminCommand::Create {
            username,
            role,
            tenant,
            member,
        }) => {
            let tenant = match &tenant {
                Some(name) => Some(tenant_named(&db, name).await?),
                None if role != Role::InstanceAdmin => {
                    bail!("--tenant is required for role {role}")
                }
                None => None,
            };
            let member = match (&tenant, &member) {
                (Some(t), Some(name)) => Some(member_named(&db, t, name).await?),
                (_, None) if role == Role::Member => bail!("--member is required for role member"),
                _ => None,
            };
            let password = crate::admin::auth::random_password();
            let hash = crate::admin::auth::hash_password(&password)
                .map_err(|e| anyhow::anyhow!(e.message))?;
            let user = store::admin_users::create(
                &db,
                &actor,
                store::admin_users::NewAdminUser {
                    username: &username,
                    password_hash: &hash,
                    role,
                    tenant_id: tenant.as_ref().map(|t| t.id),
                    member_id: member.as_ref().map(|m| m.id),
                    must_change_password: true,
                },
            )
            .await?;
            println!(
                "Created {} `{}`. One-time password (shown once):\n{password}",
                user.role, user.username
            );
        }
        Command::Limits(command) => routes::limits(&db, &actor, command).await?,
        Command::Profile(command) => routes::profile(&db, &actor, command).await?,
        Command::Mappings(command) => routes::mappings(&db, &actor, command).await?,
        Command::Serve
        | Command::Migrate
        | Command::Openapi
        | Command::Keys(_)
        | Command::Catalog(_)
        | Command::MockUpstream { .. } => {}
    }
    Ok(())
}

async fn quota(db: &sqlx::PgPool, actor: &str, command: QuotaCommand) -> Result<()> {
    match command {
        QuotaCommand::Set {
            tenant,
            member,
            key,
            rpm,
            rpd,
            tpm,
            tpd,
            tokens_per_month,
            models,
            expires_in_days,
        } => {
            let tenant = tenant_named(db, &tenant).await?;
            let (scope, scope_id, label) = match (member, key) {
                (Some(member), _) => {
                    let member = member_named(db, &tenant, &member).await?;
                    (
                        QuotaScope::Member,
                        member.id,
                        format!("member {}", member.name),
                    )
                }
                (None, Some(key)) => {
                    let key = api_keys::find_by_prefix(db, Some(tenant.id), &key)
                        .await?
                        .or_not_found(|| format!("api key {key:?} in tenant {:?}", tenant.name))?;
                    (
                        QuotaScope::ApiKey,
                        key.id,
                        format!("api key {}", key.display_prefix),
                    )
                }
                (None, None) => (
                    QuotaScope::Tenant,
                    tenant.id,
                    format!("tenant {}", tenant.name),
                ),
            };
            let big = |v: Option<u64>| v.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
            let small = |v: Option<u32>| v.map(|v| i32::try_from(v).unwrap_or(i32::MAX));
            let row = quotas::set(
                db,
                actor,
                scope,
                scope_id,
                QuotaColumns {
                    rpm: small(rpm),
                    rpd: small(rpd),
                    tpm: big(tpm),
                    tpd: big(tpd),
                    tokens_per_month: big(tokens_per_month),
                    allowed_models: (!models.is_empty()).then_some(models),
                    expires_at: expires_in_days.map(days_from_now).transpose()?,
                },
            )
            .await?;
            println!("Set the quota of {label}: {}", describe_quota(&row));
        }
        QuotaCommand::List { tenant } => {
            let tenant = tenant_named(db, &tenant).await?;
            for row in quotas::list(db, Some(tenant.id)).await? {
                println!("{}\t{}\t{}", row.scope, row.scope_id, describe_quota(&row));
            }
        }
    }
    Ok(())
}

fn describe_quota(row: &QuotaRow) -> String {
    let mut parts = Vec::new();
    let mut add = |name: &str, value: Option<i64>| {
        if let Some(v) = value {
            parts.push(format!("{name} {v}"));
        }
    };
    add("rpm", row.rpm.map(i64::from));
    add("rpd", row.rpd.map(i64::from));
    add("tpm", row.tpm);
    add("tpd", row.tpd);
    add("tokens/month", row.tokens_per_month);
    if let Some(models) = &row.allowed_models {
        parts.push(format!("models {}", models.join(",")));
    }
    if let Some(at) = row.expires_at {
        parts.push(format!("expires {}", at.to_rfc3339()));
    }
    if parts.is_empty() {
        "unlimited".into()
    } else {
        parts.join(", ")
    }
}

async fn tenant_named(db: &sqlx::PgPool, name: &str) -> Result<Tenant, StoreError> {
    tenants::find_by_name(db, name)
        .await?
        .or_not_found(|| format!("tenant {name:?}"))
}

async fn member_named(
    db: &sqlx::PgPool,
    tenant: &Tenant,
    name: &str,
) -> Result<members::Member, StoreError> {
    members::find_by_name(db, tenant, name)
        .await?
        .or_not_found(|| format!("member {name:?} in tenant {:?}", tenant.name))
}

async fn provider_named(
    db: &sqlx::PgPool,
    name: &str,
) -> Result<providers::ProviderRow, StoreError> {
    providers::find(db, name)
        .await?
        .or_not_found(|| format!("provider {name:?}"))
}

fn read_secret() -> Result<Secret> {
    if let Ok(value) = std::env::var("FREEWAY_CREDENTIAL_SECRET") {
        return Ok(Secret::new(value.trim()));
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        println!("Paste the provider's secret and press Enter:");
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("reading the secret from standard input")?;
    let secret = Secret::new(line.trim());
    line.clear();
    if secret.expose().is_empty() {
        bail!("no secret given: pipe it on standard input or set FREEWAY_CREDENTIAL_SECRET");
    }
    Ok(secret)
}

/// `days` from now, for `--expires-in-days` (bounded to 1..=3650 by its parser).
fn days_from_now(days: u32) -> anyhow::Result<chrono::DateTime<Utc>> {
    Duration::try_days(i64::from(days))
        .and_then(|d| Utc::now().checked_add_signed(d))
        .ok_or_else(|| anyhow::anyhow!("--expires-in-days {days} is too far in the future"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn credential_import_takes_a_file_and_never_a_key() {
        let cli = Cli::try_parse_from([
            "freeway",
            "credential",
            "import",
            "-",
            "--yes",
            "--skip-test",
            "--format",
            "json",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::Credential(CredentialCommand::Import {
                yes: true,
                skip_test: true,
                dry_run: false,
                format: Some(ImportFormat::Json),
                ..
            })
        ));
        let parse = |args: &[&str]| Cli::try_parse_from(args).map(|_| ());
        assert!(parse(&["freeway", "credential", "import"]).is_err());
        assert!(
            parse(&[
                "freeway",
                "credential",
                "import",
                "k.env",
                "--dry-run",
                "--yes"
            ])
            .is_err()
        );
        assert!(parse(&["freeway", "credential", "import", "k.env", "--key", "x"]).is_err());
    }
}
