//! TODO

use leptos::prelude::*;

use crate::ui::PageHead;

#[component]
pub fn ProviderList() -> impl IntoView {
    view! { <PageHead title="ProviderList" /> }
}

#[component]
pub fn ProviderDetail() -> impl IntoView {
    view! { <PageHead title="ProviderDetail" /> }
}
