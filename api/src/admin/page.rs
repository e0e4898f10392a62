//! Cursor pagination for admin lists: ids are UUIDv7, so "after this id" is "after this
//! time" and pages stay stable while rows are added.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::AdminError;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Rows per page, 1 to 200 (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<Uuid>,
}

impl PageQuery {
    pub fn limit(&self) -> Result<u32, AdminError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(AdminError::invalid(
                "limit",
                format!("`limit` must be between 1 and {MAX_LIMIT}."),
            )),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<Uuid>,
}

impl<T> Page<T> {
    /// `rows` fetched with `limit + 1`: the extra row only says there is a next page.
    pub fn from_rows(mut rows: Vec<T>, limit: u32, id: impl Fn(&T) -> Uuid) -> Page<T> {
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if more { rows.last().map(id) } else { None };
        Page {
            data: rows,
            next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_cursors() {
        assert_eq!(PageQuery::default().limit().unwrap(), 50);
        assert!(
            PageQuery {
                limit: Some(0),
                cursor: None
            }
            .limit()
            .is_err()
        );
        assert!(
            PageQuery {
                limit: Some(201),
                cursor: None
            }
            .limit()
            .is_err()
        );
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let page = Page::from_rows(ids.clone(), 2, |id| *id);
        assert_eq!(page.data.len(), 2);
        assert_eq!(page.next_cursor, Some(ids[1]));
        assert_eq!(
            Page::from_rows(ids[..2].to_vec(), 2, |id| *id).next_cursor,
            None
        );
    }
}
