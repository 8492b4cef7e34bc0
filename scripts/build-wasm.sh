#!/usr/bin/env bash
# Builds the filter module to target/wasp_filter.wasm by the route ensure-toolchain.sh found.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. target/toolchain.env
# ring's C and assembly parts are compiled by the clang ensure-toolchain.sh found.
export CC_wasm32_wasip1="$WASM_CC" AR_wasm32_wasip1="$WASM_AR"
case "$WASM_ROUTE" in
  rustup)
    cargo build --quiet --release --target wasm32-wasip1 -p wasp-filter
    BUILT=target/wasm32-wasip1/release/wasp_filter.wasm
    ;;
  debian)
    # A separate target dir: this is Debian's rustc, the native build uses rustup's.
    PATH=/usr/lib/llvm-22/bin:$PATH RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
      RUSTFLAGS="-C link-self-contained=no -L native=/usr/lib/wasm32-wasi" \
      /usr/bin/cargo build --quiet --release --target wasm32-wasip1 \
        -Z build-std=std,panic_abort -p wasp-filter --target-dir target/wasm
    BUILT=target/wasm/wasm32-wasip1/release/wasp_filter.wasm
    ;;
  *) echo "unknown WASM_ROUTE=$WASM_ROUTE in target/toolchain.env" >&2; exit 1 ;;
esac
# binaryen after LLVM: -O3 and no name section make the module 22% smaller with no more
# instructions per request (measured: bench/README.md). opt-level "s" plus -Oz would get
# under 1 MiB but costs 2-8% more instructions per request, so it is not used.
wasm-opt -O3 --strip-debug "$BUILT" -o target/wasp_filter.wasm
