//! TODO

use leptos::prelude::*;

use crate::ui::PageHead;

#[component]
pub fn Playground() -> impl IntoView {
    view! { <PageHead title="Playground" /> }
}
