#!/usr/bin/env bash
# Installs PostgreSQL's server binaries (Debian package) if they are missing: the
# control service's tests start a real server (initdb + postgres) on a free loopback
# port per test, so several replicas can share one key database. Idempotent; prints
# the directory holding initdb, pg_ctl and postgres.
set -euo pipefail

find_bin_dir() {
  local dir
  # The newest Debian cluster version first (/usr/lib/postgresql/<ver>/bin).
  while IFS= read -r dir; do
    if [ -x "$dir/initdb" ]; then
      echo "$dir"
      return 0
    fi
  done < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -rV)
  if command -v initdb >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v initdb)")"
    return 0
  fi
  return 1
}

if find_bin_dir; then
  exit 0
fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

echo "== installing postgresql (apt)" >&2
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
# The package creates and starts a system cluster on port 5432 where an init system
# runs; the tests never use it (each starts its own server on a free port).
find_bin_dir
