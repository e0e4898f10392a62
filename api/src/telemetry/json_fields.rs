//! A span's fields for the JSON log, kept as one JSON object that a field recorded later is
//! appended to. tracing-subscriber's own `JsonFields` parses and rewrites the whole object
//! on every `Span::record`: about a microsecond a field, four fields a `/v1` request.

use std::fmt::{self, Write};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::FormattedFields;
use tracing_subscriber::fmt::format::Writer;

#[derive(Debug, Clone, Copy, Default)]
pub struct JsonSpanFields;

impl<'writer> FormatFields<'writer> for JsonSpanFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut object = JsonObject::new(String::with_capacity(96));
        fields.record(&mut object);
        writer.write_str(&object.close())
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let mut object = JsonObject::reopen(std::mem::take(&mut current.fields));
        fields.record(&mut object);
        current.fields = object.close();
        Ok(())
    }
}

/// `{"name":value,...` being written; `close` adds the `}`.
struct JsonObject {
    out: String,
    empty: bool,
}

impl JsonObject {
    fn new(mut out: String) -> JsonObject {
        out.clear();
        out.push('{');
        JsonObject { out, empty: true }
    }

    /// An object written before (by `close`), open again for more fields.
    fn reopen(mut out: String) -> JsonObject {
        if !(out.starts_with('{') && out.ends_with('}')) {
            return JsonObject::new(out);
        }
        out.pop();
        let empty = out.len() == 1;
        JsonObject { out, empty }
    }

    fn close(mut self) -> String {
        self.out.push('}');
        self.out
    }

    fn key(&mut self, field: &Field) {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        self.string(field.name());
        self.out.push(':');
    }

    fn string(&mut self, text: &str) {
        self.out.push('"');
        let _ = Escaped(&mut self.out).write_str(text);
        self.out.push('"');
    }
}

impl Visit for JsonObject {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        self.string(value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        self.out.push_str(if value { "true" } else { "false" });
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        let _ = write!(self.out, "{value}");
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        let _ = write!(self.out, "{value}");
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.key(field);
        self.out.push('"');
        let _ = write!(Escaped(&mut self.out), "{value:?}");
        self.out.push('"');
    }
}

/// Writes text as the inside of a JSON string.
struct Escaped<'a>(&'a mut String);

impl Write for Escaped<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for c in text.chars() {
            match c {
                '"' => self.0.push_str("\\\""),
                '\\' => self.0.push_str("\\\\"),
                '\n' => self.0.push_str("\\n"),
                '\r' => self.0.push_str("\\r"),
                '\t' => self.0.push_str("\\t"),
                c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                    write!(self.0, "\\u{:04x}", u32::from(c))?;
                }
                c => self.0.push(c),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::{Value, json};
    use tracing::field::{Empty, display};
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn recorded_fields_join_the_span_object_and_stay_valid_json() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_span_list(false)
                .fmt_fields(JsonSpanFields)
                .with_writer(move || writer.clone()),
        );
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "request",
                request_id = "a\"b\\c\n\u{1b}",
                attempt = 2u64,
                tenant = Empty,
                route = Empty,
            );
            let entered = span.enter();
            span.record("tenant", display(42));
            span.record("route", display(format_args!("{}/{}", "p", "m")));
            tracing::info!(ok = true, "inside");
            drop(entered);
            // Nothing at creation: the object starts empty.
            let bare = tracing::info_span!("bare", x = Empty);
            bare.record("x", 1u64);
            bare.in_scope(|| tracing::info!("bare"));
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines[1]["span"], json!({"name": "bare", "x": 1}), "{text}");
        assert_eq!(
            lines[0]["span"],
            json!({"name": "request", "request_id": "a\"b\\c\n\u{1b}", "attempt": 2,
                   "tenant": "42", "route": "p/m"}),
            "{text}"
        );
    }
}
