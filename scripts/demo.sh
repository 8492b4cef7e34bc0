#!/usr/bin/env bash
# The hello example behind wasp, in the foreground (run by `make demo` after `make build`):
#   examples/hello/openapi.yaml --wasp compile--> generated/{filter.json,envoy.yaml}
#   Envoy (with the wasp filter) on :8080, admin on :9901, the hello backend on :8081.
# Ctrl-C stops everything. Ports can be moved with LISTEN_PORT, BACKEND_PORT, ADMIN_PORT.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

LISTEN_PORT=${LISTEN_PORT:-8080}
BACKEND_PORT=${BACKEND_PORT:-8081}
ADMIN_PORT=${ADMIN_PORT:-9901}
ENVOY=${WASP_ENVOY:-$ROOT/.venv/bin/envoy}
WASM=${WASP_WASM:-$ROOT/target/wasp_filter.wasm}
WASP=${WASP_BIN:-$ROOT/target/release/wasp}
HELLO=${WASP_HELLO_BACKEND:-$ROOT/target/release/hello_backend}
OUT=$ROOT/generated

die() { echo "demo: $*" >&2; exit 1; }

for tool in "$ENVOY" "$WASM" "$WASP" "$HELLO"; do
  [ -e "$tool" ] || die "$tool is missing; run \`make demo\` (it builds everything first)"
done

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$LISTEN_PORT" "$BACKEND_PORT" "$ADMIN_PORT"; do
  if port_taken "$port"; then
    die "port $port on 127.0.0.1 is already in use; stop what uses it (\`ss -ltnp | grep :$port\`) or set LISTEN_PORT/BACKEND_PORT/ADMIN_PORT"
  fi
done

echo "== compiling examples/hello/openapi.yaml into generated/"
mkdir -p "$OUT"
"$WASP" compile "$ROOT/examples/hello/openapi.yaml" \
  --backend "http://127.0.0.1:$BACKEND_PORT" \
  --listen "127.0.0.1:$LISTEN_PORT" --admin "127.0.0.1:$ADMIN_PORT" \
  --wasm "$WASM" --out "$OUT"

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "== demo stopped"
}
trap stop INT TERM EXIT

"$HELLO" --listen "127.0.0.1:$BACKEND_PORT" 2>"$OUT/hello_backend.log" &
pids+=($!)
# Envoy's own log goes to a file; its stdout carries the access log (one line per request).
"$ENVOY" -c "$OUT/envoy.yaml" --concurrency 1 --disable-hot-restart 2>"$OUT/envoy.log" &
envoy_pid=$!
pids+=("$envoy_pid")

echo "== waiting for Envoy (log: generated/envoy.log)"
for _ in $(seq 1 100); do
  kill -0 "$envoy_pid" 2>/dev/null || { tail -n 30 "$OUT/envoy.log" >&2; die "Envoy exited during start-up"; }
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT/ready")" = 200 ] && break
  sleep 0.2
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT/ready")" = 200 ] \
  || { tail -n 30 "$OUT/envoy.log" >&2; die "Envoy did not become ready"; }

cat <<EOF
== wasp is serving examples/hello on http://127.0.0.1:$LISTEN_PORT (backend :$BACKEND_PORT, admin :$ADMIN_PORT)
Try, in another terminal:
  curl -i http://127.0.0.1:$LISTEN_PORT/hello             # 200 Hello, World!
  curl -i http://127.0.0.1:$LISTEN_PORT/goodbye           # 200 Goodbye, World!
  curl -i http://127.0.0.1:$LISTEN_PORT/nothing           # 404 {"code":404,"message":"The current request is not defined by this API."}
  curl -i -X POST http://127.0.0.1:$LISTEN_PORT/hello     # 405 naming the template "/hello"
Access log (operation names) below. Ctrl-C stops everything.
EOF
wait "$envoy_pid"
