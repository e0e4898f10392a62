#!/usr/bin/env bash
# Page-load benchmark of the admin UI: seeds 10,000 api keys and 200,000 usage events, then
# times each list page in headless Chromium from navigation to its first row of data
# (median of FREEWAY_E2E_LOADS loads, default 7). Prints one "PAGE LOAD" line per page.
source "$(dirname "$0")/lib.sh"

apt_install chromium postgresql-client
build_ui
ensure_postgres freeway_test_base
export FREEWAY_TEST_DATABASE_URL="$FREEWAY_PG_SERVER_URL"
export FREEWAY_E2E_LOADS="${FREEWAY_E2E_LOADS:-7}"
cd "$ROOT"
scripts/contract/tools.sh >/dev/null
# The server in the dev profile by default (its deps are what the tests already built);
# FREEWAY_BENCH_RELEASE=1 for an optimised server.
profile=(); [ -n "${FREEWAY_BENCH_RELEASE:-}" ] && profile=(--release)
cargo test "${profile[@]}" -p freeway --test api ui_story::list_pages -- --nocapture 2>&1 | grep -E "PAGE LOAD|test result|FAILED|panicked"
