//! Session stickiness: a conversation keeps the route that answered it, for 30 minutes
//! after its last request.

use std::sync::Mutex;

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::window::Millis;

pub const TTL: Millis = 30 * 60 * 1000;
/// In a fleet, how often a pin that stays put is written to Redis again.
const REFRESH: Millis = 60 * 1000;
/// Past this many sessions, expired ones are swept before inserting.
const SWEEP_AT: usize = 10_000;

/// The route a session is pinned to: its model row and credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pin {
    pub model: Uuid,
    pub credential: Option<Uuid>,
}

impl Pin {
    /// As a fleet keeps it on Redis: `<model>:<credential or ->`.
    pub fn encode(&self) -> String {
        match self.credential {
            Some(credential) => format!("{}:{credential}", self.model),
            None => format!("{}:-", self.model),
        }
    }

    pub fn decode(text: &str) -> Option<Pin> {
        let (model, credential) = text.split_once(':')?;
        Some(Pin {
            model: model.parse().ok()?,
            credential: match credential {
                "-" => None,
                id => Some(id.parse().ok()?),
            },
        })
    }
}

#[derive(Default)]
pub struct Sessions {
    pins: Mutex<Pins>,
}

#[derive(Default)]
struct Pins {
    map: super::FastMap<String, (Pin, Millis)>,
    /// The size at which expired pins are swept next: twice what a sweep left, so sweeping
    /// costs O(1) per pin over time rather than a pass over every live session per request.
    sweep_at: usize,
}

/// The session id: the client's `X-Session-Id`, else a digest of the requested model and the
/// conversation's opening (system prompt and first user message). Both are scoped to the
/// api key, so two tenants who open with "hi" never share a session. The system prompt comes
/// in parts (one per system message) and hashes as if joined by newlines, without the copy.
pub fn session_id(
    api_key: Uuid,
    header: Option<&str>,
    model: &str,
    system: &[&str],
    first_user: &str,
) -> String {
    let mut hasher = Sha256::new();
    hasher.update(api_key.as_bytes());
    match header.map(str::trim).filter(|h| !h.is_empty()) {
        Some(header) => {
            hasher.update(b"\0header\0");
            hasher.update(header.as_bytes());
        }
        None => {
            hasher.update(b"\0opening\0");
            hasher.update(model.as_bytes());
            hasher.update(b"\0");
            for (i, part) in system.iter().enumerate() {
                if i > 0 {
                    hasher.update(b"\n");
                }
                hasher.update(part.as_bytes());
            }
            hasher.update(b"\0");
            hasher.update(first_user.as_bytes());
        }
    }
    let digest = hasher.finalize();
    hex::encode(&digest[..12])
}

impl Sessions {
    pub fn get(&self, id: &str, now: Millis) -> Option<Pin> {
        let pins = self.pins.lock().unwrap_or_else(|p| p.into_inner());
        pins.map
            .get(id)
            .filter(|(_, expires)| *expires > now)
            .map(|(pin, _)| *pin)
    }

    pub fn pin(&self, id: &str, pin: Pin, now: Millis) {
        let mut pins = self.pins.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = pins.map.get_mut(id) {
            *entry = (pin, now + TTL);
            return;
        }
        if pins.map.len() >= pins.sweep_at.max(SWEEP_AT) {
            pins.map.retain(|_, (_, expires)| *expires > now);
            pins.sweep_at = (pins.map.len() * 2).max(SWEEP_AT);
        }
        pins.map.insert(id.to_string(), (pin, now + TTL));
    }

    /// [`Self::pin`] in a fleet; whether Redis must be told: the pin is new or moved, or
    /// Redis's copy was last refreshed more than a minute ago (its expiry then trails this
    /// one's by at most that). A conversation that stays put costs no write per request.
    pub fn repin(&self, id: &str, pin: Pin, now: Millis) -> bool {
        let known = {
            let pins = self.pins.lock().unwrap_or_else(|p| p.into_inner());
            pins.map.get(id).copied()
        };
        let tell = match known {
            Some((held, expires)) => held != pin || expires - now < TTL - REFRESH,
            None => true,
        };
        // The local expiry moves only with Redis's, so the minute above is measured from
        // the last write.
        if tell {
            self.pin(id, pin, now);
        }
        tell
    }

    /// Pins held, expired ones not yet swept included.
    pub fn len(&self) -> usize {
        self.pins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fleet_writes_a_pin_when_it_moves_and_once_a_minute_while_it_stays() {
        let sessions = Sessions::default();
        let a = Pin {
            model: Uuid::new_v4(),
            credential: Some(Uuid::new_v4()),
        };
        let b = Pin {
            model: Uuid::new_v4(),
            credential: None,
        };
        assert_eq!(Pin::decode(&a.encode()), Some(a));
        assert_eq!(Pin::decode(&b.encode()), Some(b));
        assert_eq!(Pin::decode("nonsense"), None);
        assert!(sessions.repin("s", a, 0), "new");
        assert!(!sessions.repin("s", a, 1_000), "unchanged");
        assert!(sessions.repin("s", b, 2_000), "moved");
        assert!(!sessions.repin("s", b, 2_000 + REFRESH - 1));
        assert!(sessions.repin("s", b, 2_000 + REFRESH + 1), "refreshed");
        assert_eq!(sessions.get("s", 2_000 + REFRESH + 1), Some(b));
    }

    #[test]
    fn ids_are_scoped_to_the_key() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert_ne!(
            session_id(a, None, "m", &[""], "hi"),
            session_id(b, None, "m", &[""], "hi")
        );
        assert_eq!(
            session_id(a, None, "m", &["s"], "hi"),
            session_id(a, None, "m", &["s"], "hi")
        );
        assert_ne!(
            session_id(a, None, "m", &["s"], "hi"),
            session_id(a, None, "m", &["t"], "hi")
        );
        assert_ne!(
            session_id(a, None, "m", &["s"], "hi"),
            session_id(a, None, "n", &["s"], "hi")
        );
        assert_ne!(
            session_id(a, Some("x"), "m", &[""], ""),
            session_id(b, Some("x"), "m", &[""], "")
        );
        assert_eq!(
            session_id(a, Some("x"), "m", &["s"], "1"),
            session_id(a, Some("x"), "n", &["t"], "2")
        );
    }

    #[test]
    fn pins_expire_after_the_ttl() {
        let sessions = Sessions::default();
        let pin = Pin {
            model: Uuid::new_v4(),
            credential: None,
        };
        sessions.pin("s", pin, 0);
        assert_eq!(sessions.get("s", TTL - 1), Some(pin));
        assert_eq!(sessions.get("s", TTL), None);
    }

    #[test]
    fn a_system_prompt_in_parts_hashes_like_the_joined_one() {
        let key = Uuid::new_v4();
        assert_eq!(
            session_id(key, None, "m", &["a", "b"], "hi"),
            session_id(key, None, "m", &["a\nb"], "hi")
        );
    }

    #[test]
    fn live_sessions_are_not_swept_on_every_pin() {
        let sessions = Sessions::default();
        let pin = Pin {
            model: Uuid::new_v4(),
            credential: None,
        };
        for i in 0..SWEEP_AT + 5 {
            sessions.pin(&format!("s{i}"), pin, 0);
        }
        // Past the threshold, nothing had expired: the next sweep waits for twice as many.
        assert_eq!(sessions.len(), SWEEP_AT + 5);
        assert_eq!(
            sessions.pins.lock().unwrap().sweep_at,
            2 * SWEEP_AT,
            "swept once, at {SWEEP_AT}, keeping all"
        );
        // Once they expire, the next sweep clears them.
        for i in 0..2 * SWEEP_AT {
            sessions.pin(&format!("t{i}"), pin, TTL + 1);
        }
        assert_eq!(sessions.len(), 2 * SWEEP_AT, "only the live ones are left");
        assert_eq!(sessions.get("s1", TTL + 1), None);
    }
}
