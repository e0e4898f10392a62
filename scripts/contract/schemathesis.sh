#!/usr/bin/env bash
# Property-based tests of the served admin API against its own document: schemathesis reads
# URL/admin/v1/openapi.json, generates requests for every /admin/v1 operation (valid and
# invalid ones) with `Authorization: Bearer TOKEN`, and runs every check (status codes,
# content types, response schemas, headers, auth, rejection of invalid data, ...: all of them,
# enabled in schemathesis.toml).
# Exit 0 only when it found no failure; its report is printed.
#
#   scripts/contract/schemathesis.sh http://127.0.0.1:8080 "$TOKEN"
#
# Bounded to a few minutes: FREEWAY_SCHEMATHESIS_EXAMPLES (test cases per operation and phase,
# default 40), FREEWAY_SCHEMATHESIS_TIMEOUT (hard limit for the whole run, default 600 s: the
# admin run takes 200 to 300 s while other tests load both cores),
# FREEWAY_SCHEMATHESIS_SEED (default fixed, so a run repeats the previous one's cases; set
# "random" for a new seed). Extra arguments after TOKEN go to `schemathesis run` as they are.
#
# scripts/contract/schemathesis.toml holds the few per-operation exceptions (rules a schema
# cannot express), each with its reason.
#
# Two operations are left out: POST .../credentials/{id}/test and POST
# /admin/v1/credentials/import (which tests each new key unless `test` is false) make real
# calls to providers' base URLs, and generated providers point anywhere, built-in ones to the
# internet; this machine sends traffic to loopback only. tests/api/credential_import.rs
# covers the import against the mock upstream.

set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 URL TOKEN [schemathesis run options...]" >&2; exit 2; }
url="${1%/}"
token="$2"
shift 2
source "$(dirname "$0")/tools.sh"

seed="${FREEWAY_SCHEMATHESIS_SEED:-20240601}"
seed_args=(--seed "$seed")
[ "$seed" = random ] && seed_args=()
report="$(mktemp -d "${TMPDIR:-/tmp}/freeway-schemathesis-XXXXXX")"
trap 'rm -rf "$report"' EXIT

args=(
  --config-file "$(cd "$(dirname "$0")" && pwd)/schemathesis.toml"
  run "$url/admin/v1/openapi.json"
  --url "$url"
  --include-path-regex '^/admin/v1/'
  --exclude-path-regex '^/admin/v1/(providers/\{provider\}/credentials/\{id\}/test|credentials/import)$'
  --header "Authorization: Bearer $token"
  --max-examples "${FREEWAY_SCHEMATHESIS_EXAMPLES:-40}"
  --request-timeout 10
  --workers 1
  --generation-database none
  --no-color
  --report junit --report-dir "$report"
  "${seed_args[@]}"
  "$@"
)
printf '%q ' schemathesis "${args[@]//$token/<TOKEN>}"
echo
cd "$report"
set +e
timeout --kill-after=10 "${FREEWAY_SCHEMATHESIS_TIMEOUT:-600}" \
  "$FREEWAY_TOOLS_VENV/bin/schemathesis" "${args[@]}"
status=$?
set -e
if [ "$status" = 124 ] || [ "$status" = 137 ]; then
  echo "SCHEMATHESIS TIMED OUT after ${FREEWAY_SCHEMATHESIS_TIMEOUT:-600} s" >&2
fi
exit "$status"
