//! Cursor pagination for admin lists: ids are UUIDv7, so "after this id" is "after this
//! time" and pages stay stable while rows are added.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

/// `?limit=&cursor=` of every paged list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "utoipa", into_params(parameter_in = Query))]
pub struct PageQuery {
    /// Rows per page, 1 to 200 (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", param(minimum = 1, maximum = 200, example = 50))]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Uuid>,
}

/// The longest `q` a list takes.
pub const SEARCH_MAX_CHARS: usize = 100;

/// `?q=` of a searchable list, beside its `?limit=&cursor=`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "utoipa", into_params(parameter_in = Query))]
pub struct SearchQuery {
    /// Only rows that contain this text, ignoring case, in the fields the list names
    /// (`%`, `_` and `\` match themselves); 1 to 100 characters, trimmed. Pages the same way
    /// as the whole list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "utoipa",
        param(
            min_length = 1,
            max_length = 100,
            pattern = r"^[^\x00]*$",
            example = "ali"
        )
    )]
    pub q: Option<String>,
}

/// One page of a list, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<Uuid>,
}

impl<T> Page<T> {
    /// `rows` fetched with `limit + 1`: the extra row only says there is a next page.
    pub fn from_rows(mut rows: Vec<T>, limit: u32, id: impl Fn(&T) -> Uuid) -> Page<T> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if more { rows.last().map(id) } else { None };
        Page {
            data: rows,
            next_cursor,
        }
    }
}

/// A list that is never long enough to page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct List<T> {
    pub data: Vec<T>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_of_limit_plus_one_rows_has_a_cursor() {
        let ids: Vec<Uuid> = (1..=3u128).map(Uuid::from_u128).collect();
        let page = Page::from_rows(ids.clone(), 2, |id| *id);
        assert_eq!(page.data.len(), 2);
        assert_eq!(page.next_cursor, Some(ids[1]));
        assert_eq!(
            Page::from_rows(ids[..2].to_vec(), 2, |id| *id).next_cursor,
            None
        );
    }
}
