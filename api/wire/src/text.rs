//! The rules for names and other short texts, shared by the server (which enforces them),
//! the OpenAPI document (which states them as `maxLength` and `pattern`) and the UI.
//!
//! A name is 1 to `max` characters with at least one that is not white space and none that
//! is a control character (Postgres cannot store NUL; the others only hide in logs). The
//! server stores it trimmed.

/// The JSON Schema `pattern` of a name: no control character, at least one non-space.
pub const NAME_PATTERN: &str =
    r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$";

/// The JSON Schema `pattern` of free text that may be empty: no NUL.
pub const TEXT_PATTERN: &str = r"^[^\x00]*$";

/// Why a text was refused; the caller names the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextError {
    Blank,
    TooLong(usize),
    Control,
}

impl TextError {
    /// A sentence naming `field`.
    pub fn message(self, field: &str) -> String {
        match self {
            TextError::Blank => format!("`{field}` must not be blank."),
            TextError::TooLong(max) => format!("`{field}` takes at most {max} characters."),
            TextError::Control => format!("`{field}` must not contain control characters."),
        }
    }
}

/// Checks a name against [`NAME_PATTERN`] and `max` characters; returns it trimmed.
pub fn name(text: &str, max: usize) -> Result<&str, TextError> {
    if text.chars().any(char::is_control) {
        return Err(TextError::Control);
    }
    if text.chars().count() > max {
        return Err(TextError::TooLong(max));
    }
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(TextError::Blank);
    }
    Ok(trimmed)
}

/// Checks free text against [`TEXT_PATTERN`] and `max` characters.
pub fn text(text: &str, max: usize) -> Result<&str, TextError> {
    if text.contains('\0') {
        return Err(TextError::Control);
    }
    if text.chars().count() > max {
        return Err(TextError::TooLong(max));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_bounded_and_free_of_control_characters() {
        assert_eq!(name("  research ", 200), Ok("research"));
        assert_eq!(name("   ", 200), Err(TextError::Blank));
        assert_eq!(name("", 200), Err(TextError::Blank));
        assert_eq!(name("a\0b", 200), Err(TextError::Control));
        assert_eq!(name("a\u{85}b", 200), Err(TextError::Control));
        assert_eq!(name(&"é".repeat(200), 200).map(str::len), Ok(400));
        assert_eq!(name(&"é".repeat(201), 200), Err(TextError::TooLong(200)));
        assert_eq!(text("", 10), Ok(""));
        assert_eq!(text("\0", 10), Err(TextError::Control));
    }
}
