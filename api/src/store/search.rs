//! Searching a paged list: a case-insensitive substring of the user's text, matched with
//! `ILIKE` and the text's own `%`, `_` and `\` escaped, so that they match themselves.

use freeway_wire::page::SEARCH_MAX_CHARS;

use super::StoreError;

/// A checked search: the `ILIKE` pattern to bind, or none (every row).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Search(Option<String>);

impl Search {
    /// Every row.
    pub const NONE: Search = Search(None);

    /// `q` checked: 1 to [`SEARCH_MAX_CHARS`] characters without NUL; trimmed, and blank
    /// after trimming is no search.
    pub fn new(q: Option<&str>) -> Result<Search, StoreError> {
        let Some(q) = q else {
            return Ok(Search::NONE);
        };
        let chars = q.chars().count();
        if chars == 0 || chars > SEARCH_MAX_CHARS || q.contains('\0') {
            return Err(StoreError::invalid(
                "q",
                format!("`q` takes 1 to {SEARCH_MAX_CHARS} characters without NUL."),
            ));
        }
        let q = q.trim();
        if q.is_empty() {
            return Ok(Search::NONE);
        }
        let mut pattern = String::with_capacity(q.len().saturating_add(2));
        pattern.push('%');
        for c in q.chars() {
            if matches!(c, '%' | '_' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        Ok(Search(Some(pattern)))
    }

    /// The pattern to bind; `None` matches every row (`$n::text IS NULL OR ...`).
    pub fn pattern(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// `($n::text IS NULL OR a ILIKE $n ESCAPE '\' OR b ILIKE $n ...)` for `columns`.
    pub(crate) fn sql(param: usize, columns: &[&str]) -> String {
        let matches: Vec<String> = columns
            .iter()
            .map(|c| format!("{c} ILIKE ${param} ESCAPE '\\'"))
            .collect();
        format!("(${param}::text IS NULL OR {})", matches.join(" OR "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_are_escaped_and_text_is_bounded() {
        let pattern = |q: &str| Search::new(Some(q)).ok().and_then(|s| s.0);
        assert_eq!(pattern("Ali"), Some("%Ali%".into()));
        assert_eq!(pattern(" 50%_off\\ "), Some("%50\\%\\_off\\\\%".into()));
        assert_eq!(pattern("   "), None);
        assert!(Search::new(Some("")).is_err());
        assert!(Search::new(Some("a\0")).is_err());
        assert!(Search::new(Some(&"é".repeat(100))).is_ok());
        assert!(Search::new(Some(&"é".repeat(101))).is_err());
        assert_eq!(Search::new(None).ok(), Some(Search::NONE));
        assert_eq!(
            Search::sql(4, &["name", "email"]),
            "($4::text IS NULL OR name ILIKE $4 ESCAPE '\\' OR email ILIKE $4 ESCAPE '\\')"
        );
    }
}
