//! rust-embed reads `web/dist` at compile time but does not tell cargo to watch it; this
//! does, so a rebuilt UI is picked up. The folder is created when missing so that the
//! server builds (and serves a "UI not built" page) before the UI has ever been built.

fn main() {
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/dist");
    if !dist.exists() {
        let _ = std::fs::create_dir_all(&dist);
    }
    println!("cargo:rerun-if-changed=../web/dist");
    println!("cargo:rerun-if-changed=build.rs");
}
