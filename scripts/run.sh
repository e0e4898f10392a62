#!/usr/bin/env bash
# Builds the UI and the server, makes sure Postgres and a master key exist, applies
# migrations and serves Freeway on 127.0.0.1:8080 (FREEWAY_LISTEN to change).
source "$(dirname "$0")/lib.sh"

build_server

ensure_postgres freeway
ensure_master_key "$FREEWAY"
export FREEWAY_LISTEN="${FREEWAY_LISTEN:-127.0.0.1:8080}"
"$FREEWAY" migrate

log "serving on http://$FREEWAY_LISTEN (Ctrl-C to stop)"
manage_help
exec "$FREEWAY" serve
