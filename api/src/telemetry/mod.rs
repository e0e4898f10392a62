//! Observability: request ids, the request span, the log subscriber (text or JSON) and,
//! when configured, the span's export over OTLP.

mod json_fields;
mod logging;
mod otlp;
mod request_id;
mod span;
mod text_fields;

pub use logging::{Telemetry, TelemetryError, init_logging};
pub use otlp::ExportError;
pub use request_id::{
    MAX_LEN as REQUEST_ID_MAX_LEN, REQUEST_ID_HEADER, RequestId,
    well_formed as request_id_well_formed,
};
pub use span::RequestSpan;
