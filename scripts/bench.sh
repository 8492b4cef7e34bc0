#!/usr/bin/env bash
# Filter overhead as a side-by-side ratio (performance-notes.md section 2.2), run by `make bench`:
#   Envoy under test on CPU 1 (--concurrency 1); wrk and the upstream (a direct_response Envoy) on CPU 0.
#   Variants: bare (same listener/HCM/routes, no wasm filter), wasm-noop (the wasp-10 bootstrap
#   with a module that does nothing: what V8 alone costs), wasp-10 (10 operations), wasp-10k
#   (10,000 operations), all answering GET /v1/bench/42. ROUNDS interleaved rounds (default 7) of
#   wrk -t1 -c32 -d${DURATION}s after a ${WARMUP}s warm-up; CPU from /proc/PID/stat utime+stime.
#   Access log and request ids are off in every variant (Envoy's benchmarking advice);
#   AS_SHIPPED=1 keeps them as `wasp compile` generates them.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

ROUNDS=${ROUNDS:-7}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
AS_SHIPPED=${AS_SHIPPED:-0}
ENVOY=${WASP_ENVOY:-$ROOT/.venv/bin/envoy}
WASM=${WASP_WASM:-$ROOT/target/wasp_filter.wasm}
WASP=${WASP_BIN:-$ROOT/target/release/wasp}
REQUEST_PATH=/v1/bench/42
BENCHED_TEMPLATE='/v1/bench/{id}'
UPSTREAM_PORT=18090
UPSTREAM_ADMIN_PORT=19090
VARIANTS=(bare wasm-noop wasp-10 wasp-10k)
declare -A LISTEN=([bare]=18081 [wasp-10]=18082 [wasp-10k]=18083 [wasm-noop]=18084)
declare -A ADMIN=([bare]=19081 [wasp-10]=19082 [wasp-10k]=19083 [wasm-noop]=19084)

die() { echo "bench: $*" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

for tool in "$ENVOY" "$WASM" "$WASP"; do
  [ -e "$tool" ] || die "$tool is missing; run \`make bench\` (it builds everything first)"
done
if ! command -v wrk >/dev/null; then
  echo "== installing wrk (apt)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
if ! python3 -c 'import yaml' 2>/dev/null; then
  echo "== installing python3-yaml (apt)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-yaml >/dev/null
fi
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs (Envoy under test on CPU 1, load and upstream on CPU 0)"

# On a shared box, run the measured processes ahead of niced background work when allowed.
PRIO=()
if nice -n -5 true 2>/dev/null; then PRIO=(nice -n -5); fi

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in $UPSTREAM_PORT $UPSTREAM_ADMIN_PORT "${LISTEN[@]}" "${ADMIN[@]}"; do
  port_taken "$port" && die "port $port on 127.0.0.1 is in use; the benchmark needs 18081-18090 and 19081-19090"
done

WORK=$(mktemp -d /tmp/wasp-bench.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# start_envoy NAME CPU CONFIG ADMIN_PORT: starts a pinned Envoy, waits until ready, sets ENVOY_PID.
start_envoy() {
  local name=$1 cpu=$2 config=$3 admin=$4
  "${PRIO[@]}" taskset -c "$cpu" "$ENVOY" -c "$config" --concurrency 1 --disable-hot-restart --log-level warn \
    >"$WORK/$name.out" 2>"$WORK/$name.log" &
  ENVOY_PID=$!
  pids+=("$ENVOY_PID")
  for _ in $(seq 1 150); do
    kill -0 "$ENVOY_PID" 2>/dev/null || { tail -n 20 "$WORK/$name.log" >&2; die "$name: Envoy exited"; }
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$admin/ready")" = 200 ] && return 0
    sleep 0.2
  done
  tail -n 20 "$WORK/$name.log" >&2
  die "$name: Envoy not ready"
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

echo "== building the no-op module (bench/noop-filter)"
bench/build-noop.sh
NOOP_WASM=$ROOT/target/bench/noop_filter.wasm

echo "== specs and bootstraps in $WORK"
python3 bench/gen_spec.py 10 "$WORK/spec-10.yaml"
python3 bench/gen_spec.py 10000 "$WORK/spec-10k.yaml"
for size in 10 10k; do
  mkdir -p "$WORK/out-$size"
  "$WASP" compile "$WORK/spec-$size.yaml" --backend "http://127.0.0.1:$UPSTREAM_PORT" \
    --listen 127.0.0.1:0 --admin 127.0.0.1:0 --wasm "$WASM" --out "$WORK/out-$size" >/dev/null
done
ROUTE_ID=$(python3 bench/route_id.py "$WORK/out-10/filter.json" "$BENCHED_TEMPLATE")
[ "$ROUTE_ID" = "$(python3 bench/route_id.py "$WORK/out-10k/filter.json" "$BENCHED_TEMPLATE")" ] \
  || die "the benched operation has different route ids in the two specs; the bare variant needs one"
declare -A SOURCE=([bare]=out-10 [wasm-noop]=out-10 [wasp-10]=out-10 [wasp-10k]=out-10k)
for v in "${VARIANTS[@]}"; do
  flags=()
  [ "$v" = bare ] && flags+=(--bare)
  [ "$v" = wasm-noop ] && flags+=(--module "$NOOP_WASM")
  [ "$AS_SHIPPED" = 1 ] && flags+=(--as-shipped)
  python3 bench/bootstrap.py "$WORK/${SOURCE[$v]}/envoy.yaml" "$WORK/$v.json" \
    --listen-port "${LISTEN[$v]}" --admin-port "${ADMIN[$v]}" "${flags[@]}"
done
sed -e "s/UPSTREAM_ADMIN_PORT/$UPSTREAM_ADMIN_PORT/" -e "s/UPSTREAM_PORT/$UPSTREAM_PORT/" \
  bench/upstream.yaml >"$WORK/upstream.yaml"

echo "== starting the upstream (CPU 0) and the Envoys under test (CPU 1)"
start_envoy upstream 0 "$WORK/upstream.yaml" $UPSTREAM_ADMIN_PORT
declare -A PID
for v in "${VARIANTS[@]}"; do
  start_envoy "$v" 1 "$WORK/$v.json" "${ADMIN[$v]}"
  PID[$v]=$ENVOY_PID
done

# The bare variant has no filter to set the route header, so its client sends it (the
# route id of the benched operation). Real clients never send it, and a client-sent one
# costs the filter a removal, so the wasp variants get a neutral header of the same size.
# The no-op module sets nothing either, so it gets the route header like bare.
declare -A ROUTE_HEADER=([bare]="x-wasp-route: $ROUTE_ID" [wasm-noop]="x-wasp-route: $ROUTE_ID"
  [wasp-10]="x-benchpad: $ROUTE_ID" [wasp-10k]="x-benchpad: $ROUTE_ID")

# Never measure a broken config: the benched request must reach the upstream, and the
# wasp variants must really be filtering: a wrong method gets the filter's 405 (the
# bootstrap alone has no 405; its catch-all 404 would not tell). Checked before every measurement.
assert_serving() {
  local v=$1 url=http://127.0.0.1:${LISTEN[$1]} body code
  body=$(curl -s -H "${ROUTE_HEADER[$v]}" -w ' %{http_code}' "$url$REQUEST_PATH")
  [ "$body" = "ok 200" ] || die "$v: GET $REQUEST_PATH answered '$body', expected the upstream's 'ok' with 200"
  if [ "${v#wasp-}" != "$v" ]; then
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url$REQUEST_PATH")
    [ "$code" = 405 ] || die "$v: POST $REQUEST_PATH answered $code, expected the filter's 405"
  fi
}

CLK_TCK=$(getconf CLK_TCK)
RESULTS=$WORK/rounds.tsv
: >"$RESULTS"
echo "== $ROUNDS rounds x ${#VARIANTS[@]} variants, wrk -t1 -c32 -d${DURATION}s (+${WARMUP}s warm-up) GET $REQUEST_PATH"
for round in $(seq 1 "$ROUNDS"); do
  # Rotate the order each round so drift on the box does not favour one variant.
  shift_by=$(( (round - 1) % ${#VARIANTS[@]} ))
  order=("${VARIANTS[@]:$shift_by}" "${VARIANTS[@]:0:$shift_by}")
  for v in "${order[@]}"; do
    assert_serving "$v"
    url=http://127.0.0.1:${LISTEN[$v]}$REQUEST_PATH
    "${PRIO[@]}" taskset -c 0 wrk -t1 -c32 -d"${WARMUP}s" -H "${ROUTE_HEADER[$v]}" "$url" >/dev/null
    before=$(cpu_ticks "${PID[$v]}")
    out=$("${PRIO[@]}" taskset -c 0 wrk -t1 -c32 -d"${DURATION}s" -H "${ROUTE_HEADER[$v]}" "$url")
    after=$(cpu_ticks "${PID[$v]}")
    if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then die "$v: errors under load:"$'\n'"$out"; fi
    requests=$(awk '/requests in/ {print $1}' <<<"$out")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    cpu_us=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$requests" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
    printf '%s\t%s\t%s\t%s\n' "$round" "$v" "$rps" "$cpu_us" >>"$RESULTS"
    # CPU us/request x req/s near 1.0 core means the Envoy under test was the bottleneck.
    busy=$(awk -v c="$cpu_us" -v r="$rps" 'BEGIN {printf "%.2f", c * r / 1e6}')
    printf '   round %s %-9s %9s req/s %7s CPU us/req  (Envoy busy %s cores)\n' "$round" "$v" "$rps" "$cpu_us" "$busy"
  done
done
echo "== summary"
python3 bench/summarize.py "$RESULTS"
