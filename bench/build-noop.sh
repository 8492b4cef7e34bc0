#!/usr/bin/env bash
# Builds bench/noop-filter to target/bench/noop_filter.wasm by the route
# scripts/ensure-toolchain.sh found (the same two routes as scripts/build-wasm.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. target/toolchain.env
manifest=bench/noop-filter/Cargo.toml
case "$WASM_ROUTE" in
  rustup)
    cargo build --quiet --release --target wasm32-wasip1 --manifest-path "$manifest" --target-dir target/bench
    ;;
  debian)
    PATH=/usr/lib/llvm-22/bin:$PATH RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
      RUSTFLAGS="-C link-self-contained=no -L native=/usr/lib/wasm32-wasi" \
      /usr/bin/cargo build --quiet --release --target wasm32-wasip1 \
        -Z build-std=std,panic_abort --manifest-path "$manifest" --target-dir target/bench
    ;;
  *) echo "unknown WASM_ROUTE=$WASM_ROUTE in target/toolchain.env" >&2; exit 1 ;;
esac
cp target/bench/wasm32-wasip1/release/wasp_bench_noop_filter.wasm target/bench/noop_filter.wasm
