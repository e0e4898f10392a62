//! `freeway catalog`: load a newer provider catalog (with its diff shown first), make a
//! signing key pair, sign a catalog file.

// A command-line tool prints its results.
#![allow(clippy::print_stdout)]

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use freeway_wire::catalog::{CatalogChange, CatalogChangeKind, CatalogDiff};

use crate::config::Config;
use crate::crypto::signature;
use crate::store::{self, catalog};

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Load a newer provider catalog (TOML) on a running server's database. Shows the diff
    /// (providers and models added, changed field by field, removed; admin edits kept) and
    /// asks before applying it. `FILE.sig` beside the file is its signature.
    Import {
        file: PathBuf,
        /// Only show the diff.
        #[arg(long, conflicts_with = "yes")]
        dry_run: bool,
        /// Apply without asking.
        #[arg(long, short = 'y')]
        yes: bool,
        /// Accept it unsigned, signed by an untrusted key, or not newer than the active one.
        #[arg(long)]
        force: bool,
    },
    /// Make a signing key pair: the private key goes to FILE (mode 0600), the public key
    /// (for FREEWAY_CATALOG_KEYS) is printed.
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a catalog file: writes FILE.sig, the base64 ed25519 signature of its bytes.
    Sign {
        file: PathBuf,
        /// The private key file from `freeway catalog keygen`.
        #[arg(long)]
        key: PathBuf,
    },
}

fn sig_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".sig");
    PathBuf::from(name)
}

pub async fn run(command: CatalogCommand, config: &Config, actor: &str) -> Result<()> {
    match command {
        CatalogCommand::Keygen { out } => {
            if out.exists() {
                bail!("{} exists; refusing to overwrite a key", out.display());
            }
            let public = signature::generate_file(&out)?;
            println!("Wrote the private key to {} (mode 0600).", out.display());
            println!("Public key (add it to FREEWAY_CATALOG_KEYS): {public}");
            Ok(())
        }
        CatalogCommand::Sign { file, key } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let private = zeroize::Zeroizing::new(
                std::fs::read_to_string(&key)
                    .with_context(|| format!("reading {}", key.display()))?,
            );
            let signature = signature::sign(&bytes, &private)?;
            let out = sig_path(&file);
            std::fs::write(&out, format!("{signature}\n"))
                .with_context(|| format!("writing {}", out.display()))?;
            println!("Signed {} into {}.", file.display(), out.display());
            Ok(())
        }
        CatalogCommand::Import {
            file,
            dry_run,
            yes,
            force,
        } => import(config, actor, &file, dry_run, yes, force).await,
    }
}

async fn import(
    config: &Config,
    actor: &str,
    file: &Path,
    dry_run: bool,
    yes: bool,
    force: bool,
) -> Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let sig = sig_path(file);
    let signature = match std::fs::read_to_string(&sig) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", sig.display())),
    };
    let keys = config.catalog_keys()?;
    let db = store::connect(&config.database_url, 2).await?;
    store::migrate::run(&config.database_url).await?;
    let request = |dry_run| catalog::ImportRequest {
        text: &text,
        signature: signature.as_deref(),
        keys: &keys,
        dry_run,
        force,
    };
    let diff = catalog::import(&db, actor, request(true)).await?;
    print_diff(&diff);
    if dry_run {
        println!("Nothing applied (dry run).");
        return Ok(());
    }
    if !yes {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            bail!("run again with --yes to apply the catalog without asking");
        }
        println!("Apply catalog v{}? [y/N]", diff.version);
        let mut answer = String::new();
        stdin.lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            println!("Nothing applied.");
            return Ok(());
        }
    }
    let diff = catalog::import(&db, actor, request(false)).await?;
    println!(
        "Applied catalog v{}: {} provider and {} model change(s); every replica reloads.",
        diff.version,
        diff.providers.len(),
        diff.models.len()
    );
    Ok(())
}

fn print_diff(diff: &CatalogDiff) {
    let signed = match (&diff.signature.key, diff.signature.forced) {
        (Some(key), _) => format!("signed by {key}"),
        (None, _) => "not verified, forced".to_string(),
    };
    println!(
        "Catalog v{} (active v{}), {signed}.",
        diff.version, diff.active_version
    );
    for (what, changes) in [("Providers", &diff.providers), ("Models", &diff.models)] {
        if changes.is_empty() {
            println!("{what}: no change");
            continue;
        }
        println!("{what}:");
        for change in changes {
            println!("  {}", line(change));
        }
    }
}

fn line(change: &CatalogChange) -> String {
    let (mark, word) = match change.change {
        CatalogChangeKind::Added => ("+", "added"),
        CatalogChangeKind::Changed => ("~", "changed"),
        CatalogChangeKind::Removed => ("-", "removed"),
        CatalogChangeKind::Disabled => ("!", "disabled (it holds credentials)"),
        CatalogChangeKind::KeptEdit => ("=", "kept as an admin edited it"),
        CatalogChangeKind::Conflict => ("?", "left alone: the name is a custom row's"),
    };
    let fields: Vec<String> = change
        .fields
        .iter()
        .map(|f| format!("{} {} -> {}", f.field, f.from, f.to))
        .collect();
    if fields.is_empty() {
        format!("{mark} {} {word}", change.id)
    } else {
        format!("{mark} {} {word}: {}", change.id, fields.join(", "))
    }
}
