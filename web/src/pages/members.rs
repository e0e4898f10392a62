//! TODO

use leptos::prelude::*;

use crate::ui::PageHead;

#[component]
pub fn MemberDetail() -> impl IntoView {
    view! { <PageHead title="MemberDetail" /> }
}
