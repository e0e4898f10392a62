#!/usr/bin/env bash
# The gateway benchmark: the same load against a fixed-response upstream directly, through a
# bare nginx reverse proxy (the cheapest possible gateway on this machine) and through
# Freeway with everything on (key auth; tenant, member and key quotas; route, model and
# provider-account limits on the ledger; usage events written to Postgres).
#
#   scripts/bench.sh                      # c=1, 16, 64, JSON and SSE, 10 s each; 5 min sustained
#                                         # (each point: 5 rounds of 2 s a target, taking turns)
#   BENCH_SECONDS=5 BENCH_SUSTAIN_MINUTES=1 scripts/bench.sh     # a quicker look
#   BENCH_FLEET=1 scripts/bench.sh        # one replica without Redis against two sharing a
#                                         # Redis behind nginx (scripts/bench-fleet.sh)
#
# BENCH_*_PORT and BENCH_DATABASE keep two runs on one machine apart.
#
# The upstream is nginx answering a fixed chat completion (JSON, or an SSE stream of three
# chunks and [DONE]), so what is measured is the gateway, not a mock. Load comes from wrk
# (one thread; Debian's package, installed when missing). Prints a table with each point's
# req/s, p50 and p99 and Freeway's ratios to the proxy and to direct; the sustained run's
# throughput minute by minute; Freeway's RSS at the end and after a restart; usage rows
# written against the 2xx responses served.
source "$(dirname "$0")/lib.sh"

SECONDS_PER_POINT="${BENCH_SECONDS:-10}"
SUSTAIN_MINUTES="${BENCH_SUSTAIN_MINUTES:-5}"
CONNECTIONS="${BENCH_CONNECTIONS:-1 16 64}"
UP_PORT="${BENCH_UPSTREAM_PORT:-18181}"
PROXY_PORT="${BENCH_PROXY_PORT:-18182}"
FW_PORT="${BENCH_FREEWAY_PORT:-18180}"

apt_install wrk nginx-light postgresql-client python3
# BENCH_FREEWAY: another build of the binary (an earlier commit's, to compare).
FREEWAY="${BENCH_FREEWAY:-}"
if [ -z "$FREEWAY" ]; then
  log "building the server (release)"
  cargo build --manifest-path "$ROOT/Cargo.toml" -p freeway --release --quiet
  FREEWAY="$CARGO_TARGET_DIR/release/freeway"
fi

WORK="$(mktemp -d /tmp/freeway-bench.XXXXXX)"
FW_PID=""
cleanup() {
  [ -n "$FW_PID" ] && kill "$FW_PID" 2>/dev/null && wait "$FW_PID" 2>/dev/null
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null
  [ -n "${BENCH_KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

# A fresh database every run, so the restart below restores this run's traffic only.
# BENCH_DATABASE: another name, so that two runs on one machine do not drop each other's.
BENCH_DB="${BENCH_DATABASE:-freeway_bench}"
ensure_postgres "$BENCH_DB"
psql "$FREEWAY_PG_SERVER_URL" -qc "DROP DATABASE IF EXISTS \"$BENCH_DB\" WITH (FORCE)" >/dev/null
psql "$FREEWAY_PG_SERVER_URL" -qc "CREATE DATABASE \"$BENCH_DB\"" >/dev/null
export FREEWAY_MASTER_KEY_FILE="$WORK/master.key"
"$FREEWAY" keys generate --file "$FREEWAY_MASTER_KEY_FILE" >/dev/null 2>&1
"$FREEWAY" migrate >/dev/null 2>&1

# --- the upstream and the bare proxy: one nginx --------------------------------------------
chunk() { # chunk DELTA FINISH [USAGE]
  printf 'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench","choices":[{"index":0,"delta":%s,"finish_reason":%s}]%s}\n\n' "$1" "$2" "${3:-}"
}
USAGE='"usage":{"prompt_tokens":9,"completion_tokens":7,"total_tokens":16}'
JSON_ANSWER='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the fixed upstream."},"finish_reason":"stop"}],'"$USAGE"'}'
SSE_ANSWER="$(chunk '{"role":"assistant","content":"Hello"}' null; chunk '{"content":" from the fixed upstream."}' null; chunk '{}' '"stop"' ",$USAGE"; printf 'data: [DONE]\n\n')"
{
  nginx_head nginx auto 8192
  cat <<NGINX
  keepalive_requests 1000000;
  upstream fixed { server 127.0.0.1:$UP_PORT; keepalive 256; }
  server {
    listen 127.0.0.1:$UP_PORT;
    location = /json/chat/completions { default_type application/json; return 200 '$JSON_ANSWER'; }
    location = /sse/chat/completions { default_type text/event-stream; return 200 '$SSE_ANSWER'; }
  }
  server {
    listen 127.0.0.1:$PROXY_PORT;
    location / {
      proxy_pass http://fixed;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
NGINX
} >"$WORK/nginx.conf"
nginx -e "$WORK/nginx-error.log" -p "$WORK" -c "$WORK/nginx.conf"

# --- Freeway, everything on ------------------------------------------------------------------
BIG=1000000000
"$FREEWAY" provider add bench --base-url "http://127.0.0.1:$UP_PORT/json" --model bench --keyless >/dev/null
"$FREEWAY" provider add bench-sse --base-url "http://127.0.0.1:$UP_PORT/sse" --model bench-sse --keyless >/dev/null
for p in bench bench-sse; do
  # Limits far above the load, so that every window is checked and counted but none refuses.
  "$FREEWAY" limits set --provider "$p" --rpm $BIG --rph $BIG --rpd $BIG --tpm $BIG --tpd $BIG >/dev/null
  "$FREEWAY" limits set --provider "$p" --model "$p" --rpm $BIG --rph $BIG --rpd $BIG --tpm $BIG --tpd $BIG >/dev/null
done
"$FREEWAY" tenant create bench >/dev/null
"$FREEWAY" member create --tenant bench alice >/dev/null
KEY="$("$FREEWAY" key create --tenant bench --member alice 2>/dev/null | grep -oE '^fw-[A-Za-z0-9]+-[A-Za-z0-9]+$' | head -1)"
[ -n "$KEY" ] || die "no api key was printed"
QUOTA=(--rpm $BIG --rpd $BIG --tpm $BIG --tpd $BIG --tokens-per-month $BIG$BIG)
"$FREEWAY" quota set --tenant bench "${QUOTA[@]}" >/dev/null
"$FREEWAY" quota set --tenant bench --member alice "${QUOTA[@]}" >/dev/null
"$FREEWAY" quota set --tenant bench --key "$(cut -d- -f1-2 <<<"$KEY")" "${QUOTA[@]}" >/dev/null

export FREEWAY_LISTEN="127.0.0.1:$FW_PORT"
start_freeway() {
  local started=$EPOCHREALTIME
  "$FREEWAY" serve >>"$WORK/freeway.log" 2>&1 &
  FW_PID=$!
  for _ in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$FW_PORT/readyz" >/dev/null 2>&1 && break
    sleep 0.05
  done
  curl -sf "http://127.0.0.1:$FW_PORT/readyz" >/dev/null || die "freeway did not start: $(tail -5 "$WORK/freeway.log")"
  READY_MS=$(python3 -c "print(round(($EPOCHREALTIME - $started) * 1000))")
}
stop_freeway() { kill -TERM "$FW_PID"; wait "$FW_PID" 2>/dev/null || true; FW_PID=""; }
rss_mb() { awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$FW_PID/status"; }
[ -n "${BENCH_FLEET:-}" ] || start_freeway

# --- load ------------------------------------------------------------------------------------
body() { printf '{"model":"%s","messages":[{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":32%s}' "$1" "$2"; }
wrk_script() { # wrk_script FILE BODY [AUTH]
  {
    echo 'wrk.method = "POST"'
    echo 'wrk.headers["Content-Type"] = "application/json"'
    [ -z "${3:-}" ] || echo "wrk.headers[\"Authorization\"] = \"Bearer $3\""
    echo "wrk.body = [[$2]]"
  } >"$1"
}
wrk_script "$WORK/json.lua" "$(body bench '')"
wrk_script "$WORK/sse.lua" "$(body bench-sse ',"stream":true')"
wrk_script "$WORK/fw-json.lua" "$(body bench '')" "$KEY"
wrk_script "$WORK/fw-sse.lua" "$(body bench-sse ',"stream":true')" "$KEY"

# run NAME CONNECTIONS SECONDS SCRIPT URL: prints "rps p50_us p99_us"; adds Freeway's 2xx
# responses to $WORK/served (run in a subshell: a variable would not survive it).
run() {
  local out="$WORK/wrk-$1-$2.txt"
  wrk -t1 -c"$2" -d"$3s" --latency -s "$4" "$5" >"$out" 2>&1 || die "wrk failed: $(cat "$out")"
  if [ "$1" = freeway ]; then
    local total bad
    total=$(awk '/requests in/ { print $1 }' "$out")
    bad=$(awk '/Non-2xx/ { print $NF }' "$out")
    echo $((total - ${bad:-0})) >>"$WORK/served"
    [ -z "$bad" ] || log "freeway answered $bad non-2xx responses"
  fi
  awk '
    function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; if (v ~ /s$/) return v * 1000000; return v }
    /Requests\/sec/ { rps = $2 }
    $1 == "50%" { p50 = us($2) }
    $1 == "99%" { p99 = us($2) }
    END { printf "%.0f %.0f %.0f\n", rps, p50, p99 }' "$out"
}

# Time to the first byte of the body, median of N sequential requests on one connection.
ttfb() { # ttfb PORT PATH AUTH
  python3 - "$@" <<'PY'
import http.client, json, statistics, sys, time
port, path, auth = int(sys.argv[1]), sys.argv[2], sys.argv[3]
model = "bench-sse"
body = json.dumps({"model": model, "stream": True, "max_tokens": 32,
                   "messages": [{"role": "user", "content": "Say hello in one short sentence."}]})
headers = {"Content-Type": "application/json"}
if auth:
    headers["Authorization"] = "Bearer " + auth
conn = http.client.HTTPConnection("127.0.0.1", port)
times = []
for i in range(300):
    start = time.perf_counter()
    conn.request("POST", path, body, headers)
    resp = resp0 = conn.getresponse()
    first = resp.read(1)
    took = time.perf_counter() - start
    assert resp.status == 200 and first, resp.status
    resp.read()
    if i >= 20:
        times.append(took)
print(round(statistics.median(times) * 1e6))
PY
}

# A point's three targets take turns, ROUNDS times, each for its share of the point's
# seconds: this machine's speed drifts within minutes, and turns spread the drift over all
# three rather than onto whichever ran in the slow minute. A point's req/s is the mean of
# its rounds (their total over their total time); p50 and p99 are the rounds' medians.
ROUNDS="${BENCH_ROUNDS:-5}"
ROUND_SECONDS=$(( (SECONDS_PER_POINT + ROUNDS - 1) / ROUNDS ))
[ "$ROUND_SECONDS" -ge 1 ] || ROUND_SECONDS=1
# summarize: reads "rps p50 p99" lines, prints the mean rps and the median p50 and p99.
summarize() {
  python3 -c '
import statistics, sys
rows = [list(map(float, line.split())) for line in sys.stdin if line.strip()]
print("%.0f %.0f %.0f" % (statistics.mean(r[0] for r in rows),
    statistics.median(r[1] for r in rows), statistics.median(r[2] for r in rows)))'
}
ratio() { python3 -c "a, b = $1, $2; print(f'{a / b * 100:.0f}%' if b else '-')"; }
# BENCH_FLEET=1: one replica without Redis against a fleet of two on Redis, and nothing else.
if [ -n "${BENCH_FLEET:-}" ]; then
  source "$ROOT/scripts/bench-fleet.sh"
  exit 0
fi

declare -A RESULT
log "load: c=$CONNECTIONS, ${ROUNDS} rounds of ${ROUND_SECONDS}s a target a point, JSON and SSE"
for kind in json sse; do
  for c in $CONNECTIONS; do
    : >"$WORK/rounds-direct" && : >"$WORK/rounds-proxy" && : >"$WORK/rounds-freeway"
    for _ in $(seq 1 "$ROUNDS"); do
      run direct "$c" "$ROUND_SECONDS" "$WORK/$kind.lua" "http://127.0.0.1:$UP_PORT/$kind/chat/completions" >>"$WORK/rounds-direct"
      run proxy "$c" "$ROUND_SECONDS" "$WORK/$kind.lua" "http://127.0.0.1:$PROXY_PORT/$kind/chat/completions" >>"$WORK/rounds-proxy"
      run freeway "$c" "$ROUND_SECONDS" "$WORK/fw-$kind.lua" "http://127.0.0.1:$FW_PORT/v1/chat/completions" >>"$WORK/rounds-freeway"
    done
    for target in direct proxy freeway; do
      RESULT[$target,$kind,$c]=$(summarize <"$WORK/rounds-$target")
    done
  done
done
TTFB_DIRECT=$(ttfb "$UP_PORT" /sse/chat/completions "")
TTFB_PROXY=$(ttfb "$PROXY_PORT" /sse/chat/completions "")
TTFB_FREEWAY=$(ttfb "$FW_PORT" /v1/chat/completions "$KEY")

log "sustained: c=64 JSON for $SUSTAIN_MINUTES minute(s)"
# CPU time (clock ticks) of a set of processes: Freeway's, or nginx's (the upstream's work
# per request never changes, so its CPU per request shows how fast the machine itself ran
# that minute: on a shared machine it drifts, and every process's figures drift with it).
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$t"; }
per_request_us() { # per_request_us TICKS REQUESTS
  python3 -c "print(round($1 * 1e6 / $(getconf CLK_TCK) / max($2, 1), 1))"
}
MINUTES=() MINUTE_CPU=()
for m in $(seq 1 "$SUSTAIN_MINUTES"); do # BENCH_SUSTAIN_MINUTES=0 skips it
  fw0=$(ticks "$FW_PID") ng0=$(ticks $(pgrep -P "$(cat "$WORK/nginx.pid")"))
  read -r rps _ _ <<<"$(run freeway 64 60 "$WORK/fw-json.lua" "http://127.0.0.1:$FW_PORT/v1/chat/completions")"
  n=$(awk '/requests in/ { print $1 }' "$WORK/wrk-freeway-64.txt")
  fw=$(per_request_us $(($(ticks "$FW_PID") - fw0)) "$n")
  ng=$(per_request_us $(($(ticks $(pgrep -P "$(cat "$WORK/nginx.pid")")) - ng0)) "$n")
  MINUTES+=("$rps")
  MINUTE_CPU+=("$fw/$ng")
  log "minute $m: $rps req/s, RSS $(rss_mb) MB, CPU per request: Freeway $fw µs, the nginx upstream $ng µs"
done
RSS_END=$(rss_mb)

# Every event written? The writer flushes every 100 ms; wait until the count settles.
rows() { psql "$DATABASE_URL" -Atc "SELECT count(*) FILTER (WHERE status BETWEEN 200 AND 299) || ' ' || count(*) FILTER (WHERE status = 499) || ' ' || count(*) FROM usage_events"; }
prev=""
for _ in $(seq 1 60); do now="$(rows)"; [ "$now" = "$prev" ] && break; prev="$now"; sleep 1; done
read -r ROWS_2XX ROWS_499 ROWS_ALL <<<"$now"
SERVED_2XX=$(awk '{ n += $1 } END { print n + 0 }' "$WORK/served")
stop_freeway
# The writer's own count, logged when it has drained at shutdown.
DROPPED=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/freeway.log" | grep -E ' stopped written=' | tail -1 | grep -oE 'dropped=[0-9]+' | cut -d= -f2)
start_freeway
RSS_RESTART=$(rss_mb)
RESTART_MS=$READY_MS
curl -sf "http://127.0.0.1:$FW_PORT/v1/chat/completions" -H "Authorization: Bearer $KEY" \
  -H 'content-type: application/json' -d "$(body bench '')" >/dev/null || die "no answer after the restart"

# --- report ----------------------------------------------------------------------------------
echo
echo "Freeway benchmark: $(nproc) cores, wrk -t1, ${ROUNDS} rounds of ${ROUND_SECONDS}s a target a point, taking turns ($(date -u +%F))"
echo
printf '| %-5s | %-3s | %-8s | %9s | %9s | %9s | %9s | %9s |\n' load c target 'req/s' 'p50 µs' 'p99 µs' 'vs proxy' 'vs direct'
printf '| %-5s | %-3s | %-8s | %9s | %9s | %9s | %9s | %9s |\n' --- --: --- --: --: --: --: --:
for kind in json sse; do
  for c in $CONNECTIONS; do
    read -r d_rps d_p50 _ <<<"${RESULT[direct,$kind,$c]}"
    read -r p_rps _ _ <<<"${RESULT[proxy,$kind,$c]}"
    for target in direct proxy freeway; do
      read -r rps p50 p99 <<<"${RESULT[$target,$kind,$c]}"
      vp="-" vd="-"
      [ "$target" = direct ] || vd=$(ratio "$rps" "$d_rps")
      [ "$target" = freeway ] && vp=$(ratio "$rps" "$p_rps")
      printf '| %-5s | %3s | %-8s | %9s | %9s | %9s | %9s | %9s |\n' "$kind" "$c" "$target" "$rps" "$p50" "$p99" "$vp" "$vd"
    done
  done
done
read -r _ d1 _ <<<"${RESULT[direct,json,1]:-0 0 0}"
read -r _ p1 _ <<<"${RESULT[proxy,json,1]:-0 0 0}"
read -r _ f1 _ <<<"${RESULT[freeway,json,1]:-0 0 0}"
echo
[ -z "${RESULT[direct,json,1]:-}" ] ||
  echo "c=1 JSON p50 added over direct: proxy $((p1 - d1)) µs, Freeway $((f1 - d1)) µs"
echo "SSE time to first byte (median of 280): direct $TTFB_DIRECT µs, proxy $TTFB_PROXY µs, Freeway $TTFB_FREEWAY µs (added $((TTFB_FREEWAY - TTFB_DIRECT)) µs)"
[ ${#MINUTES[@]} -eq 0 ] ||
  echo "sustained c=64 JSON, req/s by minute: ${MINUTES[*]} (last/first $(ratio "${MINUTES[-1]}" "${MINUTES[0]}")); CPU µs per request, Freeway/nginx upstream: ${MINUTE_CPU[*]}"
echo "Freeway RSS: $RSS_END MB at the end; $RSS_RESTART MB after a restart (ready in $RESTART_MS ms)"
echo "usage rows: $ROWS_2XX with a 2xx status for $SERVED_2XX 2xx responses wrk received ($((ROWS_2XX - SERVED_2XX)) more: answered as a run ended, after wrk stopped reading; $ROWS_499 rows of 499: cut off then; $ROWS_ALL rows in all); events dropped by the writer: ${DROPPED:-unknown}"
