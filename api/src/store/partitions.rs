//! The monthly partitions of `usage_events`, and what retention deletes: which partitions
//! exist, creating one (moving its month's rows out of the default partition first, so that
//! creating it never fails), dropping one, and deleting events and rollups past retention.
//!
//! Every change is one transaction that first takes one advisory lock with
//! `pg_try_advisory_xact_lock`: when several instances share a database, one does the work
//! and the others are told `Busy` instead of waiting. Table locks are waited for at most
//! [`LOCK_TIMEOUT`]: a change that cannot have them is given up and tried again later,
//! rather than queueing every insert behind it.

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use sqlx::{PgPool, Postgres, Transaction};

use super::StoreError;

/// An arbitrary constant shared by every Freeway instance: "fwpart" in ASCII.
const PARTITION_LOCK: i64 = 0x6677_7061_7274;

/// The longest a change waits for a table lock (inserts queue behind a waiting lock).
pub const LOCK_TIMEOUT: &str = "5s";

const PREFIX: &str = "usage_events_";

/// A calendar month in UTC: the span of one partition of `usage_events`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month(NaiveDate);

impl Month {
    /// The month `at` falls in.
    pub fn of(at: DateTime<Utc>) -> Month {
        let date = at.date_naive();
        Month(date.with_day(1).unwrap_or(date))
    }

    /// `year`-`month`, if that is a month.
    pub fn new(year: i32, month: u32) -> Option<Month> {
        NaiveDate::from_ymd_opt(year, month, 1).map(Month)
    }

    pub fn year(self) -> i32 {
        self.0.year()
    }

    pub fn month(self) -> u32 {
        self.0.month()
    }

    /// Midnight UTC on its first day.
    pub fn start(self) -> DateTime<Utc> {
        self.0.and_time(chrono::NaiveTime::MIN).and_utc()
    }

    /// The month `n` months later, if the calendar has it.
    pub fn plus(self, n: u32) -> Option<Month> {
        self.0.checked_add_months(Months::new(n)).map(Month)
    }

    /// The month `n` months earlier, if the calendar has it.
    pub fn minus(self, n: u32) -> Option<Month> {
        self.0.checked_sub_months(Months::new(n)).map(Month)
    }

    /// Its partition's name, `usage_events_YYYY_MM`, for years a name can hold (1 to 9999).
    pub fn table(self) -> Option<String> {
        (1..=9999)
            .contains(&self.year())
            .then(|| format!("{PREFIX}{:04}_{:02}", self.year(), self.month()))
    }

    /// The month a partition's name stands for; `None` for any other table.
    pub fn from_table(name: &str) -> Option<Month> {
        let rest = name.strip_prefix(PREFIX)?;
        let (year, month) = rest.split_once('_')?;
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(year, 4) || !digits(month, 2) {
            return None;
        }
        Month::new(year.parse().ok()?, month.parse().ok()?).filter(|m| m.year() >= 1)
    }

    /// Its start as a literal for DDL, where values cannot be bound.
    fn literal(self) -> String {
        format!("'{:04}-{:02}-01 00:00:00+00'", self.year(), self.month())
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year(), self.month())
    }
}

impl std::fmt::Debug for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// What asking for a change came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<T> {
    /// Done: what it did.
    Done(T),
    /// Already as asked (made by another instance, or never needed).
    Already,
    /// Another instance holds the lock: it is doing this kind of work now.
    Busy,
}

/// The months of the partitions attached to `usage_events` (the default one aside).
pub async fn partitions(pool: &PgPool) -> Result<Vec<Month>, StoreError> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'usage_events'::regclass ORDER BY 1",
    )
    .fetch_all(pool)
    .await?;
    Ok(names.iter().filter_map(|n| Month::from_table(n)).collect())
}

/// The months of the rows held by the default partition from `from` (if given) up to and
/// including `through`. The default partition is small (rows land there only for a month
/// without a partition), so it is read whole.
pub async fn months_in_default(
    pool: &PgPool,
    from: Option<Month>,
    through: Month,
) -> Result<Vec<Month>, StoreError> {
    let Some(end) = through.plus(1) else {
        return Ok(Vec::new());
    };
    let starts: Vec<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT DISTINCT date_trunc('month', created_at, 'UTC') FROM usage_events_default
         WHERE ($1::timestamptz IS NULL OR created_at >= $1) AND created_at < $2 ORDER BY 1",
    )
    .bind(from.map(Month::start))
    .bind(end.start())
    .fetch_all(pool)
    .await?;
    Ok(starts.into_iter().map(Month::of).collect())
}

/// A transaction holding the partition lock, with a bound on lock waits; `None` when another
/// instance holds the lock.
async fn locked(pool: &PgPool) -> Result<Option<Transaction<'static, Postgres>>, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"
    )))
    .execute(&mut *tx)
    .await?;
    let mine: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(PARTITION_LOCK)
        .fetch_one(&mut *tx)
        .await?;
    if mine {
        Ok(Some(tx))
    } else {
        tx.rollback().await?;
        Ok(None)
    }
}

/// Whether `table` exists, and whether it is a partition of `usage_events`.
async fn state(tx: &mut sqlx::PgConnection, table: &str) -> Result<(bool, bool), StoreError> {
    Ok(sqlx::query_as(
        "SELECT to_regclass($1) IS NOT NULL,
                EXISTS (SELECT 1 FROM pg_inherits
                        WHERE inhrelid = to_regclass($1) AND inhparent = 'usage_events'::regclass)",
    )
    .bind(table)
    .fetch_one(&mut *tx)
    .await?)
}

/// Creates `month`'s partition; `Done` with the number of rows moved into it from the
/// default partition.
///
/// Postgres refuses to create a partition while the default one holds rows of its range,
/// so the partition is built as a table of its own and attached once those rows are in it,
/// all in one transaction (nothing is seen half-moved, and a failure leaves everything as
/// it was):
/// 1. the table, `LIKE usage_events` (columns, defaults, indexes), with a CHECK of its range
///    so that attaching it need not scan it;
/// 2. the month's rows move from the default partition into it while inserts go on (a
///    `DELETE … RETURNING` feeding an `INSERT`: only row locks, so the usage writer keeps
///    writing; these rows stay visible to readers in the default partition until commit);
/// 3. `usage_events` is locked against writes (SHARE ROW EXCLUSIVE: readers go on), which
///    waits for the inserts in flight; the rows they added to the default partition for this
///    month move too; then `ATTACH PARTITION`, which locks the default partition whole until
///    the commit (readers of it wait too).
///
/// Inserts that arrive during step 3 wait for the commit, then open `usage_events` afresh
/// and are routed to the new partition: none fails. (Locking only the default partition
/// would not do: an insert already routed to it would fail its partition check once the
/// new partition is there.) Step 3 scans the default partition twice (the last rows, and
/// `ATTACH` checking that none of the month is left); it is small once its rows have their
/// partitions, so writes wait milliseconds. The first run on a database whose default
/// partition holds months of rows makes them wait for those scans, a month at a time.
pub async fn create_partition(pool: &PgPool, month: Month) -> Result<Change<u64>, StoreError> {
    let (Some(table), Some(end)) = (month.table(), month.plus(1)) else {
        return Err(StoreError::invalid(
            "month",
            format!("{month} has no partition"),
        ));
    };
    let Some(mut tx) = locked(pool).await? else {
        return Ok(Change::Busy);
    };
    match state(&mut tx, &table).await? {
        (true, true) => {
            tx.rollback().await?;
            return Ok(Change::Already);
        }
        (true, false) => {
            tx.rollback().await?;
            return Err(StoreError::Conflict(format!(
                "table {table}, which is not a partition of usage_events,"
            )));
        }
        (false, _) => {}
    }
    let (from, to) = (month.literal(), end.literal());
    execute(
        &mut tx,
        format!("CREATE TABLE {table} (LIKE usage_events INCLUDING ALL)"),
    )
    .await?;
    execute(
        &mut tx,
        format!(
            "ALTER TABLE {table} ADD CONSTRAINT {table}_range
             CHECK (created_at >= {from} AND created_at < {to})"
        ),
    )
    .await?;
    let columns: String = sqlx::query_scalar(
        "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
         WHERE attrelid = 'usage_events'::regclass AND attnum > 0 AND NOT attisdropped",
    )
    .fetch_one(&mut *tx)
    .await?;
    let move_sql = format!(
        "WITH moved AS (DELETE FROM usage_events_default
                        WHERE created_at >= $1 AND created_at < $2 RETURNING {columns})
         INSERT INTO {table} ({columns}) SELECT {columns} FROM moved"
    );
    let move_rows = async |tx: &mut Transaction<'static, Postgres>| {
        sqlx::query(sqlx::AssertSqlSafe(move_sql.clone()))
            .bind(month.start())
            .bind(end.start())
            .execute(&mut **tx)
            .await
            .map(|done| done.rows_affected())
    };
    let mut moved = move_rows(&mut tx).await?;
    sqlx::query("LOCK TABLE usage_events IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    moved += move_rows(&mut tx).await?;
    execute(
        &mut tx,
        format!(
            "ALTER TABLE usage_events ATTACH PARTITION {table} FOR VALUES FROM ({from}) TO ({to})"
        ),
    )
    .await?;
    // The range is the partition's own constraint now.
    execute(
        &mut tx,
        format!("ALTER TABLE {table} DROP CONSTRAINT {table}_range"),
    )
    .await?;
    tx.commit().await?;
    Ok(Change::Done(moved))
}

/// Runs one statement built from names and literals of this module (never from input).
async fn execute(tx: &mut Transaction<'static, Postgres>, sql: String) -> Result<(), StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Drops `month`'s partition and every event in it.
pub async fn drop_partition(pool: &PgPool, month: Month) -> Result<Change<()>, StoreError> {
    let Some(table) = month.table() else {
        return Ok(Change::Already);
    };
    let Some(mut tx) = locked(pool).await? else {
        return Ok(Change::Busy);
    };
    if state(&mut tx, &table).await? != (true, true) {
        tx.rollback().await?;
        return Ok(Change::Already);
    }
    execute(&mut tx, format!("DROP TABLE {table}")).await?;
    tx.commit().await?;
    Ok(Change::Done(()))
}

/// What [`delete_before`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deleted {
    /// Events of the default partition before the events' bound.
    pub events: u64,
    /// Rollup rows (hourly and daily) before the rollups' bound.
    pub rollups: u64,
}

/// Deletes the default partition's events created before `events` and the rollup rows whose
/// bucket starts before `rollups` (`None`: none of them).
pub async fn delete_before(
    pool: &PgPool,
    events: Option<DateTime<Utc>>,
    rollups: Option<DateTime<Utc>>,
) -> Result<Change<Deleted>, StoreError> {
    if events.is_none() && rollups.is_none() {
        return Ok(Change::Already);
    }
    let Some(mut tx) = locked(pool).await? else {
        return Ok(Change::Busy);
    };
    let mut deleted = Deleted::default();
    if let Some(before) = events {
        deleted.events = sqlx::query("DELETE FROM usage_events_default WHERE created_at < $1")
            .bind(before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    }
    if let Some(before) = rollups {
        deleted.rollups = sqlx::query("DELETE FROM usage_rollups WHERE bucket < $1")
            .bind(before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    }
    tx.commit().await?;
    Ok(if deleted == Deleted::default() {
        Change::Already
    } else {
        Change::Done(deleted)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_month_is_named_and_read_back_from_its_table() {
        let month = Month::new(2027, 4).unwrap();
        assert_eq!(month.table().unwrap(), "usage_events_2027_04");
        assert_eq!(Month::from_table("usage_events_2027_04"), Some(month));
        assert_eq!(month.literal(), "'2027-04-01 00:00:00+00'");
        assert_eq!(month.to_string(), "2027-04");
        assert_eq!(
            month.start(),
            "2027-04-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        let at = "2027-04-30T23:59:59.999Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(Month::of(at), month);
        assert_eq!(month.plus(9), Month::new(2028, 1));
        assert_eq!(month.minus(4), Month::new(2026, 12));
        for other in [
            "usage_events_default",
            "usage_events_2027_4",
            "usage_events_2027_13",
            "usage_events_0000_01",
            "usage_events_2027_04_old",
            "usage_rollups",
        ] {
            assert_eq!(Month::from_table(other), None, "{other}");
        }
        assert_eq!(Month::new(10_000, 1).unwrap().table(), None);
    }
}
