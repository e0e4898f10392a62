//! Read-merge-write edits of the pool's rows (providers, models, credentials): the row is
//! read under a lock, the caller changes its fields (or refuses), the store checks them and
//! writes them back, with before and after in the audit log. Deletes likewise.

use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::StoreError;
use super::audit::{self, Audit, Outcome, audited, to_json};
use sqlx::PgPool;

/// What a delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    Deleted,
    Missing,
    /// A row of the shipped catalog: the next start would bring it back, so it is disabled
    /// instead of deleted.
    Builtin,
}

pub(crate) trait Edit: Sized {
    /// What names a row: its id, and for models and credentials their provider too.
    type Key: Copy;
    /// The columns an admin sets.
    type Fields: Clone + PartialEq + Serialize;
    /// The audit log's target kind (its actions are `<kind>.update` and `<kind>.delete`).
    const KIND: &'static str;
    /// The table, for deletes.
    const TABLE: &'static str;

    fn id(key: Self::Key) -> Uuid;
    async fn lock(conn: &mut PgConnection, key: Self::Key) -> Result<Option<Self>, StoreError>;
    async fn save(
        conn: &mut PgConnection,
        key: Self::Key,
        fields: &Self::Fields,
    ) -> Result<Self, StoreError>;
    fn fields(&self) -> Self::Fields;
    /// Checked, and as stored.
    fn checked(fields: Self::Fields) -> Result<Self::Fields, StoreError>;
    fn builtin(&self) -> bool;
    /// The audit log's view of `fields` of this row (secrets redacted).
    fn audited(&self, fields: &Self::Fields) -> Value {
        to_json(fields)
    }
}

/// Lets `apply` change the row's fields (and refuse); writes them back when they changed.
/// `None` when there is no such row.
pub(crate) async fn update<R: Edit, E: From<StoreError>>(
    pool: &PgPool,
    actor: &str,
    key: R::Key,
    apply: impl FnOnce(&R, &mut R::Fields) -> Result<(), E>,
) -> Result<Option<R>, E> {
    audited(pool, actor, async |conn| {
        let Some(current) = R::lock(conn, key).await? else {
            return Ok(Outcome::Unchanged(None));
        };
        let before = current.fields();
        let mut fields = before.clone();
        apply(&current, &mut fields)?;
        let fields = R::checked(fields)?;
        if fields == before {
            return Ok(Outcome::Unchanged(Some(current)));
        }
        let row = R::save(conn, key, &fields).await?;
        let audit = Audit::new(format!("{}.update", R::KIND), R::KIND, R::id(key))
            .before(current.audited(&before))
            .after(current.audited(&fields));
        Ok(Outcome::Changed(Some(row), audit.notify(audit::POOL)))
    })
    .await
}

/// Deletes a row of the admin's own; a built-in one is left for the caller to disable.
pub(crate) async fn delete<R: Edit>(
    pool: &PgPool,
    actor: &str,
    key: R::Key,
) -> Result<Deleted, StoreError> {
    audited(pool, actor, async |conn| {
        let current = match R::lock(conn, key).await? {
            None => return Ok(Outcome::Unchanged(Deleted::Missing)),
            Some(row) if row.builtin() => return Ok(Outcome::Unchanged(Deleted::Builtin)),
            Some(row) => row,
        };
        let sql = format!("DELETE FROM {} WHERE id = $1", R::TABLE);
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(R::id(key))
            .execute(&mut *conn)
            .await?;
        let audit = Audit::new(format!("{}.delete", R::KIND), R::KIND, R::id(key))
            .before(current.audited(&current.fields()));
        Ok(Outcome::Changed(
            Deleted::Deleted,
            audit.notify(audit::POOL),
        ))
    })
    .await
}
