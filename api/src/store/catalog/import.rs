//! Loading a newer catalog on a running server, shared by `freeway catalog import` and
//! `POST /admin/v1/catalog`: read it, check its signature, work out the diff against the
//! pool and, unless it is a dry run, apply it through the audited-change path, whose
//! notification makes every replica reload.

use freeway_wire::catalog::{CatalogDiff, CatalogSignature};
use serde_json::json;
use uuid::Uuid;

use super::super::StoreError;
use super::super::audit::{self, Audit, Outcome, audited};
use super::file::{self, FileError};
use super::{active, lock, plan, write};
use crate::crypto::signature::{SignatureError, TrustedKeys};

/// A catalog to load.
pub struct ImportRequest<'a> {
    /// The file's exact text.
    pub text: &'a str,
    /// Its base64 detached signature.
    pub signature: Option<&'a str>,
    pub keys: &'a TrustedKeys,
    pub dry_run: bool,
    /// Accept it unsigned, with a signature no trusted key verifies, or not newer.
    pub force: bool,
}

/// Why a catalog was refused; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    File(#[from] FileError),
    #[error(
        "the catalog is not signed: sign it (`freeway catalog sign`) with a trusted key, or \
         force it"
    )]
    Unsigned,
    #[error("the catalog's signature was refused ({0}); the file may have been altered")]
    Signature(#[from] SignatureError),
    #[error(
        "the catalog's version {version} is not newer than the active version {active}; \
         force it to load it anyway"
    )]
    NotNewer { version: i32, active: i32 },
    #[error(
        "the catalog drops provider `{provider}`, which still holds {credentials} \
         credential(s): delete them first or keep the provider in the catalog"
    )]
    HoldsCredentials { provider: String, credentials: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ImportError {
    /// The input at fault, when the catalog (not the database) is the problem.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            ImportError::Unsigned | ImportError::Signature(_) => Some("signature"),
            ImportError::Store(_) => None,
            _ => Some("catalog"),
        }
    }

    /// A machine-readable code for the admin API.
    pub fn code(&self) -> &'static str {
        match self {
            ImportError::File(_) => "invalid_catalog",
            ImportError::Unsigned => "unsigned_catalog",
            ImportError::Signature(_) => "bad_signature",
            ImportError::NotNewer { .. } => "stale_catalog",
            ImportError::HoldsCredentials { .. } => "provider_has_credentials",
            ImportError::Store(_) => "store",
        }
    }
}

fn signature(request: &ImportRequest<'_>) -> Result<CatalogSignature, ImportError> {
    let verified = match request.signature {
        Some(signature) => request.keys.verify(request.text.as_bytes(), signature),
        None => Err(SignatureError::Malformed),
    };
    match (verified, request.signature, request.force) {
        (Ok(key), _, _) => Ok(CatalogSignature {
            verified: true,
            key: Some(key),
            forced: false,
        }),
        (Err(_), _, true) => Ok(CatalogSignature {
            verified: false,
            key: None,
            forced: true,
        }),
        (Err(_), None, false) => Err(ImportError::Unsigned),
        (Err(e), Some(_), false) => Err(ImportError::Signature(e)),
    }
}

/// Checks `request`'s catalog and answers its diff; applies it unless it is a dry run.
pub async fn import(
    pool: &sqlx::PgPool,
    actor: &str,
    request: ImportRequest<'_>,
) -> Result<CatalogDiff, ImportError> {
    let catalog = file::parse(request.text)?;
    let signature = signature(&request)?;
    audited(pool, actor, async |conn| {
        lock(conn).await?;
        let in_force = active(conn).await?;
        let active_version = in_force.version;
        if catalog.version <= active_version && !request.force {
            return Err(ImportError::NotNewer {
                version: catalog.version,
                active: active_version,
            });
        }
        let mut plan = plan::plan(conn, &catalog).await?;
        plan.note_file_only(&in_force, &catalog);
        if let Some((provider, credentials)) = plan.holding_credentials.first() {
            return Err(ImportError::HoldsCredentials {
                provider: provider.clone(),
                credentials: *credentials,
            });
        }
        let mut diff = CatalogDiff {
            version: catalog.version,
            active_version,
            signature: signature.clone(),
            dry_run: request.dry_run,
            applied: false,
            providers: plan.providers.clone(),
            models: plan.models.clone(),
        };
        if request.dry_run {
            return Ok(Outcome::Unchanged(diff));
        }
        write::apply(conn, &plan.writes, catalog.version).await?;
        sqlx::query(
            "INSERT INTO catalog_imports (id, version, body, signature, signed_by, forced,
                                          imported_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(Uuid::now_v7())
        .bind(catalog.version)
        .bind(request.text)
        .bind(request.signature)
        .bind(&signature.key)
        .bind(signature.forced)
        .bind(actor)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::from)?;
        diff.applied = true;
        let after = json!({
            "catalog_version": catalog.version,
            "active_version": active_version,
            "signed_by": signature.key,
            "forced": signature.forced,
            "providers": diff.providers.len(),
            "models": diff.models.len(),
        });
        let audit = Audit::new("catalog.import", "catalog", catalog.version).after(after);
        Ok(Outcome::Changed(diff, audit.notify(audit::POOL)))
    })
    .await
}
