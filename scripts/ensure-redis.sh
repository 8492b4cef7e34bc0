#!/usr/bin/env bash
# Installs redis-server (Debian package) if it is missing: the control service's
# tests start a real redis-server on a free loopback port to prove that quota
# windows are shared between replicas. Idempotent; prints the binary it found.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
  command -v redis-server
  exit 0
fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

echo "== installing redis-server (apt)" >&2
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null
# The package starts a system service on port 6379 where an init system runs;
# the tests never use it (each starts its own on a free port).
command -v redis-server
