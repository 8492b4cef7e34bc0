# Sourced by bench.sh and bench-instructions.sh (from the repository root, ROOT set): the
# binaries under test, the upstream's ports and the tokens' claims, and small helpers.
# BENCH_NAME names the script in messages.

ENVOY=${WASP_ENVOY:-$ROOT/.venv/bin/envoy}
WASM=${WASP_WASM:-$ROOT/target/wasp_filter.wasm}
WASP=${WASP_BIN:-$ROOT/target/release/wasp}
TOKENS_BIN=${WASP_BENCH_TOKENS:-$ROOT/target/release/wasp-bench-tokens}
CONTROL_BIN=${WASP_CONTROL:-$ROOT/target/release/wasp-control}
UPSTREAM_PORT=18090
UPSTREAM_ADMIN_PORT=19090
UPSTREAM=http://127.0.0.1:$UPSTREAM_PORT
# wasp-control, the Service Control the apikey gateway calls.
CONTROL_PORT=18095
# What the JWT tokens (and the rewrite scenario's ID token) say.
ISSUER=https://issuer.bench.example
AUDIENCE=bench-audience
BACKEND_AUDIENCE=bench-backend

die() { echo "$BENCH_NAME: $*" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# require_tools TARGET: the binaries `make TARGET` builds must be there.
require_tools() {
  local tool
  for tool in "$ENVOY" "$WASM" "$WASP" "$TOKENS_BIN" "$CONTROL_BIN"; do
    [ -e "$tool" ] || die "$tool is missing; run \`make $1\` (it builds everything first)"
  done
}

# apt_install COMMAND_CHECK PACKAGE: installs PACKAGE when the check fails.
apt_install() {
  local check=$1 package=$2
  eval "$check" >/dev/null 2>&1 && return 0
  echo "== installing $package (apt)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
}

# write_upstream TOKENS_DIR CLIENT_TOKEN OUT: bench/upstream.yaml with this run's ports, JWK set,
# ID token and client token.
write_upstream() {
  local tokens=$1 client_token=$2 out=$3
  sed -e "s|UPSTREAM_ADMIN_PORT|$UPSTREAM_ADMIN_PORT|" -e "s|UPSTREAM_PORT|$UPSTREAM_PORT|g" \
    -e "s|BACKEND_AUDIENCE|$BACKEND_AUDIENCE|" -e "s|ID_TOKEN_FILE|$tokens/id-token|" \
    -e "s|JWKS_FILE|$tokens/jwks.json|" -e "s|CLIENT_TOKEN|$client_token|" \
    -e "s|ID_TOKEN|$(cat "$tokens/id-token")|" bench/upstream.yaml >"$out"
}

# On a shared box, run the measured processes ahead of niced background work when allowed.
PRIO=()
if nice -n -5 true 2>/dev/null; then PRIO=(nice -n -5); fi

# make_work PREFIX: sets WORK, the run's scratch directory, and pids, the processes the run
# started; on exit they are stopped and WORK is removed (kept with KEEP=1).
make_work() {
  WORK=$(mktemp -d "/tmp/$1.XXXXXX")
  pids=()
  trap cleanup EXIT INT TERM
}
cleanup() {
  # Servers that need more than a signal to their pid (bench-stores.sh's PostgreSQL).
  if declare -F stop_stores >/dev/null; then stop_stores; fi
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}

# wait_ready NAME PID URL WANT LOG SECONDS: polls URL until its body is WANT; dies with the
# tail of LOG if PID exits first or SECONDS pass.
wait_ready() {
  local name=$1 pid=$2 url=$3 want=$4 log=$5 seconds=$6
  for _ in $(seq 1 $((seconds * 5))); do
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$log" >&2; die "$name exited"; }
    [ "$(curl -s "$url")" = "$want" ] && return 0
    sleep 0.2
  done
  tail -n 20 "$log" >&2
  die "$name not ready after $seconds s"
}

# start_envoy NAME CPU CONFIG ADMIN_PORT: starts a pinned Envoy, waits until ready, sets ENVOY_PID.
start_envoy() {
  local name=$1 cpu=$2 config=$3 admin=$4
  "${PRIO[@]}" taskset -c "$cpu" "$ENVOY" -c "$config" --concurrency 1 --disable-hot-restart --log-level warn \
    >"$WORK/$name.out" 2>"$WORK/$name.log" &
  ENVOY_PID=$!
  pids+=("$ENVOY_PID")
  wait_ready "$name: Envoy" "$ENVOY_PID" "http://127.0.0.1:$admin/ready" LIVE "$WORK/$name.log" 30
}

# start_control DB CONFIG [OPTION...]: wasp-control on CPU 0 (with the load and the upstream;
# CONTROL_CPU moves it) for the apikey spec's control.json CONFIG and the keys in DB (a SQLite
# file or a Postgres URL), with more serve OPTIONs; sets CONTROL_PID once it answers.
start_control() {
  local db=$1 config=$2
  shift 2
  "${PRIO[@]}" taskset -c "${CONTROL_CPU:-0}" "$CONTROL_BIN" serve --db "$db" --config "$config" \
    --listen "127.0.0.1:$CONTROL_PORT" "$@" >"$WORK/wasp-control.out" 2>"$WORK/wasp-control.log" &
  CONTROL_PID=$!
  pids+=("$CONTROL_PID")
  wait_ready wasp-control "$CONTROL_PID" "http://127.0.0.1:$CONTROL_PORT/healthz" ok "$WORK/wasp-control.log" 30
}

# compile NAME SPEC [OPTION...]: wasp compile into $WORK/out-NAME, the upstream as backend
# and metadata server. WASP_COMPILE_ARGS adds options to every compile (say,
# --disable-operation-metrics to measure what the metrics cost).
compile() {
  local name=$1 spec=$2
  shift 2
  mkdir -p "$WORK/out-$name"
  # shellcheck disable=SC2086 # a list of options, split on purpose
  "$WASP" compile "$spec" --backend "$UPSTREAM" --metadata-url "$UPSTREAM" \
    --listen 127.0.0.1:0 --admin 127.0.0.1:0 --wasm "$WASM" --out "$WORK/out-$name" "$@" \
    ${WASP_COMPILE_ARGS:-} >/dev/null
}

# create_key DB PROJECT: prints a new API key of PROJECT stored in DB.
create_key() {
  "$CONTROL_BIN" keys create --project "$2" --db "$1" --json \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])'
}
