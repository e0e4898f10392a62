//! Members of a tenant.

use chrono::{DateTime, Utc};
use freeway_wire::tenants::MemberRole;
use freeway_wire::tenants::NAME_MAX_CHARS;
use serde_json::json;
use sqlx::{AssertSqlSafe, FromRow, PgPool};
use uuid::Uuid;

use super::audit::{self, Audit, Outcome, audited};
use super::tenants::Tenant;
use super::{Cursor, ResultExt, Search, StoreError, paged, validate};

#[derive(Debug, Clone, FromRow)]
pub struct Member {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub role: MemberRole,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, tenant_id, name, email, role, disabled, created_at";

impl Member {
    fn audit(&self) -> serde_json::Value {
        json!({ "name": self.name, "email": self.email, "role": self.role, "disabled": self.disabled })
    }
}

fn conflict<'a>(name: &'a str, tenant: &'a str) -> impl FnOnce() -> StoreError + 'a {
    move || StoreError::Conflict(format!("member {name:?} in tenant {tenant:?}"))
}

pub struct NewMember<'a> {
    pub name: &'a str,
    pub email: Option<&'a str>,
    pub role: MemberRole,
}

pub async fn create(
    pool: &PgPool,
    actor: &str,
    tenant: &Tenant,
    new: NewMember<'_>,
) -> Result<Member, StoreError> {
    let name = validate::name("name", new.name, NAME_MAX_CHARS)?;
    let email = new.email.map(validate::email).transpose()?;
    let role = new.role;
    audited(pool, actor, async |conn| {
        let member: Member = sqlx::query_as(AssertSqlSafe(format!(
            "INSERT INTO members (id, tenant_id, name, email, role) VALUES ($1, $2, $3, $4, $5)
             RETURNING {COLUMNS}"
        )))
        .bind(Uuid::now_v7())
        .bind(tenant.id)
        .bind(name)
        .bind(email)
        .bind(role)
        .fetch_one(&mut *conn)
        .await
        .on_constraint("members_tenant_id_name_key", conflict(name, &tenant.name))?;
        let audit = Audit::new("member.create", "member", member.id)
            .tenant(tenant.id)
            .after(json!({ "name": member.name, "email": member.email, "role": member.role }));
        Ok(Outcome::Changed(member, audit))
    })
    .await
}

/// The member `id` of tenant `tenant_id`: a member of another tenant is not found.
pub async fn find(pool: &PgPool, tenant_id: Uuid, id: Uuid) -> Result<Option<Member>, StoreError> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM members WHERE tenant_id = $1 AND id = $2"
    )))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

pub async fn find_by_name(
    pool: &PgPool,
    tenant: &Tenant,
    name: &str,
) -> Result<Option<Member>, StoreError> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM members WHERE tenant_id = $1 AND name = $2"
    )))
    .bind(tenant.id)
    .bind(validate::text("member", name)?)
    .fetch_optional(pool)
    .await?)
}

/// The members of a tenant in id (creation) order, only `only` when given, whose name or
/// email matches `search`.
pub async fn list(
    pool: &PgPool,
    tenant_id: Uuid,
    cursor: Cursor,
    only: Option<Uuid>,
    search: &Search,
) -> Result<Vec<Member>, StoreError> {
    let select = format!(
        "SELECT {COLUMNS} FROM members WHERE tenant_id = $3 AND ($4::uuid IS NULL OR id = $4)
         AND {}",
        Search::sql(5, &["name", "email"])
    );
    Ok(paged(&select, cursor)
        .bind(tenant_id)
        .bind(only)
        .bind(search.pattern())
        .fetch_all(pool)
        .await?)
}

/// Changes to a member; `None` leaves a field as it is, `email: Some(None)` clears it.
#[derive(Debug, Default)]
pub struct MemberPatch<'a> {
    pub name: Option<&'a str>,
    pub email: Option<Option<&'a str>>,
    pub role: Option<MemberRole>,
    pub disabled: Option<bool>,
}

pub async fn update(
    pool: &PgPool,
    actor: &str,
    tenant_id: Uuid,
    id: Uuid,
    patch: MemberPatch<'_>,
) -> Result<Member, StoreError> {
    let name = patch
        .name
        .map(|n| validate::name("name", n, NAME_MAX_CHARS))
        .transpose()?;
    let new_email = match patch.email {
        Some(Some(email)) => Some(Some(validate::email(email)?)),
        other => other,
    };
    let new_role = patch.role;
    audited(pool, actor, async |conn| {
        let before: Member = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM members WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
        )))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::NotFound("member".into()))?;
        let email = match new_email {
            Some(email) => email.map(str::to_string),
            None => before.email.clone(),
        };
        let after: Member = sqlx::query_as(AssertSqlSafe(format!(
            "UPDATE members SET name = coalesce($3, name), email = $4, role = coalesce($5, role),
                 disabled = coalesce($6, disabled), updated_at = now()
             WHERE tenant_id = $1 AND id = $2 RETURNING {COLUMNS}"
        )))
        .bind(tenant_id)
        .bind(id)
        .bind(name)
        .bind(email)
        .bind(new_role)
        .bind(patch.disabled)
        .fetch_one(&mut *conn)
        .await
        .on_constraint("members_tenant_id_name_key", || {
            StoreError::Conflict(format!("member {:?}", name.unwrap_or_default()))
        })?;
        let audit = Audit::new("member.update", "member", id)
            .tenant(tenant_id)
            .before(before.audit())
            .after(after.audit());
        Ok(Outcome::Changed(after, audit.notify(audit::API_KEYS)))
    })
    .await
}

/// Deletes a member with their keys, admin user and quotas; `false` when already gone.
pub async fn delete(
    pool: &PgPool,
    actor: &str,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<bool, StoreError> {
    audited(pool, actor, async |conn| {
        sqlx::query(
            "DELETE FROM quotas WHERE (scope = 'member' AND scope_id = $2)
                OR (scope = 'api_key' AND scope_id IN
                    (SELECT id FROM api_keys WHERE tenant_id = $1 AND member_id = $2))",
        )
        .bind(tenant_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
        let before: Option<Member> = sqlx::query_as(AssertSqlSafe(format!(
            "DELETE FROM members WHERE tenant_id = $1 AND id = $2 RETURNING {COLUMNS}"
        )))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(before) = before else {
            // Nothing to delete: not committing undoes the quota delete above.
            return Ok(Outcome::Unchanged(false));
        };
        let audit = Audit::new("member.delete", "member", id)
            .tenant(tenant_id)
            .before(before.audit());
        Ok(Outcome::Changed(true, audit.notify(audit::KEYS_AND_QUOTAS)))
    })
    .await
}
