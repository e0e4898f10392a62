//! After an answer: the gateway's own headers, and the request as curl or Python.

use leptos::prelude::*;

use super::stream::Answer;
use super::{base_url, snippet};
use crate::ui::dialog::copy;

fn explain(header: &str) -> &'static str {
    match header {
        "x-freeway-route" => "The route that answered: provider/model.",
        "x-freeway-attempts" => "Routes tried, the answering one included.",
        "x-freeway-session" => "The conversation's session; later turns stay on its route.",
        "x-freeway-embedding-family" => "The embedding family that answered.",
        "x-request-id" => "This request in the log.",
        _ => "",
    }
}

/// What the gateway said about the answer, and the request to take elsewhere.
#[component]
pub fn AfterAnswer(answer: RwSignal<Option<Answer>>) -> impl IntoView {
    let status = RwSignal::new(None::<Result<String, String>>);
    let manual = RwSignal::new(None::<String>);
    let copy_as = move |what: &'static str| {
        let Some(body) = answer.with_untracked(|a| a.as_ref().map(|a| a.request.clone())) else {
            return;
        };
        let text = match what {
            "curl" => snippet::curl(&base_url(), &body),
            _ => snippet::python(&base_url(), &body),
        };
        leptos::task::spawn_local(async move {
            match copy(&text).await {
                Ok(()) => {
                    manual.set(None);
                    status.set(Some(Ok(format!("Copied as {what}."))));
                }
                Err(why) => {
                    status.set(Some(Err(format!(
                        "Not copied: {why}. Select the text below and copy it."
                    ))));
                    manual.set(Some(text));
                }
            }
        });
    };
    let headers = Memo::new(move |_| {
        answer.with(|a| a.as_ref().map(|a| a.headers.clone()).unwrap_or_default())
    });
    let code = Memo::new(move |_| answer.with(|a| a.as_ref().and_then(|a| a.status)));
    view! {
        <section class="card" data-testid="pg-after" aria-label="About this answer">
            <h2>"About this answer" {move || code.get().map(|c| view! { " " <small class="muted">{format!("HTTP {c}")}</small> })}</h2>
            {move || {
                let rows = headers.get();
                if rows.is_empty() {
                    return view! { <p class="muted">"The gateway sent no x-freeway headers."</p> }.into_any();
                }
                view! {
                    <table class="table" data-testid="pg-headers">
                        <tbody>
                            {rows.into_iter().map(|(name, value)| {
                                let link = (name == "x-request-id").then(|| view! {
                                    " " <a href=format!("/requests?id={}", crate::api::enc(&value))
                                        data-testid="pg-request-link">"Open in the request log"</a>
                                });
                                view! {
                                    <tr data-testid="pg-header" data-name=name.clone()>
                                        <th scope="row"><code>{name.clone()}</code></th>
                                        <td><code>{value.clone()}</code> {link}</td>
                                        <td class="muted">{explain(&name)}</td>
                                    </tr>
                                }
                            }).collect::<Vec<_>>()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            <div class="row" style="margin-top: .75rem">
                <button type="button" data-testid="pg-copy-curl" on:click=move |_| copy_as("curl")>"Copy as curl"</button>
                <button type="button" data-testid="pg-copy-python" on:click=move |_| copy_as("Python")>"Copy as Python"</button>
                <small class="muted">"Both read the key from " <code>"$FREEWAY_API_KEY"</code> "."</small>
            </div>
            {move || status.get().map(|s| match s {
                Ok(m) => view! { <p class="ok" role="status" data-testid="pg-copy-status">{m}</p> }.into_any(),
                Err(m) => view! { <p class="error" role="alert" data-testid="pg-copy-status">{m}</p> }.into_any(),
            })}
            {move || manual.get().map(|text| view! {
                <textarea readonly=true rows="12" class="mono" style="width: 100%" aria-label="Snippet"
                    data-testid="pg-snippet" prop:value=text></textarea>
            })}
        </section>
    }
}
