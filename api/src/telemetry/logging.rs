//! The log subscriber: lines on standard error, as text (ANSI colours only on a terminal)
//! or as one JSON object a line (`log_format = "json"`), each carrying its request's span;
//! with trace export on (`OTEL_EXPORTER_OTLP_*`), also the layer that turns spans into
//! OpenTelemetry's.

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::{Level, Subscriber};
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::{Filter, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::{SubscriberInitExt, TryInitError};
use tracing_subscriber::{Layer, Registry};

use super::json_fields::JsonSpanFields;
use super::otlp::{self, ExportError};
use super::text_fields::TextFields;
use crate::config::{LogFormat, OtlpConfig};

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error(transparent)]
    Init(#[from] TryInitError),
    #[error(transparent)]
    Export(#[from] ExportError),
}

/// What must outlive the server: the trace exporter, flushed by [`Telemetry::shutdown`].
#[derive(Debug, Default)]
#[must_use]
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans still queued (bounded in time); nothing without trace export.
    pub async fn shutdown(self) {
        if let Some(provider) = self.traces {
            otlp::shutdown(provider).await;
        }
    }
}

/// Installs the process's subscriber, filtered by `RUST_LOG` when set and valid, else by
/// `directives` (`FREEWAY_LOG`), else at `info`. With `otlp`, spans are also exported.
pub fn init_logging(
    directives: &str,
    format: LogFormat,
    otlp: Option<&OtlpConfig>,
) -> Result<Telemetry, TelemetryError> {
    let directives = std::env::var("RUST_LOG")
        .ok()
        .filter(|rust_log| !rust_log.trim().is_empty())
        .and_then(|rust_log| parse(&rust_log))
        .or_else(|| parse(directives))
        .unwrap_or_else(|| Directives::Targets(Targets::new().with_default(Level::INFO)));
    let Some(otlp) = otlp else {
        // Without export, the filter is global: a disabled call site costs nothing more.
        let subscriber = tracing_subscriber::registry().with(directives.layer());
        match format {
            LogFormat::Text => subscriber.with(text()).try_init()?,
            LogFormat::Json => subscriber.with(json()).try_init()?,
        }
        return Ok(Telemetry::default());
    };
    let provider = otlp::provider(otlp)?;
    // Freeway's spans (the request's, and the events within it) whatever the log level:
    // the log's filter applies to its lines only, so a quiet log still exports requests.
    let spans = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("freeway"))
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_tracked_inactivity(false)
        .with_context_activation(false)
        .with_filter(Targets::new().with_target("freeway", Level::INFO));
    let subscriber = tracing_subscriber::registry().with(spans);
    match format {
        LogFormat::Text => subscriber
            .with(text().with_filter(directives.filter()))
            .try_init()?,
        LogFormat::Json => subscriber
            .with(json().with_filter(directives.filter()))
            .try_init()?,
    }
    Ok(Telemetry {
        traces: Some(provider),
    })
}

fn text<S>() -> impl Layer<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .fmt_fields(TextFields)
}

/// The request's span (its id, tenant, model, route) on every line, once.
fn json<S>() -> impl Layer<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .fmt_fields(JsonSpanFields)
}

/// Directives by target and level (`info,freeway=debug`) are decided once per callsite
/// (`Targets`); only those that name spans or fields (`[request{model=auto}]=debug`) need
/// `EnvFilter`, which takes a lock each time a span is entered or left.
// Built once, at start: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Directives {
    Targets(Targets),
    Env(EnvFilter),
}

fn parse(directives: &str) -> Option<Directives> {
    if let Ok(targets) = directives.parse::<Targets>() {
        return Some(Directives::Targets(targets));
    }
    EnvFilter::try_new(directives).ok().map(Directives::Env)
}

impl Directives {
    /// For every layer.
    fn layer(self) -> Box<dyn Layer<Registry> + Send + Sync> {
        match self {
            Directives::Targets(targets) => targets.boxed(),
            Directives::Env(env) => env.boxed(),
        }
    }

    /// For one layer (the lines).
    fn filter<S>(self) -> Box<dyn Filter<S> + Send + Sync>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        match self {
            Directives::Targets(targets) => Box::new(targets),
            Directives::Env(env) => Box::new(env),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_directives_need_no_env_filter() {
        for plain in [
            "info",
            "info,refinery_core=warn",
            "freeway=debug,actix_web=info",
        ] {
            assert!(
                matches!(parse(plain), Some(Directives::Targets(_))),
                "{plain}"
            );
        }
        assert!(matches!(
            parse("[request{model=auto}]=debug"),
            Some(Directives::Env(_))
        ));
        assert!(parse("freeway=loudly").is_none());
    }
}
