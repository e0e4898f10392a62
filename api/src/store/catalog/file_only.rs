//! The diff's entries for what only the catalog file holds: request shaping and output
//! limits have no column, so the rows' diff cannot see their changes.

use freeway_wire::catalog::{CatalogChange, CatalogChangeKind, CatalogFieldChange};
use serde::Serialize;

use super::super::audit::to_json;
use super::file::Catalog;
use super::plan::Plan;

impl Plan {
    /// Adds what changes in request shaping and output limits, which live in the catalog
    /// only (no column, so the rows' diff cannot see them): without it, an import that
    /// changes only those would show no change.
    pub fn note_file_only(&mut self, from: &Catalog, to: &Catalog) {
        for p in to.seeded() {
            let Some(old) = from.providers.iter().find(|o| o.id() == p.id()) else {
                continue;
            };
            if old.shaping != p.shaping {
                let field = changed("shaping", &old.shaping, &p.shaping);
                self.add_field(false, p.id().to_string(), field);
            }
            for m in &p.models {
                let Some(was) = old.models.iter().find(|o| o.id() == m.id()) else {
                    continue;
                };
                let id = format!("{}/{}", p.id(), m.id());
                if was.shaping != m.shaping {
                    self.add_field(
                        true,
                        id.clone(),
                        changed("shaping", &was.shaping, &m.shaping),
                    );
                }
                if was.max_output_tokens != m.max_output_tokens {
                    let field = changed(
                        "max_output_tokens",
                        &was.max_output_tokens,
                        &m.max_output_tokens,
                    );
                    self.add_field(true, id, field);
                }
            }
        }
    }

    /// One more changed field of `id`: on its entry when the diff has one, else a new one.
    fn add_field(&mut self, model: bool, id: String, field: CatalogFieldChange) {
        let list = if model {
            &mut self.models
        } else {
            &mut self.providers
        };
        match list.iter_mut().find(|c| c.id == id) {
            Some(entry) => entry.fields.push(field),
            None => list.push(CatalogChange {
                id,
                change: CatalogChangeKind::Changed,
                fields: vec![field],
            }),
        }
    }
}

fn changed<T: Serialize>(field: &str, from: &T, to: &T) -> CatalogFieldChange {
    CatalogFieldChange {
        field: field.to_string(),
        from: to_json(from),
        to: to_json(to),
    }
}
