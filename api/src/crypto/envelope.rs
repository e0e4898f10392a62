//! Envelope encryption of one credential secret.
//!
//! The secret is sealed with its own random data key; the data key is sealed with a master
//! key. Both seals carry associated data naming the credential row (and, for the data key,
//! the master-key version), so a ciphertext copied onto another row does not open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::keyring::{Keyring, KeyringError};
use super::{Secret, random_bytes};

const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error(transparent)]
    Keyring(#[from] KeyringError),
    /// Deliberately vague: which check failed is no business of whoever reads the error.
    #[error("credential {0} could not be decrypted (wrong master key or tampered row)")]
    Decrypt(Uuid),
    #[error("credential {0} could not be encrypted")]
    Encrypt(Uuid),
}

/// What is stored for one credential.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret {
    /// nonce ‖ AES-256-GCM(data key, secret)
    pub ciphertext: Vec<u8>,
    /// nonce ‖ AES-256-GCM(master key, data key)
    pub wrapped_key: Vec<u8>,
    pub key_version: i32,
}

impl std::fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedSecret")
            .field("ciphertext_len", &self.ciphertext.len())
            .field("key_version", &self.key_version)
            .finish()
    }
}

fn secret_aad(id: Uuid) -> Vec<u8> {
    let mut aad = b"freeway/credential-secret/v1/".to_vec();
    aad.extend_from_slice(id.as_bytes());
    aad
}

fn data_key_aad(id: Uuid, version: i32) -> Vec<u8> {
    let mut aad = b"freeway/credential-data-key/v1/".to_vec();
    aad.extend_from_slice(id.as_bytes());
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

fn seal_bytes(key: &[u8; 32], plaintext: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    let cipher = Aes256Gcm::new_from_slice(key).ok()?;
    let nonce_bytes = random_bytes::<NONCE_LEN>();
    let nonce = Nonce::from(nonce_bytes);
    let sealed = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .ok()?;
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce_bytes);
    out.extend_from_slice(&sealed);
    Some(out)
}

fn open_bytes(key: &[u8; 32], sealed: &[u8], aad: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let (nonce_bytes, body) = sealed.split_at(NONCE_LEN);
    let nonce_bytes: [u8; NONCE_LEN] = nonce_bytes.try_into().ok()?;
    let cipher = Aes256Gcm::new_from_slice(key).ok()?;
    cipher
        .decrypt(&Nonce::from(nonce_bytes), Payload { msg: body, aad })
        .ok()
        .map(Zeroizing::new)
}

/// Seals `secret` for credential `id` under the keyring's current master key.
pub fn seal(keyring: &Keyring, id: Uuid, secret: &Secret) -> Result<SealedSecret, EnvelopeError> {
    let data_key = Zeroizing::new(random_bytes::<32>());
    let master = keyring.current();
    let ciphertext = seal_bytes(&data_key, secret.expose().as_bytes(), &secret_aad(id))
        .ok_or(EnvelopeError::Encrypt(id))?;
    let wrapped_key = seal_bytes(
        master.bytes(),
        &data_key[..],
        &data_key_aad(id, master.version),
    )
    .ok_or(EnvelopeError::Encrypt(id))?;
    Ok(SealedSecret {
        ciphertext,
        wrapped_key,
        key_version: master.version,
    })
}

fn unwrap_data_key(
    keyring: &Keyring,
    id: Uuid,
    sealed: &SealedSecret,
) -> Result<Zeroizing<[u8; 32]>, EnvelopeError> {
    let master = keyring.get(sealed.key_version)?;
    let bytes = open_bytes(
        master.bytes(),
        &sealed.wrapped_key,
        &data_key_aad(id, sealed.key_version),
    )
    .ok_or(EnvelopeError::Decrypt(id))?;
    let key: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| EnvelopeError::Decrypt(id))?;
    Ok(Zeroizing::new(key))
}

/// Opens the secret of credential `id`.
pub fn open(keyring: &Keyring, id: Uuid, sealed: &SealedSecret) -> Result<Secret, EnvelopeError> {
    let data_key = unwrap_data_key(keyring, id, sealed)?;
    let plaintext = open_bytes(&data_key, &sealed.ciphertext, &secret_aad(id))
        .ok_or(EnvelopeError::Decrypt(id))?;
    let text = std::str::from_utf8(&plaintext).map_err(|_| EnvelopeError::Decrypt(id))?;
    Ok(Secret::new(text))
}

/// Re-wraps the data key of credential `id` under the keyring's current master key.
/// The secret's ciphertext is not touched. Returns the new `(wrapped_key, key_version)`.
pub fn rewrap(
    keyring: &Keyring,
    id: Uuid,
    sealed: &SealedSecret,
) -> Result<(Vec<u8>, i32), EnvelopeError> {
    let data_key = unwrap_data_key(keyring, id, sealed)?;
    let master = keyring.current();
    let wrapped = seal_bytes(
        master.bytes(),
        &data_key[..],
        &data_key_aad(id, master.version),
    )
    .ok_or(EnvelopeError::Encrypt(id))?;
    Ok((wrapped, master.version))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as B64;

    fn ring(spec: &[(i32, u8)]) -> Keyring {
        let text: Vec<String> = spec
            .iter()
            .map(|(v, b)| format!("{v}:{}", B64.encode([*b; 32])))
            .collect();
        Keyring::from_config(Some(&text.join(",")), None).unwrap()
    }

    #[test]
    fn round_trip() {
        let keyring = ring(&[(1, 1)]);
        let id = Uuid::new_v4();
        let sealed = seal(&keyring, id, &Secret::new("sk-live-123456")).unwrap();
        assert_eq!(sealed.key_version, 1);
        let plaintext = b"sk-live-123456";
        assert!(
            !sealed
                .ciphertext
                .windows(plaintext.len())
                .any(|w| w == plaintext)
        );
        assert_eq!(
            open(&keyring, id, &sealed).unwrap().expose(),
            "sk-live-123456"
        );
    }

    #[test]
    fn every_seal_uses_fresh_nonces_and_keys() {
        let keyring = ring(&[(1, 1)]);
        let id = Uuid::new_v4();
        let a = seal(&keyring, id, &Secret::new("same")).unwrap();
        let b = seal(&keyring, id, &Secret::new("same")).unwrap();
        assert_ne!(a.ciphertext, b.ciphertext);
        assert_ne!(a.wrapped_key, b.wrapped_key);
    }

    #[test]
    fn a_row_swapped_onto_another_id_does_not_open() {
        let keyring = ring(&[(1, 1)]);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let sealed_a = seal(&keyring, a, &Secret::new("secret-a")).unwrap();
        assert!(matches!(
            open(&keyring, b, &sealed_a),
            Err(EnvelopeError::Decrypt(_))
        ));
        // Swapping only the ciphertext between rows fails too.
        let sealed_b = seal(&keyring, b, &Secret::new("secret-b")).unwrap();
        let mixed = SealedSecret {
            ciphertext: sealed_a.ciphertext.clone(),
            ..sealed_b.clone()
        };
        assert!(open(&keyring, b, &mixed).is_err());
    }

    #[test]
    fn tampering_and_wrong_keys_fail() {
        let keyring = ring(&[(1, 1)]);
        let id = Uuid::new_v4();
        let mut sealed = seal(&keyring, id, &Secret::new("secret")).unwrap();
        let last = sealed.ciphertext.len() - 1;
        sealed.ciphertext[last] ^= 1;
        assert!(open(&keyring, id, &sealed).is_err());

        let sealed = seal(&keyring, id, &Secret::new("secret")).unwrap();
        assert!(open(&ring(&[(1, 2)]), id, &sealed).is_err());
        // A claimed version that differs from the sealing one fails: the version is bound.
        let relabelled = SealedSecret {
            key_version: 2,
            ..sealed.clone()
        };
        assert!(open(&ring(&[(1, 1), (2, 1)]), id, &relabelled).is_err());
        let truncated = SealedSecret {
            wrapped_key: vec![0; 5],
            ..sealed
        };
        assert!(open(&keyring, id, &truncated).is_err());
    }

    #[test]
    fn rewrap_moves_to_the_new_version_and_keeps_the_ciphertext() {
        let old = ring(&[(1, 1)]);
        let id = Uuid::new_v4();
        let sealed = seal(&old, id, &Secret::new("rotating")).unwrap();
        let both = ring(&[(1, 1), (2, 2)]);
        let (wrapped, version) = rewrap(&both, id, &sealed).unwrap();
        assert_eq!(version, 2);
        let rotated = SealedSecret {
            wrapped_key: wrapped,
            key_version: version,
            ciphertext: sealed.ciphertext.clone(),
        };
        assert_eq!(open(&both, id, &rotated).unwrap().expose(), "rotating");
        assert_eq!(
            open(&ring(&[(2, 2)]), id, &rotated).unwrap().expose(),
            "rotating"
        );
        assert!(open(&old, id, &rotated).is_err());
    }
}
