//! A chat with the gateway as any client would have it: `/v1/chat/completions` with an api
//! key pasted here (kept in this tab's `sessionStorage`, never sent to `/admin`), streamed.
//! After each answer: the gateway's `x-freeway-*` headers (which route answered, how many
//! were tried, the session), and the same request as curl or Python.

mod after;
mod snippet;
mod stream;

use leptos::prelude::*;
use serde_json::{Value, json};

use self::stream::{Answer, State};
use super::requests::nav::Debounce;
use crate::ui::PageHead;

const KEY: &str = "freeway.playground.key";

fn session_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok().flatten()
}

fn stored_key() -> String {
    session_storage()
        .and_then(|s| s.get_item(KEY).ok().flatten())
        .unwrap_or_default()
}

fn store_key(key: &str) {
    if let Some(s) = session_storage() {
        let _ = if key.is_empty() {
            s.remove_item(KEY)
        } else {
            s.set_item(KEY, key)
        };
    }
}

/// The gateway's `/v1`, as this page reaches it.
fn base_url() -> String {
    let origin = web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default();
    format!("{origin}/v1")
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Turn {
    role: &'static str,
    content: String,
}

/// Streams into the page's answer, as long as it is still this request's.
struct PageSink {
    answer: RwSignal<Option<Answer>>,
    stopping: RwSignal<bool>,
    seq: u64,
}

impl stream::Sink for PageSink {
    fn update(&self, f: impl FnOnce(&mut Answer)) -> bool {
        let seq = self.seq;
        self.answer
            .try_update(move |answer| match answer {
                Some(a) if a.seq == seq => {
                    f(a);
                    true
                }
                _ => false,
            })
            .unwrap_or(false)
    }

    fn stopping(&self) -> bool {
        self.stopping.try_get_untracked().unwrap_or(true)
    }
}

#[component]
pub fn Playground() -> impl IntoView {
    let key = RwSignal::new(stored_key());
    let models_key = RwSignal::new(key.get_untracked());
    let model = RwSignal::new(String::new());
    let system = RwSignal::new(String::new());
    let message = RwSignal::new(String::new());
    let turns = RwSignal::new(Vec::<Turn>::new());
    let answer = RwSignal::new(None::<Answer>);
    let stopping = RwSignal::new(false);
    let problem = RwSignal::new(None::<String>);
    let seq = StoredValue::new(0u64);
    let controller = StoredValue::new_local(None::<web_sys::AbortController>);
    let debounce = Debounce::new();
    let models = LocalResource::new(move || {
        let key = models_key.get();
        async move {
            if key.trim().is_empty() {
                Ok(Vec::new())
            } else {
                stream::models(&key).await
            }
        }
    });
    let busy = move || {
        answer.with(|a| {
            a.as_ref()
                .is_some_and(|a| matches!(a.state, State::Waiting | State::Streaming))
        })
    };
    let stop = move || {
        stopping.set(true);
        controller.with_value(|c| {
            if let Some(c) = c {
                c.abort();
            }
        });
    };
    on_cleanup(move || {
        controller.try_with_value(|c| {
            if let Some(c) = c {
                c.abort();
            }
        });
    });

    let send = move || {
        if busy() {
            return;
        }
        let api_key = key.get_untracked().trim().to_string();
        let model_id = model.get_untracked().trim().to_string();
        let text = message.get_untracked();
        let missing = if api_key.is_empty() {
            Some("Paste an api key first.")
        } else if model_id.is_empty() {
            Some("Choose a model.")
        } else if text.trim().is_empty() {
            Some("Write a message.")
        } else {
            None
        };
        problem.set(missing.map(str::to_string));
        if missing.is_some() {
            return;
        }
        // The previous answer joins the conversation, which is sent whole each turn.
        if let Some(previous) = answer.get_untracked().filter(|a| !a.text.is_empty()) {
            turns.update(|t| {
                t.push(Turn {
                    role: "assistant",
                    content: previous.text,
                })
            });
        }
        turns.update(|t| {
            t.push(Turn {
                role: "user",
                content: text,
            })
        });
        message.set(String::new());
        let system_prompt = system.get_untracked();
        let mut messages: Vec<Value> = Vec::new();
        if !system_prompt.trim().is_empty() {
            messages.push(json!({"role": "system", "content": system_prompt}));
        }
        turns.with_untracked(|t| {
            messages.extend(
                t.iter()
                    .map(|m| json!({"role": m.role, "content": m.content})),
            )
        });
        let body = json!({"model": model_id, "messages": messages, "stream": true});
        let mine = seq
            .try_update_value(|s| {
                *s = s.wrapping_add(1);
                *s
            })
            .unwrap_or_default();
        answer.set(Some(Answer {
            request: body.clone(),
            seq: mine,
            ..Answer::default()
        }));
        stopping.set(false);
        let abort = web_sys::AbortController::new().ok();
        let signal = abort.as_ref().map(|c| c.signal());
        controller.set_value(abort);
        leptos::task::spawn_local(async move {
            let sink = PageSink {
                answer,
                stopping,
                seq: mine,
            };
            stream::chat(&api_key, &body, signal.as_ref(), &sink).await;
            // An answer that never began gives its message back, to send again.
            let unanswered = answer
                .try_with_untracked(|a| {
                    a.as_ref().is_some_and(|a| {
                        a.seq == mine
                            && a.text.is_empty()
                            && matches!(a.state, State::Failed | State::Stopped)
                    })
                })
                .unwrap_or(false);
            if unanswered {
                let last = turns
                    .try_update(|t| t.pop_if(|m| m.role == "user"))
                    .flatten();
                if let Some(last) = last
                    && message.try_with_untracked(String::is_empty) == Some(true)
                {
                    message.set(last.content);
                }
            }
        });
    };
    let clear = move |_| {
        stop();
        turns.set(Vec::new());
        answer.set(None);
        problem.set(None);
    };

    // Memos, so each streamed chunk updates the text, not the whole section.
    let answered =
        Memo::new(move |_| answer.with(|a| a.as_ref().is_some_and(|a| a.status.is_some())));
    view! {
        <PageHead title="Playground">
            <button type="button" data-testid="pg-clear" on:click=clear>"New conversation"</button>
        </PageHead>
        <p class="muted">
            "Chat through " <code>"/v1/chat/completions"</code>
            " with one of your api keys, as a client would. The key stays in this tab and goes only to "
            <code>"/v1"</code> "."
        </p>
        <div class="grid card" data-testid="pg-setup">
            <label>"Api key"
                <input type="password" data-testid="pg-key" autocomplete="off" spellcheck="false"
                    placeholder="fw-…"
                    prop:value=move || key.get()
                    on:input=move |ev| {
                        let value = event_target_value(&ev);
                        store_key(value.trim());
                        key.set(value);
                        debounce.run(500, move || models_key.set(key.get_untracked()));
                    } />
                {move || models.get().and_then(Result::err).map(|e| view! {
                    <span class="field-error" role="alert" data-testid="pg-key-error">{e}</span>
                })}
            </label>
            <label>"Model"
                <input type="text" data-testid="pg-model" list="pg-models" placeholder="auto"
                    prop:value=move || model.get() on:input=move |ev| model.set(event_target_value(&ev)) />
                <datalist id="pg-models">
                    {move || models.get().and_then(Result::ok).unwrap_or_default().into_iter()
                        .map(|m| view! { <option value=m></option> }).collect::<Vec<_>>()}
                </datalist>
                {move || models.get().and_then(Result::ok).filter(|m| !m.is_empty()).map(|m| view! {
                    <small class="muted" data-testid="pg-model-count">{format!("{} models for this key", m.len())}</small>
                })}
            </label>
            <label style="grid-column: 1 / -1">"System prompt (optional)"
                <textarea rows="2" data-testid="pg-system" prop:value=move || system.get()
                    on:input=move |ev| system.set(event_target_value(&ev))></textarea>
            </label>
        </div>
        <Conversation turns answer />
        <form class="card" data-testid="pg-form" on:submit=move |ev: leptos::ev::SubmitEvent| { ev.prevent_default(); send() }>
            <label>"Message"
                <textarea rows="3" data-testid="pg-message" placeholder="Ask something (Ctrl+Enter sends)"
                    prop:value=move || message.get()
                    on:input=move |ev| message.set(event_target_value(&ev))
                    on:keydown=move |ev| {
                        if ev.key() == "Enter" && (ev.ctrl_key() || ev.meta_key()) {
                            ev.prevent_default();
                            send();
                        }
                    }></textarea>
            </label>
            <div class="row">
                <button type="submit" class="primary" data-testid="pg-send" disabled=busy>"Send"</button>
                <Show when=busy>
                    <button type="button" data-testid="pg-stop" on:click=move |_| stop()>"Stop"</button>
                </Show>
                {move || problem.get().map(|p| view! { <span class="error" role="alert" data-testid="pg-problem">{p}</span> })}
            </div>
        </form>
        {move || answered.get().then(|| view! { <after::AfterAnswer answer /> })}
    }
}

#[component]
fn Conversation(turns: RwSignal<Vec<Turn>>, answer: RwSignal<Option<Answer>>) -> impl IntoView {
    let label = |role: &str| match role {
        "user" => "You",
        _ => "Assistant",
    };
    let shown = Memo::new(move |_| answer.with(Option::is_some));
    view! {
        <section aria-label="Conversation" data-testid="pg-conversation">
            {move || turns.get().into_iter().map(|t| view! {
                <div class="card" data-testid="pg-msg" data-role=t.role>
                    <div class="muted">{label(t.role)}</div>
                    <div style="white-space: pre-wrap">{t.content}</div>
                </div>
            }).collect::<Vec<_>>()}
            {move || shown.get().then(|| {
                let state = Memo::new(move |_| answer.with(|a| a.as_ref().map(|a| a.state).unwrap_or_default()));
                view! {
                    <div class="card" data-testid="pg-answer-card" data-state=move || state.get().slug()>
                        <div class="muted">
                            "Assistant "
                            {move || match state.get() {
                                State::Waiting => "· waiting for the first token…",
                                State::Streaming => "· streaming…",
                                State::Stopped => "· stopped",
                                State::Failed => "· failed",
                                State::Done => "",
                            }}
                        </div>
                        <div data-testid="pg-answer" data-state=move || state.get().slug() aria-live="polite"
                            style="white-space: pre-wrap">
                            {move || answer.with(|a| a.as_ref().map(|a| a.text.clone()).unwrap_or_default())}
                        </div>
                        {move || answer.with(|a| a.as_ref().and_then(|a| a.error.clone())).map(|e| view! {
                            <p class="error" role="alert" data-testid="pg-error">{e}</p>
                        })}
                    </div>
                }
            })}
        </section>
    }
}
