//! What else a fleet shares on Redis: session pins, cooldowns and the admin login
//! throttle. Each call waits at most the timeout; a failure marks Redis down, and the
//! callers fall back to this replica's own state.

use std::sync::Arc;
use std::time::Duration;

use redis::Value;

use super::client::{Shared, int};

/// A cooldown as the fleet shares it: until when, since when (ms), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedCooldown {
    pub until: i64,
    pub since: i64,
    pub reason: String,
}

impl Shared {
    /// Seconds to wait before any of `keys` may try to log in again, if any; `Err` when
    /// Redis cannot answer.
    pub async fn throttle_check(&self, keys: &[String], now: i64) -> Result<Option<u64>, ()> {
        if !self.healthy() {
            return Err(());
        }
        let mut invocation = self.throttle_check.prepare_invoke();
        invocation.arg(now);
        for key in keys {
            invocation.key(format!("{}login:{key}", super::PREFIX));
        }
        let value = self.call(invocation).await.ok_or(())?;
        Ok(int(&value)
            .filter(|s| *s > 0)
            .and_then(|s| u64::try_from(s).ok()))
    }

    /// Counts a failed login of `keys`; `false` when Redis cannot take it.
    pub async fn throttle_failed(&self, keys: &[String], now: i64, memory: Duration) -> bool {
        if !self.healthy() {
            return false;
        }
        let mut invocation = self.throttle_fail.prepare_invoke();
        invocation
            .arg(now)
            .arg(u64::try_from(memory.as_millis()).unwrap_or(u64::MAX));
        for key in keys {
            invocation.key(format!("{}login:{key}", super::PREFIX));
        }
        self.call(invocation).await.is_some()
    }

    /// Forgets the failures of `key` (a successful login).
    pub async fn throttle_forget(&self, key: &str) {
        if !self.healthy() {
            return;
        }
        let mut conn = self.conn();
        let cmd = redis::cmd("DEL")
            .arg(format!("{}login:{key}", super::PREFIX))
            .clone();
        match tokio::time::timeout(self.timeout, cmd.query_async::<Value>(&mut conn)).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => self.failed(&error),
            Err(_) => self.failed(&"timed out"),
        }
    }

    /// Runs one command within the timeout; any failure marks Redis down.
    pub(super) async fn command(&self, cmd: &redis::Cmd) -> Option<Value> {
        let mut conn = self.conn();
        self.bounded(cmd.query_async::<Value>(&mut conn)).await
    }

    /// The route session `id` is pinned to, as [`Self::session_set`] wrote it; `None` when
    /// there is none or Redis cannot answer.
    pub async fn session_pin(&self, id: &str) -> Option<String> {
        if !self.healthy() {
            return None;
        }
        let cmd = redis::cmd("GET")
            .arg(format!("{}s:{id}", super::PREFIX))
            .clone();
        match self.command(&cmd).await? {
            Value::BulkString(bytes) => String::from_utf8(bytes).ok(),
            Value::SimpleString(text) => Some(text),
            _ => None,
        }
    }

    /// Pins session `id` for `ttl_ms`, off the request's path.
    pub fn session_set(self: &Arc<Self>, id: &str, pin: String, ttl_ms: i64) {
        if !self.healthy() {
            return;
        }
        let cmd = redis::cmd("SET")
            .arg(format!("{}s:{id}", super::PREFIX))
            .arg(pin)
            .arg("PX")
            .arg(ttl_ms.max(1))
            .clone();
        let shared = self.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { shared.command(&cmd).await });
        }
    }

    fn cooldowns_key() -> String {
        format!("{}cooldowns", super::PREFIX)
    }

    /// Shares a cooldown with the fleet (a longer one already there is kept by readers).
    pub async fn cooldown_set(&self, scope: &str, cooldown: &SharedCooldown) {
        if !self.healthy() {
            return;
        }
        let key = Self::cooldowns_key();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("HSET")
            .arg(&key)
            .arg(scope)
            .arg(encode_cooldown(cooldown))
            .ignore()
            // No cooldown lasts more than a day; the hash goes when the last one is over.
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(25 * 3_600_000)
            .ignore();
        let mut conn = self.conn();
        match tokio::time::timeout(self.timeout, pipe.query_async::<Value>(&mut conn)).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => self.failed(&error),
            Err(_) => self.failed(&"timed out"),
        }
    }

    /// The fleet's cooldowns still running at `now`, by scope key; those over are removed.
    /// `None` when Redis cannot answer.
    pub async fn cooldowns(&self, now: i64) -> Option<Vec<(String, SharedCooldown)>> {
        if !self.healthy() {
            return None;
        }
        let cmd = redis::cmd("HGETALL").arg(Self::cooldowns_key()).clone();
        let value = self.command(&cmd).await?;
        let items: Vec<Value> = match value {
            Value::Array(items) => items,
            Value::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
            _ => Vec::new(),
        };
        let text = |v: &Value| match v {
            Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            Value::SimpleString(s) => s.clone(),
            _ => String::new(),
        };
        let mut running = Vec::new();
        let mut over = Vec::new();
        for pair in items.chunks(2) {
            let [field, value] = pair else { continue };
            let (scope, value) = (text(field), text(value));
            match decode_cooldown(&value) {
                Some(cooldown) if cooldown.until > now => running.push((scope, cooldown)),
                _ => over.push(scope),
            }
        }
        if !over.is_empty() {
            let cmd = redis::cmd("HDEL")
                .arg(Self::cooldowns_key())
                .arg(over)
                .clone();
            self.command(&cmd).await;
        }
        Some(running)
    }

    /// Ends the fleet's cooldown of `scope`, or every cooldown.
    pub async fn cooldowns_clear(&self, scope: Option<&str>) {
        let cmd = match scope {
            Some(scope) => redis::cmd("HDEL")
                .arg(Self::cooldowns_key())
                .arg(scope)
                .clone(),
            None => redis::cmd("DEL").arg(Self::cooldowns_key()).clone(),
        };
        self.command(&cmd).await;
    }
}

/// A cooldown as the fleet's hash holds it: `until`, `since` and the reason, tab-separated.
fn encode_cooldown(cooldown: &SharedCooldown) -> String {
    format!(
        "{}\t{}\t{}",
        cooldown.until, cooldown.since, cooldown.reason
    )
}

/// [`encode_cooldown`]'s text, or an earlier version's `until` and reason (set at no known
/// time: any clear on record ends it).
fn decode_cooldown(value: &str) -> Option<SharedCooldown> {
    let (until, rest) = value.split_once('\t').unwrap_or((value, ""));
    let until = until.parse().ok()?;
    let (since, reason) = rest
        .split_once('\t')
        .and_then(|(since, reason)| Some((since.parse().ok()?, reason)))
        .unwrap_or((0, rest));
    Some(SharedCooldown {
        until,
        since,
        reason: reason.to_string(),
    })
}

#[cfg(test)]
mod cooldown_tests {
    use super::*;

    #[test]
    fn a_cooldown_reads_back_as_written_and_an_older_one_has_no_time() {
        let cooldown = SharedCooldown {
            until: 1_790_000_060_000,
            since: 1_790_000_000_000,
            reason: "503\tservice unavailable".into(),
        };
        assert_eq!(decode_cooldown(&encode_cooldown(&cooldown)), Some(cooldown));
        let older = decode_cooldown("1790000060000\t429: slow down").unwrap();
        assert_eq!((older.since, older.reason.as_str()), (0, "429: slow down"));
        assert_eq!(decode_cooldown("soon\tx"), None);
    }
}
