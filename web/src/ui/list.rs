//! Cursor pagination: one page at a time, with the cursors seen so far kept for "Previous".

use leptos::prelude::*;
use uuid::Uuid;

/// Where a list is: the cursor of the page shown and those before it.
#[derive(Clone, Copy)]
pub struct PagerState {
    pub cursor: RwSignal<Option<Uuid>>,
    back: RwSignal<Vec<Option<Uuid>>>,
}

impl PagerState {
    pub fn new() -> PagerState {
        PagerState {
            cursor: RwSignal::new(None),
            back: RwSignal::new(Vec::new()),
        }
    }

    /// Back to the first page (a new search or filter).
    pub fn reset(&self) {
        self.back.set(Vec::new());
        self.cursor.set(None);
    }

    pub fn next(&self, cursor: Uuid) {
        let here = self.cursor.get_untracked();
        self.back.update(|b| b.push(here));
        self.cursor.set(Some(cursor));
    }

    pub fn previous(&self) {
        let mut back = self.back.get_untracked();
        if let Some(previous) = back.pop() {
            self.back.set(back);
            self.cursor.set(previous);
        }
    }

    pub fn has_previous(&self) -> bool {
        !self.back.with(Vec::is_empty)
    }
}

impl Default for PagerState {
    fn default() -> Self {
        PagerState::new()
    }
}

/// Previous / Next under a list; `next` is the page's `next_cursor`.
#[component]
pub fn Pager(state: PagerState, #[prop(into)] next: Signal<Option<Uuid>>) -> impl IntoView {
    view! {
        <nav class="pager" aria-label="Pages">
            <button
                type="button"
                data-testid="previous"
                disabled=move || !state.has_previous()
                on:click=move |_| state.previous()
            >
                "← Previous"
            </button>
            <button
                type="button"
                data-testid="next"
                disabled=move || next.get().is_none()
                on:click=move |_| {
                    if let Some(c) = next.get_untracked() {
                        state.next(c)
                    }
                }
            >
                "Next →"
            </button>
        </nav>
    }
}
