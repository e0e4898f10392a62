//! TODO

use leptos::prelude::*;

use crate::ui::PageHead;

#[component]
pub fn TenantList() -> impl IntoView {
    view! { <PageHead title="TenantList" /> }
}

#[component]
pub fn TenantDetail() -> impl IntoView {
    view! { <PageHead title="TenantDetail" /> }
}
