//! TODO

use leptos::prelude::*;

use crate::ui::PageHead;

#[component]
pub fn Routing() -> impl IntoView {
    view! { <PageHead title="Routing" /> }
}
