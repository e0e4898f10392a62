//! The usage windows of one scope (a route, a credential, a provider account, or a tenant,
//! member or api key quota): a sliding minute and hour, and a day that resets at the
//! provider's own midnight.
//!
//! The sliding windows are fixed rings of buckets: the minute in 61 buckets of one second,
//! the hour in 61 buckets of one minute. A bucket leaves the window one span (a minute, an
//! hour) after the latest request it holds, so a request leaves between 60 and 61 seconds
//! (minutes) after it was made: never early, so a limit is never exceeded, at most one bucket
//! late, and a refusal's `Retry-After` is never more than the span. Checking, reserving,
//! settling and releasing cost O(1) whatever the traffic, and a window's memory is fixed. A
//! reservation needs no id: its time names its bucket.

use chrono::{DateTime, Days, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::limits::Limits;
use crate::shared::Used;

/// What is left of `limits` after `used` (`None` where there is no limit).
pub fn left_of(limits: Limits, used: &Used) -> Limits {
    let left = |limit: Option<u64>, used: u64| limit.map(|l| l.saturating_sub(used));
    let (minute_requests, minute_tokens) = used.minute.unwrap_or_default();
    Limits {
        rpm: left(limits.rpm, minute_requests),
        rph: left(limits.rph, used.hour_requests.unwrap_or(0)),
        rpd: left(limits.rpd, used.day.0),
        tpm: left(limits.tpm, minute_tokens),
        tpd: left(limits.tpd, used.day.1),
    }
}

/// Unix time in milliseconds.
pub type Millis = i64;

pub const MINUTE: Millis = 60_000;
pub const HOUR: Millis = 3_600_000;

/// Buckets per ring: a span of 60 widths, and the bucket still filling.
const BUCKETS: usize = 61;
const BUCKETS_I64: i64 = BUCKETS as i64;

/// Why a scope cannot take a request now, and when it can again (`None`: never, the request
/// alone is larger than the limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exceeded {
    pub limit: &'static str,
    pub until: Option<Millis>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// `floor(at / width)` of the requests it holds.
    key: i64,
    /// The latest of them: the bucket leaves the window one span after it.
    last: Millis,
    requests: u64,
    tokens: u64,
}

const EMPTY: Bucket = Bucket {
    key: i64::MIN,
    last: 0,
    requests: 0,
    tokens: 0,
};

/// A sliding window of 60 `width`s.
#[derive(Debug, Clone)]
struct Ring {
    width: Millis,
    /// The oldest key still inside the window; buckets of older keys are out of the totals.
    oldest: i64,
    requests: u64,
    tokens: u64,
    buckets: [Bucket; BUCKETS],
}

impl Ring {
    fn new(width: Millis, now: Millis) -> Box<Ring> {
        let mut ring = Box::new(Ring {
            width,
            oldest: i64::MIN,
            requests: 0,
            tokens: 0,
            buckets: [EMPTY; BUCKETS],
        });
        ring.roll(now);
        ring
    }

    fn span(&self) -> Millis {
        self.width * (BUCKETS_I64 - 1)
    }

    fn slot(key: i64) -> usize {
        key.rem_euclid(BUCKETS_I64) as usize
    }

    /// Takes the bucket of `key` out of the totals, if it holds that key.
    fn drop_key(&mut self, key: i64) {
        let bucket = &mut self.buckets[Self::slot(key)];
        if bucket.key == key {
            self.requests -= bucket.requests;
            self.tokens -= bucket.tokens;
            *bucket = EMPTY;
        }
    }

    /// Drops the buckets that slid out by `now`: at most one pass over the ring.
    fn roll(&mut self, now: Millis) {
        // Buckets before `edge` hold only requests older than a span; the one at `edge` may
        // still hold a younger one; every later bucket does.
        let edge = (now - self.span()).div_euclid(self.width);
        if edge > self.oldest {
            if edge.saturating_sub(self.oldest) >= BUCKETS_I64 {
                // Every bucket is out; their stale keys are never matched again.
                self.requests = 0;
                self.tokens = 0;
                self.buckets = [EMPTY; BUCKETS];
            } else {
                for key in self.oldest..edge {
                    self.drop_key(key);
                }
            }
            self.oldest = edge;
        }
        if self.oldest == edge {
            let bucket = self.buckets[Self::slot(edge)];
            if bucket.key != edge || bucket.last + self.span() <= now {
                self.drop_key(edge);
                self.oldest = edge + 1;
            }
        }
    }

    /// The live bucket of `key`, if it is inside the window.
    fn live(&mut self, key: i64) -> Option<&mut Bucket> {
        if key < self.oldest {
            return None;
        }
        let bucket = &mut self.buckets[Self::slot(key)];
        (bucket.key == key).then_some(bucket)
    }

    fn add_key(&mut self, key: i64, last: Millis, requests: u64, tokens: u64) {
        if key < self.oldest {
            return;
        }
        // A time ahead of the last roll (a clock read elsewhere) counts in the newest bucket.
        let key = key.min(self.oldest.saturating_add(BUCKETS_I64 - 1));
        let bucket = &mut self.buckets[Self::slot(key)];
        if bucket.key != key {
            *bucket = Bucket {
                key,
                last,
                requests: 0,
                tokens: 0,
            };
        }
        bucket.last = bucket.last.max(last);
        bucket.requests += requests;
        bucket.tokens += tokens;
        self.requests += requests;
        self.tokens += tokens;
    }

    fn add(&mut self, at: Millis, requests: u64, tokens: u64) {
        self.add_key(at.div_euclid(self.width), at, requests, tokens);
    }

    /// Takes `requests` and `from` tokens out of the bucket of `at` and puts `to` tokens in.
    fn adjust(&mut self, at: Millis, requests: u64, from: u64, to: u64) {
        let Some(bucket) = self.live(at.div_euclid(self.width)) else {
            return;
        };
        let (before_requests, before_tokens) = (bucket.requests, bucket.tokens);
        bucket.requests = before_requests.saturating_sub(requests);
        bucket.tokens = before_tokens.saturating_sub(from) + to;
        let (after_requests, after_tokens) = (bucket.requests, bucket.tokens);
        self.requests = self.requests - before_requests + after_requests;
        self.tokens = self.tokens - before_tokens + after_tokens;
    }

    /// When the oldest buckets will have taken `excess` of the window's requests (or, with
    /// `tokens`, of its tokens) out with them. A refusal's answer: one pass at most.
    fn freed_at(&self, excess: u64, tokens: bool) -> Millis {
        let mut freed = 0;
        let mut latest = 0;
        for key in self.oldest..self.oldest + BUCKETS_I64 {
            let bucket = &self.buckets[Self::slot(key)];
            if bucket.key != key {
                continue;
            }
            latest = bucket.last;
            freed += if tokens {
                bucket.tokens
            } else {
                bucket.requests
            };
            if freed >= excess {
                break;
            }
        }
        latest + self.span()
    }

    fn state(&self) -> Vec<[i64; 4]> {
        let count = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        (self.oldest..self.oldest + BUCKETS_I64)
            .filter_map(|key| {
                let b = &self.buckets[Self::slot(key)];
                (b.key == key && (b.requests > 0 || b.tokens > 0))
                    .then(|| [key, b.last, count(b.requests), count(b.tokens)])
            })
            .collect()
    }

    /// Adds persisted buckets; those that slid out since are ignored.
    fn restore(&mut self, buckets: &[[i64; 4]], now: Millis) {
        let count = |v: i64| u64::try_from(v).unwrap_or(0);
        for &[key, last, requests, tokens] in buckets {
            if last + self.span() > now {
                self.add_key(key, last, count(requests), count(tokens));
            }
        }
    }
}

/// What a window holds, compact enough to persist: the live buckets of its rings (key, latest
/// request, requests, tokens) and its day. Restored after a restart instead of replaying
/// requests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowState {
    #[serde(default)]
    pub minute: Vec<[i64; 4]>,
    #[serde(default)]
    pub hour: Vec<[i64; 4]>,
    pub day_end: Millis,
    pub day_requests: u64,
    pub day_tokens: u64,
}

#[derive(Debug)]
pub struct Window {
    limits: Limits,
    /// Tighter limits learned from the provider's answers.
    learned: Limits,
    /// `limits` tightened by `learned`, kept ready for the hot path.
    effective: Limits,
    pub tz: Tz,
    /// Keep the sliding windows even without a limit on them (the pool's scopes, whose use
    /// admins watch); otherwise they exist only while a limit needs them.
    always: bool,
    minute: Option<Box<Ring>>,
    hour: Option<Box<Ring>>,
    day_start: Millis,
    day_end: Millis,
    pub day_requests: u64,
    pub day_tokens: u64,
}

/// The next midnight in `tz` after `now`, in UTC milliseconds.
pub fn next_midnight(tz: Tz, now: Millis) -> Millis {
    let Some(utc) = DateTime::<Utc>::from_timestamp_millis(now) else {
        return now + 24 * HOUR;
    };
    let local = utc.with_timezone(&tz).date_naive();
    let Some(next_day) = local.checked_add_days(Days::new(1)) else {
        return now + 24 * HOUR;
    };
    let midnight = next_day.and_hms_opt(0, 0, 0).unwrap_or_default();
    match tz.from_local_datetime(&midnight).earliest() {
        Some(at) => at.timestamp_millis(),
        // Midnight skipped by a DST change: the day starts an hour later.
        None => tz
            .from_local_datetime(
                &midnight
                    .checked_add_signed(chrono::TimeDelta::try_hours(1).unwrap_or_default())
                    .unwrap_or(midnight),
            )
            .earliest()
            .map_or(now + 24 * HOUR, |at| at.timestamp_millis()),
    }
}

impl Window {
    /// A window that keeps its minute and hour whatever its limits.
    pub fn new(limits: Limits, tz: Tz, now: Millis) -> Self {
        Self::build(limits, tz, now, true)
    }

    /// A window that keeps a sliding minute or hour only while a limit needs it: a scope
    /// without such limits costs a day counter and nothing more.
    pub fn lean(limits: Limits, tz: Tz, now: Millis) -> Self {
        Self::build(limits, tz, now, false)
    }

    fn build(limits: Limits, tz: Tz, now: Millis, always: bool) -> Self {
        let day_end = next_midnight(tz, now);
        let mut window = Window {
            limits,
            learned: Limits::default(),
            effective: limits,
            tz,
            always,
            minute: None,
            hour: None,
            day_start: day_end - 24 * HOUR,
            day_end,
            day_requests: 0,
            day_tokens: 0,
        };
        window.fit_rings(now);
        window
    }

    /// Creates the rings the limits need (empty: a limit set now starts counting now) and
    /// frees those they no longer need.
    fn fit_rings(&mut self, now: Millis) {
        let limits = self.effective;
        let minute = self.always || limits.rpm.is_some() || limits.tpm.is_some();
        let hour = self.always || limits.rph.is_some();
        match (&self.minute, minute) {
            (None, true) => self.minute = Some(Ring::new(1_000, now)),
            (Some(_), false) => self.minute = None,
            _ => {}
        }
        match (&self.hour, hour) {
            (None, true) => self.hour = Some(Ring::new(MINUTE, now)),
            (Some(_), false) => self.hour = None,
            _ => {}
        }
    }

    pub fn effective(&self) -> Limits {
        self.effective
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    pub fn learned(&self) -> Limits {
        self.learned
    }

    pub fn set_limits(&mut self, limits: Limits, now: Millis) {
        self.limits = limits;
        self.effective = limits.tighter(self.learned);
        self.fit_rings(now);
    }

    /// Tightens the learned limits; returns whether anything changed.
    pub fn learn(&mut self, learned: Limits, now: Millis) -> bool {
        let tighter = self.learned.tighter(learned);
        let changed = tighter != self.learned;
        self.learned = tighter;
        self.effective = self.limits.tighter(tighter);
        self.fit_rings(now);
        changed
    }

    pub fn day_end(&self) -> Millis {
        self.day_end
    }

    fn roll(&mut self, now: Millis) {
        if let Some(ring) = &mut self.minute {
            ring.roll(now);
        }
        if let Some(ring) = &mut self.hour {
            ring.roll(now);
        }
        if now >= self.day_end {
            self.day_end = next_midnight(self.tz, now);
            self.day_start = self.day_end - 24 * HOUR;
            self.day_requests = 0;
            self.day_tokens = 0;
        }
    }

    /// Moves the windows to `now`: buckets that slid out are dropped, a new day starts empty.
    pub fn roll_to(&mut self, now: Millis) {
        self.roll(now);
    }

    pub fn requests_last_minute(&mut self, now: Millis) -> u64 {
        self.roll(now);
        self.minute.as_ref().map_or(0, |r| r.requests)
    }

    pub fn tokens_last_minute(&mut self, now: Millis) -> u64 {
        self.roll(now);
        self.minute.as_ref().map_or(0, |r| r.tokens)
    }

    pub fn requests_last_hour(&mut self, now: Millis) -> u64 {
        self.roll(now);
        self.hour.as_ref().map_or(0, |r| r.requests)
    }

    /// What the window holds at `now`, in the shape the fleet's windows are read from Redis.
    pub fn used(&mut self, now: Millis) -> Used {
        self.roll(now);
        Used {
            minute: self.minute.as_ref().map(|r| (r.requests, r.tokens)),
            hour_requests: self.hour.as_ref().map(|r| r.requests),
            day: (self.day_requests, self.day_tokens),
        }
    }

    /// What is left of each limit at `now`: requests or tokens this window can still take
    /// (`None` where there is no limit).
    pub fn headroom(&mut self, now: Millis) -> Limits {
        let used = self.used(now);
        left_of(self.effective, &used)
    }

    /// Whether one more request of `tokens` fits every limit at `now`.
    pub fn check(&mut self, tokens: u64, now: Millis) -> Result<(), Exceeded> {
        self.check_limits(self.effective, tokens, now)
    }

    /// Whether one more request fits this replica's share of every limit: each divided by
    /// `share` (a fleet whose Redis is down, see `crate::shared`).
    pub fn check_share(&mut self, tokens: u64, now: Millis, share: u64) -> Result<(), Exceeded> {
        let of = |limit| crate::shared::share_of(limit, share);
        let limits = self.effective;
        let shared = Limits {
            rpm: of(limits.rpm),
            rph: of(limits.rph),
            rpd: of(limits.rpd),
            tpm: of(limits.tpm),
            tpd: of(limits.tpd),
        };
        self.check_limits(shared, tokens, now)
    }

    /// Which sliding windows the limits need, as `crate::shared` names them (1 the minute,
    /// 2 the hour).
    pub fn rings_needed(&self) -> u8 {
        let limits = self.effective;
        u8::from(limits.rpm.is_some() || limits.tpm.is_some())
            | (u8::from(limits.rph.is_some()) << 1)
    }

    fn check_limits(&mut self, limits: Limits, tokens: u64, now: Millis) -> Result<(), Exceeded> {
        self.roll(now);
        if let (Some(rpm), Some(ring)) = (limits.rpm, &self.minute)
            && ring.requests >= rpm
        {
            return Err(Exceeded {
                limit: "rpm",
                until: Some(ring.freed_at(ring.requests + 1 - rpm, false)),
            });
        }
        if let (Some(rph), Some(ring)) = (limits.rph, &self.hour)
            && ring.requests >= rph
        {
            return Err(Exceeded {
                limit: "rph",
                until: Some(ring.freed_at(ring.requests + 1 - rph, false)),
            });
        }
        if let Some(rpd) = limits.rpd
            && self.day_requests >= rpd
        {
            return Err(Exceeded {
                limit: "rpd",
                until: Some(self.day_end),
            });
        }
        if let (Some(tpm), Some(ring)) = (limits.tpm, &self.minute)
            && ring.tokens + tokens > tpm
        {
            let until = (tokens <= tpm).then(|| ring.freed_at(ring.tokens + tokens - tpm, true));
            return Err(Exceeded {
                limit: "tpm",
                until,
            });
        }
        if let Some(tpd) = limits.tpd
            && self.day_tokens + tokens > tpd
        {
            let until = (tokens <= tpd).then_some(self.day_end);
            return Err(Exceeded {
                limit: "tpd",
                until,
            });
        }
        Ok(())
    }

    /// Counts `requests` requests of `tokens` tokens in all made at `at` (a reservation, or
    /// usage restored after a restart).
    pub fn add(&mut self, requests: u64, tokens: u64, at: Millis, now: Millis) {
        self.roll(now);
        if let Some(ring) = &mut self.minute {
            ring.add(at, requests, tokens);
        }
        if let Some(ring) = &mut self.hour {
            ring.add(at, requests, tokens);
        }
        if at >= self.day_start {
            self.day_requests += requests;
            self.day_tokens += tokens;
        }
    }

    /// Replaces the estimate of a reservation made at `at` with the real count.
    pub fn settle(&mut self, at: Millis, estimated: u64, actual: u64, now: Millis) {
        self.roll(now);
        for ring in [&mut self.minute, &mut self.hour].into_iter().flatten() {
            ring.adjust(at, 0, estimated, actual);
        }
        if at >= self.day_start {
            self.day_tokens = self.day_tokens.saturating_sub(estimated) + actual;
        }
    }

    /// Gives a reservation made at `at` back, as if it had never been made.
    pub fn release(&mut self, at: Millis, estimated: u64, now: Millis) {
        self.roll(now);
        for ring in [&mut self.minute, &mut self.hour].into_iter().flatten() {
            ring.adjust(at, 1, estimated, 0);
        }
        if at >= self.day_start {
            self.day_requests = self.day_requests.saturating_sub(1);
            self.day_tokens = self.day_tokens.saturating_sub(estimated);
        }
    }

    /// What the window holds at `now`, to persist.
    pub fn state(&mut self, now: Millis) -> WindowState {
        self.roll(now);
        WindowState {
            minute: self.minute.as_ref().map(|r| r.state()).unwrap_or_default(),
            hour: self.hour.as_ref().map(|r| r.state()).unwrap_or_default(),
            day_end: self.day_end,
            day_requests: self.day_requests,
            day_tokens: self.day_tokens,
        }
    }

    /// Adds a persisted state to the window: buckets that slid out since are ignored, and
    /// the day only counts when it is still today.
    pub fn restore(&mut self, state: &WindowState, now: Millis) {
        self.roll(now);
        if let Some(ring) = &mut self.minute {
            ring.restore(&state.minute, now);
        }
        if let Some(ring) = &mut self.hour {
            ring.restore(&state.hour, now);
        }
        if state.day_end == self.day_end {
            self.day_requests += state.day_requests;
            self.day_tokens += state.day_tokens;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Millis = 1_790_000_000_000;

    fn window(limits: Limits) -> Window {
        Window::new(limits, Tz::UTC, T0)
    }

    #[test]
    fn rpm_is_a_sliding_minute() {
        let mut w = window(Limits {
            rpm: Some(2),
            ..Limits::default()
        });
        w.add(1, 0, T0, T0);
        w.add(1, 0, T0 + 10_000, T0 + 10_000);
        let blocked = w.check(0, T0 + 20_000).unwrap_err();
        assert_eq!(
            blocked,
            Exceeded {
                limit: "rpm",
                until: Some(T0 + MINUTE)
            }
        );
        assert!(w.check(0, T0 + MINUTE + 1).is_ok());
    }

    #[test]
    fn tokens_per_minute_and_oversized_requests() {
        let mut w = window(Limits {
            tpm: Some(100),
            ..Limits::default()
        });
        w.add(1, 60, T0, T0);
        assert!(w.check(40, T0 + 1).is_ok());
        assert_eq!(w.check(41, T0 + 1).unwrap_err().until, Some(T0 + MINUTE));
        assert_eq!(w.check(101, T0 + 1).unwrap_err().until, None);
    }

    #[test]
    fn settle_and_release_adjust_every_window() {
        let mut w = window(Limits {
            tpm: Some(100),
            rpd: Some(2),
            tpd: Some(1000),
            ..Limits::default()
        });
        w.add(1, 50, T0, T0);
        w.settle(T0, 50, 90, T0 + 1);
        assert_eq!(w.tokens_last_minute(T0 + 1), 90);
        assert_eq!(w.day_tokens, 90);
        w.add(1, 5, T0 + 2, T0 + 2);
        assert_eq!(w.check(0, T0 + 3).unwrap_err().limit, "rpd");
        w.release(T0 + 2, 5, T0 + 3);
        assert_eq!(w.day_requests, 1);
        assert_eq!(w.tokens_last_minute(T0 + 3), 90);
        assert!(w.check(0, T0 + 3).is_ok());
    }

    #[test]
    fn the_day_resets_at_the_providers_midnight() {
        let pacific: Tz = "America/Los_Angeles".parse().unwrap();
        // 2026-11-22 07:59:00 UTC is 23:59 in Los Angeles (PST, UTC-8).
        let before = DateTime::parse_from_rfc3339("2026-11-22T07:59:00Z")
            .unwrap()
            .timestamp_millis();
        let midnight = DateTime::parse_from_rfc3339("2026-11-22T08:00:00Z")
            .unwrap()
            .timestamp_millis();
        assert_eq!(next_midnight(pacific, before), midnight);
        let mut w = Window::new(
            Limits {
                rpd: Some(1),
                ..Limits::default()
            },
            pacific,
            before,
        );
        w.add(1, 0, before, before);
        assert_eq!(
            w.check(0, before + 1).unwrap_err(),
            Exceeded {
                limit: "rpd",
                until: Some(midnight)
            }
        );
        assert!(w.check(0, midnight).is_ok());
    }

    #[test]
    fn learned_limits_tighten() {
        let mut w = window(Limits {
            rpm: Some(10),
            ..Limits::default()
        });
        assert!(w.learn(
            Limits {
                rpm: Some(1),
                ..Limits::default()
            },
            T0
        ));
        w.add(1, 0, T0, T0);
        assert_eq!(w.check(0, T0 + 1).unwrap_err().limit, "rpm");
    }

    #[test]
    fn a_request_leaves_the_minute_between_60_and_61_seconds_after_it_was_made() {
        let mut w = window(Limits {
            rpm: Some(1),
            ..Limits::default()
        });
        // Two requests in one second's bucket: it leaves a minute after the later one, so
        // the earlier leaves 899 ms late, never early.
        w.add(1, 0, T0 + 1, T0 + 1);
        w.release(T0 + 1, 0, T0 + 1);
        w.add(1, 0, T0 + 900, T0 + 900);
        w.add(1, 0, T0 + 1, T0 + 901);
        assert_eq!(w.requests_last_minute(T0 + 60_001), 2);
        assert_eq!(
            w.check(0, T0 + 60_001).unwrap_err().until,
            Some(T0 + 60_900)
        );
        assert!(w.check(0, T0 + 60_900).is_ok());
        assert_eq!(w.requests_last_minute(T0 + 60_900), 0);
    }

    #[test]
    fn a_refusal_never_asks_to_wait_more_than_the_span() {
        let mut w = window(Limits {
            rpm: Some(3),
            ..Limits::default()
        });
        for ms in [1, 2, 3] {
            w.add(1, 0, T0 + ms, T0 + ms);
        }
        let until = w.check(0, T0 + 4).unwrap_err().until.unwrap();
        assert!(until <= T0 + 4 + MINUTE, "{}", until - T0);
    }

    #[test]
    fn the_hour_counts_in_minute_buckets() {
        let mut w = window(Limits {
            rph: Some(3),
            ..Limits::default()
        });
        // On a whole minute.
        let t0 = T0 - T0 % MINUTE;
        for minute in 0..3 {
            w.add(1, 0, t0 + minute * MINUTE, t0 + minute * MINUTE);
        }
        let now = t0 + 30 * MINUTE;
        assert_eq!(w.requests_last_hour(now), 3);
        // The first one (at t0) leaves at t0 + 1 h; the window then holds two.
        assert_eq!(w.check(0, now).unwrap_err().until, Some(t0 + HOUR));
        assert!(w.check(0, t0 + HOUR).is_ok());
        assert_eq!(w.requests_last_hour(t0 + HOUR + 2 * MINUTE), 0);
    }

    #[test]
    fn tokens_free_up_as_their_buckets_leave() {
        let mut w = window(Limits {
            tpm: Some(100),
            ..Limits::default()
        });
        w.add(1, 30, T0, T0);
        w.add(1, 30, T0 + 10_000, T0 + 10_000);
        w.add(1, 30, T0 + 20_000, T0 + 20_000);
        // 90 used; 50 more needs 40 freed: the first two buckets, gone at T0 + 70 s.
        assert_eq!(
            w.check(50, T0 + 30_000).unwrap_err(),
            Exceeded {
                limit: "tpm",
                until: Some(T0 + 70_000)
            }
        );
        assert!(w.check(50, T0 + 70_000).is_ok());
    }

    #[test]
    fn settle_and_release_of_a_bucket_that_left_change_only_the_day() {
        let mut w = window(Limits {
            rpm: Some(1),
            ..Limits::default()
        });
        w.add(1, 10, T0, T0);
        w.settle(T0, 10, 25, T0 + 2 * MINUTE);
        assert_eq!(w.tokens_last_minute(T0 + 2 * MINUTE), 0);
        assert_eq!(w.day_tokens, 25);
        w.add(1, 10, T0 + 3 * MINUTE, T0 + 3 * MINUTE);
        w.release(T0 + 3 * MINUTE, 10, T0 + 3 * MINUTE + 5);
        assert_eq!(w.requests_last_minute(T0 + 3 * MINUTE + 5), 0);
        assert_eq!((w.day_requests, w.day_tokens), (1, 25));
    }

    #[test]
    fn memory_and_cost_do_not_grow_with_traffic() {
        let mut w = window(Limits {
            rpm: Some(u64::MAX),
            tpm: Some(u64::MAX),
            rph: Some(u64::MAX),
            ..Limits::default()
        });
        // A million requests over two hours, settled as they go: the rings stay 61 buckets.
        for i in 0..1_000_000i64 {
            let at = T0 + i * 7;
            w.add(1, 10, at, at);
            w.settle(at, 10, 12, at);
        }
        let end = T0 + 999_999 * 7;
        let state = w.state(end);
        assert!(state.minute.len() <= 61 && state.hour.len() <= 61);
        // 60 to 61 seconds of requests, one every 7 ms.
        let minute = w.requests_last_minute(end);
        assert!((8571..=8715).contains(&minute), "{minute}");
        assert_eq!(w.tokens_last_minute(end), minute * 12);
    }

    #[test]
    fn a_lean_window_keeps_rings_only_for_the_limits_that_need_them() {
        let mut w = Window::lean(Limits::default(), Tz::UTC, T0);
        w.add(1, 5, T0, T0);
        assert_eq!(w.requests_last_minute(T0), 0);
        assert_eq!((w.day_requests, w.day_tokens), (1, 5));
        w.set_limits(
            Limits {
                rpm: Some(1),
                ..Limits::default()
            },
            T0,
        );
        w.add(1, 5, T0 + 1, T0 + 1);
        assert_eq!(w.check(0, T0 + 2).unwrap_err().limit, "rpm");
        w.set_limits(Limits::default(), T0 + 3);
        assert!(w.minute.is_none() && w.hour.is_none());
    }

    #[test]
    fn a_state_restores_the_same_windows() {
        let limits = Limits {
            rpm: Some(10),
            rpd: Some(100),
            ..Limits::default()
        };
        let mut w = window(limits);
        for i in 0..5 {
            w.add(1, 10, T0 + i * 20_000, T0 + i * 20_000);
        }
        let now = T0 + 90_000;
        let state = w.state(now);
        let mut restored = window(limits);
        restored.restore(&state, now + 1_000);
        assert_eq!(restored.requests_last_minute(now + 1_000), 3);
        assert_eq!(restored.tokens_last_minute(now + 1_000), 30);
        assert_eq!(restored.requests_last_hour(now + 1_000), 5);
        assert_eq!((restored.day_requests, restored.day_tokens), (5, 50));
        // A state of another day adds nothing to the day.
        let mut tomorrow = Window::new(limits, Tz::UTC, T0 + 24 * HOUR);
        tomorrow.restore(&state, T0 + 24 * HOUR);
        assert_eq!(
            (
                tomorrow.day_requests,
                tomorrow.requests_last_hour(T0 + 24 * HOUR)
            ),
            (0, 0)
        );
    }
}
