//! rust-embed reads `web/dist` at compile time but does not tell cargo to watch it; this
//! does, so a rebuilt UI is picked up. Until `web/dist` exists, `web/` is watched instead:
//! cargo reruns a build script on every build for a path that is missing.
//! Nothing is written to the source tree, so `cargo build` and `cargo install --path api`
//! work on a checkout that never built the UI (the binary then serves a page saying how).

fn main() {
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/dist");
    if dist.exists() {
        println!("cargo:rerun-if-changed=../web/dist");
    } else {
        println!("cargo:rerun-if-changed=../web");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
