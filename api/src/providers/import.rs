//! Reading a file of provider keys for a bulk import: a `.env`, JSON or CSV, mapped to the
//! providers the pool has. Nothing here touches the database or the network; a file that
//! cannot be read whole is an error naming its line or entry, so nothing is imported.
//!
//! Spellings accepted in a `.env` (`export ` prefixes, `#` comments and quotes allowed):
//! - `GROQ_API_KEY=k`, and more keys as `GROQ_API_KEY_2=k`, `GROQ_API_KEY2=k` or the same
//!   line repeated; `GROQ_API_KEYS=k1,k2` (commas or spaces) holds several.
//! - Any provider as its name upper-cased (`-` as `_`) followed by `_API_KEY`, `_API_TOKEN`,
//!   `_KEY` or `_TOKEN`, plus the aliases in [`ALIASES`] (`GEMINI_API_KEY`, `GOOGLE_API_KEY`,
//!   `GITHUB_TOKEN`, `CF_API_TOKEN`, `HF_TOKEN`, ...).
//! - Cloudflare needs `account_id:token`: a token without a colon takes the account from
//!   `CLOUDFLARE_ACCOUNT_ID` or `CF_ACCOUNT_ID` in the same file, or is reported invalid.
//!
//! JSON: `{"groq": ["k1", "k2"], "GEMINI_API_KEY": "k3"}` or
//! `[{"provider": "groq", "key": "k", "name": "alice"}]`. CSV: a header naming `provider`
//! and `key` (or `secret`) and optionally `name`, in any order.

use serde_json::Value;

use crate::crypto::Secret;

/// Env-var names (and provider spellings) that are not the provider's name + `_API_KEY`.
pub const ALIASES: &[(&str, &str)] = &[
    ("GEMINI_API_KEY", "gemini"),
    ("GOOGLE_API_KEY", "gemini"),
    ("GOOGLE_AI_API_KEY", "gemini"),
    ("GOOGLE", "gemini"),
    ("GITHUB_TOKEN", "github"),
    ("GH_TOKEN", "github"),
    ("GITHUB_MODELS_TOKEN", "github"),
    ("GITHUB_MODELS", "github"),
    ("CF_API_TOKEN", "cloudflare"),
    ("CLOUDFLARE_API_TOKEN", "cloudflare"),
    ("CF", "cloudflare"),
    ("NVIDIA_NIM_API_KEY", "nvidia"),
    ("NGC_API_KEY", "nvidia"),
    ("CO_API_KEY", "cohere"),
    ("HF_TOKEN", "huggingface"),
    ("HUGGING_FACE_HUB_TOKEN", "huggingface"),
    ("HF", "huggingface"),
    ("OLLAMA_API_KEY", "ollama-cloud"),
    ("OLLAMA", "ollama-cloud"),
    ("OPENCODE_API_KEY", "opencode-zen"),
    ("OPENCODE", "opencode-zen"),
    ("ZHIPUAI_API_KEY", "zhipu"),
    ("ZAI_API_KEY", "zhipu"),
];

/// Variables that hold Cloudflare's account id, not a key.
const CLOUDFLARE_ACCOUNT: &[&str] = &["CLOUDFLARE_ACCOUNT_ID", "CF_ACCOUNT_ID"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Env,
    Json,
    Csv,
}

impl Format {
    /// From the file name's extension, else from the text: JSON starts with `{` or `[`, CSV
    /// with a header naming `provider`.
    pub fn detect(file_name: Option<&str>, text: &str) -> Format {
        let ext = file_name
            .and_then(|n| n.rsplit_once('.'))
            .map(|(_, e)| e.to_ascii_lowercase());
        match ext.as_deref() {
            Some("json") => return Format::Json,
            Some("csv") => return Format::Csv,
            Some("env") => return Format::Env,
            _ => {}
        }
        let start = text.trim_start();
        let first = start.lines().next().unwrap_or("").to_ascii_lowercase();
        if start.starts_with('{') || start.starts_with('[') {
            Format::Json
        } else if first.split(',').any(|c| c.trim() == "provider") {
            Format::Csv
        } else {
            Format::Env
        }
    }
}

/// One key found in the file.
#[derive(Debug)]
pub struct Entry {
    /// Where: `line 3` or `entry 2`.
    pub at: String,
    /// As written: the variable, or the provider given.
    pub source: String,
    /// The pool's provider it maps to; `None` when nothing does.
    pub provider: Option<String>,
    pub name: String,
    pub secret: Secret,
    /// Why it cannot be imported as it is (an empty value, Cloudflare without an account).
    pub problem: Option<String>,
}

/// A file that cannot be read whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {message}")]
pub struct ParseError {
    pub at: String,
    pub message: String,
}

fn error(at: impl Into<String>, message: impl Into<String>) -> ParseError {
    ParseError {
        at: at.into(),
        message: message.into(),
    }
}

/// Every key in `text`, mapped to the providers named in `known`.
pub fn parse(text: &str, format: Format, known: &[String]) -> Result<Vec<Entry>, ParseError> {
    let mut entries = match format {
        Format::Env => parse_env(text, known)?,
        Format::Json => parse_json(text, known)?,
        Format::Csv => parse_csv(text, known)?,
    };
    for entry in &mut entries {
        if entry.problem.is_none() && entry.secret.expose().is_empty() {
            entry.problem = Some("The key is empty.".into());
        }
        if entry.problem.is_none()
            && entry.provider.as_deref() == Some("cloudflare")
            && !entry.secret.expose().contains(':')
        {
            entry.problem = Some(
                "Cloudflare needs `account_id:token`: add CLOUDFLARE_ACCOUNT_ID to the file \
                 or write the key as account_id:token."
                    .into(),
            );
        }
    }
    Ok(entries)
}

/// The provider a variable's name stands for: `GROQ_API_KEY_2` and `GROQ_API_KEYS` are groq.
pub fn provider_for_var(var: &str, known: &[String]) -> Option<String> {
    let upper = var.trim().to_ascii_uppercase();
    let base = upper.trim_end_matches(|c: char| c.is_ascii_digit());
    let base = base.strip_suffix('_').unwrap_or(base);
    let base = base
        .strip_suffix("KEYS")
        .map(|b| format!("{b}KEY"))
        .or_else(|| base.strip_suffix("TOKENS").map(|b| format!("{b}TOKEN")))
        .unwrap_or_else(|| base.to_string());
    if let Some((_, provider)) = ALIASES.iter().find(|(alias, _)| *alias == base) {
        return known.iter().find(|k| k == provider).cloned();
    }
    known
        .iter()
        .find(|k| {
            let stem = k.to_ascii_uppercase().replace('-', "_");
            ["_API_KEY", "_API_TOKEN", "_KEY", "_TOKEN"]
                .iter()
                .any(|suffix| base == format!("{stem}{suffix}"))
        })
        .cloned()
}

/// A provider as written in JSON or CSV: its name, an alias, or an env-var name.
pub fn provider_named(written: &str, known: &[String]) -> Option<String> {
    let lower = written.trim().to_ascii_lowercase();
    if let Some(k) = known.iter().find(|k| **k == lower) {
        return Some(k.clone());
    }
    let upper = lower.to_ascii_uppercase().replace('-', "_");
    if let Some((_, provider)) = ALIASES.iter().find(|(alias, _)| *alias == upper) {
        return known.iter().find(|k| k == provider).cloned();
    }
    provider_for_var(written, known)
}

fn parse_env(text: &str, known: &[String]) -> Result<Vec<Entry>, ParseError> {
    let mut entries = Vec::new();
    let mut account: Option<String> = None;
    for (index, raw) in text.lines().enumerate() {
        let at = format!("line {}", index.saturating_add(1));
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let Some((var, value)) = line.split_once('=') else {
            return Err(error(at, "expected NAME=value"));
        };
        let var = var.trim();
        let valid_name = var
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            return Err(error(at, "the variable's name is not a valid name"));
        }
        let value = env_value(value.trim()).map_err(|m| error(at.clone(), m))?;
        if CLOUDFLARE_ACCOUNT.contains(&var.to_ascii_uppercase().as_str()) {
            account = Some(value);
            continue;
        }
        let provider = provider_for_var(var, known);
        let upper = var.to_ascii_uppercase();
        let plural = upper.ends_with("KEYS") || upper.ends_with("TOKENS");
        let values: Vec<&str> = if plural {
            value
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|v| !v.is_empty())
                .collect()
        } else {
            vec![value.as_str()]
        };
        let several = values.len() > 1;
        for (i, v) in values.into_iter().enumerate() {
            let name = if several {
                format!("{var} #{}", i.saturating_add(1))
            } else {
                var.to_string()
            };
            entries.push(Entry {
                at: at.clone(),
                source: var.to_string(),
                provider: provider.clone(),
                name,
                secret: Secret::new(v),
                problem: None,
            });
        }
    }
    if let Some(account) = account.filter(|a| !a.is_empty()) {
        for entry in &mut entries {
            if entry.provider.as_deref() == Some("cloudflare")
                && !entry.secret.expose().is_empty()
                && !entry.secret.expose().contains(':')
            {
                entry.secret = Secret::new(format!("{account}:{}", entry.secret.expose()));
            }
        }
    }
    Ok(entries)
}

/// A value with its quotes and trailing comment taken off.
fn env_value(value: &str) -> Result<String, String> {
    for quote in ['"', '\''] {
        if let Some(rest) = value.strip_prefix(quote) {
            let Some(end) = rest.find(quote) else {
                return Err(format!("unterminated {quote} quote"));
            };
            let after = rest[end..].trim_start_matches(quote).trim();
            if !after.is_empty() && !after.starts_with('#') {
                return Err("text after the closing quote".into());
            }
            return Ok(rest[..end].to_string());
        }
    }
    let value = match value.find(" #") {
        Some(comment) => &value[..comment],
        None => value,
    };
    Ok(value.trim().to_string())
}

fn parse_json(text: &str, known: &[String]) -> Result<Vec<Entry>, ParseError> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        error(
            format!("line {}", e.line()),
            format!("not valid JSON ({e})")
                .replace(&format!(" at line {} column {}", e.line(), e.column()), ""),
        )
    })?;
    let mut entries = Vec::new();
    match value {
        Value::Object(map) => {
            for (written, keys) in map {
                let provider = provider_named(&written, known);
                let keys = match keys {
                    Value::String(k) => vec![k],
                    Value::Array(items) => items
                        .into_iter()
                        .map(|k| match k {
                            Value::String(k) => Ok(k),
                            _ => Err(error(
                                format!("entry {written:?}"),
                                "every key must be a string",
                            )),
                        })
                        .collect::<Result<_, _>>()?,
                    _ => {
                        return Err(error(
                            format!("entry {written:?}"),
                            "expected a key or a list of keys",
                        ));
                    }
                };
                for (i, key) in keys.into_iter().enumerate() {
                    entries.push(Entry {
                        at: format!("entry {written:?}[{}]", i.saturating_add(1)),
                        source: written.clone(),
                        provider: provider.clone(),
                        name: String::new(),
                        secret: Secret::new(key.trim()),
                        problem: None,
                    });
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.into_iter().enumerate() {
                let at = format!("entry {}", i.saturating_add(1));
                let field = |name: &str| item.get(name).and_then(Value::as_str);
                let (Some(written), Some(key)) =
                    (field("provider"), field("key").or_else(|| field("secret")))
                else {
                    return Err(error(
                        at,
                        "expected an object with string fields `provider` and `key`",
                    ));
                };
                entries.push(Entry {
                    source: written.to_string(),
                    provider: provider_named(written, known),
                    name: field("name").unwrap_or("").trim().to_string(),
                    secret: Secret::new(key.trim()),
                    problem: None,
                    at,
                });
            }
        }
        _ => return Err(error("line 1", "expected a JSON object or array")),
    }
    Ok(entries)
}

fn parse_csv(text: &str, known: &[String]) -> Result<Vec<Entry>, ParseError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (format!("line {}", i.saturating_add(1)), l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let Some((at, header)) = lines.next() else {
        return Ok(Vec::new());
    };
    let header: Vec<String> = csv_fields(header)
        .map_err(|m| error(at.clone(), m))?
        .into_iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let column = |names: &[&str]| header.iter().position(|h| names.contains(&h.as_str()));
    let (Some(provider_at), Some(key_at)) = (column(&["provider"]), column(&["key", "secret"]))
    else {
        return Err(error(at, "the header must name `provider` and `key`"));
    };
    let name_at = column(&["name"]);
    let mut entries = Vec::new();
    for (at, line) in lines {
        let fields = csv_fields(line).map_err(|m| error(at.clone(), m))?;
        if fields.len() != header.len() {
            return Err(error(
                at,
                format!("{} field(s), the header has {}", fields.len(), header.len()),
            ));
        }
        let written = fields[provider_at].clone();
        entries.push(Entry {
            provider: provider_named(&written, known),
            source: written,
            name: name_at.map(|n| fields[n].clone()).unwrap_or_default(),
            secret: Secret::new(fields[key_at].as_str()),
            problem: None,
            at,
        });
    }
    Ok(entries)
}

/// One CSV line's fields, trimmed; double quotes may hold commas (`""` is a quote).
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', true) => quoted = false,
            ('"', false) if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            (',', false) => fields.push(std::mem::take(&mut field).trim().to_string()),
            (c, _) => field.push(c),
        }
    }
    if quoted {
        return Err("unterminated \" quote".into());
    }
    fields.push(field.trim().to_string());
    Ok(fields)
}

#[cfg(test)]
mod tests;
