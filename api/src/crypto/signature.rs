//! Ed25519 detached signatures over the exact bytes of a catalog file: base64 text, made by
//! `freeway catalog sign` and checked by `freeway catalog import` and
//! `POST /admin/v1/catalog` against the project's public key and the instance's own
//! (`FREEWAY_CATALOG_KEYS`).

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use zeroize::Zeroizing;

use super::keyring::{KeyringError, write_private};

/// The project's catalog signing key, public half; its private half never enters the
/// repository.
pub const PROJECT_KEY: &str = include_str!("../../catalog/freeway-catalog.pub");

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("the signature is not base64 of 64 bytes")]
    Malformed,
    #[error("the signature does not verify with any trusted key")]
    Untrusted,
    #[error("`{0}` is not a base64 ed25519 public key (32 bytes)")]
    BadPublicKey(String),
    #[error("the private key file is not base64 of a 32-byte ed25519 seed")]
    BadPrivateKey,
}

/// The keys a catalog's signature is checked against.
#[derive(Debug, Clone)]
pub struct TrustedKeys(Vec<VerifyingKey>);

impl TrustedKeys {
    /// The project's key plus `extra` (comma-separated base64 public keys).
    pub fn with_extra(extra: &str) -> Result<TrustedKeys, SignatureError> {
        let mut keys = vec![public_key(PROJECT_KEY)?];
        for key in extra.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            keys.push(public_key(key)?);
        }
        Ok(TrustedKeys(keys))
    }

    /// The base64 public key that signed `bytes` with `signature`.
    pub fn verify(&self, bytes: &[u8], signature: &str) -> Result<String, SignatureError> {
        let raw = B64
            .decode(signature.trim())
            .map_err(|_| SignatureError::Malformed)?;
        let signature = Signature::from_slice(&raw).map_err(|_| SignatureError::Malformed)?;
        self.0
            .iter()
            .find(|key| key.verify(bytes, &signature).is_ok())
            .map(|key| B64.encode(key.as_bytes()))
            .ok_or(SignatureError::Untrusted)
    }
}

pub fn public_key(text: &str) -> Result<VerifyingKey, SignatureError> {
    let bad = || SignatureError::BadPublicKey(text.trim().to_string());
    let raw: [u8; 32] = B64
        .decode(text.trim())
        .map_err(|_| bad())?
        .try_into()
        .map_err(|_| bad())?;
    VerifyingKey::from_bytes(&raw).map_err(|_| bad())
}

/// A fresh key pair: the private seed and the public key, both base64.
pub fn generate() -> (Zeroizing<String>, String) {
    let seed = Zeroizing::new(super::random_bytes::<32>());
    let key = SigningKey::from_bytes(&seed);
    (
        Zeroizing::new(B64.encode(*seed)),
        B64.encode(key.verifying_key().as_bytes()),
    )
}

/// Writes a new private key to `path` (mode 0600) and answers its public key.
pub fn generate_file(path: &Path) -> Result<String, KeyringError> {
    let (private, public) = generate();
    write_private(path, format!("{}\n", private.as_str()).as_bytes())?;
    Ok(public)
}

/// The base64 signature of `bytes` by the private key `private` (base64 seed).
pub fn sign(bytes: &[u8], private: &str) -> Result<String, SignatureError> {
    let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
        B64.decode(private.trim())
            .map_err(|_| SignatureError::BadPrivateKey)?
            .try_into()
            .map_err(|_| SignatureError::BadPrivateKey)?,
    );
    let key = SigningKey::from_bytes(&seed);
    Ok(B64.encode(key.sign(bytes).to_bytes()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_over_the_same_bytes_and_key() {
        let (private, public) = generate();
        let keys = TrustedKeys::with_extra(&format!(" {public} ")).unwrap();
        let signature = sign(b"version = 3\n", &private).unwrap();

        assert_eq!(keys.verify(b"version = 3\n", &signature), Ok(public));
        assert_eq!(
            keys.verify(b"version = 4\n", &signature),
            Err(SignatureError::Untrusted)
        );
        let (other, _) = generate();
        let foreign = sign(b"version = 3\n", &other).unwrap();
        assert_eq!(
            keys.verify(b"version = 3\n", &foreign),
            Err(SignatureError::Untrusted)
        );
        assert_eq!(
            keys.verify(b"version = 3\n", "not base64!"),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn the_project_key_parses_and_bad_extra_keys_are_named() {
        assert!(public_key(PROJECT_KEY).is_ok());
        assert_eq!(
            TrustedKeys::with_extra("abc").unwrap_err(),
            SignatureError::BadPublicKey("abc".into())
        );
    }
}
