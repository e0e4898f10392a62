//! Bulk import of provider keys, shared by `POST /admin/v1/credentials/import` and
//! `freeway credential import`: read the file ([`crate::providers::import`]), find duplicates
//! by keyed digest (stored credentials are opened in memory for it; no digest is stored),
//! test the new keys, then seal and store them. The secrets are shown by their last four
//! characters only, and the audit log gets one `credential.create` row per key, as for a
//! credential added by hand.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use freeway_wire::pool::{
    CredentialImport, ImportEntry, ImportFormat, ImportReport, ImportStatus, Modality,
};
use futures_util::StreamExt;
use sqlx::PgPool;
use uuid::Uuid;

use super::credentials::probe;
use crate::admin::AdminState;
use crate::admin::auth::Principal;
use crate::admin::error::{AdminError, AdminErrorEnvelope, AdminJson};
use crate::crypto::{self, Keyring, SecretDigests};
use crate::providers::CredentialInfo;
use crate::providers::import::{self, Entry, Format, ParseError};
use crate::store::credentials::{self, CredentialFields, SealedCredential};
use crate::store::providers::{self, ProviderRow as ProviderRecord};
use crate::store::{Cursor, StoreError, models, validate};

/// At most this many keys are tested at once, each for at most [`TEST_TIMEOUT`].
const TEST_CONCURRENCY: usize = 4;
const TEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the file cannot be read, nothing was imported: {0}")]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ImportError> for AdminError {
    fn from(error: ImportError) -> Self {
        match error {
            ImportError::Parse(e) => AdminError::invalid("content", e.to_string()),
            ImportError::Store(e) => e.into(),
        }
    }
}

/// What an import would do, entry by entry, with the keys still in memory to apply it.
pub struct Plan {
    rows: Vec<(Entry, Option<ProviderRecord>, ImportEntry)>,
    warnings: Vec<String>,
}

impl Plan {
    pub fn report(&self, dry_run: bool) -> ImportReport {
        let entries: Vec<ImportEntry> = self.rows.iter().map(|(_, _, v)| v.clone()).collect();
        let imported = entries
            .iter()
            .filter(|e| e.status == ImportStatus::Imported)
            .count();
        ImportReport {
            dry_run,
            imported: u32::try_from(imported).unwrap_or(u32::MAX),
            entries,
            warnings: self.warnings.clone(),
        }
    }

    /// How many keys [`apply`] would store.
    pub fn new_keys(&self) -> usize {
        self.rows
            .iter()
            .filter(|(_, _, v)| v.status == ImportStatus::New)
            .count()
    }
}

pub fn format(format: ImportFormat) -> Format {
    match format {
        ImportFormat::Env => Format::Env,
        ImportFormat::Json => Format::Json,
        ImportFormat::Csv => Format::Csv,
    }
}

/// Reads `text` and decides each key's fate; with `test`, new keys are tried against their
/// provider and those that fail are left out.
pub async fn plan(
    db: &PgPool,
    http: &reqwest::Client,
    keyring: &RwLock<Keyring>,
    text: &str,
    format: Format,
    test: bool,
) -> Result<Plan, ImportError> {
    let pool = providers::list(db, Cursor::ALL).await?;
    let known: Vec<String> = pool.iter().map(|p| p.name.clone()).collect();
    let entries = import::parse(text, format, &known)?;

    let digests = SecretDigests::new();
    let stored = credentials::list(db, None, Cursor::ALL).await?;
    let mut warnings = Vec::new();
    let mut seen: HashMap<(Uuid, [u8; 32]), String> = HashMap::new();
    {
        let keyring = keyring.read().unwrap_or_else(|p| p.into_inner());
        for row in &stored {
            match crypto::open(&keyring, row.id, &row.sealed) {
                Ok(secret) => {
                    let key = (row.provider_id, digests.of(secret.expose()));
                    seen.insert(key, format!("stored credential {}", row.id));
                }
                Err(_) => warnings.push(format!(
                    "Credential {} (…{}) could not be opened with the master key, so keys were \
                     not compared with it.",
                    row.id, row.last4
                )),
            }
        }
    }

    let mut rows = Vec::with_capacity(entries.len());
    for entry in entries {
        let provider = entry
            .provider
            .as_ref()
            .and_then(|name| pool.iter().find(|p| &p.name == name))
            .cloned();
        let mut view = ImportEntry {
            at: entry.at.clone(),
            source: entry.source.clone(),
            provider: entry.provider.clone(),
            name: entry.name.clone(),
            last4: entry.secret.last4(),
            status: ImportStatus::New,
            message: None,
            test: None,
            credential_id: None,
        };
        let mut fail = |status, message: String| {
            view.status = status;
            view.message = Some(message);
        };
        match &provider {
            None => fail(
                ImportStatus::Unknown,
                format!("`{}` names no provider of the pool.", entry.source),
            ),
            Some(_) if entry.problem.is_some() => fail(
                ImportStatus::Invalid,
                entry.problem.clone().unwrap_or_default(),
            ),
            Some(provider) => {
                let checked = validate::secret(entry.secret.expose())
                    .and_then(|_| validate::label("name", &entry.name, 100));
                if let Err(e) = checked {
                    fail(ImportStatus::Invalid, e.to_string());
                } else {
                    let key = (provider.id, digests.of(entry.secret.expose()));
                    match seen.get(&key) {
                        Some(first) => {
                            fail(ImportStatus::Duplicate, format!("The same key as {first}."))
                        }
                        None => {
                            seen.insert(key, entry.at.clone());
                        }
                    }
                }
            }
        }
        rows.push((entry, provider, view));
    }

    if test {
        test_new(db, http, &mut rows).await?;
    }
    Ok(Plan { rows, warnings })
}

/// Tests every new key, a few at a time.
async fn test_new(
    db: &PgPool,
    http: &reqwest::Client,
    rows: &mut [(Entry, Option<ProviderRecord>, ImportEntry)],
) -> Result<(), StoreError> {
    let mut chat_models: HashMap<Uuid, Option<(Uuid, String)>> = HashMap::new();
    let wanted: HashSet<Uuid> = rows
        .iter()
        .filter(|(_, _, v)| v.status == ImportStatus::New)
        .filter_map(|(_, p, _)| p.as_ref().map(|p| p.id))
        .collect();
    for provider in wanted {
        let models = models::list(db, Some(provider), Cursor::ALL).await?;
        let chat = models
            .iter()
            .filter(|m| m.enabled && m.modality == Modality::Chat)
            .min_by_key(|m| (m.priority, m.id))
            .map(|m| (m.id, m.model_id.clone()));
        chat_models.insert(provider, chat);
    }
    let calls = rows
        .iter_mut()
        .filter(|(_, _, v)| v.status == ImportStatus::New)
        .filter_map(|(entry, provider, view)| {
            let provider = provider.as_ref()?;
            let chat = chat_models.get(&provider.id).cloned().flatten();
            let credential = CredentialInfo::new(Uuid::nil(), entry.secret.clone());
            Some(async move {
                let model = chat.as_ref().map(|(id, m)| (*id, m.as_str()));
                let timeout = super::upstream::timeout(provider).min(TEST_TIMEOUT);
                let result = probe(http, provider, model, credential, timeout).await;
                if !result.ok {
                    view.status = ImportStatus::TestFailed;
                    view.message = Some(format!("The test call failed: {}", result.message));
                }
                view.test = Some(result);
            })
        });
    futures_util::stream::iter(calls)
        .buffer_unordered(TEST_CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    Ok(())
}

/// Seals and stores every key the plan marks new.
pub async fn apply(
    db: &PgPool,
    actor: &str,
    keyring: &RwLock<Keyring>,
    mut plan: Plan,
) -> Result<ImportReport, StoreError> {
    let mut sealed = Vec::new();
    {
        let keyring = keyring.read().unwrap_or_else(|p| p.into_inner());
        for (index, (entry, _, view)) in plan.rows.iter().enumerate() {
            if view.status == ImportStatus::New {
                sealed.push((
                    index,
                    SealedCredential::seal(&keyring, entry.secret.expose())?,
                ));
            }
        }
    }
    for (index, secret) in sealed {
        let Some((entry, Some(provider), view)) = plan.rows.get_mut(index) else {
            continue;
        };
        let fields = CredentialFields {
            name: entry.name.clone(),
            enabled: true,
            priority: 100,
            limits: Default::default(),
        };
        let row = credentials::create(db, actor, provider, &secret, fields).await?;
        view.status = ImportStatus::Imported;
        view.credential_id = Some(row.id);
    }
    Ok(plan.report(false))
}

/// Import provider keys
///
/// Reads a `.env`, JSON or CSV of provider keys (`GROQ_API_KEY=...`, `GROQ_API_KEY_2=...`,
/// `{"groq": ["..."]}`, `provider,key,name`). Keys are matched to the pool's providers by
/// name, duplicates (in the file or stored already) are found by digest, and new keys are
/// tested with one small call. With `dry_run` (the default) nothing is stored: the answer
/// is the preview. A file that cannot be read imports nothing.
#[utoipa::path(post, path = "/admin/v1/credentials/import", tag = "credentials", operation_id = "credentials_import",
    request_body = CredentialImport,
    responses(
        (status = 200, description = "The preview, or what was imported: every key of the file with its provider, last four characters and status", body = ImportReport),
        (status = 403, description = "Instance admins only", body = AdminErrorEnvelope),
        (status = 422, description = "The file cannot be read (the message names the line or entry), or the body is invalid", body = AdminErrorEnvelope),
        (status = 503, description = "The master key is unavailable", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn import(
    principal: Principal,
    state: web::Data<AdminState>,
    body: AdminJson<CredentialImport>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let body = body.into_inner();
    let format = body
        .format
        .map_or_else(|| Format::detect(None, &body.content), format);
    let plan = plan(
        &state.db,
        &state.http,
        &state.keyring,
        &body.content,
        format,
        body.test,
    )
    .await?;
    let report = if body.dry_run {
        plan.report(true)
    } else {
        apply(&state.db, &principal.actor(), &state.keyring, plan).await?
    };
    Ok(HttpResponse::Ok().json(report))
}
