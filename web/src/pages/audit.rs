//! TODO

use leptos::prelude::*;

use crate::ui::PageHead;

#[component]
pub fn Audit() -> impl IntoView {
    view! { <PageHead title="Audit" /> }
}
