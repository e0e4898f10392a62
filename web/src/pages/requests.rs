//! TODO

use leptos::prelude::*;

use crate::ui::PageHead;

#[component]
pub fn Requests() -> impl IntoView {
    view! { <PageHead title="Requests" /> }
}
