//! Cursor pagination for admin lists; the envelope and the query are wire types.

pub use freeway_wire::page::{DEFAULT_LIMIT, List, MAX_LIMIT, Page, PageQuery, SearchQuery};

use super::error::AdminError;

/// The page size asked for, checked: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent.
pub fn limit(query: &PageQuery) -> Result<u32, AdminError> {
    match query.limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(AdminError::invalid(
            "limit",
            format!("`limit` must be between 1 and {MAX_LIMIT}."),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_bounded() {
        let of = |limit| PageQuery {
            limit,
            cursor: None,
        };
        assert_eq!(limit(&of(None)).ok(), Some(50));
        assert_eq!(limit(&of(Some(200))).ok(), Some(200));
        for bad in [0, 201] {
            assert_eq!(
                limit(&of(Some(bad))).err().and_then(|e| e.field).as_deref(),
                Some("limit")
            );
        }
    }
}
