//! TODO

use leptos::prelude::*;

use crate::ui::PageHead;

#[component]
pub fn Settings() -> impl IntoView {
    view! { <PageHead title="Settings" /> }
}
