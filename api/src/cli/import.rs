//! `freeway credential import FILE`: the admin API's import, with a preview to confirm.

// A command-line tool prints its results.
#![allow(clippy::print_stdout)]

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, Result, bail};
use freeway_wire::pool::{ImportFormat, ImportReport};

use crate::admin::pool::import;
use crate::crypto::Keyring;

/// `freeway credential import`: preview, confirm, import.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    db: &sqlx::PgPool,
    actor: &str,
    keyring: Keyring,
    file: &std::path::Path,
    format: Option<ImportFormat>,
    dry_run: bool,
    yes: bool,
    test: bool,
) -> Result<()> {
    let from_stdin = file.as_os_str() == "-";
    let text = zeroize::Zeroizing::new(if from_stdin {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .context("reading the keys from standard input")?;
        text
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
    });
    let format = format.map_or_else(
        || {
            let name = file.file_name().and_then(|n| n.to_str());
            crate::providers::import::Format::detect(name, &text)
        },
        import::format,
    );
    crate::startup::install_crypto_provider();
    let http = crate::providers::upstream::reqwest_client()?;
    let keyring = std::sync::RwLock::new(keyring);
    if test {
        println!("Testing the new keys with one small call each...");
    }
    let plan = import::plan(db, &http, &keyring, &text, format, test).await?;
    print_import(&plan.report(true));
    let count = plan.new_keys();
    if dry_run || count == 0 {
        println!("Nothing imported.");
        return Ok(());
    }
    if !yes {
        let stdin = std::io::stdin();
        if from_stdin || !stdin.is_terminal() {
            bail!("{count} key(s) to import: run again with --yes to import them without asking");
        }
        println!("Import {count} key(s)? [y/N]");
        let mut answer = String::new();
        stdin.lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            println!("Nothing imported.");
            return Ok(());
        }
    }
    let report = import::apply(db, actor, &keyring, plan).await?;
    println!("Imported {} credential(s).", report.imported);
    Ok(())
}

fn print_import(report: &ImportReport) {
    for e in &report.entries {
        println!(
            "{}\t{}\t{}\t…{}\t{}{}",
            e.at,
            e.provider.as_deref().unwrap_or("?"),
            if e.name.is_empty() { "-" } else { &e.name },
            e.last4,
            serde_json::to_value(e.status)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            e.message
                .as_deref()
                .map(|m| format!("\t{m}"))
                .unwrap_or_default(),
        );
    }
    for warning in &report.warnings {
        println!("warning: {warning}");
    }
}
