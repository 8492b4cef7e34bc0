#!/usr/bin/env bash
# Installs what running the deploy targets' containers needs, idempotently (run by
# `make integration`): podman with runc from apt, podman-compose in .venv, and a podman
# default this machine needs: runc may only lower the process limits it inherits, so
# every container starts with nofile/nproc below the hard limits (else
# "error setting rlimit type 7: operation not permitted").
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v podman >/dev/null || ! command -v runc >/dev/null; then
  echo "== installing podman and runc (apt)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman runc >/dev/null
fi
CONF=/etc/containers/containers.conf.d/50-wasp-tests.conf
if [ ! -f "$CONF" ]; then
  as_root mkdir -p "$(dirname "$CONF")"
  as_root tee "$CONF" >/dev/null <<'CONF'
# Written by wasp's scripts/ensure-podman.sh for its container tests.
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
runtime = "runc"
CONF
fi
PODMAN_COMPOSE=podman-compose==1.5.0
if [ ! -x .venv/bin/podman-compose ] || ! .venv/bin/podman-compose --version 2>/dev/null | grep -q "${PODMAN_COMPOSE#*==}"; then
  echo "== installing $PODMAN_COMPOSE into .venv"
  .venv/bin/pip install --quiet --disable-pip-version-check "$PODMAN_COMPOSE"
fi
