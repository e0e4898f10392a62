//! Every type that crosses Freeway's HTTP boundary: request and response bodies, query
//! strings, the page envelope, both error shapes, and the domain words as enums.
//!
//! The server, its integration tests and the WASM admin UI all use these types, so a field
//! changed on one side fails the build on the other. Only `serde` is required; the OpenAPI
//! derives are behind the `utoipa` feature, the database and command-line derives of the
//! domain enums behind `sqlx` and `clap`.

pub mod auth;
pub mod error;
pub mod health;
pub mod openai;
pub mod page;
pub mod pool;
pub mod tenants;
pub mod text;
pub mod usage;

pub use error::{AdminErrorBody, AdminErrorEnvelope, OpenAiErrorBody, OpenAiErrorEnvelope};
pub use health::Health;
pub use page::{Page, PageQuery};

/// The version of this build of Freeway, the same in the server and the UI.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
