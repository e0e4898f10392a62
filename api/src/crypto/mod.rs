//! Envelope encryption of provider secrets, api key generation and digests.

pub mod api_key;
pub mod envelope;
pub mod keyring;
mod scrub;
mod secret;

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
