#!/usr/bin/env bash
# Regenerates envoy/ from examples/hello/openapi.yaml (`make deploy-examples`): the files
# `docker compose up` at the top level runs. A test compiles the same inputs and fails
# when envoy/ is stale, so edit the spec or the compiler, never these files.
set -euo pipefail
cd "$(dirname "$0")/.."
WASP=${WASP_BIN:-target/release/wasp}
# Keep these flags in step with tests/tests/integration/deploy_examples.rs.
"$WASP" compile examples/hello/openapi.yaml \
  --target compose \
  --backend http://backend:8081 \
  --service-control-url http://wasp-control:8790 \
  --producer-project-id hello-demo \
  --compose-module ../target/wasp_filter.wasm \
  --app-image localhost/wasp-hello-backend:0.1.0 \
  --out envoy
