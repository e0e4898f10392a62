//! Cutting a secret out of text a provider sent back: some echo the request's
//! `Authorization` header, or parts of it, in their error bodies and stream events.

use std::sync::{Arc, OnceLock};

use aho_corasick::AhoCorasick;
use bytes::Bytes;

use super::Secret;

/// A piece of the secret at least this long is taken for a leak.
const PIECE: usize = 10;
/// Shorter secrets are not searched for: they would match ordinary text.
const SHORTEST: usize = 8;
const REDACTED: &[u8] = b"[redacted]";

/// Finds the whole secret and every piece of it of `PIECE` bytes or more. The finder is
/// built on first use: catalogs are rebuilt on every change, and most credentials never
/// have anything to scrub.
#[derive(Clone)]
pub struct Scrubber {
    secret: Secret,
    finder: Arc<OnceLock<Option<AhoCorasick>>>,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scrubber")
    }
}

impl Scrubber {
    pub fn new(secret: &Secret) -> Scrubber {
        Scrubber {
            secret: secret.clone(),
            finder: Arc::default(),
        }
    }

    fn finder(&self) -> Option<&AhoCorasick> {
        self.finder
            .get_or_init(|| {
                let secret = self.secret.expose().as_bytes();
                if secret.len() < SHORTEST {
                    return None;
                }
                // Any piece of `PIECE` bytes or more is covered by the windows of `PIECE` bytes.
                let patterns: Vec<&[u8]> = if secret.len() <= PIECE {
                    vec![secret]
                } else {
                    secret.windows(PIECE).collect()
                };
                AhoCorasick::new(patterns).ok()
            })
            .as_ref()
    }

    /// `text` with every stretch that matches the secret replaced by `[redacted]`.
    pub fn scrub(&self, text: Bytes) -> Bytes {
        let Some(finder) = self.finder() else {
            return text;
        };
        let mut spans: Vec<(usize, usize)> = Vec::new();
        for found in finder.find_overlapping_iter(text.as_ref()) {
            match spans.last_mut() {
                Some(last) if found.start() <= last.1 => last.1 = last.1.max(found.end()),
                _ => spans.push((found.start(), found.end())),
            }
        }
        if spans.is_empty() {
            return text;
        }
        let mut out = Vec::with_capacity(text.len());
        let mut at = 0;
        for (start, end) in spans {
            out.extend_from_slice(&text[at..start]);
            out.extend_from_slice(REDACTED);
            at = end;
        }
        out.extend_from_slice(&text[at..]);
        Bytes::from(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrub(secret: &str, text: &str) -> String {
        let scrubbed = Scrubber::new(&Secret::new(secret)).scrub(Bytes::from(text.to_string()));
        String::from_utf8(scrubbed.to_vec()).unwrap_or_default()
    }

    #[test]
    fn the_whole_secret_and_long_pieces_are_cut() {
        let key = "gsk_0123456789abcdefghijklmnop";
        assert_eq!(
            scrub(
                key,
                r#"{"error":"bad header: Bearer gsk_0123456789abcdefghijklmnop"}"#
            ),
            r#"{"error":"bad header: Bearer [redacted]"}"#
        );
        // A truncated echo, from the middle of the key.
        assert_eq!(
            scrub(key, "key 3456789abcdefg... is invalid"),
            "key [redacted]... is invalid"
        );
        // Two echoes.
        assert_eq!(
            scrub(key, &format!("{key} and {key}")),
            "[redacted] and [redacted]"
        );
        // Short coincidences are left alone.
        assert_eq!(scrub(key, "gsk_0123 abc"), "gsk_0123 abc");
        assert_eq!(scrub(key, "nothing here"), "nothing here");
    }

    #[test]
    fn short_secrets() {
        assert_eq!(scrub("secret-0", "Bearer secret-0."), "Bearer [redacted].");
        // Too short to tell from ordinary text.
        assert_eq!(scrub("abc", "abc abc"), "abc abc");
    }
}
