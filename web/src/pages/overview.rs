//! TODO

use leptos::prelude::*;

use crate::ui::PageHead;

#[component]
pub fn Overview() -> impl IntoView {
    view! { <PageHead title="Overview" /> }
}
