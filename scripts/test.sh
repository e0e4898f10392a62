#!/usr/bin/env bash
# Runs every check: formatting, clippy (server and WASM UI), unit and integration tests
# against a real Postgres, and the browser test of the UI in headless Chromium.
source "$(dirname "$0")/lib.sh"

apt_install chromium postgresql-client ca-certificates
build_ui
ensure_postgres freeway_test_base
export FREEWAY_TEST_DATABASE_URL="$FREEWAY_PG_SERVER_URL"
export FREEWAY_CHROMIUM="${FREEWAY_CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}"

# Databases left behind by earlier runs' tests.
psql "$FREEWAY_PG_SERVER_URL" -qAtc \
  "select format('DROP DATABASE IF EXISTS %I;', datname) from pg_database where datname like 'freeway\_test\_%' and datname <> 'freeway_test_base'" \
  | psql "$FREEWAY_PG_SERVER_URL" -q >/dev/null

cd "$ROOT"
log "cargo fmt --check"
cargo fmt --all --check
log "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p freeway-web --target wasm32-unknown-unknown -- -D warnings
log "contract-test tools (pinned, cached)"
scripts/contract/tools.sh
log "cargo test"
cargo test --workspace -- --test-threads="${FREEWAY_TEST_THREADS:-4}"
log "all checks passed"
