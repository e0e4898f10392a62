//! The log subscriber: lines on standard error, as text (ANSI colours only on a terminal)
//! or as one JSON object a line (`log_format = "json"`), each carrying its request's span.

use std::io::IsTerminal;

use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::{SubscriberInitExt, TryInitError};
use tracing_subscriber::{Layer, Registry};

use super::json_fields::JsonSpanFields;
use super::text_fields::TextFields;
use crate::config::LogFormat;

/// Installs the process's subscriber, filtered by `RUST_LOG` when set and valid, else by
/// `directives` (`FREEWAY_LOG`), else at `info`.
pub fn init_logging(directives: &str, format: LogFormat) -> Result<(), TryInitError> {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|rust_log| !rust_log.trim().is_empty())
        .and_then(|rust_log| filter(&rust_log))
        .or_else(|| filter(directives))
        .unwrap_or_else(|| Targets::new().with_default(Level::INFO).boxed());
    let subscriber = tracing_subscriber::registry().with(filter);
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match format {
        LogFormat::Text => subscriber
            .with(
                lines
                    .with_ansi(std::io::stderr().is_terminal())
                    .fmt_fields(TextFields),
            )
            .try_init(),
        // The request's span (its id, tenant, model, route) on every line, once.
        LogFormat::Json => subscriber
            .with(
                lines
                    .json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .fmt_fields(JsonSpanFields),
            )
            .try_init(),
    }
}

type Filter = Box<dyn Layer<Registry> + Send + Sync>;

/// Directives by target and level (`info,freeway=debug`) are decided once per callsite
/// (`Targets`); only those that name spans or fields (`[request{model=auto}]=debug`) need
/// `EnvFilter`, which takes a lock each time a span is entered or left.
fn filter(directives: &str) -> Option<Filter> {
    if let Ok(targets) = directives.parse::<Targets>() {
        return Some(targets.boxed());
    }
    EnvFilter::try_new(directives).ok().map(Layer::boxed)
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
            assert!(plain.parse::<Targets>().is_ok(), "{plain}");
        }
        assert!("[request{model=auto}]=debug".parse::<Targets>().is_err());
        assert!(filter("[request{model=auto}]=debug").is_some());
        assert!(filter("freeway=loudly").is_none());
    }
}
