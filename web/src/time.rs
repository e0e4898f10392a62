//! Time as the viewer reads it: every timestamp and chart in one chosen IANA zone (the
//! browser's by default), and usage buckets regrouped into that zone's days, so a chart is
//! never off by a day east or west of UTC.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use freeway_wire::usage::{UsagePoint, UsageTotals};

/// A chart's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    Day,
    Week,
    Month,
    /// Local dates, both included.
    Custom(NaiveDate, NaiveDate),
}

impl Range {
    pub fn slug(self) -> &'static str {
        match self {
            Range::Day => "24h",
            Range::Week => "7d",
            Range::Month => "30d",
            Range::Custom(..) => "custom",
        }
    }

    /// From the URL's `range`, `from` and `to` (local dates).
    pub fn parse(range: Option<&str>, from: Option<&str>, to: Option<&str>) -> Range {
        let date = |t: Option<&str>| t.and_then(|t| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok());
        match range {
            Some("7d") => Range::Week,
            Some("30d") => Range::Month,
            Some("custom") => match (date(from), date(to)) {
                (Some(f), Some(t)) if f <= t => Range::Custom(f, t),
                _ => Range::Week,
            },
            _ => Range::Day,
        }
    }

    /// Hourly buckets over 24 h; local days otherwise.
    pub fn hourly(self) -> bool {
        self == Range::Day
    }

    /// The UTC window `[from, to)` to ask the server for, in whole hours.
    pub fn window(self, now: DateTime<Utc>, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        let hour_end = next_hour(now);
        match self {
            Range::Day => (
                hour_end.checked_sub_signed(hours(24)).unwrap_or(hour_end),
                hour_end,
            ),
            Range::Week | Range::Month => (local_midnight(self.first_day(now, tz), tz), hour_end),
            Range::Custom(from, to) => (
                local_midnight(from, tz),
                local_midnight(to.succ_opt().unwrap_or(to), tz),
            ),
        }
    }

    /// The first local day a daily chart shows.
    pub fn first_day(self, now: DateTime<Utc>, tz: Tz) -> NaiveDate {
        let today = now.with_timezone(&tz).date_naive();
        let back = match self {
            Range::Day => 0,
            Range::Week => 6,
            Range::Month => 29,
            Range::Custom(from, _) => return from,
        };
        today
            .checked_sub_days(chrono::Days::new(back))
            .unwrap_or(today)
    }

    /// The last local day a daily chart shows.
    pub fn last_day(self, now: DateTime<Utc>, tz: Tz) -> NaiveDate {
        match self {
            Range::Custom(_, to) => to,
            _ => now.with_timezone(&tz).date_naive(),
        }
    }
}

pub fn hours(n: i64) -> Duration {
    Duration::try_hours(n).unwrap_or_default()
}

fn next_hour(at: DateTime<Utc>) -> DateTime<Utc> {
    let secs = at.timestamp();
    let rounded = secs.div_euclid(3600).saturating_add(1).saturating_mul(3600);
    DateTime::from_timestamp(rounded, 0).unwrap_or(at)
}

/// The UTC instant of `date`'s first moment in `tz` (a DST gap at midnight moves it on).
pub fn local_midnight(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let mut at = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    for _ in 0..4 {
        if let Some(local) = tz.from_local_datetime(&at).earliest() {
            return local.with_timezone(&Utc);
        }
        at = at.checked_add_signed(hours(1)).unwrap_or(at);
    }
    at.and_utc()
}

/// Adds `b`'s counts into `a`; the mean latency weighted by requests.
pub fn add_totals(a: &mut UsageTotals, b: &UsageTotals) {
    let weighted = a
        .avg_latency_ms
        .saturating_mul(a.requests)
        .saturating_add(b.avg_latency_ms.saturating_mul(b.requests));
    a.requests = a.requests.saturating_add(b.requests);
    a.errors = a.errors.saturating_add(b.errors);
    a.prompt_tokens = a.prompt_tokens.saturating_add(b.prompt_tokens);
    a.completion_tokens = a.completion_tokens.saturating_add(b.completion_tokens);
    a.total_tokens = a.total_tokens.saturating_add(b.total_tokens);
    a.avg_latency_ms = weighted.checked_div(a.requests).unwrap_or(0);
    a.rate_limited = a.rate_limited.saturating_add(b.rate_limited);
    a.server_errors = a.server_errors.saturating_add(b.server_errors);
    a.client_errors = a.client_errors.saturating_add(b.client_errors);
    // Percentiles do not add up: they are left alone (the charts do not use them; the
    // window's come from the server's summary).
}

/// Hourly UTC points regrouped into the days of `tz` from `first` to `last`, every day
/// present (empty ones with zeros).
pub fn local_days(
    points: &[UsagePoint],
    tz: Tz,
    first: NaiveDate,
    last: NaiveDate,
) -> Vec<(NaiveDate, UsageTotals)> {
    let mut days: Vec<(NaiveDate, UsageTotals)> = first
        .iter_days()
        .take_while(|d| *d <= last)
        .map(|d| (d, UsageTotals::default()))
        .collect();
    for point in points {
        let day = point.bucket.with_timezone(&tz).date_naive();
        if let Ok(i) = days.binary_search_by_key(&day, |(d, _)| *d)
            && let Some((_, totals)) = days.get_mut(i)
        {
            add_totals(totals, &point.totals);
        }
    }
    days
}

/// `2026-03-01 14:05` in `tz`.
pub fn format(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

pub fn format_secs(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// `14:00` for hourly axes.
pub fn hour_label(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%H:%M").to_string()
}

/// `Mar 01` for daily axes.
pub fn day_label(day: NaiveDate) -> String {
    day.format("%b %d").to_string()
}

/// "3 min 20 s" until `until`, or "now".
pub fn countdown(until: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = until.timestamp().saturating_sub(now.timestamp());
    if secs <= 0 {
        return "now".into();
    }
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s} s"),
        (0, _) => format!("{m} min {s} s"),
        _ => format!("{h} h {m} min"),
    }
}

pub fn parse_zone(name: &str) -> Option<Tz> {
    name.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use freeway_wire::usage::UsagePoint;

    fn point(at: &str, requests: i64) -> UsagePoint {
        UsagePoint {
            bucket: at.parse().unwrap(),
            totals: UsageTotals {
                requests,
                ..UsageTotals::default()
            },
        }
    }

    #[test]
    fn hours_land_on_the_viewers_day_not_utcs() {
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
        let la: Tz = "America/Los_Angeles".parse().unwrap();
        // 20:00 UTC on the 1st is the 2nd in Tokyo and still the 1st in Los Angeles.
        let points = [
            point("2026-03-01T20:00:00Z", 5),
            point("2026-03-01T10:00:00Z", 2),
        ];
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let tokyo_days = local_days(&points, tokyo, d("2026-03-01"), d("2026-03-02"));
        assert_eq!(tokyo_days[0].1.requests, 2);
        assert_eq!(tokyo_days[1].1.requests, 5);
        let la_days = local_days(&points, la, d("2026-03-01"), d("2026-03-02"));
        assert_eq!(la_days[0].1.requests, 7);
        assert_eq!(la_days[1].1.requests, 0);
    }

    #[test]
    fn a_week_starts_at_the_viewers_midnight_six_days_back() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let now: DateTime<Utc> = "2026-07-10T12:34:00Z".parse().unwrap();
        let (from, to) = Range::Week.window(now, berlin);
        assert_eq!(
            from,
            "2026-07-03T22:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(to, "2026-07-10T13:00:00Z".parse::<DateTime<Utc>>().unwrap());
        let (from, to) = Range::Day.window(now, berlin);
        assert_eq!(to.timestamp() - from.timestamp(), 24 * 3600);
    }

    #[test]
    fn latency_means_are_weighted_by_requests() {
        let mut a = UsageTotals {
            requests: 1,
            avg_latency_ms: 100,
            ..Default::default()
        };
        add_totals(
            &mut a,
            &UsageTotals {
                requests: 3,
                avg_latency_ms: 500,
                ..Default::default()
            },
        );
        assert_eq!((a.requests, a.avg_latency_ms), (4, 400));
    }

    #[test]
    fn custom_ranges_need_ordered_dates() {
        assert_eq!(
            Range::parse(Some("custom"), Some("2026-03-05"), Some("2026-03-01")),
            Range::Week
        );
        assert!(matches!(
            Range::parse(Some("custom"), Some("2026-03-01"), Some("2026-03-05")),
            Range::Custom(..)
        ));
        assert_eq!(Range::parse(None, None, None), Range::Day);
    }
}
