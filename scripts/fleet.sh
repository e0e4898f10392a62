#!/usr/bin/env bash
# A fleet on one machine: Redis, two Freeway replicas sharing one Postgres and that Redis
# (limits, quotas, sessions, cooldowns, the login throttle), and nginx in front of them.
#
#   scripts/fleet.sh        # nginx on 127.0.0.1:8080, replicas on :8081 and :8082
#
# FLEET_PORT, FLEET_REPLICA_PORTS ("8081 8082") and FREEWAY_REDIS_URL change them; Redis is
# the one on 127.0.0.1:6379 when it answers, else one started from the machine's
# redis-server (installed when missing). Ctrl-C stops the replicas and nginx.
# FLEET_FREEWAY=path uses a binary already built; FLEET_EXIT_AFTER_START=1 stops once the
# fleet answers (a smoke test of this script).
source "$(dirname "$0")/lib.sh"

FLEET_PORT="${FLEET_PORT:-8080}"
REPLICA_PORTS="${FLEET_REPLICA_PORTS:-8081 8082}"

apt_install nginx-light curl
# FLEET_FREEWAY: a binary already built (skips building the UI and the server).
FREEWAY="${FLEET_FREEWAY:-}"
[ -n "$FREEWAY" ] || build_server

ensure_postgres freeway
ensure_master_key "$FREEWAY"
ensure_redis
"$FREEWAY" migrate

WORK="$FREEWAY_DATA_DIR/fleet"
mkdir -p "$WORK"
PIDS=()
cleanup() {
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
}
trap cleanup EXIT INT TERM

servers=""
for port in $REPLICA_PORTS; do
  log "replica on 127.0.0.1:$port (log: $WORK/replica-$port.log)"
  # nginx is the replicas' only peer: the login throttle reads the client from X-Forwarded-For.
  FREEWAY_TRUSTED_PROXIES="${FREEWAY_TRUSTED_PROXIES:-127.0.0.1}" FREEWAY_LISTEN="127.0.0.1:$port" "$FREEWAY" serve >>"$WORK/replica-$port.log" 2>&1 &
  PIDS+=($!)
  servers+="    server 127.0.0.1:$port max_fails=3 fail_timeout=5s;"$'\n'
done
for port in $REPLICA_PORTS; do
  for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.05; done
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null \
    || die "the replica on $port did not start: $(tail -5 "$WORK/replica-$port.log")"
done

{
  nginx_head nginx 1 4096
  cat <<NGINX
  client_max_body_size 10m;
  upstream freeway {
$servers    keepalive 64;
  }
  server {
    listen 127.0.0.1:$FLEET_PORT;
    location / {
      proxy_pass http://freeway;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      # Streams are relayed as they come.
      proxy_buffering off;
      proxy_read_timeout 330s;
    }
  }
}
NGINX
} >"$WORK/nginx.conf"
nginx -e "$WORK/nginx-error.log" -p "$WORK" -c "$WORK/nginx.conf"
curl -sf "http://127.0.0.1:$FLEET_PORT/readyz" >/dev/null || die "nginx does not reach the replicas"

log "fleet on http://127.0.0.1:$FLEET_PORT: replicas on ${REPLICA_PORTS// /, }, Redis $FREEWAY_REDIS_URL (Ctrl-C to stop)"
curl -s "http://127.0.0.1:$FLEET_PORT/readyz" >&2; echo >&2
manage_help
# FLEET_EXIT_AFTER_START=1: stop here (a smoke test of the script).
[ -z "${FLEET_EXIT_AFTER_START:-}" ] || exit 0
wait "${PIDS[@]}"
