# Fleet mode of scripts/bench.sh (BENCH_FLEET=1), sourced by it once the upstream, the
# pool, the tenant and its quotas are set up: one replica without Redis against two
# replicas sharing a Redis (their own, on BENCH_REDIS_PORT, default 18190) behind an nginx
# load balancer. Prints the c=1 JSON p50 of one replica without Redis and of one with it
# (the difference is what the Redis round trips add, target <= 150 µs), and the throughput
# at c=BENCH_FLEET_CONNECTIONS (default 16) of one replica against the fleet's.

REDIS_PORT="${BENCH_REDIS_PORT:-18190}"
FLEET_C="${BENCH_FLEET_CONNECTIONS:-16}"
# Clear of the upstream's and the proxy's ports (FW_PORT + 1 and + 2 by default).
A_PORT=$((FW_PORT + 11)) B_PORT=$((FW_PORT + 12)) LB_PORT=$((FW_PORT + 13))
OWN_REDIS=""
redis_answers "$REDIS_PORT" 2>/dev/null || OWN_REDIS=1
ensure_redis "$REDIS_PORT"
REDIS_URL="$FREEWAY_REDIS_URL"
unset FREEWAY_REDIS_URL
FLEET_PIDS=()
fleet_cleanup() {
  for pid in "${FLEET_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${FLEET_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  [ -f "$WORK/lb.pid" ] && kill "$(cat "$WORK/lb.pid")" 2>/dev/null
  [ -z "$OWN_REDIS" ] || redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  cleanup
}
trap fleet_cleanup EXIT

serve_on() { # serve_on PORT [REDIS_URL]
  if [ -n "${2:-}" ]; then
    FREEWAY_REDIS_URL="$2" FREEWAY_LISTEN="127.0.0.1:$1" "$FREEWAY" serve >>"$WORK/freeway-$1.log" 2>&1 &
  else
    FREEWAY_LISTEN="127.0.0.1:$1" "$FREEWAY" serve >>"$WORK/freeway-$1.log" 2>&1 &
  fi
  FLEET_PIDS+=($!)
}
serve_on "$FW_PORT"
serve_on "$A_PORT" "$REDIS_URL"
serve_on "$B_PORT" "$REDIS_URL"
for port in "$FW_PORT" "$A_PORT" "$B_PORT"; do
  for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.05; done
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || die "freeway on $port did not start: $(tail -5 "$WORK/freeway-$port.log")"
done
for port in "$A_PORT" "$B_PORT"; do
  for _ in $(seq 1 100); do curl -s "http://127.0.0.1:$port/readyz" | grep -q '"redis":true' && break; sleep 0.1; done
  curl -s "http://127.0.0.1:$port/readyz" | grep -q '"redis":true' || die "the replica on $port does not reach Redis"
done
{
  nginx_head lb 1 8192
  cat <<NGINX
  keepalive_requests 1000000;
  upstream fleet { server 127.0.0.1:$A_PORT; server 127.0.0.1:$B_PORT; keepalive 256; }
  server {
    listen 127.0.0.1:$LB_PORT;
    location / { proxy_pass http://fleet; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }
  }
}
NGINX
} >"$WORK/lb.conf"
nginx -e "$WORK/lb-error.log" -p "$WORK" -c "$WORK/lb.conf"

URL=/v1/chat/completions
log "fleet: one replica without Redis (:$FW_PORT) against two on Redis (:$A_PORT, :$B_PORT, nginx :$LB_PORT); ${ROUNDS} rounds of ${ROUND_SECONDS}s a target"
for f in single-1 redis-1 single-n fleet-n; do : >"$WORK/rounds-$f"; done
for _ in $(seq 1 "$ROUNDS"); do
  run single 1 "$ROUND_SECONDS" "$WORK/fw-json.lua" "http://127.0.0.1:$FW_PORT$URL" >>"$WORK/rounds-single-1"
  run redis 1 "$ROUND_SECONDS" "$WORK/fw-json.lua" "http://127.0.0.1:$A_PORT$URL" >>"$WORK/rounds-redis-1"
  run single "$FLEET_C" "$ROUND_SECONDS" "$WORK/fw-json.lua" "http://127.0.0.1:$FW_PORT$URL" >>"$WORK/rounds-single-n"
  run fleet "$FLEET_C" "$ROUND_SECONDS" "$WORK/fw-json.lua" "http://127.0.0.1:$LB_PORT$URL" >>"$WORK/rounds-fleet-n"
done
non2xx=$(cat "$WORK"/wrk-*.txt | awk '/Non-2xx/ { n += $NF } END { print n + 0 }')
read -r s1_rps s1_p50 s1_p99 <<<"$(summarize <"$WORK/rounds-single-1")"
read -r r1_rps r1_p50 r1_p99 <<<"$(summarize <"$WORK/rounds-redis-1")"
read -r sn_rps sn_p50 _ <<<"$(summarize <"$WORK/rounds-single-n")"
read -r fn_rps fn_p50 _ <<<"$(summarize <"$WORK/rounds-fleet-n")"
errors=$(curl -s "http://127.0.0.1:$A_PORT/readyz")
# What the scripts cost Redis itself (the reserve and the settle, averaged).
script_us=$(redis-cli -p "${REDIS_URL##*:}" info commandstats 2>/dev/null | tr -d '\r' \
  | awk -F'[=,]' '/^cmdstat_evalsha:/ { print $6 }')
echo
echo "Freeway fleet benchmark: $(nproc) cores, wrk -t1, ${ROUNDS} rounds of ${ROUND_SECONDS}s a target, JSON ($(date -u +%F))"
echo
echo "| target | c | req/s | p50 µs | p99 µs |"
echo "| --- | --: | --: | --: | --: |"
echo "| one replica, no Redis | 1 | $s1_rps | $s1_p50 | $s1_p99 |"
echo "| one replica of two on Redis | 1 | $r1_rps | $r1_p50 | $r1_p99 |"
echo "| one replica, no Redis | $FLEET_C | $sn_rps | $sn_p50 | |"
echo "| two replicas on Redis behind nginx | $FLEET_C | $fn_rps | $fn_p50 | |"
echo
echo "c=1 JSON p50 added by Redis: $((r1_p50 - s1_p50)) µs (target <= 150 µs)"
echo "throughput at c=$FLEET_C: the fleet $fn_rps req/s, one replica $sn_rps req/s ($(ratio "$fn_rps" "$sn_rps"))"
echo "Redis CPU a script call (reserve or settle, mean): ${script_us:-?} µs"
echo "non-2xx answers: $non2xx; a Redis replica's /readyz after the run: $errors"
