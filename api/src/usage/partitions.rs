//! Usage data for years: `usage_events` is partitioned by month. Partitions are created
//! [`MONTHS_AHEAD`] months ahead, so that events never land in the default partition; rows
//! that did (a month that had no partition yet) are moved into their month's; partitions
//! wholly older than the events' retention are dropped, and rollups past theirs deleted.
//!
//! [`maintain`] takes the time as a parameter, so that a test can run a server's years
//! month by month; [`keep_partitions`] runs it at start and every hour. The work is done
//! under one advisory lock (`store::partitions`): with several instances on one database,
//! one of them does it.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Months, Utc};
use sqlx::PgPool;
use tokio::sync::watch;

use crate::config::UsageConfig;
use crate::store::StoreError;
use crate::store::partitions::{self, Change, Deleted, Month};

/// Months with a partition after the current one.
pub const MONTHS_AHEAD: u32 = 3;

/// How often the partitions are looked after.
const EVERY: Duration = Duration::from_secs(3600);

/// How long usage data is kept, in months; 0 keeps it forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Raw events (`usage_events`), a monthly partition at a time.
    pub events_months: u32,
    /// Hourly and daily rollups (`usage_rollups`), which the analytics read.
    pub rollups_months: u32,
}

impl Retention {
    pub fn of(config: &UsageConfig) -> Retention {
        Retention {
            events_months: config.retention_months,
            rollups_months: config.rollup_retention_months,
        }
    }
}

/// The first month still kept at `now` of data kept `months` months: the month that holds
/// `now` less `months` months, so that at least `months` months are always kept. `None` when
/// everything is kept.
pub fn keep_from(now: DateTime<Utc>, months: u32) -> Option<Month> {
    if months == 0 {
        return None;
    }
    now.checked_sub_months(Months::new(months)).map(Month::of)
}

/// What [`maintain`] is to do at some time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Partitions to create, oldest first.
    pub create: Vec<Month>,
    /// Partitions to drop, oldest first.
    pub drop: Vec<Month>,
    /// Events before this month are deleted (those the default partition holds).
    pub events_from: Option<Month>,
    /// Rollups before this month are deleted.
    pub rollups_from: Option<Month>,
}

/// The plan at `now`, given the months that have a partition (`existing`) and those of the
/// rows in the default partition (`in_default`): a partition for this month and the next
/// [`MONTHS_AHEAD`], and for every kept month with rows in the default partition (a later
/// month's rows wait there until it is that close); existing partitions of months before
/// the first kept one are dropped.
pub fn plan(
    now: DateTime<Utc>,
    retention: Retention,
    existing: &[Month],
    in_default: &[Month],
) -> Plan {
    let current = Month::of(now);
    let events_from = keep_from(now, retention.events_months);
    let kept = |m: &Month| events_from.is_none_or(|from| *m >= from);
    let mut create: BTreeSet<Month> = (0..=MONTHS_AHEAD).filter_map(|n| current.plus(n)).collect();
    let horizon = create.last().copied().unwrap_or(current);
    create.extend(in_default.iter().filter(|m| kept(m) && **m <= horizon));
    let create = create
        .into_iter()
        .filter(|m| m.table().is_some() && !existing.contains(m))
        .collect();
    let drop = existing.iter().filter(|m| !kept(m)).copied().collect();
    Plan {
        create,
        drop,
        events_from,
        rollups_from: keep_from(now, retention.rollups_months),
    }
}

/// What one [`maintain`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Partitions created, each with the rows moved into it from the default partition.
    pub created: Vec<(Month, u64)>,
    pub dropped: Vec<Month>,
    /// Past retention: the default partition's events, and rollups.
    pub deleted: Deleted,
    /// Another instance was doing this work: what is left is its to do.
    pub busy: bool,
    /// Changes that failed (each is tried again at the next run).
    pub errors: Vec<String>,
}

/// Brings the partitions and retention up to date as of `now`: creates the partitions of
/// [`plan`] (moving rows out of the default partition), drops those past retention, and
/// deletes what is left past retention in the default partition and the rollups. Stops
/// early, with `busy`, when another instance holds the lock.
pub async fn maintain(
    pool: &PgPool,
    now: DateTime<Utc>,
    retention: Retention,
) -> Result<Report, StoreError> {
    let existing = partitions::partitions(pool).await?;
    let current = Month::of(now);
    let horizon = current.plus(MONTHS_AHEAD).unwrap_or(current);
    let from = keep_from(now, retention.events_months);
    let in_default = partitions::months_in_default(pool, from, horizon).await?;
    let plan = plan(now, retention, &existing, &in_default);

    let mut report = Report::default();
    for month in plan.create {
        match partitions::create_partition(pool, month).await {
            Ok(Change::Done(moved)) => {
                tracing::info!(partition = %month, moved, "usage partition created");
                report.created.push((month, moved));
            }
            Ok(Change::Already) => {}
            Ok(Change::Busy) => return Ok(report.busy()),
            Err(error) => report.failed("create", month, &error),
        }
    }
    for month in plan.drop {
        match partitions::drop_partition(pool, month).await {
            Ok(Change::Done(())) => {
                tracing::info!(partition = %month, "usage partition past retention dropped");
                report.dropped.push(month);
            }
            Ok(Change::Already) => {}
            Ok(Change::Busy) => return Ok(report.busy()),
            Err(error) => report.failed("drop", month, &error),
        }
    }
    let events = plan.events_from.map(Month::start);
    let rollups = plan.rollups_from.map(Month::start);
    match partitions::delete_before(pool, events, rollups).await? {
        Change::Done(deleted) => {
            tracing::info!(
                events = deleted.events,
                rollups = deleted.rollups,
                "usage past retention deleted"
            );
            report.deleted = deleted;
        }
        Change::Already => {}
        Change::Busy => report.busy = true,
    }
    Ok(report)
}

impl Report {
    fn busy(mut self) -> Report {
        self.busy = true;
        self
    }

    fn failed(&mut self, what: &str, month: Month, error: &StoreError) {
        tracing::warn!(partition = %month, %error, "could not {what} a usage partition");
        self.errors.push(format!("{what} {month}: {error}"));
    }
}

/// Runs [`maintain`] at start and every hour until `stop`.
pub async fn keep_partitions(db: PgPool, retention: Retention, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tick.tick() => {
                if let Err(error) = maintain(&db, Utc::now(), retention).await {
                    tracing::warn!(%error, "usage partitions not looked after");
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn month(year: i32, month: u32) -> Month {
        Month::new(year, month).unwrap()
    }

    fn months(from: Month, n: u32) -> Vec<Month> {
        (0..n).map(|i| from.plus(i).unwrap()).collect()
    }

    const YEAR: Retention = Retention {
        events_months: 13,
        rollups_months: 0,
    };

    #[test]
    fn this_month_and_the_next_three_get_a_partition() {
        let plan = plan(at("2027-11-15T08:00:00Z"), YEAR, &[], &[]);
        assert_eq!(plan.create, months(month(2027, 11), 4));
        assert!(plan.drop.is_empty());
        assert_eq!(plan.events_from, Some(month(2026, 10)));
        assert_eq!(plan.rollups_from, None);

        // Over a year's end, and with some already there.
        let existing = [month(2027, 12), month(2028, 1)];
        let plan = super::plan(at("2027-12-31T23:59:59Z"), YEAR, &existing, &[]);
        assert_eq!(plan.create, [month(2028, 2), month(2028, 3)]);
    }

    #[test]
    fn months_with_rows_in_the_default_partition_get_one_when_kept_and_near() {
        let now = at("2027-06-10T00:00:00Z");
        let existing = months(month(2027, 6), 4);
        let in_default = [
            month(2026, 4),  // before the first kept month: deleted, not moved
            month(2026, 5),  // the first kept month
            month(2027, 1),  // a kept month
            month(2027, 9),  // already has a partition
            month(2027, 10), // too far ahead: it waits
        ];
        let plan = plan(now, YEAR, &existing, &in_default);
        assert_eq!(plan.create, [month(2026, 5), month(2027, 1)]);
        assert_eq!(plan.events_from, Some(month(2026, 5)));

        // Kept forever: every past month with rows gets its partition.
        let forever = Retention {
            events_months: 0,
            rollups_months: 0,
        };
        let plan = super::plan(now, forever, &existing, &in_default);
        assert_eq!(
            plan.create,
            [month(2026, 4), month(2026, 5), month(2027, 1)]
        );
        assert_eq!(plan.events_from, None);
    }

    #[test]
    fn partitions_wholly_older_than_retention_are_dropped() {
        let existing = months(month(2026, 1), 20);
        // On 15 March 2027, thirteen months back is 15 February 2026: January 2026 ended
        // before it, February did not.
        let plan = plan(at("2027-03-15T12:00:00Z"), YEAR, &existing, &[]);
        assert_eq!(plan.drop, [month(2026, 1)]);
        // On the first of the month, the month thirteen back is kept whole.
        let plan = super::plan(at("2027-03-01T00:00:00Z"), YEAR, &existing, &[]);
        assert_eq!(plan.drop, [month(2026, 1)]);
        let plan = super::plan(at("2027-02-28T23:59:59Z"), YEAR, &existing, &[]);
        assert!(plan.drop.is_empty());

        // One month: last month stays, the one before goes.
        let short = Retention {
            events_months: 1,
            rollups_months: 2,
        };
        let plan = super::plan(at("2026-06-20T00:00:00Z"), short, &existing, &[]);
        assert_eq!(plan.drop, months(month(2026, 1), 4));
        assert_eq!(plan.events_from, Some(month(2026, 5)));
        assert_eq!(plan.rollups_from, Some(month(2026, 4)));

        // Kept forever: nothing is dropped.
        let forever = Retention {
            events_months: 0,
            rollups_months: 0,
        };
        let plan = super::plan(at("2040-01-01T00:00:00Z"), forever, &existing, &[]);
        assert!(plan.drop.is_empty());
    }

    #[test]
    fn a_retention_longer_than_the_calendar_keeps_everything() {
        let now = at("2027-03-15T12:00:00Z");
        assert_eq!(keep_from(now, u32::MAX), None);
        assert_eq!(keep_from(now, 0), None);
        assert_eq!(keep_from(now, 12), Some(month(2026, 3)));
    }
}
