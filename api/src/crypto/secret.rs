use zeroize::Zeroizing;

/// A plaintext secret in memory. `Debug` never shows it and the bytes are wiped on drop.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The plaintext, for the one place that needs it (an upstream request header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The last four characters, which admins see to tell credentials apart.
    pub fn last4(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        let start = chars.len().saturating_sub(4);
        chars[start..].iter().collect()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted_and_last4_is_short() {
        let secret = Secret::new("gsk_abcdefghijklmnop");
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert_eq!(secret.last4(), "mnop");
        assert_eq!(Secret::new("ab").last4(), "ab");
    }
}
