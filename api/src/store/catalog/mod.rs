//! The provider catalog as data: the file built into the binary (`store::builtin`) and
//! newer ones loaded on a running server ([`import`]), written to `providers` and `models`.
//!
//! Runs at every start and after `freeway migrate`. Missing built-in rows are inserted;
//! built-in rows an admin has not edited are brought to the catalog's values (an upgrade);
//! built-in rows the catalog no longer lists are deleted, or disabled while they hold
//! credentials; edited rows and the admin's own (`custom`) rows are never touched.

pub mod file;
mod file_only;
pub mod import;
mod plan;
pub mod shaping;
mod write;

use freeway_wire::catalog::CatalogChangeKind as Kind;
use serde_json::json;
use sqlx::{PgConnection, PgPool};

use super::StoreError;
use super::audit::{self, Audit, Outcome, audited};
use super::builtin;
pub use file::{Catalog, FileError};
pub use import::{ImportError, ImportRequest, import};

/// Held for the seeding (or import) transaction, so that two instances starting together
/// do not both insert: "fwseed" in ASCII.
const SEED_LOCK: i64 = 0x6677_7365_6564;

/// What one seeding run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedReport {
    pub inserted_providers: u32,
    pub inserted_models: u32,
    pub updated_providers: u32,
    pub updated_models: u32,
    /// Built-in rows the catalog no longer lists: deleted (providers with their models).
    pub removed_providers: u32,
    pub removed_models: u32,
    /// Built-in providers dropped by the catalog that hold credentials: disabled instead.
    pub disabled_providers: u32,
    /// Built-in rows whose catalog values differ but that an admin edited: kept as they are.
    pub skipped_edited: u32,
    /// Built-in names already taken by the admin's own rows (`provider` or
    /// `provider/model`): left alone.
    pub conflicts: Vec<String>,
}

impl SeedReport {
    /// Whether any row was written.
    pub fn changed(&self) -> bool {
        self.inserted_providers
            + self.inserted_models
            + self.updated_providers
            + self.updated_models
            + self.removed_providers
            + self.removed_models
            + self.disabled_providers
            > 0
    }

    fn of(plan: &plan::Plan) -> SeedReport {
        let conflicts = plan
            .providers
            .iter()
            .chain(&plan.models)
            .filter(|c| c.change == Kind::Conflict)
            .map(|c| c.id.clone())
            .collect();
        SeedReport {
            inserted_providers: plan.count(false, Kind::Added),
            inserted_models: plan.count(true, Kind::Added),
            updated_providers: plan.count(false, Kind::Changed),
            updated_models: plan.count(true, Kind::Changed),
            removed_providers: plan.count(false, Kind::Removed),
            removed_models: plan.count(true, Kind::Removed),
            disabled_providers: plan.count(false, Kind::Disabled),
            skipped_edited: plan.count(false, Kind::KeptEdit) + plan.count(true, Kind::KeptEdit),
            conflicts,
        }
    }
}

impl std::fmt::Display for SeedReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "provider catalog: {} provider(s) and {} model(s) added, \
             {} provider(s) and {} model(s) updated, {} provider(s) and {} model(s) removed, \
             {} provider(s) disabled, {} edited row(s) kept",
            self.inserted_providers,
            self.inserted_models,
            self.updated_providers,
            self.updated_models,
            self.removed_providers,
            self.removed_models,
            self.disabled_providers,
            self.skipped_edited,
        )?;
        if !self.conflicts.is_empty() {
            write!(
                f,
                ", {} name(s) taken by custom rows ({})",
                self.conflicts.len(),
                self.conflicts.join(", ")
            )?;
        }
        Ok(())
    }
}

async fn lock(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(SEED_LOCK)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The catalog in force: the newest one imported when it is newer than the binary's.
async fn active(conn: &mut PgConnection) -> Result<Catalog, StoreError> {
    let embedded = builtin::embedded()
        .map_err(|e| StoreError::invalid("catalog", format!("the built-in catalog: {e}")))?;
    let imported: Option<(i32, String)> = sqlx::query_as(
        "SELECT version, body FROM catalog_imports ORDER BY imported_at DESC, id DESC LIMIT 1",
    )
    .fetch_optional(&mut *conn)
    .await?;
    match imported {
        Some((version, body)) if version > embedded.version => file::parse(&body)
            .map_err(|e| StoreError::invalid("catalog", format!("imported catalog: {e}"))),
        _ => Ok(embedded.clone()),
    }
}

/// The catalog in force, as [`seed_builtin`] writes it: request shaping and output limits
/// are read from it when the pool is (re)built.
pub async fn in_force(pool: &PgPool) -> Result<Catalog, StoreError> {
    let mut conn = pool.acquire().await?;
    active(&mut conn).await
}

/// Writes the catalog in force: inserts what is missing, upgrades unedited built-in rows,
/// leaves edited and custom rows alone. One transaction, under an advisory lock; one audit
/// row and one change notification when something was written.
pub async fn seed_builtin(pool: &PgPool) -> Result<SeedReport, StoreError> {
    audited(pool, "system", async |conn| {
        lock(conn).await?;
        let catalog = active(conn).await?;
        let plan = plan::plan(conn, &catalog).await?;
        let report = SeedReport::of(&plan);
        if !report.changed() {
            return Ok(Outcome::Unchanged(report));
        }
        write::apply(conn, &plan.writes, catalog.version).await?;
        let after = json!({
            "catalog_version": catalog.version,
            "inserted_providers": report.inserted_providers,
            "inserted_models": report.inserted_models,
            "updated_providers": report.updated_providers,
            "updated_models": report.updated_models,
            "removed_providers": report.removed_providers,
            "removed_models": report.removed_models,
            "disabled_providers": report.disabled_providers,
            "skipped_edited": report.skipped_edited,
            "conflicts": report.conflicts,
        });
        let audit = Audit::new("catalog.seed", "catalog", catalog.version).after(after);
        Ok(Outcome::Changed(report, audit.notify(audit::POOL)))
    })
    .await
}

#[cfg(test)]
mod tests;
