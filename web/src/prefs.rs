//! The viewer's choices, kept in `localStorage`: the time zone of every chart and timestamp,
//! the theme, and the instance admin's tenant (all tenants when none).

use chrono_tz::Tz;
use leptos::prelude::*;
use uuid::Uuid;

const ZONE: &str = "freeway.tz";
const THEME: &str = "freeway.theme";
const TENANT: &str = "freeway.tenant";

#[derive(Clone, Copy)]
pub struct Prefs {
    pub tz: RwSignal<Tz>,
    /// `light`, `dark`, or empty for the system's.
    pub theme: RwSignal<String>,
    pub tenant: RwSignal<Option<Uuid>>,
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

fn read(key: &str) -> Option<String> {
    storage()?
        .get_item(key)
        .ok()
        .flatten()
        .filter(|v| !v.is_empty())
}

fn write(key: &str, value: &str) {
    if let Some(s) = storage() {
        let _ = s.set_item(key, value);
    }
}

/// The browser's own zone (`Intl.DateTimeFormat().resolvedOptions().timeZone`).
pub fn browser_zone() -> Option<Tz> {
    let options = js_sys::Intl::DateTimeFormat::new(&js_sys::Array::new(), &js_sys::Object::new())
        .resolved_options();
    js_sys::Reflect::get(&options, &"timeZone".into())
        .ok()?
        .as_string()
        .and_then(|z| crate::time::parse_zone(&z))
}

fn apply_theme(theme: &str) {
    if let Some(root) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
    {
        let _ = if theme.is_empty() {
            root.remove_attribute("data-theme")
        } else {
            root.set_attribute("data-theme", theme)
        };
    }
}

impl Prefs {
    pub fn load() -> Prefs {
        let tz = read(ZONE)
            .and_then(|z| crate::time::parse_zone(&z))
            .or_else(browser_zone)
            .unwrap_or(Tz::UTC);
        let theme = read(THEME).unwrap_or_default();
        apply_theme(&theme);
        let tenant = read(TENANT).and_then(|t| t.parse().ok());
        let prefs = Prefs {
            tz: RwSignal::new(tz),
            theme: RwSignal::new(theme),
            tenant: RwSignal::new(tenant),
        };
        Effect::new(move |_| write(ZONE, prefs.tz.get().name()));
        Effect::new(move |_| {
            let theme = prefs.theme.get();
            write(THEME, &theme);
            apply_theme(&theme);
        });
        Effect::new(move |_| {
            write(
                TENANT,
                &prefs
                    .tenant
                    .get()
                    .map(|t| t.to_string())
                    .unwrap_or_default(),
            )
        });
        prefs
    }
}

pub fn use_prefs() -> Prefs {
    expect_context::<Prefs>()
}

/// The chosen zone, reactively.
pub fn tz() -> Tz {
    use_prefs().tz.get()
}
