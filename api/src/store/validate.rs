//! Input checks that every door shares: the store runs them before writing, so the CLI and
//! the admin API refuse the same values with the same words. Errors name the field.

use chrono::{DateTime, Datelike, Utc};
use freeway_wire::mappings::MAPPING_MAX_CHARS;
use serde_json::Value;

use super::StoreError;
use super::limits::LimitColumns;
use crate::crypto::Secret;

/// Text Postgres can store: no NUL character.
pub fn text<'a>(field: &str, value: &'a str) -> Result<&'a str, StoreError> {
    if value.contains('\0') {
        return Err(StoreError::invalid(
            field,
            format!("`{field}` must not contain NUL characters."),
        ));
    }
    Ok(value)
}

/// A name by the rules the API documents ([`freeway_wire::text::NAME_PATTERN`]): 1 to `max`
/// characters, not blank, no control characters; returned trimmed.
pub fn name<'a>(field: &str, value: &'a str, max: usize) -> Result<&'a str, StoreError> {
    freeway_wire::text::name(value, max).map_err(|e| StoreError::invalid(field, e.message(field)))
}

/// An optional label of at most `max` printable characters, trimmed.
pub fn label(field: &str, value: &str, max: usize) -> Result<String, StoreError> {
    if value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(StoreError::invalid(
            field,
            format!("`{field}` is at most {max} printable characters."),
        ));
    }
    Ok(value.trim().to_string())
}

/// `user@host` without spaces or control characters, at most 320 characters.
pub fn email(value: &str) -> Result<&str, StoreError> {
    let plain = |part: &str| {
        !part.is_empty()
            && !part
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '@')
    };
    match value.split_once('@') {
        Some((user, host))
            if plain(user)
                && plain(host)
                && value.chars().count() <= freeway_wire::tenants::EMAIL_MAX_CHARS =>
        {
            Ok(value)
        }
        _ => Err(StoreError::invalid(
            "email",
            "`email` must look like an email address.",
        )),
    }
}

/// A list of model ids: at most 100, each 1 to 200 characters.
pub fn model_ids(field: &str, models: Option<&[String]>) -> Result<(), StoreError> {
    let Some(models) = models else {
        return Ok(());
    };
    use freeway_wire::tenants::{MODEL_ID_MAX_CHARS, MODELS_MAX};
    if models.len() > MODELS_MAX
        || models
            .iter()
            .any(|m| freeway_wire::text::name(m, MODEL_ID_MAX_CHARS).is_err())
    {
        return Err(StoreError::invalid(
            field,
            format!(
                "`{field}` takes at most {MODELS_MAX} model ids of 1 to {MODEL_ID_MAX_CHARS} characters without control characters."
            ),
        ));
    }
    Ok(())
}

/// What `base_url` must look like, as the API documents it: http(s), a host of letters,
/// digits, `.` and `-`, an optional port, then a path without spaces, control characters,
/// `?` or `#`.
pub const BASE_URL_PATTERN: &str =
    r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s\x00-\x1f\x7f-\x9f?#]*)?$";

/// [`BASE_URL_PATTERN`], checked without a regex engine.
fn fits_base_url_pattern(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return false;
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && port.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
        && !path
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
}

/// A base URL must fit [`BASE_URL_PATTERN`]; the trailing slash is dropped so that
/// `{base}/chat/completions` is well formed.
pub fn base_url(url: &str) -> Result<String, StoreError> {
    if !fits_base_url_pattern(url) {
        return Err(StoreError::invalid(
            "base_url",
            "`base_url` must be an http:// or https:// URL with a host.",
        ));
    }
    let refused = || {
        StoreError::invalid(
            "base_url",
            "`base_url` must be an http:// or https:// URL with a host.",
        )
    };
    let trimmed = text("base_url", url)?.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .ok_or_else(refused)?;
    if rest.is_empty() || rest.starts_with('/') || rest.contains(char::is_whitespace) {
        return Err(refused());
    }
    Ok(trimmed.to_string())
}

/// A provider name: clients pin it as `provider/model`.
pub fn provider_name(name: &str) -> Result<String, StoreError> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if first_ok && rest_ok && name.len() <= 63 {
        Ok(name.to_string())
    } else {
        Err(StoreError::invalid(
            "name",
            "A provider name is 1 to 63 lowercase letters, digits, '.', '_' or '-', starting \
             with a letter or digit.",
        ))
    }
}

/// A priority: lower is tried first.
pub fn priority(priority: i32) -> Result<i32, StoreError> {
    if (0..=1_000_000).contains(&priority) {
        Ok(priority)
    } else {
        Err(StoreError::invalid(
            "priority",
            "`priority` must be between 0 and 1000000.",
        ))
    }
}

/// A per-attempt timeout.
pub fn timeout_ms(ms: i64) -> Result<i32, StoreError> {
    match i32::try_from(ms) {
        Ok(ms) if (1..=600_000).contains(&ms) => Ok(ms),
        _ => Err(StoreError::invalid(
            "timeout_ms",
            "`timeout_ms` must be between 1 and 600000.",
        )),
    }
}

/// An IANA zone, in its canonical spelling.
pub fn time_zone(tz: &str) -> Result<String, StoreError> {
    tz.parse::<chrono_tz::Tz>()
        .map(|tz| tz.name().to_string())
        .map_err(|_| {
            StoreError::invalid(
                "daily_reset_tz",
                "`daily_reset_tz` must be an IANA time zone such as `UTC` or `America/Los_Angeles`.",
            )
        })
}

/// Pool limits (providers, models, credentials, routes): at least 1, or none.
pub fn pool_limits(field: &str, limits: &LimitColumns) -> Result<(), StoreError> {
    let values = [
        ("rpm", limits.rpm.map(i64::from), i64::from(i32::MAX)),
        ("rph", limits.rph.map(i64::from), i64::from(i32::MAX)),
        ("rpd", limits.rpd.map(i64::from), i64::from(i32::MAX)),
        ("tpm", limits.tpm, i64::MAX),
        ("tpd", limits.tpd, i64::MAX),
    ];
    for (name, value, max) in values {
        if value.is_some_and(|v| v < 1) {
            return Err(StoreError::invalid(
                &format!("{field}.{name}"),
                format!("`{field}.{name}` must be between 1 and {max}, or null for no limit."),
            ));
        }
    }
    Ok(())
}

/// A count in a quota: 0 or more, or none.
pub fn count(field: &str, value: Option<i64>, max: i64) -> Result<Option<i64>, StoreError> {
    match value {
        Some(v) if !(0..=max).contains(&v) => Err(StoreError::invalid(
            field,
            format!("`{field}` must be between 0 and {max}."),
        )),
        other => Ok(other),
    }
}

/// A routing profile's name, which clients request as `model`.
pub fn profile_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(StoreError::invalid(
            "name",
            "A profile name is 1 to 100 letters, digits, '.', '_', ':' or '-'.",
        ))
    }
}

/// A model-name mapping's pattern, which `*` widens to any run of characters.
pub fn mapping_pattern(pattern: &str) -> Result<&str, StoreError> {
    mapping_name(pattern, true).ok_or_else(|| {
        StoreError::invalid(
            "pattern",
            format!(
                "`pattern` is 1 to {MAPPING_MAX_CHARS} characters without white space or \
                 control characters; `*` matches any run of characters."
            ),
        )
    })
}

/// The name a mapping resolves to: a model id, `provider/model`, a profile, an alias or a
/// family; never a pattern.
pub fn mapping_target(target: &str) -> Result<&str, StoreError> {
    mapping_name(target, false).ok_or_else(|| {
        StoreError::invalid(
            "target",
            format!(
                "`target` is a model name of 1 to {MAPPING_MAX_CHARS} characters without white \
                 space, control characters or `*`."
            ),
        )
    })
}

/// `value`, when it fits [`freeway_wire::mappings::PATTERN_PATTERN`] (`star`) or
/// [`freeway_wire::mappings::TARGET_PATTERN`].
fn mapping_name(value: &str, star: bool) -> Option<&str> {
    let refused = |c: char| c.is_whitespace() || c.is_control() || (!star && c == '*');
    let fits = !value.is_empty()
        && value.chars().count() <= MAPPING_MAX_CHARS
        && !value.chars().any(refused);
    fits.then_some(value)
}

/// `[a-z0-9_.]{1,64}`.
pub fn setting_key(key: &str) -> Result<(), StoreError> {
    let valid = (1..=64).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
    if valid {
        Ok(())
    } else {
        Err(StoreError::invalid(
            "key",
            "A setting key is 1 to 64 of a-z, 0-9, `_` and `.`.",
        ))
    }
}

/// A provider secret. Never echoed.
pub fn secret(secret: &str) -> Result<Secret, StoreError> {
    // Not trimmed: the document's bounds are on the value as sent.
    let count = secret.chars().count();
    if !(8..=4096).contains(&count) || secret.chars().any(char::is_control) {
        return Err(StoreError::invalid(
            "secret",
            "`secret` must be 8 to 4096 printable characters.",
        ));
    }
    Ok(Secret::new(secret))
}

/// A time Postgres can store (4713 BC to 294276 AD).
pub fn timestamp(field: &str, at: Option<DateTime<Utc>>) -> Result<(), StoreError> {
    match at {
        Some(at) if !(-4712..=294_275).contains(&at.year()) => Err(StoreError::invalid(
            field,
            format!("`{field}` is out of range."),
        )),
        _ => Ok(()),
    }
}

/// A JSON value Postgres can store: no NUL character in any string or key.
pub fn json(field: &str, value: &Value) -> Result<(), StoreError> {
    match value {
        Value::String(s) => text(field, s).map(drop),
        Value::Array(items) => items.iter().try_for_each(|v| json(field, v)),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            text(field, k)?;
            json(field, v)
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn field(error: StoreError) -> String {
        match error {
            StoreError::Invalid { field, .. } => field,
            other => format!("not invalid: {other}"),
        }
    }

    #[test]
    fn base_urls_are_checked_and_normalised() {
        assert_eq!(
            base_url("https://api.groq.com/openai/v1/").unwrap(),
            "https://api.groq.com/openai/v1"
        );
        assert!(base_url("http://127.0.0.1:8000/v1").is_ok());
        for bad in [
            "ftp://x",
            "api.groq.com",
            "https://",
            "https:///v1",
            "http://a b",
            "http://a\0b",
        ] {
            assert!(base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn nul_characters_are_refused_naming_the_field() {
        assert_eq!(field(name("name", "a\0b", 200).unwrap_err()), "name");
        assert_eq!(field(email("a\0@b").unwrap_err()), "email");
        let models = vec!["ok".to_string(), "x\0".to_string()];
        assert_eq!(
            field(model_ids("allowed_models", Some(&models)).unwrap_err()),
            "allowed_models"
        );
        let value = serde_json::json!({"a": ["b", {"c\u{0}": 1}]});
        assert_eq!(field(json("value", &value).unwrap_err()), "value");
        assert!(json("value", &serde_json::json!({"a": "b"})).is_ok());
    }

    #[test]
    fn mapping_patterns_and_targets_are_names_without_spaces_and_targets_without_stars() {
        for good in [
            "claude-*",
            "*-haiku-*",
            "*",
            "gpt-4o",
            "a/b*",
            &"x".repeat(200),
        ] {
            assert_eq!(mapping_pattern(good).unwrap(), good);
        }
        for bad in [
            "",
            " claude-*",
            "claude *",
            "a\tb",
            "a\0b",
            "a\u{85}",
            &"x".repeat(201),
        ] {
            assert_eq!(
                field(mapping_pattern(bad).unwrap_err()),
                "pattern",
                "{bad:?}"
            );
        }
        for good in [
            "auto",
            "groq/llama-3.3-70b-versatile",
            "fast",
            &"é".repeat(200),
        ] {
            assert_eq!(mapping_target(good).unwrap(), good);
        }
        for bad in ["", "claude-*", "*", "a b", "a\nb", &"x".repeat(201)] {
            assert_eq!(field(mapping_target(bad).unwrap_err()), "target", "{bad:?}");
        }
    }

    #[test]
    fn names_follow_the_database_rules() {
        for good in ["groq", "my-vllm", "a", "0.x_y-z"] {
            assert!(provider_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Groq", "-x", "a/b", "a b", &"x".repeat(64)] {
            assert!(provider_name(bad).is_err(), "{bad}");
        }
        assert!(time_zone("Europe/Paris").is_ok());
        assert!(time_zone("Mars/Olympus").is_err());
        assert!(timeout_ms(0).is_err());
        assert_eq!(name("name", "  bob ", 200).unwrap(), "bob");
        assert!(name("name", "   ", 200).is_err());
        use chrono::TimeZone;
        let ancient = Utc.with_ymd_and_hms(-5000, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(
            field(timestamp("expires_at", Some(ancient)).unwrap_err()),
            "expires_at"
        );
        assert!(timestamp("expires_at", Some(Utc::now())).is_ok());
    }
}
