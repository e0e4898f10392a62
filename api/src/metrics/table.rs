//! A bounded map from a name to a value, read without a lock: fixed slots, open addressing,
//! each slot set once. Entries are never removed (a provider deleted today keeps its series
//! until the restart, as Prometheus expects of counters); past its capacity every new name
//! shares one overflow entry, so memory is bounded whatever names arrive.

use std::hash::BuildHasher;
use std::sync::OnceLock;

pub trait Named {
    fn name(&self) -> &str;
}

pub struct Table<T> {
    slots: Box<[OnceLock<Box<T>>]>,
    hasher: foldhash::fast::RandomState,
    overflow: T,
}

impl<T: Named> Table<T> {
    pub fn new(capacity: usize, overflow: T) -> Self {
        Table {
            slots: (0..capacity.max(1)).map(|_| OnceLock::new()).collect(),
            hasher: foldhash::fast::RandomState::default(),
            overflow,
        }
    }

    /// The entry of `name`, made by `make` on first sight. A read is an atomic load and a
    /// string comparison per probed slot; only a name's first sight may wait, for another
    /// thread making an entry in the same slot.
    pub fn get(&self, name: &str, make: impl Fn(&str) -> T) -> &T {
        let len = self.slots.len();
        let start = (self.hasher.hash_one(name) % len as u64) as usize;
        for i in 0..len {
            let Some(slot) = self.slots.get((start + i) % len) else {
                break;
            };
            let entry = match slot.get() {
                Some(entry) => entry,
                None => slot.get_or_init(|| Box::new(make(name))),
            };
            if entry.name() == name {
                return entry;
            }
        }
        &self.overflow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Entry(String);

    impl Named for Entry {
        fn name(&self) -> &str {
            &self.0
        }
    }

    fn entry(name: &str) -> Entry {
        Entry(name.to_string())
    }

    #[test]
    fn a_name_finds_its_own_entry_and_extra_names_share_the_overflow() {
        let table = Table::new(3, entry("other"));
        let groq = table.get("groq", entry) as *const Entry;
        for name in ["gemini", "mistral"] {
            assert_eq!(table.get(name, entry).name(), name);
        }
        assert_eq!(table.get("groq", entry) as *const Entry, groq);
        assert_eq!(table.get("cohere", entry).name(), "other");
        assert_eq!(table.get("mistral", entry).name(), "mistral");
    }

    #[test]
    fn threads_racing_for_new_names_each_get_one_entry() {
        let table = Table::new(64, entry("other"));
        let names: Vec<String> = (0..40).map(|i| format!("p{i}")).collect();
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for name in &names {
                        assert_eq!(table.get(name, entry).name(), name);
                    }
                });
            }
        });
        let first: Vec<*const Entry> = names
            .iter()
            .map(|n| table.get(n, entry) as *const _)
            .collect();
        let again: Vec<*const Entry> = names
            .iter()
            .map(|n| table.get(n, entry) as *const _)
            .collect();
        assert_eq!(first, again);
    }
}
