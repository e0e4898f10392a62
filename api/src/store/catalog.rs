//! Seeding the built-in catalog (`providers::builtin`) into `providers` and `models`.
//!
//! Runs at every start and after `freeway migrate`. Missing built-in rows are inserted;
//! built-in rows an admin has not edited are brought to the shipped values (an upgrade);
//! edited rows and the admin's own (`custom`) rows are never touched.

use freeway_wire::pool::Origin;
use serde_json::json;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{PgConnection, PgPool, Postgres, Row};
use uuid::Uuid;

use super::StoreError;
use super::audit::{self, Audit, Outcome, audited};
use super::builtin::{self, BuiltinModel, BuiltinProvider, CATALOG_VERSION};

/// Held for the seeding transaction, so that two instances starting together do not both
/// insert: "fwseed" in ASCII.
const SEED_LOCK: i64 = 0x6677_7365_6564;

/// What one seeding run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedReport {
    pub inserted_providers: u32,
    pub inserted_models: u32,
    pub updated_providers: u32,
    pub updated_models: u32,
    /// Built-in rows whose shipped values differ but that an admin edited: kept as they are.
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
            > 0
    }
}

impl std::fmt::Display for SeedReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "built-in catalog v{CATALOG_VERSION}: {} provider(s) and {} model(s) added, \
             {} provider(s) and {} model(s) updated, {} edited row(s) kept",
            self.inserted_providers,
            self.inserted_models,
            self.updated_providers,
            self.updated_models,
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

/// How an existing row relates to the shipped one.
struct Existing {
    id: Uuid,
    custom: bool,
    edited: bool,
    differs: bool,
}

impl Existing {
    fn from_row(row: &PgRow) -> Result<Self, StoreError> {
        Ok(Existing {
            id: row.try_get("id")?,
            custom: row.try_get::<Origin, _>("origin")? != Origin::Builtin,
            edited: row.try_get("edited")?,
            differs: row.try_get("differs")?,
        })
    }
}

type PgQuery<'q> = Query<'q, Postgres, PgArguments>;

// Providers: $1 name, $2 display_name, $3 base_url, $4 keyless, $5 priority, $6 timeout_ms,
// $7..$11 rpm, rph, rpd, tpm, tpd, $12 daily_reset_tz, $13 catalog_version.
fn bind_provider<'q>(query: PgQuery<'q>, p: &BuiltinProvider) -> PgQuery<'q> {
    query
        .bind(p.id)
        .bind(p.display_name)
        .bind(p.base_url)
        .bind(p.keyless)
        .bind(p.priority)
        .bind(p.timeout_ms)
        .bind(p.limits.rpm)
        .bind(p.limits.rph)
        .bind(p.limits.rpd)
        .bind(p.limits.tpm)
        .bind(p.limits.tpd)
        .bind(p.daily_reset_tz)
        .bind(CATALOG_VERSION)
}

// A keyless provider is inserted disabled: an admin opts in before the team's prompts go
// to a third party that nobody on the team has an account with.
const INSERT_PROVIDER: &str = "
    INSERT INTO providers (name, display_name, base_url, keyless, priority, timeout_ms,
                           rpm, rph, rpd, tpm, tpd, daily_reset_tz, catalog_version,
                           id, origin, enabled)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'builtin', NOT $4)
    ON CONFLICT (name) DO NOTHING
    RETURNING id";

const FIND_PROVIDER: &str = "
    SELECT id, origin, edited,
           (display_name, base_url, keyless, priority, timeout_ms,
            rpm, rph, rpd, tpm, tpd, daily_reset_tz)
           IS DISTINCT FROM ($2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) AS differs
    FROM providers WHERE name = $1
    FOR UPDATE";

// `enabled` is the admin's switch and is never part of an upgrade.
const UPDATE_PROVIDER: &str = "
    UPDATE providers
    SET display_name = $2, base_url = $3, keyless = $4, priority = $5, timeout_ms = $6,
        rpm = $7, rph = $8, rpd = $9, tpm = $10, tpd = $11, daily_reset_tz = $12,
        catalog_version = $13, updated_at = now()
    WHERE name = $1 AND origin = 'builtin' AND NOT edited";

// Models: $1 provider_id, $2 model_id, $3 modality, $4 supports_tools, $5 supports_vision,
// $6 supports_json, $7 context_window, $8 embedding_family, $9 embedding_dimensions,
// $10..$14 rpm, rph, rpd, tpm, tpd, $15 priority, $16 tier, $17 catalog_version.
fn bind_model<'q>(query: PgQuery<'q>, provider_id: Uuid, m: &BuiltinModel) -> PgQuery<'q> {
    query
        .bind(provider_id)
        .bind(m.model_id)
        .bind(m.modality.as_str())
        .bind(m.supports_tools)
        .bind(m.supports_vision)
        .bind(m.supports_json)
        .bind(m.context_window)
        .bind(m.embedding.map(|e| e.family))
        .bind(m.embedding.map(|e| e.dimensions))
        .bind(m.limits.rpm)
        .bind(m.limits.rph)
        .bind(m.limits.rpd)
        .bind(m.limits.tpm)
        .bind(m.limits.tpd)
        .bind(m.priority)
        .bind(m.tier)
        .bind(CATALOG_VERSION)
}

const INSERT_MODEL: &str = "
    INSERT INTO models (provider_id, model_id, modality, supports_tools, supports_vision,
                        supports_json, context_window, embedding_family, embedding_dimensions,
                        rpm, rph, rpd, tpm, tpd, priority, tier, catalog_version, id, origin)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
            'builtin')
    ON CONFLICT (provider_id, model_id) DO NOTHING
    RETURNING id";

const FIND_MODEL: &str = "
    SELECT id, origin, edited,
           (modality, supports_tools, supports_vision, supports_json, context_window,
            embedding_family, embedding_dimensions, rpm, rph, rpd, tpm, tpd, priority, tier)
           IS DISTINCT FROM ($3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
           AS differs
    FROM models WHERE provider_id = $1 AND model_id = $2
    FOR UPDATE";

const UPDATE_MODEL: &str = "
    UPDATE models
    SET modality = $3, supports_tools = $4, supports_vision = $5, supports_json = $6,
        context_window = $7, embedding_family = $8, embedding_dimensions = $9,
        rpm = $10, rph = $11, rpd = $12, tpm = $13, tpd = $14, priority = $15, tier = $16,
        catalog_version = $17, updated_at = now()
    WHERE provider_id = $1 AND model_id = $2 AND origin = 'builtin' AND NOT edited";

/// Writes the built-in catalog: inserts what is missing, upgrades unedited built-in rows,
/// leaves edited and custom rows alone. One transaction, under an advisory lock; one audit
/// row and one change notification when something was written.
pub async fn seed_builtin(pool: &PgPool) -> Result<SeedReport, StoreError> {
    audited(pool, "system", async |conn| {
        let report = seed(conn).await?;
        if !report.changed() {
            return Ok(Outcome::Unchanged(report));
        }
        let after = json!({
            "catalog_version": CATALOG_VERSION,
            "inserted_providers": report.inserted_providers,
            "inserted_models": report.inserted_models,
            "updated_providers": report.updated_providers,
            "updated_models": report.updated_models,
            "skipped_edited": report.skipped_edited,
            "conflicts": report.conflicts,
        });
        let audit = Audit::new("catalog.seed", "catalog", CATALOG_VERSION).after(after);
        Ok(Outcome::Changed(report, audit.notify(audit::POOL)))
    })
    .await
}

async fn seed(conn: &mut PgConnection) -> Result<SeedReport, StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(SEED_LOCK)
        .execute(&mut *conn)
        .await?;
    let mut report = SeedReport::default();

    for provider in builtin::PROVIDERS {
        let inserted: Option<Uuid> = bind_provider(sqlx::query(INSERT_PROVIDER), provider)
            .bind(Uuid::now_v7())
            .fetch_optional(&mut *conn)
            .await?
            .map(|row| row.try_get("id"))
            .transpose()?;
        let provider_id = match inserted {
            Some(id) => {
                report.inserted_providers += 1;
                id
            }
            None => {
                let row = bind_provider(sqlx::query(FIND_PROVIDER), provider)
                    .fetch_one(&mut *conn)
                    .await?;
                let existing = Existing::from_row(&row)?;
                if existing.custom {
                    report.conflicts.push(provider.id.to_string());
                    continue;
                }
                if existing.differs {
                    if existing.edited {
                        report.skipped_edited += 1;
                    } else {
                        bind_provider(sqlx::query(UPDATE_PROVIDER), provider)
                            .execute(&mut *conn)
                            .await?;
                        report.updated_providers += 1;
                    }
                }
                existing.id
            }
        };

        // Per row: an admin's edit of the provider (say, a proxy URL) does not stop its
        // models from being added or upgraded.
        for model in provider.models {
            let inserted = bind_model(sqlx::query(INSERT_MODEL), provider_id, model)
                .bind(Uuid::now_v7())
                .fetch_optional(&mut *conn)
                .await?;
            if inserted.is_some() {
                report.inserted_models += 1;
                continue;
            }
            let row = bind_model(sqlx::query(FIND_MODEL), provider_id, model)
                .fetch_one(&mut *conn)
                .await?;
            let existing = Existing::from_row(&row)?;
            if existing.custom {
                report
                    .conflicts
                    .push(format!("{}/{}", provider.id, model.model_id));
            } else if existing.differs {
                if existing.edited {
                    report.skipped_edited += 1;
                } else {
                    bind_model(sqlx::query(UPDATE_MODEL), provider_id, model)
                        .execute(&mut *conn)
                        .await?;
                    report.updated_models += 1;
                }
            }
        }
    }

    Ok(report)
}
