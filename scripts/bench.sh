#!/usr/bin/env bash
# Filter overhead as side-by-side ratios against bare Envoy (performance-notes.md section 2.2),
# run by `make bench`. Scenarios (SCENARIOS=match,rewrite,jwt,apikey,rollout selects; all by default):
#   match    bare, wasm-noop (a module that does nothing: what V8 alone costs), wasp-10 and
#            wasp-10k (10 and 10,000 operations), all answering GET /v1/bench/42; also times
#            `wasp compile` of the 10,000-operation spec;
#   rewrite  x-google-backend with path translation and backend auth: wasp vs bare Envoy with
#            equivalent static routes (regex rewrite, Host rewrite, a fixed ID token added as
#            Authorization, the client's Authorization copied to X-Forwarded-Authorization),
#            for a CONSTANT_ADDRESS and an APPEND_PATH_TO_ADDRESS operation;
#   jwt      an RS256-protected operation: bare, wasp with one token (its verified-token cache
#            hits), wasp with a new token on every request (a real verify each time), wasp on
#            an unprotected twin operation (what the JWT stage itself adds), and Envoy's
#            jwt_authn with and without its jwt_cache_config on the one token;
#   apikey   API keys and quota through Service Control (wasp-control, on CPU 0): bare, wasp on
#            an operation with neither (the stage with nothing to check, reports included),
#            an operation requiring a key (the same key every request: Check answered from the
#            filter's cache), and one also charging quota (an AllocateQuota call per request);
#            once per wasp-control store in APIKEY_STORES (default sqlite-memory,postgres-redis;
#            sqlite-memory: keys in SQLite, windows in memory; postgres-redis: keys and reports
#            in PostgreSQL, windows in Redis; postgres-redis-cached: the same with
#            --key-cache-seconds 5), wasp-control's CPU per request beside Envoy's;
#   control  wasp-control alone on CPU 1, loaded by wrk on CPU 0 with AllocateQuota calls (a
#            new operation id each, 8 API keys, a limit never reached), per store in
#            CONTROL_STORES (default all three): calls/s and calls per wasp-control CPU-second
#            (goal: 20,000);
#   compile  `wasp compile` wall time of 10,000 and 100,000 operations, written as OpenAPI 2.0
#            and as OpenAPI 3 (median of 3 runs each; goals: under 0.5 s and under 5 s);
#   rollout  ROLLOUTS (10) `wasp rollout`s between two stored configs while wrk loads one Envoy
#            started from the store: requests lost (non-2xx, socket errors; goal 0) and the time
#            from `wasp rollout` to Envoy serving the new config (goal under 2 s).
# Each scenario: Envoys under test on CPU 1 (--concurrency 1), wrk and the upstream (a
# direct_response Envoy, which also serves the JWKS and the metadata-protocol ID token) on
# CPU 0; ROUNDS interleaved rounds (default 7) of wrk -t1 -c32 -d${DURATION}s after a
# ${WARMUP}s warm-up, every variant checked before every measurement; CPU from
# /proc/PID/stat utime+stime. Access log and request ids are off in every variant (Envoy's
# benchmarking advice); AS_SHIPPED=1 keeps them as `wasp compile` generates them.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

ROUNDS=${ROUNDS:-7}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
AS_SHIPPED=${AS_SHIPPED:-0}
SCENARIOS=${SCENARIOS:-match,rewrite,jwt,apikey,control,compile,rollout}
APIKEY_STORES=${APIKEY_STORES:-sqlite-memory,postgres-redis}
CONTROL_STORES=${CONTROL_STORES:-sqlite-memory,postgres-redis,postgres-redis-cached}
BENCH_NAME=bench
# shellcheck source=scripts/bench-common.sh
. scripts/bench-common.sh
# shellcheck source=scripts/bench-stores.sh
. scripts/bench-stores.sh
# Envoys under test (admin port = listen port + 1000). 18090 is the upstream.
declare -A LISTEN=([bare]=18081 [wasp-10]=18082 [wasp-10k]=18083 [wasm-noop]=18084
  [rw-bare]=18085 [rw-wasp]=18086
  [jwt-bare]=18087 [jwt-wasp]=18088 [jwt-wasp-uncached]=18089 [jwt-authn-cached]=18091 [jwt-authn-nocache]=18092
  [ak-bare]=18093 [ak-wasp]=18094 [rollout]=18096)

selected() { [[ ",$SCENARIOS," == *",$1,"* ]]; }

IFS=, read -ra wanted <<<"$SCENARIOS"
[ "${#wanted[@]}" -gt 0 ] || die "SCENARIOS is empty; choose from match,rewrite,jwt,apikey,control,compile,rollout"
for s in "${wanted[@]}"; do
  case $s in match | rewrite | jwt | apikey | control | compile | rollout) ;; *) die "unknown scenario '$s' in SCENARIOS; choose from match,rewrite,jwt,apikey,control,compile,rollout" ;; esac
done
IFS=, read -ra APIKEY_STORE_LIST <<<"$APIKEY_STORES"
IFS=, read -ra CONTROL_STORE_LIST <<<"$CONTROL_STORES"
for store in "${APIKEY_STORE_LIST[@]}" "${CONTROL_STORE_LIST[@]}"; do
  case $store in sqlite-memory | postgres-redis | postgres-redis-cached) ;; *) die "unknown store '$store' in APIKEY_STORES or CONTROL_STORES; choose from sqlite-memory,postgres-redis,postgres-redis-cached" ;; esac
done

require_tools bench
apt_install "command -v wrk" wrk
apt_install "python3 -c 'import yaml'" python3-yaml
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs (Envoy under test on CPU 1, load and upstream on CPU 0)"


for port in $UPSTREAM_PORT $UPSTREAM_ADMIN_PORT "${LISTEN[@]}"; do
  for p in "$port" $((port + 1000)); do
    port_taken "$p" && die "port $p on 127.0.0.1 is in use; the benchmark needs 18081-18096 and 19081-19096"
  done
done
port_taken $CONTROL_PORT && die "port $CONTROL_PORT on 127.0.0.1 is in use; the benchmark needs 18081-18098 and 19081-19096"
# The stores of wasp-control's postgres-redis runs.
POSTGRES_PORT=18097
REDIS_PORT=18098
for port in $POSTGRES_PORT $REDIS_PORT; do
  port_taken "$port" && die "port $port on 127.0.0.1 is in use; the benchmark needs 18081-18098 and 19081-19096"
done
if [[ ",$APIKEY_STORES,$CONTROL_STORES," == *",postgres-redis"* ]] && { selected apikey || selected control; }; then
  scripts/ensure-postgres.sh >/dev/null
  scripts/ensure-redis.sh >/dev/null
fi

make_work wasp-bench

declare -A PID
# start_under_test NAME...: starts these Envoys (config $WORK/NAME.json) on CPU 1.
start_under_test() {
  for name in "$@"; do
    start_envoy "$name" 1 "$WORK/$name.json" $((LISTEN[$name] + 1000))
    PID[$name]=$ENVOY_PID
  done
}
# stop_under_test NAME...: a scenario's Envoys go before the next scenario starts its own.
stop_under_test() {
  for name in "$@"; do kill "${PID[$name]}" 2>/dev/null || true; done
  for name in "$@"; do wait "${PID[$name]}" 2>/dev/null || true; done
}

# variant NAME SOURCE [OPTION...]: writes $WORK/NAME.json from the generated bootstrap SOURCE
# with bench/bootstrap.py OPTIONs.
variant() {
  local name=$1 source=$2
  shift 2
  local flags=("$@")
  [ "$AS_SHIPPED" = 1 ] && flags+=(--as-shipped)
  python3 bench/bootstrap.py "$source" "$WORK/$name.json" \
    --listen-port "${LISTEN[$name]}" --admin-port $((LISTEN[$name] + 1000)) "${flags[@]}"
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
CLK_TCK=$(getconf CLK_TCK)

# What each measured variant of the running scenario is: the Envoy it loads, the request
# path, the request headers (one per line), an optional tokens file to rotate through
# (bench/rotate_tokens.lua) and the check run before each of its measurements.
declare -A V_ENVOY V_PATH V_HEADERS V_TOKENS V_CHECK
# Where the rotation continues (so no run starts on tokens the previous one just verified).
TOKEN_OFFSET=0
# Requests each variant completed under wrk, warm-ups included.
declare -A SENT
# A process besides the Envoy under test whose CPU a scenario also reports per request
# (the apikey scenario's wasp-control), and its name; none when empty.
SIDE_PID=
SIDE_NAME=

# wrk_variant VARIANT SECONDS: one wrk run against VARIANT; its output goes to $WORK/wrk.out
# (not stdout: this shell must see TOKEN_OFFSET move on).
wrk_variant() {
  local v=$1 args=(-t1 -c32 -d"${2}s") header
  while IFS= read -r header; do
    [ -n "$header" ] && args+=(-H "$header")
  done <<<"${V_HEADERS[$v]}"
  local url="http://127.0.0.1:${LISTEN[${V_ENVOY[$v]}]}${V_PATH[$v]}"
  if [ -n "${V_TOKENS[$v]:-}" ]; then
    "${PRIO[@]}" taskset -c 0 wrk "${args[@]}" -s bench/rotate_tokens.lua "$url" \
      -- "${V_TOKENS[$v]}" "$TOKEN_OFFSET" >"$WORK/wrk.out"
    # Completed requests plus the connections' in-flight ones (sent, not counted).
    TOKEN_OFFSET=$((TOKEN_OFFSET + $(awk '/requests in/ {print $1}' "$WORK/wrk.out") + 64))
  else
    "${PRIO[@]}" taskset -c 0 wrk "${args[@]}" "$url" >"$WORK/wrk.out"
  fi
  SENT[$v]=$((${SENT[$v]:-0} + $(awk '/requests in/ {print $1}' "$WORK/wrk.out")))
}

# run_rounds SCENARIO VARIANT...: ROUNDS interleaved rounds, then the scenario's summary.
run_rounds() {
  local scenario=$1
  shift
  local variants=("$@") results=$WORK/$scenario.tsv
  : >"$results"
  echo "== $scenario: $ROUNDS rounds x ${#variants[@]} variants, wrk -t1 -c32 -d${DURATION}s (+${WARMUP}s warm-up)"
  for round in $(seq 1 "$ROUNDS"); do
    # Rotate the order each round so drift on the box does not favour one variant.
    local shift_by=$(((round - 1) % ${#variants[@]}))
    local order=("${variants[@]:$shift_by}" "${variants[@]:0:$shift_by}")
    for v in "${order[@]}"; do
      "${V_CHECK[$v]}" "$v"
      wrk_variant "$v" "$WARMUP"
      local pid=${PID[${V_ENVOY[$v]}]} before after side_before=0 side_after=0 out requests rps cpu_us busy
      local side_us='' side_note=''
      before=$(cpu_ticks "$pid")
      if [ -n "$SIDE_PID" ]; then side_before=$(cpu_ticks "$SIDE_PID"); fi
      wrk_variant "$v" "$DURATION"
      after=$(cpu_ticks "$pid")
      if [ -n "$SIDE_PID" ]; then side_after=$(cpu_ticks "$SIDE_PID"); fi
      out=$(cat "$WORK/wrk.out")
      if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then die "$scenario/$v: errors under load:"$'\n'"$out"; fi
      requests=$(awk '/requests in/ {print $1}' <<<"$out")
      rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
      cpu_us=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$requests" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
      if [ -n "$SIDE_PID" ]; then
        side_us=$(awk -v t=$((side_after - side_before)) -v hz="$CLK_TCK" -v n="$requests" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
        side_note=", $SIDE_NAME $side_us us/req"
      fi
      printf '%s\t%s\t%s\t%s%s\n' "$round" "$v" "$rps" "$cpu_us" "${side_us:+$'\t'$side_us}" >>"$results"
      # CPU us/request x req/s near 1.0 core means the Envoy under test was the bottleneck.
      busy=$(awk -v c="$cpu_us" -v r="$rps" 'BEGIN {printf "%.2f", c * r / 1e6}')
      printf '   round %s %-18s %9s req/s %8s CPU us/req  (Envoy busy %s cores%s)\n' "$round" "$v" "$rps" "$cpu_us" "$busy" "$side_note"
    done
  done
  echo "== $scenario summary"
  python3 bench/summarize.py "$scenario" "$results"
}

# expect_reply VARIANT WHAT WANT [curl args...]: "<body> <status>" of a request to VARIANT's
# URL must be WANT (a status alone when WANT has no space).
expect_reply() {
  local v=$1 what=$2 want=$3 got
  shift 3
  local url="http://127.0.0.1:${LISTEN[${V_ENVOY[$v]}]}${V_PATH[$v]}"
  if [[ "$want" == *" "* ]]; then
    got=$(curl -s -w ' %{http_code}' "$@" "$url")
  else
    got=$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url")
  fi
  [ "$got" = "$want" ] || die "$v: $what answered '$got', expected '$want'"
}

# The variant's own headers as curl arguments.
header_args() {
  local header
  CURL_HEADERS=()
  while IFS= read -r header; do
    [ -n "$header" ] && CURL_HEADERS+=(-H "$header")
  done <<<"${V_HEADERS[$1]}"
}

echo "== building the no-op module (bench/noop-filter)"
bench/build-noop.sh
NOOP_WASM=$ROOT/target/bench/noop_filter.wasm

echo "== keys, tokens, specs and bootstraps in $WORK"
# More distinct tokens than the filter's verified-token cache holds, so rotating through
# them never hits it (it evicts the oldest entry first).
CACHE_CAPACITY=$(sed -n 's/^pub const DEFAULT_CAPACITY: usize = \([0-9_]*\);.*/\1/p' jwt/src/cache.rs | tr -d _)
[ -n "$CACHE_CAPACITY" ] || die "cannot read DEFAULT_CAPACITY from jwt/src/cache.rs"
TOKEN_COUNT=1
selected jwt && TOKEN_COUNT=$((2 * CACHE_CAPACITY))
"$TOKENS_BIN" "$WORK/tokens" --issuer "$ISSUER" --audience "$AUDIENCE" \
  --id-audience "$BACKEND_AUDIENCE" --count "$TOKEN_COUNT"
CLIENT_TOKEN=$(cat "$WORK/tokens/token")
write_upstream "$WORK/tokens" "$CLIENT_TOKEN" "$WORK/upstream.yaml"

echo "== starting the upstream (CPU 0)"
start_envoy upstream 0 "$WORK/upstream.yaml" $UPSTREAM_ADMIN_PORT

# --- match: what matching costs, with few and many operations --------------------------------
scenario_match() {
  local benched=/v1/bench/{id} route_id started compile_s
  python3 bench/gen_spec.py 10 "$WORK/spec-10.yaml"
  python3 bench/gen_spec.py 10000 "$WORK/spec-10k.yaml"
  compile 10 "$WORK/spec-10.yaml"
  # Wall time of the whole `wasp compile` (read, validate, write filter.json and envoy.yaml).
  started=$(date +%s.%N)
  compile 10k "$WORK/spec-10k.yaml"
  compile_s=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}')
  route_id=$(python3 bench/route_id.py "$WORK/out-10/filter.json" "$benched")
  [ "$route_id" = "$(python3 bench/route_id.py "$WORK/out-10k/filter.json" "$benched")" ] \
    || die "the benched operation has different route ids in the two specs; the bare variant needs one"
  variant bare "$WORK/out-10/envoy.yaml" --bare
  variant wasm-noop "$WORK/out-10/envoy.yaml" --module "$NOOP_WASM"
  variant wasp-10 "$WORK/out-10/envoy.yaml"
  variant wasp-10k "$WORK/out-10k/envoy.yaml"
  local variants=(bare wasm-noop wasp-10 wasp-10k)
  # The bare variant has no filter to set the route header, so its client sends it (the
  # route id of the benched operation). Real clients never send it, and a client-sent one
  # costs the filter a removal, so the wasp variants get a neutral header of the same size.
  # The no-op module sets nothing either, so it gets the route header like bare.
  for v in "${variants[@]}"; do
    V_ENVOY[$v]=$v
    V_PATH[$v]=/v1/bench/42
    V_CHECK[$v]=check_match
    V_HEADERS[$v]="x-benchpad: $route_id"
  done
  V_HEADERS[bare]="x-wasp-route: $route_id"
  V_HEADERS[wasm-noop]="x-wasp-route: $route_id"
  start_under_test "${variants[@]}"
  run_rounds match "${variants[@]}"
  stop_under_test "${variants[@]}"
  awk -v s="$compile_s" 'BEGIN {
    printf "  wasp compile of the 10,000-operation spec under 2 s: %.2f s -> %s\n", s, (s < 2 ? "met" : "NOT met")
  }'
}

# Never measure a broken config: the benched request must reach the upstream, and the
# wasp variants must really be filtering: a wrong method gets the filter's 405 (the
# bootstrap alone has no 405; its catch-all 404 would not tell).
check_match() {
  header_args "$1"
  expect_reply "$1" "GET" "ok 200" "${CURL_HEADERS[@]}"
  if [ "${1#wasp-}" != "$1" ]; then
    expect_reply "$1" "POST (wrong method)" 405 -X POST
  fi
}

# --- rewrite: path translation + backend auth, wasp vs equivalent static routes --------------
scenario_rewrite() {
  python3 bench/gen_spec.py 10 "$WORK/spec-rewrite.yaml" --rewrite "$UPSTREAM/backend" "$BACKEND_AUDIENCE"
  compile rewrite "$WORK/spec-rewrite.yaml"
  variant rw-bare "$WORK/out-rewrite/envoy.yaml" --static-rewrite "$WORK/tokens/id-token"
  variant rw-wasp "$WORK/out-rewrite/envoy.yaml"
  local variants=(bare-constant wasp-constant bare-append wasp-append)
  for v in "${variants[@]}"; do
    V_ENVOY[$v]=rw-${v%%-*}
    V_HEADERS[$v]="authorization: Bearer $CLIENT_TOKEN"
    V_CHECK[$v]=check_rewrite
  done
  V_PATH[bare-constant]=/v1/items/42
  V_PATH[wasp-constant]=/v1/items/42
  V_PATH[bare-append]=/v2/things/42
  V_PATH[wasp-append]=/v2/things/42
  start_under_test rw-bare rw-wasp
  run_rounds rewrite "${variants[@]}"
  stop_under_test rw-bare rw-wasp
}

# The upstream answers "rewritten" only to the translated path carrying the ID token, the
# client's token in X-Forwarded-Authorization and the address's Host (bench/upstream.yaml);
# without a client token X-Forwarded-Authorization is missing, so it must refuse (421).
check_rewrite() {
  header_args "$1"
  expect_reply "$1" "GET with the client's token" "rewritten 200" "${CURL_HEADERS[@]}"
  expect_reply "$1" "GET without a client token" 421
  if [ "${1#wasp-}" != "$1" ]; then
    expect_reply "$1" "POST (wrong method)" 405 -X POST "${CURL_HEADERS[@]}"
  fi
}

# --- jwt: RS256 verification, wasp cached/uncached vs jwt_authn cached/uncached --------------
scenario_jwt() {
  local benched=/v1/bench/{id} route_id jwks_uri=$UPSTREAM/bench/jwks.json
  python3 bench/gen_spec.py 10 "$WORK/spec-jwt.yaml" --jwt "$ISSUER" "$jwks_uri" "$AUDIENCE"
  compile jwt "$WORK/spec-jwt.yaml"
  route_id=$(python3 bench/route_id.py "$WORK/out-jwt/filter.json" "$benched")
  local source=$WORK/out-jwt/envoy.yaml authn=(--jwt-authn "$ISSUER" "$AUDIENCE" "$WORK/tokens/jwks.json")
  variant jwt-bare "$source" --bare
  variant jwt-wasp "$source"
  variant jwt-wasp-uncached "$source"
  variant jwt-authn-cached "$source" "${authn[@]}" --jwt-cache-size "$CACHE_CAPACITY"
  variant jwt-authn-nocache "$source" "${authn[@]}"
  local envoys=(jwt-bare jwt-wasp jwt-wasp-uncached jwt-authn-cached jwt-authn-nocache)
  local variants=(bare wasp-open wasp-cached wasp-uncached authn-cached authn-nocache)
  declare -A envoy_of=([bare]=jwt-bare [wasp-open]=jwt-wasp [wasp-cached]=jwt-wasp
    [wasp-uncached]=jwt-wasp-uncached [authn-cached]=jwt-authn-cached [authn-nocache]=jwt-authn-nocache)
  # As in match: a client-sent route header where nothing sets it, a pad of the same size
  # where the filter does.
  for v in "${variants[@]}"; do
    V_ENVOY[$v]=${envoy_of[$v]}
    V_PATH[$v]=/v1/bench/42
    V_CHECK[$v]=check_jwt
    V_HEADERS[$v]="x-wasp-route: $route_id"$'\n'"authorization: Bearer $CLIENT_TOKEN"
  done
  V_HEADERS[wasp-cached]="x-benchpad: $route_id"$'\n'"authorization: Bearer $CLIENT_TOKEN"
  # The same request to the unprotected twin (same route), token and all.
  V_HEADERS[wasp-open]=${V_HEADERS[wasp-cached]}
  V_PATH[wasp-open]=/v1/open/42
  V_CHECK[wasp-open]=check_open
  # The rotation script sets Authorization itself.
  V_HEADERS[wasp-uncached]="x-benchpad: $route_id"
  V_TOKENS[wasp-uncached]=$WORK/tokens/tokens.txt
  start_under_test "${envoys[@]}"
  run_rounds jwt "${variants[@]}"
  stop_under_test "${envoys[@]}"
  V_TOKENS=()
}

# A valid token reaches the upstream; where something verifies, a missing token and one
# signed by another key (same kid) get 401, so a variant that stopped verifying is never
# measured. The uncached variant is checked with a token of its rotation.
check_jwt() {
  local v=$1 token=$CLIENT_TOKEN pad
  pad=$(head -n 1 <<<"${V_HEADERS[$v]}")
  if [ -n "${V_TOKENS[$v]:-}" ]; then
    token=$(sed -n "$((TOKEN_OFFSET % TOKEN_COUNT + 1))p" "${V_TOKENS[$v]}")
    TOKEN_OFFSET=$((TOKEN_OFFSET + 1))
  fi
  expect_reply "$v" "GET with a valid token" "ok 200" -H "$pad" -H "authorization: Bearer $token"
  [ "$v" = bare ] && return 0
  expect_reply "$v" "GET without a token" 401 -H "$pad"
  expect_reply "$v" "GET with a forged token" 401 -H "$pad" -H "authorization: Bearer $(cat "$WORK/tokens/forged")"
}

# The unprotected twin answers with or without a token, and the filter is there (405); its
# protected sibling's check (check_jwt, same Envoy) shows the filter verifies tokens.
check_open() {
  local pad
  pad=$(head -n 1 <<<"${V_HEADERS[$1]}")
  expect_reply "$1" "GET with a valid token" "ok 200" -H "$pad" -H "authorization: Bearer $CLIENT_TOKEN"
  expect_reply "$1" "GET without a token" "ok 200" -H "$pad"
  expect_reply "$1" "POST (wrong method)" 405 -X POST -H "$pad"
}

# --- apikey: API key (Check answered from the cache) and quota through Service Control ------
# The quota limit per minute per consumer project: far above what a run sends, so it is never hit.
QUOTA_LIMIT=1000000000
# Every check sends a key never sent before, so its 400 needs a real Check answer.
INVALID_KEYS=0

scenario_apikey() {
  local benched=/v1/bench/{id} route_id key store
  python3 bench/gen_spec.py 10 "$WORK/spec-apikey.yaml" --apikey "$QUOTA_LIMIT"
  # Failing closed, a control-service failure under load is a 503, which stops the benchmark,
  # instead of requests let through unchecked. Nothing else changes on the path measured.
  compile apikey "$WORK/spec-apikey.yaml" --service-control-url "http://127.0.0.1:$CONTROL_PORT" \
    --service-control-fail-policy closed --producer-project-id bench-producer
  route_id=$(python3 bench/route_id.py "$WORK/out-apikey/filter.json" "$benched")
  variant ak-bare "$WORK/out-apikey/envoy.yaml" --bare
  variant ak-wasp "$WORK/out-apikey/envoy.yaml"
  for store in "${APIKEY_STORE_LIST[@]}"; do
    control_store "$store"
    key=$(create_key "$CONTROL_DB" bench-consumer)
    start_control "$CONTROL_DB" "$WORK/out-apikey/control.json" "${CONTROL_ARGS[@]}"
    local variants=(bare wasp-open wasp-key wasp-key-quota)
    # The same request everywhere: the key in x-api-key (one of ESPv2's default locations) and,
    # as in match, the route header where nothing sets it, a pad of the same size where the
    # filter does.
    for v in "${variants[@]}"; do
      V_ENVOY[$v]=ak-wasp
      V_CHECK[$v]=check_apikey
      V_HEADERS[$v]="x-benchpad: $route_id"$'\n'"x-api-key: $key"
    done
    V_ENVOY[bare]=ak-bare
    V_HEADERS[bare]="x-wasp-route: $route_id"$'\n'"x-api-key: $key"
    V_PATH[bare]=/v1/bench/42
    V_PATH[wasp-open]=/v1/open/42
    V_CHECK[wasp-open]=check_apikey_open
    V_PATH[wasp-key]=/v1/bench/42
    V_PATH[wasp-key-quota]=/v1/quota/42
    start_under_test ak-bare ak-wasp
    SENT=()
    SIDE_PID=$CONTROL_PID SIDE_NAME=wasp-control
    run_rounds "apikey-$store" "${variants[@]}"
    SIDE_PID='' SIDE_NAME=''
    control_counters
    stop_under_test ak-bare ak-wasp
    stop_control
  done
}

# control_store STORE: starts what wasp-control keeps its state in (once per run) and sets
# CONTROL_DB (its --db) and CONTROL_ARGS (its other store options).
control_store() {
  case $1 in
    sqlite-memory)
      CONTROL_DB=$WORK/keys-$RANDOM.db
      CONTROL_ARGS=()
      ;;
    postgres-redis | postgres-redis-cached)
      [ -n "${POSTGRES_URL:-}" ] || start_postgres "$POSTGRES_PORT"
      [ -n "${REDIS_URL:-}" ] || start_redis "$REDIS_PORT"
      CONTROL_DB=$POSTGRES_URL
      CONTROL_ARGS=(--redis "$REDIS_URL")
      # A key lookup reused for 5 s: what replicas sharing a database would run with.
      if [ "$1" = postgres-redis-cached ]; then CONTROL_ARGS+=(--key-cache-seconds 5); fi
      ;;
  esac
}

stop_control() {
  kill "$CONTROL_PID" 2>/dev/null || true
  wait "$CONTROL_PID" 2>/dev/null || true
}

# --- control: AllocateQuota calls served per wasp-control CPU-second ------------------------
CONTROL_KEYS=8

scenario_control() {
  local store i keys rps calls cpu before after refused per_cpu results=$WORK/control.tsv
  python3 bench/gen_spec.py 10 "$WORK/spec-control.yaml" --apikey "$QUOTA_LIMIT"
  compile control "$WORK/spec-control.yaml" --service-control-url "http://127.0.0.1:$CONTROL_PORT" \
    --producer-project-id bench-producer
  echo "== control: wasp-control on CPU 1 answering AllocateQuota from wrk -t1 -c32 on CPU 0, $ROUNDS rounds x ${DURATION}s per store (goal: 20,000 calls per CPU-second)"
  : >"$results"
  for store in "${CONTROL_STORE_LIST[@]}"; do
    control_store "$store"
    keys=()
    for i in $(seq 1 "$CONTROL_KEYS"); do keys+=("$(create_key "$CONTROL_DB" "bench-consumer-$i")"); done
    python3 bench/allocate_bodies.py "$WORK/out-control/control.json" "$WORK/allocate-$store.lua" "${keys[@]}"
    CONTROL_CPU=1 start_control "$CONTROL_DB" "$WORK/out-control/control.json" "${CONTROL_ARGS[@]}"
    local url="http://127.0.0.1:$CONTROL_PORT/v1/services/$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["service_name"])' "$WORK/out-control/control.json"):allocateQuota"
    export WASP_ALLOCATE_BODIES=$WORK/allocate-$store.lua
    "${PRIO[@]}" taskset -c 0 wrk -t1 -c32 -d"${WARMUP}s" -s bench/allocate.lua "$url" >"$WORK/wrk.out"
    for round in $(seq 1 "$ROUNDS"); do
      before=$(cpu_ticks "$CONTROL_PID")
      "${PRIO[@]}" taskset -c 0 wrk -t1 -c32 -d"${DURATION}s" -s bench/allocate.lua "$url" >"$WORK/wrk.out"
      after=$(cpu_ticks "$CONTROL_PID")
      if grep -qE 'Non-2xx|Socket errors' "$WORK/wrk.out"; then die "control/$store: errors under load:"$'\n'"$(cat "$WORK/wrk.out")"; fi
      refused=$(awk '/^refused/ {print $2}' "$WORK/wrk.out")
      [ "$refused" = 0 ] || die "control/$store: $refused allocations were not granted"
      calls=$(awk '/requests in/ {print $1}' "$WORK/wrk.out")
      rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.out")
      cpu=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" 'BEGIN {printf "%.3f", t / hz}')
      per_cpu=$(awk -v n="$calls" -v c="$cpu" 'BEGIN {printf "%.0f", (c > 0 ? n / c : 0)}')
      printf '%s\t%s\t%s\t%s\n' "$store" "$round" "$rps" "$per_cpu" >>"$results"
      printf '   %-15s round %s %9s calls/s %8s calls per CPU-second (%s CPU-s for %s calls)\n' "$store" "$round" "$rps" "$per_cpu" "$cpu" "$calls"
    done
    stop_control
  done
  echo "== control summary (median of $ROUNDS rounds)"
  python3 - "$results" <<'PY'
import statistics, sys
rows = [line.split("\t") for line in open(sys.argv[1]) if line.strip()]
for store in dict.fromkeys(r[0] for r in rows):
    rps = statistics.median(float(r[2]) for r in rows if r[0] == store)
    per_cpu = statistics.median(float(r[3]) for r in rows if r[0] == store)
    verdict = "met" if per_cpu >= 20000 else "NOT met"
    print(f"  {store:<15} {rps:9.0f} calls/s, {per_cpu:8.0f} calls per wasp-control CPU-second (goal 20,000: {verdict})")
PY
}

# espv2_reply STATUS MESSAGE: the body and status expect_reply compares for a local reply.
espv2_reply() {
  printf '{"code":%s,"message":"%s"} %s' "$1" "$2" "$1"
}
MISSING_KEY="UNAUTHENTICATED: Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API."
INVALID_KEY="INVALID_ARGUMENT: API key not valid. Please pass a valid API key."

# The key gets through to the upstream; where a key is required, no key gets ESPv2's 401
# without a call, and a key the control service does not know its 400 (a key new to the
# filter's cache each time, so wasp-control answered it just now), so a variant that stopped
# checking, or a control service that stopped answering, is never measured.
check_apikey() {
  local v=$1 pad
  header_args "$v"
  expect_reply "$v" "GET with the key" "ok 200" "${CURL_HEADERS[@]}"
  [ "$v" = bare ] && return 0
  pad=$(head -n 1 <<<"${V_HEADERS[$v]}")
  expect_reply "$v" "GET without a key" "$(espv2_reply 401 "$MISSING_KEY")" -H "$pad"
  INVALID_KEYS=$((INVALID_KEYS + 1))
  expect_reply "$v" "GET with an unknown key" "$(espv2_reply 400 "$INVALID_KEY")" -H "$pad" \
    -H "x-api-key: bench-invalid-$INVALID_KEYS"
}

# The operation with neither key nor quota answers with any key or none (no Check: ESPv2 checks
# only required keys), and the filter is there (405); its siblings' checks on the same Envoy
# show the key stage works.
check_apikey_open() {
  local pad
  header_args "$1"
  pad=$(head -n 1 <<<"${V_HEADERS[$1]}")
  expect_reply "$1" "GET with the key" "ok 200" "${CURL_HEADERS[@]}"
  expect_reply "$1" "GET without a key" "ok 200" -H "$pad"
  expect_reply "$1" "GET with an unknown key" "ok 200" -H "$pad" -H "x-api-key: bench-invalid-open"
  expect_reply "$1" "POST (wrong method)" 405 -X POST -H "$pad"
}

# What the wasp Envoy's Service Control counters say about the run: a Check call only for the
# first request of a key (and every 60 s), a cache hit for every other keyed request, one
# AllocateQuota call per wasp-key-quota request. The filter exports its counters on its
# 1-second tick, so this waits for two.
control_counters() {
  sleep 2
  local stats admin=$((LISTEN[ak-wasp] + 1000))
  stats=$(curl -s "http://127.0.0.1:$admin/stats?filter=service_control")
  counter() { awk -v name="wasmcustom.wasp.service_control.$1:" '$1 == name {print $2}' <<<"$stats"; }
  echo "Service Control on the wasp Envoy over the scenario (warm-ups and checks included):"
  echo "  Check: $(counter check_calls) calls, $(counter check_cache_hits) cache hits;" \
    "keyed requests under wrk: $((SENT[wasp-key] + SENT[wasp-key-quota]))"
  echo "  AllocateQuota: $(counter quota_calls) calls; wasp-key-quota requests under wrk: ${SENT[wasp-key-quota]}"
  echo "  failed open: $(counter failed_open), failed closed: $(counter failed_closed), rejected: $(counter rejected_calls)"
}

# --- rollout: configs rolled out under load ----------------------------------------------------
scenario_rollout() {
  local store=$WORK/store port=${LISTEN[rollout]} admin=$((LISTEN[rollout] + 1000))
  local rollouts=${ROLLOUTS:-10} name id ids=() url out
  python3 bench/gen_spec.py 10 "$WORK/spec-roll-a.yaml"
  python3 bench/gen_spec.py 11 "$WORK/spec-roll-b.yaml"
  for name in a b; do
    out=$("$WASP" compile "$WORK/spec-roll-$name.yaml" --backend "$UPSTREAM" \
      --listen "127.0.0.1:$port" --admin "127.0.0.1:$admin" --wasm "$WASM" \
      --out "$WORK/out-roll-$name" --store "$store")
    id=$(sed -n 's/^wasp: stored config \([0-9a-f]*\) .*/\1/p' <<<"$out")
    [ -n "$id" ] || die "rollout: wasp compile --store printed no id: $out"
    ids+=("$id")
  done
  "$WASP" rollout --store "$store" "${ids[0]}" >/dev/null
  start_envoy rollout 1 "$store/envoy.yaml" "$admin"
  PID[rollout]=$ENVOY_PID
  url="http://127.0.0.1:$port/v1/bench/42"
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" = 200 ] || die "rollout: $url does not answer 200"
  echo "== rollout: $rollouts rollouts between two configs under wrk -t1 -c32"
  "${PRIO[@]}" taskset -c 0 wrk -t1 -c32 -d"$((rollouts + 4))s" "$url" >"$WORK/roll-wrk.out" &
  local wrk_pid=$! i took
  : >"$WORK/roll-ms"
  sleep 2
  for ((i = 1; i <= rollouts; i++)); do
    id=${ids[$((i % 2))]}
    out=$("$WASP" rollout --store "$store" "$id" --envoy-admin "http://127.0.0.1:$admin") \
      || die "rollout: wasp rollout $id failed: $out"
    took=$(sed -n 's/.*Envoy took it in \([0-9]*\) ms.*/\1/p' <<<"$out")
    echo "$took" >>"$WORK/roll-ms"
    sleep 0.5
  done
  wait "$wrk_pid"
  local requests non2xx sockets
  requests=$(awk '/requests in/ {print $1}' "$WORK/roll-wrk.out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$WORK/roll-wrk.out")
  sockets=$(sed -n 's/.*Socket errors: //p' "$WORK/roll-wrk.out")
  echo "== rollout summary"
  echo "  requests under wrk: $requests; non-2xx: ${non2xx:-0}; socket errors: ${sockets:-none} (goal: none)"
  sort -n "$WORK/roll-ms" | awk '{ms[NR] = $1} END {
    printf "  wasp rollout to Envoy serving: median %d ms, max %d ms over %d rollouts (goal: under 2000 ms)\n",
      ms[int((NR + 1) / 2)], ms[NR], NR }'
  stop_under_test rollout
}

# --- compile: how long `wasp compile` takes as a spec grows, in both input formats -----------
scenario_compile() {
  echo "== compile: wasp compile wall time (median of 3; goals: 10,000 operations under 0.5 s, 100,000 under 5 s)"
  local count format spec run started times median goal
  for count in 10000 100000; do
    goal=0.5
    [ "$count" = 100000 ] && goal=5
    for format in openapi2 openapi3; do
      spec="$WORK/compile-$count-$format.yaml"
      if [ "$format" = openapi3 ]; then
        python3 bench/gen_spec.py "$count" "$spec" --openapi3
      else
        python3 bench/gen_spec.py "$count" "$spec"
      fi
      times=()
      for run in 1 2 3; do
        started=$(date +%s.%N)
        compile "compile-$count-$format" "$spec"
        times+=("$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN {printf "%.3f", b - a}')")
      done
      median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 2p)
      awk -v n="$count" -v f="$format" -v s="$median" -v g="$goal" 'BEGIN {
        printf "  %-8s %7d operations: %.3f s (goal under %s s) -> %s\n", f, n, s, g, (s < g ? "met" : "NOT met") }'
    done
  done
}

for s in match rewrite jwt apikey control compile rollout; do
  if selected "$s"; then "scenario_$s"; fi
done
