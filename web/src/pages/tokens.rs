//! TODO

use leptos::prelude::*;

use crate::ui::PageHead;

#[component]
pub fn Tokens() -> impl IntoView {
    view! { <PageHead title="Tokens" /> }
}
