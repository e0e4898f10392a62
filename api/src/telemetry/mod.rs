//! Observability: the log subscriber (text or JSON).

mod logging;

pub use logging::init_logging;
