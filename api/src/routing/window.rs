//! The usage windows of one scope (a route, a credential or a provider account): a sliding
//! minute and hour, and a day that resets at the provider's own midnight.

use std::collections::VecDeque;

use chrono::{DateTime, Days, TimeZone, Utc};
use chrono_tz::Tz;

use super::limits::Limits;

/// Unix time in milliseconds.
pub type Millis = i64;

pub const MINUTE: Millis = 60_000;
pub const HOUR: Millis = 3_600_000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    at: Millis,
    tokens: u64,
    id: u64,
}

/// Why a scope cannot take a request now, and when it can again (`None`: never, the request
/// alone is larger than the limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exceeded {
    pub limit: &'static str,
    pub until: Option<Millis>,
}

#[derive(Debug)]
pub struct Window {
    limits: Limits,
    /// Tighter limits learned from the provider's answers.
    learned: Limits,
    /// `limits` tightened by `learned`, kept ready for the hot path.
    effective: Limits,
    pub tz: Tz,
    minute: VecDeque<Entry>,
    minute_tokens: u64,
    hour: VecDeque<Entry>,
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
    pub fn new(limits: Limits, tz: Tz, now: Millis) -> Self {
        let day_end = next_midnight(tz, now);
        Window {
            limits,
            learned: Limits::default(),
            effective: limits,
            tz,
            minute: VecDeque::new(),
            minute_tokens: 0,
            hour: VecDeque::new(),
            day_start: day_end - 24 * HOUR,
            day_end,
            day_requests: 0,
            day_tokens: 0,
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

    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
        self.effective = limits.tighter(self.learned);
    }

    /// Tightens the learned limits; returns whether anything changed.
    pub fn learn(&mut self, learned: Limits) -> bool {
        let tighter = self.learned.tighter(learned);
        let changed = tighter != self.learned;
        self.learned = tighter;
        self.effective = self.limits.tighter(tighter);
        changed
    }

    pub fn day_end(&self) -> Millis {
        self.day_end
    }

    fn roll(&mut self, now: Millis) {
        while self.minute.front().is_some_and(|e| e.at <= now - MINUTE) {
            if let Some(e) = self.minute.pop_front() {
                self.minute_tokens = self.minute_tokens.saturating_sub(e.tokens);
            }
        }
        while self.hour.front().is_some_and(|e| e.at <= now - HOUR) {
            self.hour.pop_front();
        }
        if now >= self.day_end {
            self.day_end = next_midnight(self.tz, now);
            self.day_start = self.day_end - 24 * HOUR;
            self.day_requests = 0;
            self.day_tokens = 0;
        }
    }

    /// Moves the windows to `now`: entries that slid out are dropped, a new day starts empty.
    pub fn roll_to(&mut self, now: Millis) {
        self.roll(now);
    }

    pub fn requests_last_minute(&mut self, now: Millis) -> u64 {
        self.roll(now);
        self.minute.len() as u64
    }

    pub fn tokens_last_minute(&mut self, now: Millis) -> u64 {
        self.roll(now);
        self.minute_tokens
    }

    pub fn requests_last_hour(&mut self, now: Millis) -> u64 {
        self.roll(now);
        self.hour.len() as u64
    }

    /// Whether one more request of `tokens` fits every limit at `now`.
    pub fn check(&mut self, tokens: u64, now: Millis) -> Result<(), Exceeded> {
        self.roll(now);
        let limits = self.effective;
        if let Some(rpm) = limits.rpm
            && self.minute.len() as u64 >= rpm
        {
            let index = (self.minute.len() as u64 - rpm) as usize;
            let until = self.minute.get(index).map(|e| e.at + MINUTE);
            return Err(Exceeded {
                limit: "rpm",
                until: until.or(Some(now + MINUTE)),
            });
        }
        if let Some(rph) = limits.rph
            && self.hour.len() as u64 >= rph
        {
            let index = (self.hour.len() as u64 - rph) as usize;
            let until = self.hour.get(index).map(|e| e.at + HOUR);
            return Err(Exceeded {
                limit: "rph",
                until: until.or(Some(now + HOUR)),
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
        if let Some(tpm) = limits.tpm
            && self.minute_tokens + tokens > tpm
        {
            if tokens > tpm {
                return Err(Exceeded {
                    limit: "tpm",
                    until: None,
                });
            }
            // The earliest time enough of the minute's tokens have expired.
            let mut remaining = self.minute_tokens;
            let mut until = now + MINUTE;
            for entry in &self.minute {
                remaining = remaining.saturating_sub(entry.tokens);
                if remaining + tokens <= tpm {
                    until = entry.at + MINUTE;
                    break;
                }
            }
            return Err(Exceeded {
                limit: "tpm",
                until: Some(until),
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

    /// Counts a request (a reservation or, with `id` 0, a past request being replayed).
    pub fn add(&mut self, id: u64, tokens: u64, at: Millis, now: Millis) {
        self.roll(now);
        let entry = Entry { at, tokens, id };
        if at > now - MINUTE {
            self.minute.push_back(entry);
            self.minute_tokens += tokens;
        }
        if at > now - HOUR {
            self.hour.push_back(entry);
        }
        if at >= self.day_start {
            self.day_requests += 1;
            self.day_tokens += tokens;
        }
    }

    /// Replaces a reservation's estimate with the real count.
    pub fn settle(&mut self, id: u64, at: Millis, estimated: u64, actual: u64, now: Millis) {
        self.roll(now);
        if let Some(entry) = self.minute.iter_mut().find(|e| e.id == id) {
            self.minute_tokens = self.minute_tokens - entry.tokens + actual;
            entry.tokens = actual;
        }
        if at >= self.day_start {
            self.day_tokens = self.day_tokens.saturating_sub(estimated) + actual;
        }
    }

    /// Gives a reservation back, as if it had never been made.
    pub fn release(&mut self, id: u64, at: Millis, estimated: u64, now: Millis) {
        self.roll(now);
        if let Some(i) = self.minute.iter().position(|e| e.id == id)
            && let Some(e) = self.minute.remove(i)
        {
            self.minute_tokens = self.minute_tokens.saturating_sub(e.tokens);
        }
        if let Some(i) = self.hour.iter().position(|e| e.id == id) {
            self.hour.remove(i);
        }
        if at >= self.day_start {
            self.day_requests = self.day_requests.saturating_sub(1);
            self.day_tokens = self.day_tokens.saturating_sub(estimated);
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
        w.add(2, 0, T0 + 10_000, T0 + 10_000);
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
        w.add(7, 50, T0, T0);
        w.settle(7, T0, 50, 90, T0 + 1);
        assert_eq!(w.tokens_last_minute(T0 + 1), 90);
        assert_eq!(w.day_tokens, 90);
        w.add(8, 5, T0 + 2, T0 + 2);
        assert_eq!(w.check(0, T0 + 3).unwrap_err().limit, "rpd");
        w.release(8, T0 + 2, 5, T0 + 3);
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
        assert!(w.learn(Limits {
            rpm: Some(1),
            ..Limits::default()
        }));
        w.add(1, 0, T0, T0);
        assert_eq!(w.check(0, T0 + 1).unwrap_err().limit, "rpm");
    }
}
