//! Profiles: a name clients send as `model` and the models it tries, in order. Each chain is
//! reordered by dragging, with the Move buttons, or with Alt+↑ / Alt+↓ on a focused entry.

use freeway_wire::page::{List, Page};
use freeway_wire::pool::{ModelView, ProfileBody, ProfileView, ProviderView};
use freeway_wire::routing::Strategy;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

use crate::api::{self, ApiError};
use crate::pages::pool::page_url;
use crate::ui::{ConfirmButton, Empty, ErrorBanner, FieldError, Loading};
use crate::ui::{bump, keep};

type Profiles = RwSignal<Option<List<ProfileView>>>;
type Providers = RwSignal<Option<Page<ProviderView>>>;

/// The rule of the API's `{name}` path parameter.
fn valid_name(name: &str) -> bool {
    (1..=100).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
}

fn profile_path(name: &str) -> String {
    format!("/admin/v1/routing/profiles/{}", api::enc(name))
}

#[component]
pub(super) fn Profiles() -> impl IntoView {
    let version = RwSignal::new(0u32);
    let res = LocalResource::new(move || {
        version.track();
        async move { api::get::<List<ProfileView>>("/admin/v1/routing/profiles").await }
    });
    let (data, load_error) = keep(res);
    // For choosing entries: the pool's providers (one page), then a provider's models.
    let providers_res = LocalResource::new(move || async move {
        api::get::<Page<ProviderView>>(&page_url("/admin/v1/providers", None)).await
    });
    let (providers, providers_error) = keep(providers_res);
    let drafts = RwSignal::new(Vec::<String>::new());
    let saved = move || data.with(|d| d.as_ref().map(|l| l.data.clone()).unwrap_or_default());
    let unsaved = move || {
        let names: Vec<String> = data.with(|d| {
            d.as_ref()
                .map(|l| l.data.iter().map(|p| p.name.clone()).collect())
                .unwrap_or_default()
        });
        drafts.with(|ds| {
            ds.iter()
                .filter(|n| !names.contains(n))
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    let nothing = move || {
        data.with(|d| d.as_ref().is_some_and(|l| l.data.is_empty())) && drafts.with(Vec::is_empty)
    };
    view! {
        <p class="muted">
            "A profile is a name clients send as " <code>"model"</code> "; it tries its models in \
             order, or in the order its strategy ranks them by (ties in the chain's order). The \
             profile " <code>"auto"</code> " replaces the default chain."
        </p>
        <NewProfile data drafts />
        <ErrorBanner error=load_error />
        <ErrorBanner error=providers_error />
        <Show when=move || data.with(Option::is_some) fallback=move || load_error.with(Option::is_none).then(|| view! { <Loading /> })>
            <Show when=move || !nothing() fallback=|| view! { <Empty text="No profiles yet: create one by name." /> }>
                <For each=unsaved key=|n| n.clone() children=move |name| {
                    let initial = ProfileView { name, models: Vec::new(), context_handoff: true, strategy: Strategy::Priority };
                    view! { <ProfileEditor initial data version drafts providers /> }
                } />
                <For each=saved key=|p| p.name.clone()
                    children=move |initial| view! { <ProfileEditor initial data version drafts providers /> } />
            </Show>
        </Show>
    }
}

#[component]
fn NewProfile(data: Profiles, drafts: RwSignal<Vec<String>>) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let n = name.get_untracked().trim().to_string();
        let exists = data.with_untracked(|d| {
            d.as_ref()
                .is_some_and(|l| l.data.iter().any(|p| p.name == n))
        }) || drafts.with_untracked(|d| d.contains(&n));
        if !valid_name(&n) {
            return error.set(Some(crate::api::invalid(
                "name",
                "A profile name is 1 to 100 letters, digits, `.`, `_`, `:` or `-`.",
            )));
        }
        if exists {
            return error.set(Some(crate::api::invalid(
                "name",
                format!("A profile {n:?} exists already."),
            )));
        }
        error.set(None);
        drafts.update(|d| d.insert(0, n));
        name.set(String::new());
    };
    view! {
        <form class="row" on:submit=submit data-testid="profile-new-form">
            <label class="inline">"New profile"
                <input type="text" name="name" data-testid="profile-new-name" placeholder="fast"
                    prop:value=move || name.get()
                    on:input=move |ev| name.set(event_target_value(&ev)) />
            </label>
            <button type="submit" data-testid="profile-new">"Create"</button>
            <FieldError error field="name" />
            <span class="muted">"It is saved with its first model."</span>
        </form>
    }
}

#[component]
fn ProfileEditor(
    initial: ProfileView,
    data: Profiles,
    version: RwSignal<u32>,
    drafts: RwSignal<Vec<String>>,
    providers: Providers,
) -> impl IntoView {
    let name = StoredValue::new(initial.name.clone());
    let chain = RwSignal::new(initial.models.clone());
    let handoff = RwSignal::new(initial.context_handoff);
    let strategy = RwSignal::new(initial.strategy);
    let dragging = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<ApiError>);
    let status = RwSignal::new(None::<&'static str>);
    let busy = RwSignal::new(false);
    let saved = Memo::new(move |_| {
        name.with_value(|n| {
            data.with(|d| {
                d.as_ref()
                    .and_then(|l| l.data.iter().find(|p| p.name == *n).cloned())
            })
        })
    });
    let dirty = move || {
        saved.with(|s| {
            s.as_ref().is_none_or(|s| {
                chain.with(|c| *c != s.models)
                    || handoff.get() != s.context_handoff
                    || strategy.get() != s.strategy
            })
        })
    };
    let save = move |_| {
        status.set(None);
        let body = ProfileBody {
            models: chain.get_untracked(),
            context_handoff: Some(handoff.get_untracked()),
            strategy: Some(strategy.get_untracked()),
        };
        busy.set(true);
        let path = profile_path(&name.get_value());
        spawn_local(async move {
            let result = api::put::<ProfileView>(&path, &body).await;
            busy.set(false);
            match result {
                Ok(view) => {
                    error.set(None);
                    chain.set(view.models);
                    handoff.set(view.context_handoff);
                    strategy.set(view.strategy);
                    status.set(Some("Saved."));
                    bump(version);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let revert = move |_| {
        if let Some(s) = saved.get_untracked() {
            chain.set(s.models);
            handoff.set(s.context_handoff);
            strategy.set(s.strategy);
        }
        error.set(None);
        status.set(None);
    };
    let delete = move || {
        let n = name.get_value();
        let path = profile_path(&n);
        spawn_local(async move {
            match api::delete(&path).await {
                Ok(()) => {
                    error.set(None);
                    drafts.update(|d| d.retain(|x| *x != n));
                    bump(version);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let discard = move |_| {
        let n = name.get_value();
        drafts.update(|d| d.retain(|x| *x != n));
    };
    let title = initial.name.clone();
    view! {
        <section class="card" data-testid="profile" data-name=initial.name.clone()>
            <div class="row">
                <h3>{title.clone()}</h3>
                {move || saved.with(Option::is_none).then(|| view! { <span class="badge warn">"not saved yet"</span> })}
                {move || (saved.with(Option::is_some) && dirty()).then(|| view! { <span class="badge warn" data-testid="profile-dirty">"unsaved changes"</span> })}
            </div>
            <ol class="chain" data-testid="chain" aria-label=format!("Models of {title}, in the order they are tried")>
                <For each=move || chain.get() key=|m| m.clone()
                    children=move |model| view! { <ChainEntry model chain dragging profile=name /> } />
            </ol>
            {move || chain.with(Vec::is_empty).then(|| view! { <p class="muted">"No models yet: add the first one below."</p> })}
            <p class="muted"><small>"Drag an entry, use its arrows, or focus it and press Alt+↑ / Alt+↓."</small></p>
            <FieldError error field="models" />
            <AddEntry chain providers profile=name />
            <label class="inline">
                <input type="checkbox" data-testid="profile-handoff"
                    prop:checked=move || handoff.get()
                    on:change=move |ev| handoff.set(event_target_checked(&ev)) />
                "Context handoff: a conversation may move on to the next model of this profile"
            </label>
            <label class="inline">"Strategy"
                <select data-testid="profile-strategy"
                    on:change=move |ev| {
                        if let Some(s) = Strategy::parse(&event_target_value(&ev)) {
                            strategy.set(s);
                        }
                    }>
                    {Strategy::ALL.iter().map(|s| {
                        let s = *s;
                        view! { <option value=s.as_str() selected=move || strategy.get() == s>{strategy_label(s)}</option> }
                    }).collect::<Vec<_>>()}
                </select>
            </label>
            <ErrorBanner error fields=&["models"] />
            {move || status.get().map(|s| view! { <p class="ok" role="status" data-testid="profile-saved">{s}</p> })}
            <div class="row">
                <button type="button" class="primary" data-testid="profile-save"
                    disabled=move || busy.get() || chain.with(Vec::is_empty) || !dirty()
                    on:click=save>"Save"</button>
                <button type="button" data-testid="profile-revert" disabled=move || !dirty() on:click=revert>"Revert"</button>
                {move || if saved.with(Option::is_some) {
                    view! {
                        <ConfirmButton label="Delete" testid="profile-delete"
                            what=format!("Delete the profile {}? Clients asking for it get an unknown-model error.", name.get_value())
                            word=name.get_value() on_confirm=delete />
                    }.into_any()
                } else {
                    view! { <button type="button" data-testid="profile-discard" on:click=discard>"Discard"</button> }.into_any()
                }}
            </div>
        </section>
    }
}

/// A strategy as the select offers it.
fn strategy_label(strategy: Strategy) -> &'static str {
    match strategy {
        Strategy::Priority => "priority: the chain's order",
        Strategy::Balanced => "balanced: the most headroom left",
        Strategy::Fastest => "fastest: the lowest time to first token",
        Strategy::Reliable => "reliable: the highest success rate",
        Strategy::Smart => "smart: the strongest model (catalog tier)",
    }
}

fn entry_id(profile: &str, model: &str) -> String {
    format!("chain-{profile}-{model}")
}

/// Focuses `button` of the entry `id` if it is enabled, else the entry itself.
fn refocus(id: String, button: Option<&'static str>) {
    request_animation_frame(move || {
        let Some(entry) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id(&id))
        else {
            return;
        };
        let target = button
            .and_then(|b| {
                entry
                    .query_selector(&format!("[data-testid=\"{b}\"]"))
                    .ok()
                    .flatten()
            })
            .filter(|b| !b.has_attribute("disabled"))
            .unwrap_or(entry);
        if let Ok(el) = target.dyn_into::<web_sys::HtmlElement>() {
            let _ = el.focus();
        }
    });
}

/// Moves `model` to index `to` of the chain.
fn move_to(chain: RwSignal<Vec<String>>, model: &str, to: usize) {
    chain.update(|c| reorder(c, model, to));
}

fn reorder(chain: &mut Vec<String>, model: &str, to: usize) {
    if let Some(from) = chain.iter().position(|m| m == model) {
        let m = chain.remove(from);
        let to = to.min(chain.len());
        chain.insert(to, m);
    }
}

#[component]
fn ChainEntry(
    model: String,
    chain: RwSignal<Vec<String>>,
    dragging: RwSignal<Option<String>>,
    profile: StoredValue<String>,
) -> impl IntoView {
    let me = StoredValue::new(model.clone());
    let id = StoredValue::new(profile.with_value(|p| entry_id(p, &model)));
    let index =
        Memo::new(move |_| me.with_value(|m| chain.with(|c| c.iter().position(|x| x == m))));
    let last = move || chain.with(Vec::len).saturating_sub(1);
    // Moves this entry up (-1) or down (+1), keeping the focus on it.
    let shift = move |up: bool, button: Option<&'static str>| {
        let Some(i) = index.get_untracked() else {
            return;
        };
        let to = if up {
            i.checked_sub(1)
        } else {
            (i < last()).then_some(i.saturating_add(1))
        };
        if let Some(to) = to {
            me.with_value(|m| move_to(chain, m, to));
            refocus(id.get_value(), button);
        }
    };
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        if !ev.alt_key() {
            return;
        }
        match ev.key().as_str() {
            "ArrowUp" => {
                ev.prevent_default();
                shift(true, None);
            }
            "ArrowDown" => {
                ev.prevent_default();
                shift(false, None);
            }
            _ => {}
        }
    };
    let on_dragstart = move |ev: leptos::ev::DragEvent| {
        dragging.set(Some(me.get_value()));
        if let Some(dt) = ev.data_transfer() {
            let _ = dt.set_data("text/plain", &me.get_value());
            dt.set_effect_allowed("move");
        }
    };
    let on_dragover = move |ev: leptos::ev::DragEvent| {
        // Only entries of this chain are dropped here.
        if dragging.with_untracked(Option::is_some) {
            ev.prevent_default();
            if let Some(dt) = ev.data_transfer() {
                dt.set_drop_effect("move");
            }
        }
    };
    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        if let (Some(from), Some(to)) = (dragging.get_untracked(), index.get_untracked()) {
            move_to(chain, &from, to);
            refocus(profile.with_value(|p| entry_id(p, &from)), None);
        }
        dragging.set(None);
    };
    let remove = move |_| {
        me.with_value(|m| chain.update(|c| c.retain(|x| x != m)));
    };
    let is_dragged = move || me.with_value(|m| dragging.with(|d| d.as_ref() == Some(m)));
    view! {
        <li data-testid="chain-entry" data-model=model.clone() id=id.get_value()
            tabindex="0" draggable="true" aria-keyshortcuts="Alt+ArrowUp Alt+ArrowDown"
            aria-label=move || format!("{}. {}", index.get().unwrap_or(0).saturating_add(1), me.get_value())
            class:dragging=is_dragged
            on:keydown=on_keydown
            on:dragstart=on_dragstart
            on:dragover=on_dragover
            on:drop=on_drop
            on:dragend=move |_| dragging.set(None)>
            <span class="muted" aria-hidden="true">"⠿ " {move || format!("{}.", index.get().unwrap_or(0).saturating_add(1))}</span>
            <code>{model.clone()}</code>
            <span class="row" style="margin-left: auto">
                <button type="button" data-testid="move-up" aria-label=format!("Move {model} up")
                    disabled=move || index.get() == Some(0)
                    on:click=move |_| shift(true, Some("move-up"))>"↑"</button>
                <button type="button" data-testid="move-down" aria-label=format!("Move {model} down")
                    disabled=move || index.get().is_none_or(|i| i >= last())
                    on:click=move |_| shift(false, Some("move-down"))>"↓"</button>
                <button type="button" data-testid="chain-remove" aria-label=format!("Remove {model}")
                    on:click=remove>"Remove"</button>
            </span>
        </li>
    }
}

/// Picks `provider/model` from the pool: a provider, then one of its models (or type it).
#[component]
fn AddEntry(
    chain: RwSignal<Vec<String>>,
    providers: Providers,
    profile: StoredValue<String>,
) -> impl IntoView {
    let provider = RwSignal::new(String::new());
    let model = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let models_res = LocalResource::new(move || {
        let p = provider.get();
        async move {
            if p.is_empty() {
                return Ok(None);
            }
            let url = page_url(
                &format!("/admin/v1/providers/{}/models", api::enc(&p)),
                None,
            );
            api::get::<Page<ModelView>>(&url).await.map(Some)
        }
    });
    let list_id = profile.with_value(|p| format!("pool-models-{p}"));
    let provider_options = move || {
        providers.with(|p| {
            p.as_ref()
                .map(|page| {
                    page.data
                        .iter()
                        .map(|p| {
                            let label = if p.enabled {
                                p.display_name.clone()
                            } else {
                                format!("{} (off)", p.display_name)
                            };
                            view! { <option value=p.name.clone()>{label}</option> }
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    };
    let model_options = move || {
        models_res
            .get()
            .and_then(Result::ok)
            .flatten()
            .map(|page| {
                page.data
                    .into_iter()
                    .map(|m| view! { <option value=format!("{}/{}", m.provider, m.model_id)>{m.modality.as_str()}</option> })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let m = model.get_untracked().trim().to_string();
        if !m.contains('/') {
            return error.set(Some("Name the model as `provider/model`.".into()));
        }
        if chain.with_untracked(|c| c.contains(&m)) {
            return error.set(Some(format!("{m} is in the chain already.")));
        }
        error.set(None);
        chain.update(|c| c.push(m));
        model.set(String::new());
    };
    view! {
        <form class="row" on:submit=add data-testid="chain-add-form">
            <label class="inline">"Provider"
                <select data-testid="chain-add-provider" on:change=move |ev| provider.set(event_target_value(&ev))>
                    <option value="">"Any"</option>
                    {provider_options}
                </select>
            </label>
            <label class="inline">"Model"
                <input type="text" list=list_id.clone() data-testid="chain-add-model" placeholder="provider/model"
                    prop:value=move || model.get()
                    on:input=move |ev| model.set(event_target_value(&ev)) />
            </label>
            <datalist id=list_id>{model_options}</datalist>
            <button type="submit" data-testid="chain-add">"Add to chain"</button>
            {move || error.get().map(|e| view! { <span class="field-error" role="alert">{e}</span> })}
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::{reorder, valid_name};

    fn chain(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_entry_moves_to_the_place_it_is_dropped_on() {
        let mut c = chain(&["a/1", "b/2", "c/3"]);
        reorder(&mut c, "c/3", 0);
        assert_eq!(c, chain(&["c/3", "a/1", "b/2"]));
        reorder(&mut c, "c/3", 2);
        assert_eq!(c, chain(&["a/1", "b/2", "c/3"]));
        reorder(&mut c, "a/1", 9);
        assert_eq!(c, chain(&["b/2", "c/3", "a/1"]));
        reorder(&mut c, "x/0", 0);
        assert_eq!(c, chain(&["b/2", "c/3", "a/1"]));
    }

    #[test]
    fn profile_names_follow_the_path_rule() {
        assert!(valid_name("auto") && valid_name("fast:v2") && valid_name("a.b_c-d"));
        assert!(!valid_name("") && !valid_name("a b") && !valid_name("a/b"));
        assert!(!valid_name(&"x".repeat(101)));
    }
}
