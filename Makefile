# wasp: two commands matter on a fresh machine.
#   make demo   build everything, run Envoy + wasp + the hello example backend, print curl lines
#   make test   format check, clippy, unit and integration tests (through real Envoy)
# Everything they need (wasm target, Envoy, load generator) is installed by the targets themselves.

SHELL := /bin/bash
ENVOY := $(CURDIR)/.venv/bin/envoy
WASM := $(CURDIR)/target/wasp_filter.wasm
export WASP_ENVOY := $(ENVOY)
export WASP_WASM := $(WASM)
export WASP_BIN := $(CURDIR)/target/release/wasp
export WASP_CONTROL := $(CURDIR)/target/release/wasp-control

.PHONY: all toolchain wasm build images deploy-examples test fmt-check clippy unit integration demo bench bench-instructions fuzz clean

all: build

toolchain:
	@scripts/ensure-toolchain.sh

wasm: toolchain
	@echo "== building the filter for wasm32-wasip1"
	@scripts/build-wasm.sh
	@ls -l $(WASM) | awk '{print "   " $$5 " bytes  " $$9}'

build: wasm
	cargo build --release --workspace --bins

# OCI images of the module (Wasm compat and oci variants), wasp-control, the CLI, Envoy and
# the hello backend, into target/images (digests in target/images/digests.txt).
images: build
	@scripts/build-images.sh

# envoy/ (what the top-level docker-compose.yml runs), regenerated from examples/hello.
deploy-examples: build
	@scripts/generate-deploy-examples.sh

fmt-check:
	cargo fmt --all -- --check

clippy: toolchain
	cargo clippy --workspace --all-targets -- -D warnings
	@if grep -q rustup target/toolchain.env; then \
	  . target/toolchain.env; \
	  CC_wasm32_wasip1=$$WASM_CC AR_wasm32_wasip1=$$WASM_AR \
	    cargo clippy --release --target wasm32-wasip1 -p wasp-filter -- -D warnings; fi

unit: toolchain
	@scripts/ensure-redis.sh
	@scripts/ensure-postgres.sh
	cargo test --workspace --exclude wasp-tests

integration: build
	@scripts/ensure-redis.sh
	@scripts/ensure-postgres.sh
	@scripts/ensure-podman.sh
	cargo test -p wasp-tests

test: fmt-check clippy unit integration

demo: build
	@scripts/demo.sh

bench: build
	@scripts/bench.sh

bench-instructions: build
	@scripts/bench-instructions.sh

# cargo-fuzz targets, FUZZ_SECONDS (default 20) each; not part of `make test` (fuzz/README.md).
fuzz:
	@scripts/fuzz.sh

clean:
	cargo clean
	rm -rf .venv generated
