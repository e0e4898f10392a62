use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use freeway::cli::{Cli, run};
use freeway::config::Config;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(error) => return fail(&error),
    };
    let telemetry = match freeway::telemetry::init_logging(
        &config.log,
        config.log_format,
        config.otlp.as_ref(),
    ) {
        Ok(telemetry) => telemetry,
        Err(error) => return fail(&error),
    };
    let code = match run(cli, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let code = fail(&error);
            // A catalog refused for its content (not for the database) is a usage error.
            let refused = error
                .downcast_ref::<freeway::store::catalog::ImportError>()
                .is_some_and(|e| e.field().is_some());
            if refused { ExitCode::from(2) } else { code }
        }
    };
    // After a graceful stop: the last requests' spans.
    telemetry.shutdown().await;
    code
}

/// One line on standard error, the whole cause chain included.
fn fail(error: &dyn std::fmt::Display) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "freeway: {error:#}");
    ExitCode::FAILURE
}
