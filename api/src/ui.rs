//! The admin UI: the WASM build of `freeway-web`, embedded in the binary.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse};
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "../web/dist/"]
// A plain `cargo build` (no UI built yet) embeds nothing and serves NOT_BUILT.
#[allow_missing = true]
struct Assets;

const NOT_BUILT: &str = "<!doctype html><title>Freeway</title><h1>Freeway</h1>\
<p>The web UI was not built into this binary. Build it with <code>scripts/build-ui.sh</code> \
(or run <code>scripts/run.sh</code>), then rebuild the server.</p>";

/// Serves a file of the UI, or `index.html` for any other GET path so that the UI's own
/// routes survive a reload.
pub async fn serve(req: HttpRequest) -> HttpResponse {
    let path = req.path().trim_start_matches('/');
    if let Some(file) = Assets::get(path).filter(|_| !path.is_empty()) {
        let mime = mime_guess::from_path(path).first_or_octet_stream();
        return HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, mime.essence_str()))
            .insert_header((CACHE_CONTROL, "no-cache"))
            .body(file.data.into_owned());
    }
    match Assets::get("index.html") {
        Some(index) => HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header((CACHE_CONTROL, "no-cache"))
            .body(index.data.into_owned()),
        None => HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
            .body(NOT_BUILT),
    }
}
