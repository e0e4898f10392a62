//! Observability: request ids, the request span, and the log subscriber (text or JSON).

mod json_fields;
mod logging;
mod request_id;
mod span;
mod text_fields;

pub use logging::init_logging;
pub use request_id::{
    MAX_LEN as REQUEST_ID_MAX_LEN, REQUEST_ID_HEADER, RequestId,
    well_formed as request_id_well_formed,
};
pub use span::RequestSpan;
