//! Versioned master keys. The newest version wraps new data keys; older versions stay
//! loaded so that rows not yet rotated can still be opened.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error(
        "no master key: set FREEWAY_MASTER_KEY or FREEWAY_MASTER_KEY_FILE (`freeway keys generate --file <path>` makes one)"
    )]
    Missing,
    #[error("master key {origin}: {reason}")]
    Invalid { origin: String, reason: String },
    #[error("master key file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("master key version {0} is not in the keyring")]
    UnknownVersion(i32),
}

pub struct MasterKey {
    pub version: i32,
    key: Zeroizing<[u8; 32]>,
}

impl MasterKey {
    pub fn bytes(&self) -> &[u8; 32] {
        &self.key
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey(v{}, <redacted>)", self.version)
    }
}

/// Where the keys came from, so that a running server can re-read a file that
/// `freeway keys rotate` has extended.
#[derive(Debug, Clone)]
pub enum KeySource {
    Inline,
    File(PathBuf),
}

#[derive(Debug)]
pub struct Keyring {
    current: MasterKey,
    older: BTreeMap<i32, MasterKey>,
    source: KeySource,
}

impl Keyring {
    /// From the configuration: the inline value wins over the file.
    pub fn from_config(inline: Option<&str>, file: Option<&Path>) -> Result<Self, KeyringError> {
        match (inline, file) {
            (Some(text), _) if !text.trim().is_empty() => {
                Self::build(text, "FREEWAY_MASTER_KEY", KeySource::Inline)
            }
            (_, Some(path)) => Self::load_file(path),
            _ => Err(KeyringError::Missing),
        }
    }

    pub fn load_file(path: &Path) -> Result<Self, KeyringError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyringError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::build(
            &text,
            &path.display().to_string(),
            KeySource::File(path.to_path_buf()),
        )
    }

    fn build(text: &str, origin: &str, source: KeySource) -> Result<Self, KeyringError> {
        let mut older = Self::parse(text, origin)?;
        let (_, current) = older.pop_last().ok_or_else(|| KeyringError::Invalid {
            origin: origin.to_string(),
            reason: "no keys".into(),
        })?;
        Ok(Keyring {
            current,
            older,
            source,
        })
    }

    /// Accepts `<version>:<base64>` entries separated by commas or newlines, `#` comments,
    /// or a single bare base64 key, which is version 1.
    fn parse(text: &str, origin: &str) -> Result<BTreeMap<i32, MasterKey>, KeyringError> {
        let invalid = |reason: String| KeyringError::Invalid {
            origin: origin.to_string(),
            reason,
        };
        let mut keys = BTreeMap::new();
        let entries = text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty() && !e.starts_with('#'));
        for (index, entry) in entries.enumerate() {
            let (version, encoded) = match entry.split_once(':') {
                Some((v, k)) => {
                    let version: i32 =
                        v.trim().trim_start_matches('v').parse().map_err(|_| {
                            invalid(format!("entry {} has a bad version", index + 1))
                        })?;
                    (version, k.trim())
                }
                None => (1, entry),
            };
            if version < 1 {
                return Err(invalid("versions start at 1".into()));
            }
            let decoded = Zeroizing::new(
                B64.decode(encoded)
                    .map_err(|_| invalid(format!("version {version} is not valid base64")))?,
            );
            let key: [u8; 32] = decoded.as_slice().try_into().map_err(|_| {
                invalid(format!(
                    "version {version} must decode to 32 bytes, not {}",
                    decoded.len()
                ))
            })?;
            let previous = keys.insert(
                version,
                MasterKey {
                    version,
                    key: Zeroizing::new(key),
                },
            );
            if previous.is_some() {
                return Err(invalid(format!("version {version} appears twice")));
            }
        }
        Ok(keys)
    }

    /// The key that wraps new data keys: the highest version.
    pub fn current(&self) -> &MasterKey {
        &self.current
    }

    pub fn get(&self, version: i32) -> Result<&MasterKey, KeyringError> {
        if version == self.current.version {
            return Ok(&self.current);
        }
        self.older
            .get(&version)
            .ok_or(KeyringError::UnknownVersion(version))
    }

    pub fn versions(&self) -> Vec<i32> {
        let mut versions: Vec<i32> = self.older.keys().copied().collect();
        versions.push(self.current.version);
        versions
    }

    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// Re-reads the key file; inline keys cannot change while the process runs.
    pub fn reload(&self) -> Result<Option<Keyring>, KeyringError> {
        match &self.source {
            KeySource::File(path) => Self::load_file(path).map(Some),
            KeySource::Inline => Ok(None),
        }
    }

    /// Creates a key file with one fresh version-1 key, readable by the owner only.
    /// Returns false, changing nothing, when the file already exists.
    pub fn generate_file(path: &Path) -> Result<bool, KeyringError> {
        if path.exists() {
            Self::load_file(path)?;
            return Ok(false);
        }
        let line = format!(
            "# Freeway master keys: <version>:<base64 of 32 random bytes>. Keep this file secret.\n1:{}\n",
            B64.encode(super::random_bytes::<32>())
        );
        write_private(path, line.as_bytes())?;
        Ok(true)
    }

    /// Appends a fresh key under the next version to the key file and returns the new
    /// keyring. The file is replaced atomically so a reader never sees half a line.
    pub fn add_version_to_file(path: &Path) -> Result<Keyring, KeyringError> {
        let current = Self::load_file(path)?;
        let next = current.current().version + 1;
        let mut text = std::fs::read_to_string(path).map_err(|source| KeyringError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!(
            "{next}:{}\n",
            B64.encode(super::random_bytes::<32>())
        ));
        let text = Zeroizing::new(text);
        let tmp = path.with_extension("tmp");
        write_private(&tmp, text.as_bytes())?;
        std::fs::rename(&tmp, path).map_err(|source| KeyringError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::load_file(path)
    }
}

pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyringError> {
    let io = |source| KeyringError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key(byte: u8) -> String {
        B64.encode([byte; 32])
    }

    #[test]
    fn parses_bare_and_versioned_keys() {
        let ring = Keyring::from_config(Some(&key(1)), None).unwrap();
        assert_eq!(ring.versions(), vec![1]);
        let ring =
            Keyring::from_config(Some(&format!("1:{}, v3:{}", key(1), key(3))), None).unwrap();
        assert_eq!(ring.versions(), vec![1, 3]);
        assert_eq!(ring.current().version, 3);
        assert_eq!(ring.current().bytes(), &[3u8; 32]);
    }

    #[test]
    fn rejects_bad_keys_without_echoing_them() {
        let short = B64.encode([7u8; 16]);
        let err = Keyring::from_config(Some(&short), None).unwrap_err();
        assert!(err.to_string().contains("32 bytes"));
        assert!(!err.to_string().contains(&short));
        assert!(Keyring::from_config(Some("1:!!!"), None).is_err());
        assert!(Keyring::from_config(Some(&format!("1:{},1:{}", key(1), key(2))), None).is_err());
        assert!(matches!(
            Keyring::from_config(None, None),
            Err(KeyringError::Missing)
        ));
    }

    #[test]
    fn generates_private_files_and_adds_versions() {
        let dir = std::env::temp_dir().join(format!("freeway-keyring-{}", uuid::Uuid::new_v4()));
        let path = dir.join("master.key");
        assert!(Keyring::generate_file(&path).unwrap());
        assert!(!Keyring::generate_file(&path).unwrap());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let first = Keyring::load_file(&path).unwrap();
        let second = Keyring::add_version_to_file(&path).unwrap();
        assert_eq!(second.versions(), vec![1, 2]);
        assert_eq!(
            second.get(1).unwrap().bytes(),
            first.get(1).unwrap().bytes()
        );
        assert_ne!(
            second.get(2).unwrap().bytes(),
            first.get(1).unwrap().bytes()
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn debug_hides_key_material() {
        let ring = Keyring::from_config(Some(&key(9)), None).unwrap();
        let printed = format!("{ring:?}");
        assert!(printed.contains("redacted"));
        assert!(!printed.contains("9, 9"));
    }
}
