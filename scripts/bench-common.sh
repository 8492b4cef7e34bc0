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
