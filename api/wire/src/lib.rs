//! Every type that crosses Freeway's HTTP boundary: request and response bodies, query
//! strings, the page envelope, both error shapes, and the domain words as enums.
//!
//! The server, its integration tests and the WASM admin UI all use these types, so a field
//! changed on one side fails the build on the other. Only `serde` is required; the OpenAPI
//! derives are behind the `utoipa` feature, the database and command-line derives of the
//! domain enums behind `sqlx` and `clap`.

/// A domain word as an enum: its text (as stored in Postgres, parsed from the command line
/// and, by the enum's `serde(rename_all = "snake_case")`, sent over HTTP), every variant, and
/// `Display`. A test checks the text against serde's.
macro_rules! words {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $text),+
                }
            }

            pub fn parse(text: &str) -> Option<$ty> {
                Self::ALL.iter().copied().find(|word| word.as_str() == text)
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use words;

pub mod anthropic;
pub mod auth;
pub mod catalog;
pub mod discovery;
pub mod error;
pub mod health;
pub mod mappings;
pub mod openai;
pub mod page;
pub mod pool;
pub mod responses;
pub mod routing;
pub mod tenants;
pub mod text;
pub mod usage;

pub use error::{AdminErrorBody, AdminErrorEnvelope, OpenAiErrorBody, OpenAiErrorEnvelope};
pub use health::Health;
pub use page::{Page, PageQuery, SearchQuery};

/// The version of this build of Freeway, the same in the server and the UI.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod tests {
    use serde::Serialize;

    /// The text of every word is what serde sends for it.
    fn same_as_serde<T: Serialize + Copy + std::fmt::Display>(all: &[T]) {
        for word in all {
            assert_eq!(
                serde_json::to_value(word).ok(),
                Some(serde_json::json!(word.to_string()))
            );
        }
    }

    #[test]
    fn words_are_spelled_as_serde_spells_them() {
        same_as_serde(crate::auth::Role::ALL);
        same_as_serde(crate::tenants::MemberRole::ALL);
        same_as_serde(crate::tenants::QuotaScope::ALL);
        same_as_serde(crate::pool::Modality::ALL);
        same_as_serde(crate::pool::Origin::ALL);
        same_as_serde(crate::pool::ScopeKind::ALL);
        same_as_serde(crate::usage::AttemptOutcome::ALL);
        same_as_serde(crate::routing::ResolvedAs::ALL);
        same_as_serde(crate::routing::RouteDecision::ALL);
        assert_eq!(
            crate::auth::Role::parse("tenant_admin"),
            Some(crate::auth::Role::TenantAdmin)
        );
        assert_eq!(crate::pool::Modality::parse("nope"), None);
    }
}
