//! Envelope encryption of provider secrets, api key generation and digests.

pub mod api_key;
pub mod envelope;
pub mod keyring;
mod scrub;
mod secret;
pub mod signature;

pub use envelope::{SealedSecret, open, rewrap, seal};
pub use keyring::{Keyring, KeyringError, MasterKey};
pub use scrub::Scrubber;
pub use secret::Secret;

/// Fills a fresh array with bytes from the operating system's CSPRNG.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::fill(&mut bytes[..]);
    bytes
}

/// Digests that tell whether two secrets are equal without holding them side by side (a
/// bulk import's duplicate check). Keyed by random bytes of this value, so a digest means
/// nothing outside it; never stored.
pub struct SecretDigests([u8; 32]);

impl SecretDigests {
    #[allow(clippy::new_without_default)]
    pub fn new() -> SecretDigests {
        SecretDigests(random_bytes())
    }

    pub fn of(&self, secret: &str) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(self.0);
        hasher.update(secret.as_bytes());
        hasher.finalize().into()
    }
}

#[cfg(test)]
mod digest_tests {
    use super::SecretDigests;

    #[test]
    fn digests_are_equal_for_equal_secrets_and_keyed() {
        let digests = SecretDigests::new();
        assert_eq!(digests.of("gsk_fake_1"), digests.of("gsk_fake_1"));
        assert_ne!(digests.of("gsk_fake_1"), digests.of("gsk_fake_2"));
        assert_ne!(
            digests.of("gsk_fake_1"),
            SecretDigests::new().of("gsk_fake_1")
        );
    }
}
