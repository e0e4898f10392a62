#!/usr/bin/env bash
# Builds the UI and the server, makes sure Postgres and a master key exist, applies
# migrations and serves Freeway on 127.0.0.1:8080 (FREEWAY_LISTEN to change).
source "$(dirname "$0")/lib.sh"

build_ui
log "building the server (release)"
cargo build --manifest-path "$ROOT/Cargo.toml" -p freeway --release
FREEWAY="$CARGO_TARGET_DIR/release/freeway"

ensure_postgres freeway
ensure_master_key "$FREEWAY"
export FREEWAY_LISTEN="${FREEWAY_LISTEN:-127.0.0.1:8080}"
"$FREEWAY" migrate

log "serving on http://$FREEWAY_LISTEN (Ctrl-C to stop)"
cat >&2 <<HELP
    Manage Freeway from another shell with the same environment:
      export DATABASE_URL='$DATABASE_URL'
      export FREEWAY_MASTER_KEY_FILE='${FREEWAY_MASTER_KEY_FILE:-}'
      $FREEWAY --help
HELP
exec "$FREEWAY" serve
