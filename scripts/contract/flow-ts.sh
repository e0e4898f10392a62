#!/usr/bin/env bash
# The TypeScript client's flow: openapi-typescript turns the committed document into
# schema.d.ts in a temporary folder, `tsc --noEmit --strict` type-checks flow.ts against it
# (wrong types in the document fail here), then tsx runs flow.ts against FREEWAY_URL.
#
#   FREEWAY_URL=... FREEWAY_ADMIN_USER=admin FREEWAY_ADMIN_PASSWORD=... FREEWAY_MODEL=... \
#     scripts/contract/flow-ts.sh [DOCUMENT]   # default: $FREEWAY_OPENAPI, else openapi/openapi.json
#
# FREEWAY_CONTRACT_KEEP=1 keeps the temporary folder and prints where it is.

set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
doc="${1:-${FREEWAY_OPENAPI:-$here/../../openapi/openapi.json}}"
source "$here/tools.sh"
bin="$FREEWAY_TOOLS_NODE/node_modules/.bin"

work="$(mktemp -d "${TMPDIR:-/tmp}/freeway-tsclient-XXXXXX")"
if [ -n "${FREEWAY_CONTRACT_KEEP:-}" ]; then
  trap 'echo "generated client kept in $work"' EXIT
else
  trap 'rm -rf "$work"' EXIT
fi

ln -s "$FREEWAY_TOOLS_NODE/node_modules" "$work/node_modules"
cp "$here/flow.ts" "$work/flow.ts"
printf '{ "private": true, "type": "module" }\n' >"$work/package.json"
# skipLibCheck stays off: schema.d.ts is a declaration file, and it is what is being checked.
cat >"$work/tsconfig.json" <<'EOF'
{
  "compilerOptions": {
    "strict": true,
    "noEmit": true,
    "noUncheckedIndexedAccess": true,
    "target": "es2022",
    "module": "nodenext",
    "moduleResolution": "nodenext",
    "lib": ["es2022"],
    "types": ["node"],
    "skipLibCheck": false
  },
  "files": ["flow.ts", "schema.d.ts"]
}
EOF

echo "--> openapi-typescript $doc"
"$bin/openapi-typescript" "$doc" --output "$work/schema.d.ts"

echo "--> tsc --noEmit --strict (flow.ts + schema.d.ts)"
if ! (cd "$work" && "$bin/tsc" --noEmit --strict -p tsconfig.json --pretty false); then
  echo "TYPE CHECK FAILED: flow.ts does not type-check against the generated schema.d.ts" >&2
  exit 1
fi

echo "--> tsx flow.ts"
cd "$work" && "$bin/tsx" flow.ts
