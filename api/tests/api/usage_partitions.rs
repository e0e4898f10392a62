//! Usage data for years: a server run month after month on a clock of the test's keeps
//! monthly partitions ahead, moves rows out of the default partition, drops raw events past
//! retention and keeps their rollups, with the writer inserting all along.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, TimeDelta, Utc};
use freeway::store::analytics::{self, EventFilter, UsageFilter};
use freeway::store::partitions::{self, Month};
use freeway::store::usage::{self, UsageEvent};
use freeway::usage::partitions::{MONTHS_AHEAD, Report, Retention, maintain};
use sqlx::PgPool;

use crate::helpers::{fresh_database, spawn_app};

async fn migrated_database() -> PgPool {
    let database_url = fresh_database().await;
    freeway::store::migrate::run(&database_url).await.unwrap();
    PgPool::connect(&database_url).await.unwrap()
}

const DEFAULTS: Retention = Retention {
    events_months: 13,
    rollups_months: 0,
};

/// The first month of the simulation: years after any partition the migrations made.
fn first() -> Month {
    Month::new(2031, 1).unwrap()
}

/// The `n`th month of the simulation, from 1.
fn month(n: u32) -> Month {
    first().plus(n - 1).unwrap()
}

/// A time in `month`, `hours` after its start.
fn within(month: Month, hours: i64) -> DateTime<Utc> {
    month.start() + TimeDelta::try_hours(hours).unwrap()
}

/// Mid-month: when the simulated server looks after its partitions.
fn mid(month: Month) -> DateTime<Utc> {
    within(month, 14 * 24 + 12)
}

/// An event as the writer records it: its id made from its time.
fn event_at(at: DateTime<Utc>) -> UsageEvent {
    let mut event = UsageEvent::new("chat.completions");
    let random: [u8; 10] = uuid::Uuid::new_v4().as_bytes()[..10].try_into().unwrap();
    event.id = uuid::Builder::from_unix_timestamp_millis(at.timestamp_millis() as u64, &random)
        .into_uuid();
    event.created_at = at;
    event.provider = Some("p".into());
    event.model = Some("m".into());
    event.status = 200;
    event.prompt_tokens = Some(3);
    event.latency_ms = 20;
    event
}

/// Writes `n` events spread over `month`'s first four weeks, as the usage writer does.
async fn write(db: &PgPool, month: Month, n: i64) {
    let events: Vec<UsageEvent> = (0..n)
        .map(|i| event_at(within(month, (7 * i + 1) % (28 * 24))))
        .collect();
    usage::insert_events(db, &events).await.unwrap();
}

async fn count(db: &PgPool, table: &str, month: Month) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {table} WHERE created_at >= $1 AND created_at < $2"
    )))
    .bind(month.start())
    .bind(month.plus(1).unwrap().start())
    .fetch_one(db)
    .await
    .unwrap()
}

/// Requests in the rollups of `[from, to)`.
async fn rolled_up(db: &PgPool, from: Month, to: Month) -> i64 {
    let spans = analytics::spans(from.start(), to.start());
    let totals = analytics::summary(db, &spans, &UsageFilter::default(), None)
        .await
        .unwrap();
    totals.first().map_or(0, |t| t.sums.requests)
}

/// Raw events of `month` the request log lists.
async fn listed(db: &PgPool, month: Month) -> usize {
    let filter = EventFilter {
        from: Some(month.start()),
        to: Some(month.plus(1).unwrap().start()),
        ..EventFilter::default()
    };
    analytics::list_events(db, &filter, None, 1000)
        .await
        .unwrap()
        .len()
}

async fn run(db: &PgPool, now: DateTime<Utc>, retention: Retention) -> Report {
    let report = maintain(db, now, retention).await.unwrap();
    assert!(report.errors.is_empty(), "{report:?}");
    assert!(!report.busy, "{report:?}");
    report
}

#[tokio::test]
async fn sixteen_months_keep_partitions_ahead_move_strays_and_drop_the_past() {
    // Arrange: a server first started in month 1, whose events of that month arrived before
    // its partition existed (as on a server that ran for months without this maintenance).
    let db = migrated_database().await;
    assert!(
        !partitions::partitions(&db)
            .await
            .unwrap()
            .contains(&month(1))
    );
    write(&db, month(1), 5).await;
    assert_eq!(count(&db, "usage_events_default", month(1)).await, 5);
    let mut written = 5;

    for n in 1..=16 {
        let now = mid(month(n));
        if n == 6 {
            // Events far in the future (a client's clock) wait in the default partition.
            write(&db, month(11), 3).await;
            written += 3;
        }

        // Act
        let report = run(&db, now, DEFAULTS).await;

        // Assert: this month and the next three have partitions, nothing older than
        // retention is left, and the month's events go to its partition.
        let existing = partitions::partitions(&db).await.unwrap();
        for ahead in 0..=MONTHS_AHEAD {
            assert!(
                existing.contains(&month(n + ahead)),
                "month {n}: {existing:?}"
            );
        }
        let kept_from = Month::of(now.checked_sub_months(chrono::Months::new(13)).unwrap());
        assert!(existing.iter().all(|m| *m >= kept_from), "{existing:?}");
        match n {
            1 => assert!(report.created.contains(&(month(1), 5)), "{report:?}"),
            6 | 7 => assert_eq!(count(&db, "usage_events_default", month(11)).await, 3),
            8 => assert!(report.created.contains(&(month(11), 3)), "{report:?}"),
            15 => assert_eq!(report.dropped, [month(1)]),
            16 => assert_eq!(report.dropped, [month(2)]),
            _ => assert!(report.created.iter().all(|(_, moved)| *moved == 0)),
        }
        if (2..15).contains(&n) {
            assert!(report.dropped.is_empty(), "month {n}: {report:?}");
        }
        write(&db, month(n), 4).await;
        written += 4;
        assert_eq!(count(&db, "usage_events_default", month(n)).await, 0);
        let earlier = match n {
            1 => 5,
            11 => 3,
            _ => 0,
        };
        let table = month(n).table().unwrap();
        assert_eq!(count(&db, &table, month(n)).await, 4 + earlier);
    }

    // The analytics still answer: the rollups of every month, the dropped ones included;
    // the raw events of kept months only.
    assert_eq!(rolled_up(&db, month(1), month(17)).await, written);
    assert_eq!(rolled_up(&db, month(1), month(2)).await, 9);
    assert_eq!(listed(&db, month(1)).await, 0);
    assert_eq!(listed(&db, month(2)).await, 0);
    assert_eq!(listed(&db, month(3)).await, 4);
    assert_eq!(listed(&db, month(11)).await, 4 + 3);
    assert_eq!(listed(&db, month(16)).await, 4);
    let points = analytics::timeseries(
        &db,
        analytics::Granularity::Day,
        month(1).start(),
        month(2).start(),
        &UsageFilter::default(),
    )
    .await
    .unwrap();
    assert_eq!(points.iter().map(|p| p.sums.requests).sum::<i64>(), 9);
    let stray: i64 = sqlx::query_scalar("SELECT count(*) FROM usage_events_default")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(stray, 0);
}

#[tokio::test]
async fn rows_written_while_their_partition_is_created_all_land_in_it() {
    // Arrange: a month whose rows are in the default partition, and a writer adding more.
    let db = migrated_database().await;
    let target = month(5);
    write(&db, target, 2000).await;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn({
        let (db, stop) = (db.clone(), stop.clone());
        async move {
            let mut written = 0;
            while !stop.load(Ordering::Relaxed) {
                write(&db, target, 50).await;
                written += 50;
            }
            written
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    // Act
    let report = run(&db, mid(target), DEFAULTS).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    stop.store(true, Ordering::Relaxed);
    let written: i64 = writer.await.unwrap();

    // Assert: every row is in the month's partition, counted once; none left behind.
    assert!(
        report
            .created
            .iter()
            .any(|(m, moved)| *m == target && *moved >= 2000)
    );
    let table = target.table().unwrap();
    assert_eq!(count(&db, &table, target).await, 2000 + written);
    assert_eq!(count(&db, "usage_events_default", target).await, 0);
    assert_eq!(
        rolled_up(&db, target, target.plus(1).unwrap()).await,
        2000 + written
    );
}

/// Backends of this database waiting for a lock.
async fn waiting(db: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
    .fetch_one(db)
    .await
    .unwrap()
}

async fn until_waiting(db: &PgPool, n: i64) {
    for _ in 0..200 {
        if waiting(db).await >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{n} backends never waited for a lock");
}

#[tokio::test]
async fn inserts_in_flight_are_moved_and_inserts_that_wait_land_in_the_new_partition() {
    // Arrange: rows of a month without a partition, and a writer's transaction that has
    // added more of them to the default partition and not committed yet.
    let db = migrated_database().await;
    let target = month(5);
    write(&db, target, 200).await;
    let mut in_flight = db.begin().await.unwrap();
    for hour in 0..10 {
        let event = event_at(within(target, hour));
        sqlx::query(
            "INSERT INTO usage_events (id, created_at, endpoint, status, latency_ms)
             VALUES ($1, $2, 'chat.completions', 200, 5)",
        )
        .bind(event.id)
        .bind(event.created_at)
        .execute(&mut *in_flight)
        .await
        .unwrap();
    }

    // Act: the maintenance moves what it sees, then waits for the writes in flight; a new
    // batch arrives meanwhile and waits behind it.
    let maintenance = tokio::spawn(maintain_at(db.clone(), mid(target)));
    until_waiting(&db, 1).await;
    let batch = tokio::spawn({
        let db = db.clone();
        async move { write(&db, target, 50).await }
    });
    until_waiting(&db, 2).await;
    in_flight.commit().await.unwrap();
    let report = maintenance.await.unwrap().unwrap();
    batch.await.unwrap();

    // Assert: the rows committed while it waited were moved too, the batch that waited went
    // to the new partition, and the default partition holds none of the month.
    assert!(report.created.contains(&(target, 210)), "{report:?}");
    assert_eq!(count(&db, &target.table().unwrap(), target).await, 260);
    assert_eq!(count(&db, "usage_events_default", target).await, 0);
}

#[tokio::test]
async fn two_maintenance_runs_at_once_do_not_fail() {
    let db = migrated_database().await;
    write(&db, month(1), 300).await;
    write(&db, month(3), 200).await;

    for round in 0..3 {
        let now = mid(month(1 + round));
        let runs: Vec<_> = (0..2)
            .map(|_| tokio::spawn(maintain_at(db.clone(), now)))
            .collect();
        let mut moved = 0;
        for run in runs {
            let report = run.await.unwrap().unwrap();
            assert!(report.errors.is_empty(), "{report:?}");
            moved += report.created.iter().map(|(_, n)| n).sum::<u64>();
        }
        // Whoever did the work, it was done once.
        assert_eq!(moved, if round == 0 { 500 } else { 0 }, "round {round}");
        // A run that found the other busy may have left work: the next run finishes it.
        run(&db, now, DEFAULTS).await;
        let existing = partitions::partitions(&db).await.unwrap();
        for ahead in 0..=MONTHS_AHEAD {
            assert!(existing.contains(&month(1 + round + ahead)));
        }
    }
    assert_eq!(count(&db, &month(1).table().unwrap(), month(1)).await, 300);
    assert_eq!(count(&db, &month(3).table().unwrap(), month(3)).await, 200);
}

async fn maintain_at(db: PgPool, now: DateTime<Utc>) -> Result<Report, freeway::store::StoreError> {
    maintain(&db, now, DEFAULTS).await
}

#[tokio::test]
async fn rollups_have_a_retention_of_their_own() {
    // Raw events kept forever, rollups two months.
    let retention = Retention {
        events_months: 0,
        rollups_months: 2,
    };
    let db = migrated_database().await;
    for n in 1..=3 {
        run(&db, mid(month(n)), retention).await;
        write(&db, month(n), 2).await;
    }

    let report = run(&db, mid(month(4)), retention).await;
    write(&db, month(4), 2).await;

    // Month 1's rollup rows are gone (two hours and their day), month 2 on kept; every
    // raw event is still listed, month 1's included.
    assert_eq!(report.deleted.rollups, 3);
    assert!(report.dropped.is_empty());
    assert_eq!(rolled_up(&db, month(1), month(2)).await, 0);
    assert_eq!(rolled_up(&db, month(2), month(5)).await, 6);
    assert_eq!(listed(&db, month(1)).await, 2);
}

#[tokio::test]
async fn the_server_creates_partitions_ahead_when_it_starts() {
    let app = spawn_app().await;
    let last = Month::of(Utc::now()).plus(MONTHS_AHEAD).unwrap();
    let mut existing = Vec::new();
    for _ in 0..100 {
        existing = partitions::partitions(&app.db).await.unwrap();
        if existing.contains(&last) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(existing.contains(&last), "{existing:?}");
    app.stop().await;
}
