//! Admin-set model-name mappings as the catalog holds them: patterns sorted once, when the
//! catalog is built, by how specific they are, so that a request's name is matched by
//! walking them in order until one fits, allocating nothing.

use std::cmp::{Ordering, Reverse};

/// A requested-name pattern, where `*` is any run of characters (none included), and the name
/// a matching request resolves as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pattern: String,
    target: String,
    /// The pattern's literal pieces between its `*`s (`claude-*` is `["claude-", ""]`); empty
    /// for an exact name.
    pieces: Vec<String>,
}

impl Mapping {
    pub fn new(pattern: impl Into<String>, target: impl Into<String>) -> Mapping {
        let pattern = pattern.into();
        let pieces = if pattern.contains('*') {
            pattern.split('*').map(str::to_string).collect()
        } else {
            Vec::new()
        };
        Mapping {
            target: target.into(),
            pieces,
            pattern,
        }
    }

    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    pub fn target(&self) -> &str {
        &self.target
    }

    /// Whether `name` fits the pattern as a whole.
    pub fn matches(&self, name: &str) -> bool {
        let Some((first, rest)) = self.pieces.split_first() else {
            return name == self.pattern;
        };
        let Some((last, middle)) = rest.split_last() else {
            return name == self.pattern;
        };
        // The first and last pieces are anchored; stripping the suffix from what follows the
        // prefix keeps them from overlapping (`a*a` does not match `a`).
        let Some(mut rest) = name
            .strip_prefix(first.as_str())
            .and_then(|rest| rest.strip_suffix(last.as_str()))
        else {
            return false;
        };
        // The leftmost fit of each middle piece leaves the most room for the next ones.
        for piece in middle {
            match rest.split_once(piece.as_str()) {
                Some((_, after)) => rest = after,
                None => return false,
            }
        }
        true
    }

    /// [`precedence`] of the two patterns.
    pub fn precedence(&self, other: &Mapping) -> Ordering {
        precedence(&self.pattern, &other.pattern)
    }
}

/// Which of two patterns that both match a name wins (`Less`: `a`): an exact name first,
/// then the one with more characters other than `*`, then the alphabetically first, so that
/// the order is the same on every instance and after every reload.
pub fn precedence(a: &str, b: &str) -> Ordering {
    let key = |p: &str| {
        (
            p.contains('*'),
            Reverse(p.chars().filter(|c| *c != '*').count()),
        )
    };
    key(a).cmp(&key(b)).then_with(|| a.cmp(b))
}

/// Every mapping, most specific first.
#[derive(Debug, Clone, Default)]
pub struct Mappings(Vec<Mapping>);

impl Mappings {
    pub fn new(mappings: impl IntoIterator<Item = Mapping>) -> Mappings {
        let mut mappings: Vec<Mapping> = mappings.into_iter().collect();
        mappings.sort_by(Mapping::precedence);
        Mappings(mappings)
    }

    /// The most specific mapping whose pattern `name` fits.
    pub fn find(&self, name: &str) -> Option<&Mapping> {
        self.0.iter().find(|m| m.matches(name))
    }

    /// Most specific first: the order in which they are tried.
    pub fn all(&self) -> &[Mapping] {
        &self.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fits(pattern: &str, name: &str) -> bool {
        Mapping::new(pattern, "auto").matches(name)
    }

    #[test]
    fn a_star_matches_any_run_of_characters_and_the_rest_must_match_exactly() {
        assert!(fits("claude-*", "claude-sonnet-4-5-20250929"));
        assert!(fits("claude-*", "claude-"), "a star matches nothing too");
        assert!(!fits("claude-*", "claude"));
        assert!(!fits("claude-*", "my-claude-3"), "the prefix is anchored");
        assert!(fits("*-haiku-*", "claude-3-5-haiku-20241022"));
        assert!(!fits("*-haiku-*", "claude-haiku"));
        assert!(fits("*", ""));
        assert!(fits("*", "anything at all"));
        assert!(fits("a*b*c", "abc"));
        assert!(fits("a*b*c", "a-b-b-c"));
        assert!(!fits("a*b*c", "acb"));
        assert!(!fits("a*a", "a"), "the prefix and suffix do not overlap");
        assert!(fits("a*a", "aa"));
        assert!(fits("*x*x*", "xx"));
        assert!(!fits("*x*x*", "x"));
        assert!(fits("a**b", "ab"));
        assert!(fits("gpt-4o", "gpt-4o"), "no star: an exact name");
        assert!(!fits("gpt-4o", "gpt-4o-mini"));
        assert!(fits("é*ü", "éaü"), "characters, not bytes");
    }

    #[test]
    fn the_most_specific_pattern_wins_exact_names_first_then_ties_alphabetically() {
        let mappings = Mappings::new([
            Mapping::new("*", "everything"),
            Mapping::new("claude-*", "auto"),
            Mapping::new("claude-3-5-haiku-*", "fast"),
            Mapping::new("*-haiku-*", "haiku"),
            Mapping::new("claude-3-5-haiku-20241022", "exact"),
            Mapping::new("*-sonnet-*", "sonnet"),
        ]);
        let order: Vec<&str> = mappings.all().iter().map(Mapping::pattern).collect();
        assert_eq!(
            order,
            [
                "claude-3-5-haiku-20241022",
                "claude-3-5-haiku-*",
                "*-sonnet-*",
                "*-haiku-*",
                "claude-*",
                "*",
            ]
        );
        let target = |name: &str| mappings.find(name).map(Mapping::target);
        assert_eq!(target("claude-3-5-haiku-20241022"), Some("exact"));
        assert_eq!(target("claude-3-5-haiku-latest"), Some("fast"));
        // `*-haiku-*` and `claude-*` have as many literal characters: the tie goes to the
        // alphabetically first, on every instance alike.
        assert_eq!(target("claude-haiku-4-5"), Some("haiku"));
        assert_eq!(target("claude-opus-4-1"), Some("auto"));
        assert_eq!(target("llama-3"), Some("everything"));
        assert_eq!(Mappings::default().find("claude-x"), None);
    }

    #[test]
    fn the_order_does_not_depend_on_the_order_given() {
        let patterns = ["b*", "a*", "ab", "*", "abc*", "a*c"];
        let sorted = |mut patterns: Vec<&str>| {
            let mappings = Mappings::new(patterns.drain(..).map(|p| Mapping::new(p, "t")));
            mappings
                .all()
                .iter()
                .map(|m| m.pattern().to_string())
                .collect::<Vec<_>>()
        };
        let forward = sorted(patterns.to_vec());
        let backward = sorted(patterns.iter().rev().copied().collect());
        assert_eq!(forward, backward);
        assert_eq!(forward, ["ab", "abc*", "a*c", "a*", "b*", "*"]);
    }

    /// The catalog's side: built by hand, as `build_catalog` would leave it.
    mod catalog {
        use uuid::Uuid;

        use super::*;
        use crate::providers::{Catalog, Modality, ModelInfo, ResolvedAs, Route};
        use crate::routing::pool::RouteSlots;

        fn route(model: &str) -> Route {
            let slots = RouteSlots {
                route: 0,
                credential: None,
                provider: 0,
                model: 0,
            };
            Route::detached("mock", model, ModelInfo::chat(Uuid::new_v4()), slots)
        }

        fn catalog() -> Catalog {
            let mut catalog = Catalog::default();
            for (name, model, kind) in [
                ("auto", "pool-model", ResolvedAs::Auto),
                ("claude-local", "claude-local", ResolvedAs::Model),
                ("fast", "fast-model", ResolvedAs::Profile),
            ] {
                let key = (Modality::Chat, name.to_string());
                catalog.routes.insert(key.clone(), vec![route(model)]);
                catalog.kinds.insert(key, kind);
            }
            catalog.handoff.insert("auto".into(), true);
            catalog.mappings = Mappings::new([
                Mapping::new("claude-*", "auto"),
                Mapping::new("claude-3-5-haiku-*", "fast"),
                Mapping::new("loop-*", "claude-again"),
                Mapping::new("ghost-*", "nothing-of-that-name"),
            ]);
            catalog
        }

        fn served_by(catalog: &Catalog, name: &str) -> Option<String> {
            let resolved = catalog.resolve(Modality::Chat, name)?;
            Some(resolved.routes.first()?.model.clone())
        }

        #[test]
        fn a_name_that_resolves_directly_is_never_mapped() {
            let catalog = catalog();
            let resolved = catalog.resolve(Modality::Chat, "claude-local").unwrap();
            assert!(resolved.mapping.is_none());
            assert_eq!(resolved.mapped_to(), None);
            assert_eq!(resolved.kind, ResolvedAs::Model);
            assert_eq!(served_by(&catalog, "claude-local").unwrap(), "claude-local");
            assert_eq!(served_by(&catalog, "auto").unwrap(), "pool-model");
        }

        #[test]
        fn an_unknown_name_resolves_as_the_target_of_its_most_specific_mapping() {
            let catalog = catalog();
            let resolved = catalog
                .resolve(Modality::Chat, "claude-sonnet-4-5-20250929")
                .unwrap();
            assert_eq!(resolved.kind, ResolvedAs::Auto);
            assert_eq!(resolved.mapped_to(), Some("auto"));
            assert_eq!(resolved.mapping.map(Mapping::pattern), Some("claude-*"));
            assert!(resolved.handoff, "the target's handoff applies");
            assert_eq!(resolved.routes[0].model, "pool-model");

            let haiku = catalog
                .resolve(Modality::Chat, "claude-3-5-haiku-20241022")
                .unwrap();
            assert_eq!(haiku.kind, ResolvedAs::Profile);
            assert_eq!(haiku.mapped_to(), Some("fast"));
            assert!(!haiku.handoff);
            assert_eq!(haiku.routes[0].model, "fast-model");
        }

        #[test]
        fn a_target_is_not_mapped_again_nor_served_in_another_modality() {
            let catalog = catalog();
            // `claude-again` fits `claude-*`, but a target is resolved directly only.
            assert!(catalog.resolve(Modality::Chat, "loop-1").is_none());
            assert!(catalog.resolve(Modality::Chat, "ghost-1").is_none());
            assert!(catalog.resolve(Modality::Chat, "llama-3").is_none());
            assert!(catalog.resolve(Modality::Embedding, "claude-x").is_none());
            let order: Vec<&str> = catalog.mappings().iter().map(Mapping::pattern).collect();
            assert_eq!(
                order,
                ["claude-3-5-haiku-*", "claude-*", "ghost-*", "loop-*"]
            );
        }
    }
}
