//! Member api keys: `fw-<public id>-<secret>`.
//!
//! The public id finds the key without a scan and doubles as the display prefix; only the
//! SHA-256 digest of the secret is stored, and it is compared in constant time.

use rand::RngExt;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Secret;

pub const PREFIX: &str = "fw";
const PUBLIC_ID_LEN: usize = 16;
const SECRET_LEN: usize = 40;
const PUBLIC_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A newly created key: the full token is shown to its owner once and never stored.
#[derive(Debug)]
pub struct NewApiKey {
    pub public_id: String,
    pub token: Secret,
    pub secret_sha256: [u8; 32],
}

impl NewApiKey {
    pub fn display_prefix(&self) -> String {
        display_prefix(&self.public_id)
    }
}

pub fn display_prefix(public_id: &str) -> String {
    format!("{PREFIX}-{public_id}")
}

fn random_string(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}

pub fn generate() -> NewApiKey {
    let public_id = random_string(PUBLIC_ALPHABET, PUBLIC_ID_LEN);
    let secret = Secret::new(random_string(SECRET_ALPHABET, SECRET_LEN));
    let token = Secret::new(format!("{PREFIX}-{public_id}-{}", secret.expose()));
    NewApiKey {
        secret_sha256: digest(secret.expose()),
        public_id,
        token,
    }
}

pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A presented token split into its parts. Borrowed: the secret is never copied.
#[derive(PartialEq, Eq)]
pub struct ParsedToken<'a> {
    pub public_id: &'a str,
    pub secret: &'a str,
}

impl std::fmt::Debug for ParsedToken<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ParsedToken({}, <redacted>)", self.public_id)
    }
}

/// Splits `fw-<public id>-<secret>`; `None` when the shape is wrong.
pub fn parse(token: &str) -> Option<ParsedToken<'_>> {
    let rest = token.strip_prefix(PREFIX)?.strip_prefix('-')?;
    let (public_id, secret) = rest.split_once('-')?;
    // The alphabets' ranges, checked directly: a search of the alphabet for each byte cost
    // more than the rest of the key's lookup.
    let public_ok = public_id.len() == PUBLIC_ID_LEN
        && public_id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let secret_ok = secret.len() == SECRET_LEN && secret.bytes().all(|b| b.is_ascii_alphanumeric());
    (public_ok && secret_ok).then_some(ParsedToken { public_id, secret })
}

/// Whether `secret` hashes to `expected`, in time independent of where they differ.
pub fn verify(secret: &str, expected: &[u8]) -> bool {
    digest(secret).ct_eq(expected).into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_verify() {
        let key = generate();
        let parsed = parse(key.token.expose()).unwrap();
        assert_eq!(parsed.public_id, key.public_id);
        assert!(verify(parsed.secret, &key.secret_sha256));
        assert!(!verify("nope", &key.secret_sha256));
        assert!(key.token.expose().starts_with(&key.display_prefix()));
    }

    #[test]
    fn keys_are_unique() {
        let a = generate();
        let b = generate();
        assert_ne!(a.public_id, b.public_id);
        assert_ne!(a.secret_sha256, b.secret_sha256);
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        let key = generate();
        let token = key.token.expose();
        for bad in [
            "",
            "fw",
            "fw-",
            "sk-abc",
            &token[..token.len() - 1],
            &format!("{token}x"),
            &token.replacen("fw-", "fx-", 1),
            &token.to_uppercase(),
            "fw-0123456789abcdef-!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        ] {
            assert!(parse(bad).is_none(), "{bad} should not parse");
        }
    }

    #[test]
    fn every_byte_parses_exactly_when_its_alphabet_has_it() {
        let key = generate();
        let secret = &key.token.expose()[PREFIX.len() + PUBLIC_ID_LEN + 2..];
        for b in 0..=u8::MAX {
            let Ok(c) = std::str::from_utf8(std::slice::from_ref(&b)) else {
                continue; // not a one-byte character: a token is a `&str`
            };
            let public = format!("{PREFIX}-{c}{}-{secret}", &key.public_id[1..]);
            assert_eq!(
                parse(&public).is_some(),
                PUBLIC_ALPHABET.contains(&b),
                "{b}"
            );
            let secret = format!("{PREFIX}-{}-{c}{}", key.public_id, &secret[1..]);
            assert_eq!(
                parse(&secret).is_some(),
                SECRET_ALPHABET.contains(&b),
                "{b}"
            );
        }
    }
}
