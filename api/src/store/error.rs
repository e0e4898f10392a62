//! The one place where database errors become [`StoreError`]s: constraint violations and
//! input Postgres cannot store are the caller's fault (409, 422), everything else is the
//! database's (503), with the original error kept as the source.

use sqlx::error::DatabaseError;
use sqlx::postgres::PgDatabaseError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    Conflict(String),
    /// The input field at fault and a sentence for people.
    #[error("invalid {field}: {message}")]
    Invalid { field: String, message: String },
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::envelope::EnvelopeError),
}

impl StoreError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        StoreError::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        let sqlx::Error::Database(db) = &error else {
            return match error {
                sqlx::Error::RowNotFound => StoreError::NotFound("row".into()),
                other => StoreError::Database(other),
            };
        };
        let field = || field_of(db.as_ref());
        match db.code().as_deref() {
            Some("23505") => StoreError::Conflict(db.constraint().unwrap_or("row").to_string()),
            Some("23503") => StoreError::Invalid {
                message: format!("`{}` names a row that does not exist.", field()),
                field: field(),
            },
            // check_violation, string_data_right_truncation, invalid_text_representation,
            // character_not_in_repertoire (a NUL byte), untranslatable_character (`\u0000`
            // in JSON), datetime_field_overflow, numeric_value_out_of_range,
            // invalid_datetime_format.
            Some("23514" | "22001" | "22P02" | "22021" | "22P05" | "22008" | "22003" | "22007") => {
                StoreError::Invalid {
                    field: field(),
                    message: format!("Postgres cannot store this value: {}.", db.message()),
                }
            }
            _ => StoreError::Database(error),
        }
    }
}

/// The column Postgres names, else the constraint, else a word that says "some input".
fn field_of(db: &dyn DatabaseError) -> String {
    db.try_downcast_ref::<PgDatabaseError>()
        .and_then(PgDatabaseError::column)
        .or_else(|| db.constraint())
        .unwrap_or("value")
        .to_string()
}

/// A database error on its way to a [`StoreError`], while its constraint can still be read.
#[derive(Debug)]
pub enum Pending {
    Raw(sqlx::Error),
    Mapped(StoreError),
}

impl From<sqlx::Error> for Pending {
    fn from(error: sqlx::Error) -> Self {
        Pending::Raw(error)
    }
}

impl From<Pending> for StoreError {
    fn from(pending: Pending) -> Self {
        match pending {
            Pending::Raw(error) => error.into(),
            Pending::Mapped(error) => error,
        }
    }
}

/// Names what a constraint guards in the caller's words, as realworld-axum-sqlx does:
/// `.on_constraint("providers_name_key", || StoreError::Conflict(..))?`.
pub trait ResultExt<T> {
    fn on_constraint(
        self,
        constraint: &str,
        error: impl FnOnce() -> StoreError,
    ) -> Result<T, Pending>;
}

impl<T, E: Into<Pending>> ResultExt<T> for Result<T, E> {
    fn on_constraint(
        self,
        constraint: &str,
        error: impl FnOnce() -> StoreError,
    ) -> Result<T, Pending> {
        match self.map_err(Into::into) {
            Err(Pending::Raw(sqlx::Error::Database(db))) if db.constraint() == Some(constraint) => {
                Err(Pending::Mapped(error()))
            }
            other => other,
        }
    }
}

/// `None` as [`StoreError::NotFound`].
pub trait Found<T> {
    fn or_not_found(self, what: impl FnOnce() -> String) -> Result<T, StoreError>;
}

impl<T> Found<T> for Option<T> {
    fn or_not_found(self, what: impl FnOnce() -> String) -> Result<T, StoreError> {
        self.ok_or_else(|| StoreError::NotFound(what()))
    }
}
