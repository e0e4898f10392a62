//! Span and event fields for the text log, written exactly as tracing-subscriber's
//! `DefaultFields` writes them, but cheaply in the common case.
//!
//! Every `/v1` request creates its span with one field and records four more, whether or
//! not a line is ever logged: with `DefaultFields` that cost about 6,000 instructions a
//! request (a string's `Debug` walks it a character at a time; each name goes through the
//! colour wrappers even with colours off). Here a field without colours whose string is
//! printable ASCII with nothing to escape is written directly; any other field (a message,
//! an error, a string that needs escaping, colours on) goes to `DefaultFields`' own
//! visitor, so the text is the same byte for byte.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing_subscriber::field::{RecordFields, VisitOutput};
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::{DefaultVisitor, Writer};

#[derive(Debug, Clone, Copy, Default)]
pub struct TextFields;

impl<'writer> FormatFields<'writer> for TextFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = TextVisitor {
            writer,
            is_empty: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct TextVisitor<'a> {
    writer: Writer<'a>,
    is_empty: bool,
    result: fmt::Result,
}

impl TextVisitor<'_> {
    /// A field `DefaultVisitor` writes as `name=value`, with no colours, escaping or
    /// renaming: not the message, not `r#name`, not a `log.` field (which it skips).
    fn plain(&self, field: &Field) -> bool {
        let name = field.name();
        !self.writer.has_ansi_escapes()
            && name != "message"
            && !name.starts_with("r#")
            && !name.starts_with("log.")
    }

    /// Writes `name=`, after a space when another field came before.
    fn name(&mut self, field: &Field) -> fmt::Result {
        if self.is_empty {
            self.is_empty = false;
        } else {
            self.writer.write_char(' ')?;
        }
        self.writer.write_str(field.name())?;
        self.writer.write_char('=')
    }

    /// The field, written by `DefaultFields`' visitor.
    fn delegate(&mut self, field: &Field, record: impl FnOnce(&mut DefaultVisitor<'_>)) {
        let mut visitor = DefaultVisitor::new(self.writer.by_ref(), self.is_empty);
        record(&mut visitor);
        self.result = visitor.finish();
        // `DefaultVisitor` writes nothing for a `log.` field, and so pads nothing before it.
        if !field.name().starts_with("log.") {
            self.is_empty = false;
        }
    }
}

/// Whether `Debug` writes `value` as itself between quotes.
fn needs_no_escape(value: &str) -> bool {
    value
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
}

impl Visit for TextVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        if self.plain(field) && needs_no_escape(value) {
            self.result = self.name(field).and_then(|()| {
                self.writer.write_char('"')?;
                self.writer.write_str(value)?;
                self.writer.write_char('"')
            });
        } else {
            self.delegate(field, |v| v.record_str(field, value));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.result.is_err() {
            return;
        }
        self.delegate(field, |v| v.record_error(field, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        if self.plain(field) {
            self.result = self
                .name(field)
                .and_then(|()| write!(self.writer, "{value:?}"));
        } else {
            self.delegate(field, |v| v.record_debug(field, value));
        }
    }
}

#[cfg(test)]
mod tests {
    use tracing::field::{Empty, display};
    use tracing_subscriber::fmt::format::DefaultFields;

    use super::*;

    /// What `fields` formats `record`'s fields as, through a span's fields and an event's.
    fn both<F>(fields: F, ansi: bool) -> Vec<String>
    where
        F: for<'w> FormatFields<'w> + Send + Sync + 'static,
    {
        use std::sync::{Arc, Mutex};
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(ansi)
            .without_time()
            .with_target(false)
            .fmt_fields(fields)
            .with_writer(move || Capture(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "request",
                request_id = "0193a5f0-7c1e-7000-8000-00000000abcd",
                tenant = Empty,
                model = Empty,
                route = Empty,
                r#type = Empty,
            );
            span.record("tenant", display(uuid::Uuid::nil()));
            span.record("model", "gpt-4o \"mini\"\n\u{1b}[31m");
            span.record("route", display(format_args!("{}/{}", "groq", "llama")));
            span.record("type", "chat");
            let _entered = span.enter();
            let error = std::io::Error::other("upstream went away");
            tracing::info!(
                count = 3,
                name = "plain",
                odd = "tab\there",
                unicode = "naïve",
                empty = "",
                error = &error as &(dyn std::error::Error + 'static),
                "a message with \"quotes\""
            );
            tracing::info!(late = true, "no fields before the message");
            let long = "x".repeat(150);
            tracing::info!(a = %long, b = long.as_str(), c = 1, d = %long);
        });
        let lines = String::from_utf8(out.lock().unwrap().concat()).unwrap();
        lines.lines().map(str::to_owned).collect()
    }

    #[derive(Clone)]
    struct Capture(std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_are_the_same_as_with_default_fields_with_and_without_colours() {
        for ansi in [false, true] {
            let ours = both(TextFields, ansi);
            let theirs = both(DefaultFields::new(), ansi);
            assert_eq!(ours.len(), 3, "{ours:?}");
            assert_eq!(ours, theirs, "ansi {ansi}");
        }
        let plain = both(TextFields, false);
        assert!(
            plain[0].contains(
                "request{request_id=\"0193a5f0-7c1e-7000-8000-00000000abcd\" \
                 tenant=00000000-0000-0000-0000-000000000000 \
                 model=\"gpt-4o \\\"mini\\\"\\n\\u{1b}[31m\" route=groq/llama type=\"chat\"}"
            ),
            "{}",
            plain[0]
        );
    }

    #[test]
    fn what_is_written_as_it_is_is_what_debug_writes_between_quotes() {
        let printable: String = (b' '..=b'~').map(char::from).collect();
        for value in [printable.as_str(), "fw-abc_1.2:3/x@y+z ~", ""] {
            let plain: String = value.chars().filter(|c| !matches!(c, '"' | '\\')).collect();
            assert!(needs_no_escape(&plain), "{plain:?}");
            assert_eq!(format!("{plain:?}"), format!("\"{plain}\""));
        }
        for escaped in ["a\"b", "a\\b", "a\nb", "tab\t", "\u{7f}", "\u{1b}[0m"] {
            assert!(!needs_no_escape(escaped), "{escaped:?}");
            assert_ne!(format!("{escaped:?}"), format!("\"{escaped}\""));
        }
        // Written the same either way, but left to `DefaultVisitor`.
        assert!(!needs_no_escape("naïve"));
    }
}
