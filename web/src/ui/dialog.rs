//! Dialogs: typed confirmation before destructive actions, and the show-once secret.

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// A button that opens a dialog asking to type `word` before `on_confirm` runs.
#[component]
pub fn ConfirmButton(
    /// The button's text, such as "Delete".
    #[prop(into)]
    label: String,
    /// What the action does, in a sentence.
    #[prop(into)]
    what: String,
    /// The text to type, such as the tenant's name.
    #[prop(into)]
    word: String,
    on_confirm: impl Fn() + Send + Sync + 'static,
    #[prop(optional, into)] testid: String,
) -> impl IntoView {
    let open = RwSignal::new(false);
    let typed = RwSignal::new(String::new());
    let word_check = StoredValue::new(word.clone());
    let matches = move || word_check.with_value(|w| typed.get() == *w);
    let label_again = label.clone();
    let what = StoredValue::new(what);
    let word = StoredValue::new(word);
    let label_again = StoredValue::new(label_again);
    let on_confirm = StoredValue::new(on_confirm);
    view! {
        <button type="button" class="danger" data-testid=testid on:click=move |_| {
            typed.set(String::new());
            open.set(true)
        }>{label.clone()}</button>
        <Show when=move || open.get()>
            <div class="modal-backdrop">
                <div class="modal" role="dialog" aria-modal="true" aria-label="Confirm" data-testid="confirm">
                    <p>{what.get_value()}</p>
                    <label>
                        "Type " <code>{word.get_value()}</code> " to confirm"
                        <input type="text" data-testid="confirm-input" autofocus=true
                            prop:value=move || typed.get()
                            on:input=move |ev| typed.set(event_target_value(&ev)) />
                    </label>
                    <div class="actions">
                        <button type="button" on:click=move |_| open.set(false)>"Cancel"</button>
                        <button type="button" class="danger" data-testid="confirm-ok"
                            disabled=move || !matches()
                            on:click=move |_| if matches() { open.set(false); on_confirm.with_value(|f| f()) }
                        >{label_again.get_value()}</button>
                    </div>
                </div>
            </div>
        </Show>
    }
}

/// Copies `text`; `Ok(())` only once the clipboard holds it.
pub async fn copy(text: &str) -> Result<(), String> {
    let window = web_sys::window().ok_or("no window")?;
    let navigator = window.navigator();
    // `navigator.clipboard` is undefined outside secure contexts (plain http to a LAN host).
    let clipboard =
        js_sys::Reflect::get(&navigator, &"clipboard".into()).map_err(|_| "no clipboard")?;
    if clipboard.is_undefined() || clipboard.is_null() {
        return Err("This page is not a secure context, so the browser offers no clipboard".into());
    }
    let clipboard: web_sys::Clipboard = clipboard.unchecked_into();
    JsFuture::from(clipboard.write_text(text))
        .await
        .map(drop)
        .map_err(|e| {
            e.as_string()
                .or_else(|| {
                    js_sys::Reflect::get(&e, &"message".into())
                        .ok()
                        .and_then(|m| m.as_string())
                })
                .unwrap_or_else(|| "the browser refused".into())
        })
}

/// Offers `contents` as a file download named `name`.
pub fn download(name: &str, contents: &str) -> Result<(), String> {
    let parts = js_sys::Array::of1(&contents.into());
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("text/plain");
    let blob =
        web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).map_err(|_| "blob")?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(|_| "url")?;
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let a: web_sys::HtmlAnchorElement = document
        .create_element("a")
        .map_err(|_| "anchor")?
        .unchecked_into();
    a.set_href(&url);
    a.set_download(name);
    a.click();
    let _ = web_sys::Url::revoke_object_url(&url);
    Ok(())
}

/// Selects the text of the element with id `id`, for a manual copy.
fn select(id: &str) {
    if let Some(input) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(id))
        .and_then(|e| e.dyn_into::<web_sys::HtmlInputElement>().ok())
    {
        input.select();
    }
}

/// A secret shown once: Copy (honest about a missing clipboard), download as `.env`, done.
#[component]
pub fn ShowOnce(
    #[prop(into)] title: String,
    secret: String,
    /// The variable name in the `.env` download, such as `OPENAI_API_KEY`.
    env_var: &'static str,
    /// Extra `.env` lines, such as the base URL.
    #[prop(optional)]
    env_extra: Vec<(String, String)>,
    on_close: impl Fn() + Send + Sync + 'static,
) -> impl IntoView {
    let status = RwSignal::new(None::<Result<String, String>>);
    let secret_copy = secret.clone();
    let env = {
        let mut lines = vec![format!("{env_var}={secret}")];
        lines.extend(env_extra.iter().map(|(k, v)| format!("{k}={v}")));
        lines.push(String::new());
        lines.join("\n")
    };
    view! {
        <div class="modal-backdrop">
            <div class="modal" role="dialog" aria-modal="true" aria-label=title.clone() data-testid="show-once">
                <h2>{title.clone()}</h2>
                <p>"This is the only time it is shown. Only its digest is kept."</p>
                <input id="show-once-secret" class="secret" type="text" readonly=true
                    aria-label="Secret" data-testid="secret" value=secret.clone() />
                <div class="actions">
                    <button type="button" data-testid="copy" on:click=move |_| {
                        let text = secret_copy.clone();
                        leptos::task::spawn_local(async move {
                            match copy(&text).await {
                                Ok(()) => status.set(Some(Ok("Copied to the clipboard.".into()))),
                                Err(why) => {
                                    select("show-once-secret");
                                    status.set(Some(Err(format!(
                                        "Not copied: {why}. The key is selected: press Ctrl+C (⌘C)."
                                    ))));
                                }
                            }
                        });
                    }>"Copy"</button>
                    <button type="button" data-testid="download-env" on:click=move |_| {
                        if let Err(why) = download(".env", &env) {
                            status.set(Some(Err(format!("Download failed: {why}"))));
                        }
                    }>"Download as .env"</button>
                    <button type="button" class="primary" data-testid="done" on:click=move |_| on_close()>"Done"</button>
                </div>
                {move || status.get().map(|s| match s {
                    Ok(m) => view! { <p class="ok" role="status" data-testid="copy-status">{m}</p> }.into_any(),
                    Err(m) => view! { <p class="error" role="alert" data-testid="copy-status">{m}</p> }.into_any(),
                })}
            </div>
        </div>
    }
}
