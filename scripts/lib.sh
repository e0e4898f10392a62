# Shared by run.sh, test.sh and build-ui.sh: sourced, not run.
# Every helper installs or starts what is missing and skips what is present.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/freeway/target}"
FREEWAY_DATA_DIR="${FREEWAY_DATA_DIR:-$ROOT/.freeway}"
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "need root to run: $*"; fi
}

# apt_install PKG...: installs the Debian packages that are missing.
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get to install them"
  log "installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_rust() {
  command -v cargo >/dev/null || die "cargo not found: install Rust from https://rustup.rs"
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    log "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
}

# The wasm-bindgen CLI must match the wasm-bindgen library in Cargo.lock exactly.
ensure_wasm_bindgen() {
  local want have
  want="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock")"
  [ -n "$want" ] || die "wasm-bindgen is not in Cargo.lock"
  have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" || true
  if [ "$have" != "$want" ]; then
    log "installing wasm-bindgen-cli $want (once; a few minutes)"
    cargo install wasm-bindgen-cli --version "$want" --force
  fi
}

build_ui() {
  ensure_rust
  ensure_wasm_bindgen
  log "building the web UI (WASM)"
  cargo build --manifest-path "$ROOT/Cargo.toml" -p freeway-web --target wasm32-unknown-unknown --profile wasm-release
  local dist="$ROOT/web/dist" staging="$ROOT/web/dist.tmp"
  rm -rf "$staging" && mkdir -p "$staging"
  wasm-bindgen --target web --no-typescript --remove-name-section --remove-producers-section --out-dir "$staging" --out-name freeway_web \
    "$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-release/freeway_web.wasm"
  cp "$ROOT/web/index.html" "$ROOT/web/style.css" "$staging/"
  # Replace only when something changed, so the server's build script sees a stable tree.
  if ! diff -rq "$staging" "$dist" >/dev/null 2>&1; then
    rm -rf "$dist" && mv "$staging" "$dist"
  else
    rm -rf "$staging"
  fi
}

pg_answers() { pg_isready -q -h "$1" -p "$2" >/dev/null 2>&1; }

# Sets DATABASE_URL (the server's database) and FREEWAY_PG_SERVER_URL (the server's
# `postgres` database, for creating others): DATABASE_URL when set, else the server on
# 127.0.0.1:5432, else a private cluster in $FREEWAY_DATA_DIR/pg from the machine's binaries.
ensure_postgres() {
  local dbname="${1:-freeway}"
  command -v pg_isready >/dev/null && command -v psql >/dev/null || apt_install postgresql-client
  if [ -n "${DATABASE_URL:-}" ]; then
    psql "$DATABASE_URL" -qAtc 'select 1' >/dev/null 2>&1 \
      || die "DATABASE_URL is set but that database does not answer"
    FREEWAY_PG_SERVER_URL="${FREEWAY_PG_SERVER_URL:-$DATABASE_URL}"
    export DATABASE_URL FREEWAY_PG_SERVER_URL
    return
  fi
  local host=127.0.0.1 port=5432
  if ! pg_answers "$host" "$port"; then
    port="${FREEWAY_PG_PORT:-55432}"
    start_private_postgres "$port"
  fi
  FREEWAY_PG_SERVER_URL="postgres://postgres@$host:$port/postgres"
  DATABASE_URL="postgres://postgres@$host:$port/$dbname"
  export DATABASE_URL FREEWAY_PG_SERVER_URL
  if [ "$(psql "$FREEWAY_PG_SERVER_URL" -qAtc "select 1 from pg_database where datname = '$dbname'")" != 1 ]; then
    log "creating database $dbname"
    psql "$FREEWAY_PG_SERVER_URL" -qc "CREATE DATABASE \"$dbname\"" >/dev/null
  fi
}

start_private_postgres() {
  local port="$1" data="$FREEWAY_DATA_DIR/pg" bin
  pg_answers 127.0.0.1 "$port" && return 0
  bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  if [ -z "$bin" ]; then
    apt_install postgresql
    bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  fi
  local run=()
  # initdb and pg_ctl refuse to run as root: run them as postgres, in a folder it can reach
  # (a checkout under /root is not).
  if [ "$(id -u)" = 0 ]; then
    run=(runuser -u postgres --)
    mkdir -p "$data"
    if ! runuser -u postgres -- test -x "$data/.." 2>/dev/null; then
      data="/var/lib/freeway/pg-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
    fi
  fi
  mkdir -p "$data"
  [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$data" && chmod 700 "$data"
  if [ ! -f "$data/PG_VERSION" ]; then
    log "initialising a private PostgreSQL cluster in $data"
    "${run[@]}" "$bin/initdb" -D "$data" -U postgres --auth=trust >/dev/null
  fi
  log "starting the private PostgreSQL on 127.0.0.1:$port"
  "${run[@]}" "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w \
    -o "-p $port -k $data -c listen_addresses=127.0.0.1" start >/dev/null
}

# Makes sure a master key exists: FREEWAY_MASTER_KEY or FREEWAY_MASTER_KEY_FILE if set, else
# a 0600 key file in the data folder, generated on first use by `freeway keys generate`.
ensure_master_key() {
  local freeway="$1"
  [ -n "${FREEWAY_MASTER_KEY:-}" ] && return 0
  export FREEWAY_MASTER_KEY_FILE="${FREEWAY_MASTER_KEY_FILE:-$FREEWAY_DATA_DIR/master.key}"
  "$freeway" keys generate --file "$FREEWAY_MASTER_KEY_FILE" >&2
}

redis_answers() { redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null | grep -q PONG; }

# Sets FREEWAY_REDIS_URL: as given when set, else the Redis on 127.0.0.1:PORT (default
# FREEWAY_REDIS_PORT or 6379), started from the machine's redis-server (installed from Debian
# packages when missing, without persistence) when nothing answers there.
ensure_redis() {
  local port="${1:-${FREEWAY_REDIS_PORT:-6379}}"
  if [ -n "${FREEWAY_REDIS_URL:-}" ]; then export FREEWAY_REDIS_URL; return; fi
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null || apt_install redis-server
  if ! redis_answers "$port"; then
    local dir="$FREEWAY_DATA_DIR/redis-$port"
    mkdir -p "$dir"
    log "starting redis-server on 127.0.0.1:$port"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
      --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
    for _ in $(seq 1 100); do redis_answers "$port" && break; sleep 0.05; done
    redis_answers "$port" || die "redis-server did not start: $(tail -5 "$dir/redis.log")"
  fi
  export FREEWAY_REDIS_URL="redis://127.0.0.1:$port"
}

# nginx_head NAME WORKERS CONNECTIONS: the start of an nginx config that keeps everything
# in $WORK (its pid, error log and temp files, none in system paths), up to and including
# `http {`, with no access log. The caller writes the rest of the `http` block and its `}`.
nginx_head() {
  mkdir -p "$WORK/nginx-tmp"
  cat <<NGINX
worker_processes $2;
pid $WORK/$1.pid;
error_log $WORK/$1-error.log warn;
events { worker_connections $3; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx-tmp/body;
  proxy_temp_path $WORK/nginx-tmp/proxy;
  fastcgi_temp_path $WORK/nginx-tmp/fastcgi;
  uwsgi_temp_path $WORK/nginx-tmp/uwsgi;
  scgi_temp_path $WORK/nginx-tmp/scgi;
NGINX
}

# build_server: builds the UI and the release server; sets FREEWAY to the binary.
build_server() {
  build_ui
  log "building the server (release)"
  cargo build --manifest-path "$ROOT/Cargo.toml" -p freeway --release
  FREEWAY="$CARGO_TARGET_DIR/release/freeway"
}

# manage_help: how to run the CLI against this server from another shell.
manage_help() {
  cat >&2 <<HELP
    Manage Freeway from another shell with the same environment:
      export DATABASE_URL='$DATABASE_URL'
      export FREEWAY_MASTER_KEY_FILE='${FREEWAY_MASTER_KEY_FILE:-}'
      $FREEWAY --help
HELP
}
