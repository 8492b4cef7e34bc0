#!/usr/bin/env bash
# `make images`: the OCI images the deploy targets name, built from what `make build`
# made, without a container engine (scripts/oci_image.py writes each OCI image layout;
# the same inputs give the same digests). Into ${IMAGES_DIR:-target/images}:
#   wasp-filter        the module, Wasm image compat variant (Istio, Envoy Gateway, image volumes)
#   wasp-filter-oci    the module, Wasm image oci variant
#   wasp-control       wasp-control on an empty base (its shared libraries only)
#   wasp               the wasp CLI
#   wasp-envoy         the Envoy 1.40 the tests run (for machines without Docker Hub)
#   wasp-hello-backend the hello example's backend
# and digests.txt ("name tag digest"). `podman pull oci:<dir>` or `skopeo copy
# oci:<dir> docker://<registry>/<name>:<tag>` takes them elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${IMAGES_DIR:-target/images}
TAG=$(target/release/wasp --version | cut -d" " -f2)
ENVOY_BIN=$(.venv/bin/python -c 'import envoy, os; print(os.path.join(os.path.dirname(envoy.__file__), "_bin", "envoy"))')
for input in target/wasp_filter.wasm target/release/wasp-control target/release/wasp target/release/hello_backend "$ENVOY_BIN"; do
  [ -e "$input" ] || { echo "images: $input is missing; run make build" >&2; exit 1; }
done
rm -rf "$OUT"
mkdir -p "$OUT"
build() { # name version kind args...
  local name=$1 version=$2
  shift 2
  local digest
  digest=$(scripts/oci_image.py "$1" "$OUT/$name" --tag "$version" "${@:2}")
  echo "$name $version $digest" | tee -a "$OUT/digests.txt"
}
build wasp-filter "$TAG" wasm-compat --module target/wasp_filter.wasm
build wasp-filter-oci "$TAG" wasm-oci --module target/wasp_filter.wasm
build wasp-control "$TAG" container --file target/release/wasp-control:/usr/bin/wasp-control --entrypoint /usr/bin/wasp-control
build wasp "$TAG" container --file target/release/wasp:/usr/bin/wasp --entrypoint /usr/bin/wasp
build wasp-hello-backend "$TAG" container --file target/release/hello_backend:/usr/bin/hello_backend \
  --entrypoint /usr/bin/hello_backend --entrypoint=--listen --entrypoint 0.0.0.0:8081
build wasp-envoy 1.40.0 container --file "$ENVOY_BIN:/usr/local/bin/envoy" \
  --file /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt --entrypoint /usr/local/bin/envoy
