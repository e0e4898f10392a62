//! The background task: every enabled credential probed once per interval, jittered, a few
//! at a time, by one replica at a time (a Postgres advisory lock around each pass; the
//! credentials due are read from their last probe, so replicas taking turns probe each once);
//! and, on every replica (each holds its own cooldowns), the early re-probes that are due.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;

use super::Prober;
use crate::routing::now_millis;
use crate::routing::pool::Scope;
use crate::store::probes;

/// Early re-probes are looked for this often.
const RECHECK_TICK: Duration = Duration::from_secs(5);
/// Credentials probed at once.
const CONCURRENCY: usize = 4;
/// At most this many credentials per pass; the rest wait for the next one.
const PER_PASS: i64 = 100;
/// `pg_try_advisory_lock`'s key for the probe pass: `freeway.probes` as one number.
const LOCK: i64 = 0x6672_6565_7761_7970;

/// Runs until `stop` turns true; does nothing when probes are off (interval zero).
pub async fn keep_probing(prober: Arc<Prober>, mut stop: watch::Receiver<bool>) {
    let interval = prober.settings.interval;
    if interval.is_zero() {
        return;
    }
    // A pass every tenth of the interval (5 s to 1 min) picks the credentials due, so a
    // credential's checks drift apart from its neighbours' instead of coming in bursts.
    let pass_every = (interval / 10).clamp(Duration::from_secs(5), Duration::from_secs(60));
    let mut next_pass = after(pass_every.saturating_add(jitter(pass_every)));
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(RECHECK_TICK) => {}
        }
        if *stop.borrow() {
            return;
        }
        prober.recheck_due().await;
        if tokio::time::Instant::now() >= next_pass {
            if let Err(error) = prober.pass(interval).await {
                tracing::warn!(%error, "probe pass failed");
            }
            next_pass = after(pass_every.saturating_add(jitter(pass_every / 5)));
        }
    }
}

/// `wait` from now.
fn after(wait: Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(wait).unwrap_or(now)
}

/// A random wait of up to `max`.
fn jitter(max: Duration) -> Duration {
    let millis = u64::try_from(max.as_millis()).unwrap_or(0);
    Duration::from_millis(rand::random_range(0..=millis))
}

impl Prober {
    /// Re-probes the routes whose early re-probe is due (keyless ones only when opted in).
    async fn recheck_due(&self) {
        let keyless = self.settings.keyless;
        let due: Vec<Scope> = self
            .pool
            .due_rechecks(now_millis())
            .into_iter()
            .filter(|s| {
                keyless
                    || matches!(
                        s,
                        Scope::Route {
                            credential: Some(_),
                            ..
                        }
                    )
            })
            .collect();
        futures_util::stream::iter(due)
            .for_each_concurrent(CONCURRENCY, |scope| async move {
                self.recheck(scope).await;
            })
            .await;
    }

    /// Probes the credentials not probed within `interval`, under the advisory lock.
    async fn pass(&self, interval: Duration) -> Result<(), sqlx::Error> {
        let mut conn = self.db.acquire().await?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(LOCK)
            .fetch_one(&mut *conn)
            .await?;
        if !locked {
            return Ok(());
        }
        match probes::due(&self.db, interval.as_secs(), PER_PASS).await {
            Ok(due) => {
                futures_util::stream::iter(due)
                    .for_each_concurrent(CONCURRENCY, |credential| async move {
                        if let Err(error) = self.probe_credential(credential, false).await {
                            tracing::warn!(%credential, %error, "credential probe failed");
                        }
                    })
                    .await;
            }
            Err(error) => tracing::warn!(%error, "credentials due for a probe not read"),
        }
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(LOCK)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}
