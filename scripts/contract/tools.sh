#!/usr/bin/env bash
# Installs the pinned contract-test tools into a cache, once per version of their requirement
# files: a Python venv (requirements.txt) and node_modules (package.json + package-lock.json).
#
#   scripts/contract/tools.sh            # install what is missing, print where the tools are
#   source scripts/contract/tools.sh     # the same, and set FREEWAY_TOOLS_VENV and
#                                        # FREEWAY_TOOLS_NODE (the folder holding node_modules)
#
# Concurrent callers (parallel tests) wait on one lock; a finished install is recognised by a
# stamp holding the hash of the requirement files and the interpreter versions, so a second
# call costs a few milliseconds. A failed install leaves no stamp and is redone from scratch.

set -euo pipefail

_contract_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FREEWAY_TOOLS="${FREEWAY_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/freeway/tools}"
FREEWAY_TOOLS_VENV="$FREEWAY_TOOLS/venv"
FREEWAY_TOOLS_NODE="$FREEWAY_TOOLS/node"
export FREEWAY_TOOLS FREEWAY_TOOLS_VENV FREEWAY_TOOLS_NODE

_tools_log() { printf '==> %s\n' "$*" >&2; }
_tools_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

_tools_python() { command -v python3 || _tools_die "python3 not found (3.10 or newer is needed)"; }

_tools_python_stamp() {
  { cat "$_contract_dir/requirements.txt"; "$(_tools_python)" --version; } | sha256sum | cut -d' ' -f1
}

_tools_node_stamp() {
  command -v node >/dev/null || _tools_die "node not found (20 or newer is needed)"
  command -v npm >/dev/null || _tools_die "npm not found"
  { cat "$_contract_dir/package.json" "$_contract_dir/package-lock.json"; node --version; } \
    | sha256sum | cut -d' ' -f1
}

_tools_python_ready() {
  [ -x "$FREEWAY_TOOLS_VENV/bin/python" ] \
    && [ "$(cat "$FREEWAY_TOOLS_VENV/.stamp" 2>/dev/null)" = "$(_tools_python_stamp)" ]
}

_tools_node_ready() {
  [ -d "$FREEWAY_TOOLS_NODE/node_modules" ] \
    && [ "$(cat "$FREEWAY_TOOLS_NODE/.stamp" 2>/dev/null)" = "$(_tools_node_stamp)" ]
}

_tools_install_python() {
  _tools_python_ready && return 0
  _tools_log "installing the Python contract tools into $FREEWAY_TOOLS_VENV"
  rm -rf "$FREEWAY_TOOLS_VENV"
  if ! "$(_tools_python)" -m venv "$FREEWAY_TOOLS_VENV" >&2; then
    # Debian's python3 keeps venv in a package of its own.
    rm -rf "$FREEWAY_TOOLS_VENV"
    command -v apt-get >/dev/null || _tools_die "python3 -m venv failed and there is no apt-get"
    _tools_log "installing python3-venv"
    local sudo=(); [ "$(id -u)" = 0 ] || sudo=(sudo)
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
    "$(_tools_python)" -m venv "$FREEWAY_TOOLS_VENV" >&2
  fi
  "$FREEWAY_TOOLS_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    --no-input -r "$_contract_dir/requirements.txt" >&2
  _tools_python_stamp >"$FREEWAY_TOOLS_VENV/.stamp"
}

_tools_install_node() {
  _tools_node_ready && return 0
  _tools_log "installing the npm contract tools into $FREEWAY_TOOLS_NODE"
  rm -rf "$FREEWAY_TOOLS_NODE"
  mkdir -p "$FREEWAY_TOOLS_NODE"
  cp "$_contract_dir/package.json" "$_contract_dir/package-lock.json" "$FREEWAY_TOOLS_NODE/"
  (cd "$FREEWAY_TOOLS_NODE" && npm ci --no-audit --no-fund --loglevel=error >&2)
  _tools_node_stamp >"$FREEWAY_TOOLS_NODE/.stamp"
}

if ! { _tools_python_ready && _tools_node_ready; }; then
  mkdir -p "$FREEWAY_TOOLS"
  (
    flock 9
    _tools_install_python
    _tools_install_node
  ) 9>"$FREEWAY_TOOLS/.lock"
fi

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  printf 'venv: %s\n' "$FREEWAY_TOOLS_VENV"
  printf 'node: %s\n' "$FREEWAY_TOOLS_NODE"
  "$FREEWAY_TOOLS_VENV/bin/python" - <<'EOF'
from importlib.metadata import version
for name in ("openapi-spec-validator", "openapi-python-client", "schemathesis", "httpx", "openai"):
    print(f"  {name} {version(name)}")
EOF
  for pkg in typescript openapi-typescript openapi-fetch tsx playwright-core; do
    printf '  %s %s\n' "$pkg" "$(node -p "require('$FREEWAY_TOOLS_NODE/node_modules/$pkg/package.json').version")"
  done
fi
