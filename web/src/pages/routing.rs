//! Routing, for instance admins: profiles (ordered chains of models), the router's live
//! state with its cooldowns, and a dry run of how one model name would be routed. The tab is
//! in the URL (`?tab=profiles|state|simulate`).

mod profiles;
mod simulate;
mod state;

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};

use super::pool::{NotAdmin, focus_later, is_instance_admin};
use crate::ui::PageHead;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Profiles,
    State,
    Simulate,
}

impl Tab {
    const ALL: [Tab; 3] = [Tab::Profiles, Tab::State, Tab::Simulate];

    fn slug(self) -> &'static str {
        match self {
            Tab::Profiles => "profiles",
            Tab::State => "state",
            Tab::Simulate => "simulate",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Tab::Profiles => "Profiles",
            Tab::State => "State",
            Tab::Simulate => "Simulate",
        }
    }

    fn parse(text: Option<&str>) -> Tab {
        Tab::ALL
            .into_iter()
            .find(|t| Some(t.slug()) == text)
            .unwrap_or(Tab::Profiles)
    }
}

#[component]
pub fn Routing() -> impl IntoView {
    if !is_instance_admin() {
        return view! { <PageHead title="Routing" /><NotAdmin /> }.into_any();
    }
    let query = use_query_map();
    let tab = Memo::new(move |_| query.with(|q| Tab::parse(q.get("tab").as_deref())));
    let navigate = StoredValue::new(use_navigate());
    let buttons = Tab::ALL.map(|t| {
        view! {
            <button type="button" role="tab" id=format!("tab-{}", t.slug())
                data-testid=format!("tab-{}", t.slug())
                aria-controls="routing-panel"
                aria-selected=move || (tab.get() == t).to_string()
                tabindex=move || if tab.get() == t { "0" } else { "-1" }
                on:click=move |_| navigate.with_value(|n| n(&format!("/routing?tab={}", t.slug()), Default::default()))
                on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                    let i = Tab::ALL.iter().position(|x| *x == t).unwrap_or(0);
                    let to = match ev.key().as_str() {
                        "ArrowRight" => Tab::ALL.get((i + 1) % Tab::ALL.len()),
                        "ArrowLeft" => Tab::ALL.get((i + Tab::ALL.len() - 1) % Tab::ALL.len()),
                        _ => None,
                    };
                    if let Some(to) = to.copied() {
                        ev.prevent_default();
                        navigate.with_value(|n| n(&format!("/routing?tab={}", to.slug()), Default::default()));
                        focus_later(format!("tab-{}", to.slug()));
                    }
                }>
                {t.label()}
            </button>
        }
    });
    view! {
        <PageHead title="Routing" />
        <div class="tabs" role="tablist" aria-label="Routing">{buttons}</div>
        <div id="routing-panel" role="tabpanel" aria-labelledby=move || format!("tab-{}", tab.get().slug())>
            {move || match tab.get() {
                Tab::Profiles => view! { <profiles::Profiles /> }.into_any(),
                Tab::State => view! { <state::RoutingState /> }.into_any(),
                Tab::Simulate => view! { <simulate::Simulate /> }.into_any(),
            }}
        </div>
    }
    .into_any()
}
