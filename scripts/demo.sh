#!/usr/bin/env bash
# The hello example behind wasp, in the foreground (run by `make demo` after `make build`):
#   generated/openapi.yaml (a copy of examples/hello/openapi.yaml to edit)
#     --wasp compile --store--> an immutable config in generated/store, made current by
#     `wasp rollout`; Envoy runs from generated/store/envoy.yaml (filesystem LDS/CDS)
#   Envoy (with the wasp filter) on :8080, admin on :9901, the hello backend on :8081,
#   wasp-control (API keys in generated/wasp-control.db, quota windows in memory) on :8790,
#     serving generated/store/current/control.json (it reloads it when a rollout changes it).
# A fresh API key is created at start and printed with curl lines that use it.
# generated/rollout.sh compiles the edited copy and rolls it out with no restart.
# Ctrl-C stops everything. Ports can be moved with LISTEN_PORT, BACKEND_PORT, ADMIN_PORT,
# CONTROL_PORT; the output folder with WASP_DEMO_OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

LISTEN_PORT=${LISTEN_PORT:-8080}
BACKEND_PORT=${BACKEND_PORT:-8081}
ADMIN_PORT=${ADMIN_PORT:-9901}
CONTROL_PORT=${CONTROL_PORT:-8790}
ENVOY=${WASP_ENVOY:-$ROOT/.venv/bin/envoy}
WASM=${WASP_WASM:-$ROOT/target/wasp_filter.wasm}
WASP=${WASP_BIN:-$ROOT/target/release/wasp}
CONTROL=${WASP_CONTROL:-$ROOT/target/release/wasp-control}
HELLO=${WASP_HELLO_BACKEND:-$ROOT/target/release/hello_backend}
OUT=${WASP_DEMO_OUT:-$ROOT/generated}
DB=$OUT/wasp-control.db
STORE=$OUT/store
SPEC=$OUT/openapi.yaml
# Only for this local demo: the admin API (reports, keys) on the loopback port.
ADMIN_TOKEN=demo-admin-token

die() { echo "demo: $*" >&2; exit 1; }

for tool in "$ENVOY" "$WASM" "$WASP" "$CONTROL" "$HELLO"; do
  [ -e "$tool" ] || die "$tool is missing; run \`make demo\` (it builds everything first)"
done

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$LISTEN_PORT" "$BACKEND_PORT" "$ADMIN_PORT" "$CONTROL_PORT"; do
  if port_taken "$port"; then
    die "port $port on 127.0.0.1 is already in use; stop what uses it (\`ss -ltnp | grep :$port\`) or set LISTEN_PORT/BACKEND_PORT/ADMIN_PORT/CONTROL_PORT"
  fi
done

echo "== compiling examples/hello/openapi.yaml into the config store $STORE"
mkdir -p "$OUT"
# A fresh store each run: the demo's first config is the only one.
rm -rf "$STORE"
cp "$ROOT/examples/hello/openapi.yaml" "$SPEC"
# What the rollout script below compiles with too (only the spec changes between configs).
compile_options=(
  --backend "http://127.0.0.1:$BACKEND_PORT"
  --listen "127.0.0.1:$LISTEN_PORT" --admin "127.0.0.1:$ADMIN_PORT"
  --service-control-url "http://127.0.0.1:$CONTROL_PORT" --producer-project-id hello-demo
  --wasm "$WASM" --out "$OUT" --store "$STORE"
)
compiled=$("$WASP" compile "$SPEC" "${compile_options[@]}")
echo "$compiled"
CONFIG_ID=$(sed -n 's/^wasp: stored config \([^ ]*\).*/\1/p' <<<"$compiled")
[ -n "$CONFIG_ID" ] || die "wasp compile printed no config id"
"$WASP" rollout --store "$STORE" "$CONFIG_ID"

# generated/rollout.sh: the edited spec becomes a new config, current without a restart
# (or refused, and the running one keeps serving).
{
  echo '#!/usr/bin/env bash'
  echo "# Written by scripts/demo.sh: compiles $SPEC into $STORE and rolls it out."
  echo 'set -euo pipefail'
  printf 'compiled=$(%q compile %q' "$WASP" "$SPEC"
  printf ' %q' "${compile_options[@]}"
  echo ')'
  echo 'echo "$compiled"'
  echo "id=\$(sed -n 's/^wasp: stored config \\([^ ]*\\).*/\\1/p' <<<\"\$compiled\")"
  printf 'exec %q rollout --store %q "$id" --envoy-admin %q\n' "$WASP" "$STORE" "http://127.0.0.1:$ADMIN_PORT"
} >"$OUT/rollout.sh"
chmod +x "$OUT/rollout.sh"

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "== demo stopped"
}
trap stop INT TERM EXIT

# A fresh key database each run, so the key printed below is the only one.
rm -f "$DB" "$DB-wal" "$DB-shm"
echo "== creating an API key for project demo-consumer (wasp-control keys create)"
key_output=$("$CONTROL" keys create --project demo-consumer --db "$DB")
KEY=$(awk '/^key: /{print $2}' <<<"$key_output")
[ -n "$KEY" ] || die "wasp-control keys create printed no key: $key_output"
NUMBER=$(sed -n 's/.*(number \([0-9]*\)).*/\1/p' <<<"$key_output")

"$CONTROL" serve --db "$DB" --config "$STORE/current/control.json" \
  --listen "127.0.0.1:$CONTROL_PORT" --admin-token "$ADMIN_TOKEN" \
  >"$OUT/wasp-control.log" 2>&1 &
control_pid=$!
pids+=("$control_pid")
"$HELLO" --listen "127.0.0.1:$BACKEND_PORT" 2>"$OUT/hello_backend.log" &
pids+=($!)
# Envoy's own log goes to a file; its stdout carries the access log (one line per request).
"$ENVOY" -c "$STORE/envoy.yaml" --concurrency 1 --disable-hot-restart 2>"$OUT/envoy.log" &
envoy_pid=$!
pids+=("$envoy_pid")

echo "== waiting for wasp-control (log: generated/wasp-control.log) and Envoy (log: generated/envoy.log)"
for _ in $(seq 1 100); do
  kill -0 "$control_pid" 2>/dev/null || { cat "$OUT/wasp-control.log" >&2; die "wasp-control exited during start-up"; }
  kill -0 "$envoy_pid" 2>/dev/null || { tail -n 30 "$OUT/envoy.log" >&2; die "Envoy exited during start-up"; }
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$CONTROL_PORT/healthz")" = 200 ] &&
     [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT/ready")" = 200 ]; then
    break
  fi
  sleep 0.2
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$CONTROL_PORT/healthz")" = 200 ] \
  || { cat "$OUT/wasp-control.log" >&2; die "wasp-control did not become ready"; }
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT/ready")" = 200 ] \
  || { tail -n 30 "$OUT/envoy.log" >&2; die "Envoy did not become ready"; }

GW=http://127.0.0.1:$LISTEN_PORT
cat <<EOF
== wasp is serving examples/hello on $GW (backend :$BACKEND_PORT, admin :$ADMIN_PORT, wasp-control :$CONTROL_PORT)
== API key for project demo-consumer (number $NUMBER): $KEY
Try, in another terminal:
  curl -i $GW/hello             # 200 Hello, World!
  curl -i $GW/goodbye           # 200 Goodbye, World!
  curl -i $GW/nothing           # 404 {"code":404,"message":"The current request is not defined by this API."}
  curl -i -X POST $GW/hello     # 405 naming the template "/hello"
  curl -i $GW/greeting          # 401 UNAUTHENTICATED: Method doesn't allow unregistered callers ...
  curl -i "$GW/greeting?key=not-a-key"    # 400 INVALID_ARGUMENT: API key not valid. Please pass a valid API key.
  curl -i "$GW/greeting?key=$KEY"    # 200 Hello, project $NUMBER!
  curl -i -H "x-api-key: $KEY" $GW/greeting    # the same key in a header
  for i in 1 2 3 4 5; do curl -s -w ' %{http_code}\n' "$GW/greeting?key=$KEY"; done
      # 5 greetings per minute per project: after the two calls above, 3 more pass, then
      # 429 RESOURCE_EXHAUSTED: Quota exceeded for quota metric 'Greetings' ... (until the minute ends)
  $CONTROL keys create --project another-project --db $DB    # another project has its own 5
  curl -s -H 'authorization: Bearer $ADMIN_TOKEN' http://127.0.0.1:$CONTROL_PORT/admin/reports    # what the gateway reported (sent about every second)
  curl -s http://127.0.0.1:$ADMIN_PORT/stats/prometheus | grep '^wasp_'    # requests, denials, latency per operation and consumer
  curl -s http://127.0.0.1:$CONTROL_PORT/metrics    # wasp-control's own calls, denials and store latency
Change the API with no restart: edit $SPEC (say, STANDARD: 5 -> 2, or a new path), then
  $OUT/rollout.sh              # compiles it into a new config and makes it current
  $WASP configs --store $STORE    # every config, * on the current one
  $WASP rollback --store $STORE --envoy-admin http://127.0.0.1:$ADMIN_PORT    # back to the one before
== serving config $CONFIG_ID
Access log (operation names) below. Ctrl-C stops everything.
EOF
wait "$envoy_pid"
