//! A JSON request body parsed once, its top-level fields kept as the bytes the client sent.
//! The body forwarded upstream is written from those bytes with only the fields Freeway sets
//! (the model id, a stream's usage option, a handed-off conversation) replaced: nothing the
//! client sent is re-serialised, however large its conversation or tool list.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::error::Category;
use serde_json::value::RawValue;

use crate::gateway::ApiError;

pub struct RawBody {
    body: Bytes,
    /// Top-level fields in key order, as spans of `body`. A repeated key keeps its last
    /// value, as `serde_json::Value` does.
    fields: Vec<(String, Range<usize>)>,
}

impl RawBody {
    /// Parses a body that must be a JSON object.
    pub fn parse(body: Bytes) -> Result<Self, ApiError> {
        let map: BTreeMap<Cow<'_, str>, &RawValue> =
            serde_json::from_slice(&body).map_err(|e| match e.classify() {
                Category::Data => {
                    ApiError::invalid("invalid_request", "The request body must be a JSON object.")
                }
                _ => ApiError::invalid(
                    "invalid_json",
                    format!("The request body is not valid JSON: {e}."),
                ),
            })?;
        let base = body.as_ptr() as usize;
        let fields = map
            .into_iter()
            .filter_map(|(key, value)| {
                // A borrowed raw value is a slice of `body` itself.
                let start = (value.get().as_ptr() as usize).checked_sub(base)?;
                Some((key.into_owned(), start..start + value.get().len()))
            })
            .collect();
        Ok(RawBody { body, fields })
    }

    /// The JSON text of a field, as sent.
    pub fn raw(&self, name: &str) -> Option<&[u8]> {
        let (_, span) = self.fields.iter().find(|(key, _)| key == name)?;
        self.body.get(span.clone())
    }

    /// A field parsed as `T`; `Ok(None)` when absent.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, serde_json::Error> {
        self.raw(name).map(serde_json::from_slice).transpose()
    }

    /// The body with `set` fields (name, JSON text) in place of those sent, or added.
    pub fn write(&self, set: &[(&str, &[u8])]) -> Vec<u8> {
        let extra: usize = set.iter().map(|(k, v)| k.len() + v.len() + 4).sum();
        let mut out = Vec::with_capacity(self.body.len() + extra + 2);
        out.push(b'{');
        let mut first = true;
        let mut field = |out: &mut Vec<u8>, key: &str, value: &[u8]| {
            if !first {
                out.push(b',');
            }
            first = false;
            // A key is a JSON string; writing one into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, key);
            out.push(b':');
            out.extend_from_slice(value);
        };
        for (key, value) in set {
            field(&mut out, key, value);
        }
        for (key, span) in &self.fields {
            if set.iter().any(|(name, _)| name == key) {
                continue;
            }
            if let Some(value) = self.body.get(span.clone()) {
                field(&mut out, key, value);
            }
        }
        out.push(b'}');
        out
    }
}

/// The length of `json` without the whitespace between its tokens: what serialising its
/// value compactly would give, without parsing it.
pub fn compact_len(json: &[u8]) -> usize {
    let (mut len, mut in_string, mut escaped) = (0, false, false);
    for &byte in json {
        if in_string {
            len += 1;
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if !byte.is_ascii_whitespace() {
            len += 1;
            in_string = byte == b'"';
        }
    }
    len
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn fields_are_forwarded_byte_for_byte_with_only_the_set_ones_replaced() {
        let sent = br#"{ "model" : "a", "temperature":0.10, "x":{"k" : [1, 2]}, "model":"b" }"#;
        let body = RawBody::parse(Bytes::from_static(sent)).unwrap();
        assert_eq!(body.raw("temperature"), Some(&b"0.10"[..]));
        assert_eq!(body.get::<String>("model").unwrap().as_deref(), Some("b"));
        let written = body.write(&[("model", br#""up""#)]);
        assert_eq!(
            String::from_utf8(written).unwrap(),
            r#"{"model":"up","temperature":0.10,"x":{"k" : [1, 2]}}"#
        );
    }

    #[test]
    fn not_an_object_and_not_json_are_told_apart() {
        let code = |b: &'static [u8]| RawBody::parse(Bytes::from_static(b)).err().unwrap();
        assert_eq!(code(b"[1]").code(), "invalid_request");
        assert_eq!(code(b"{\"a\":").code(), "invalid_json");
        assert_eq!(code(b"").code(), "invalid_json");
    }

    #[test]
    fn compact_length_matches_serialising_the_value() {
        let pretty = "{\n  \"a\": [ 1, 2 ],\n  \"b\": \"x y \\\" z\"\n}";
        let value: Value = serde_json::from_str(pretty).unwrap();
        assert_eq!(compact_len(pretty.as_bytes()), value.to_string().len());
        assert_eq!(compact_len(json!({"k": "v"}).to_string().as_bytes()), 9);
    }
}
