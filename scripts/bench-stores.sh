# Sourced by bench.sh: the stores wasp-control keeps its state in during the apikey and
# control scenarios, started in $WORK on CPU 0 (with the load, the upstream and wasp-control):
# PostgreSQL from Debian's packages (scripts/ensure-postgres.sh installs them) and a
# redis-server. Both go when the run ends (their pids are in `pids`).

# The directory holding initdb, postgres and pg_isready.
postgres_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

# as_postgres COMMAND...: PostgreSQL refuses to run as root; as root, run as user postgres.
as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# start_postgres PORT: a new cluster in $WORK/postgres with database and user `wasp`; sets
# POSTGRES_URL.
start_postgres() {
  local port=$1 bin dir=$WORK/postgres
  bin=$(postgres_bin)
  [ -n "$bin" ] || die "PostgreSQL is not installed; run scripts/ensure-postgres.sh"
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then
    # The server runs as postgres: it must reach its directory through $WORK (mode 0700).
    chmod 711 "$WORK"
    chown postgres "$dir"
  fi
  as_postgres "$bin/initdb" -D "$dir/data" -U wasp --auth=trust --no-sync >"$dir/initdb.log" 2>&1 ||
    { tail -n 20 "$dir/initdb.log" >&2; die "initdb failed"; }
  as_postgres taskset -c 0 "$bin/postgres" -D "$dir/data" -p "$port" -c listen_addresses=127.0.0.1 \
    -c unix_socket_directories="$dir" >"$dir/postgres.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" && break
    sleep 0.2
  done
  "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" || { tail -n 20 "$dir/postgres.log" >&2; die "postgres did not start"; }
  as_postgres "$bin/createdb" -h 127.0.0.1 -p "$port" -U wasp wasp
  POSTGRES_URL="postgres://wasp@127.0.0.1:$port/wasp"
}

# stop_stores: PostgreSQL's fast shutdown, when this run started one (bench-common.sh's
# cleanup calls it; its pid is runuser's, so a signal there may not reach the server).
stop_stores() {
  if [ -n "${POSTGRES_URL:-}" ]; then
    as_postgres "$(postgres_bin)/pg_ctl" -D "$WORK/postgres/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
}

# start_redis PORT: an empty redis-server without persistence; sets REDIS_URL.
start_redis() {
  local port=$1
  taskset -c 0 redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
    >"$WORK/redis.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 50); do
    port_taken "$port" && break
    sleep 0.1
  done
  port_taken "$port" || die "redis-server did not start on $port"
  REDIS_URL="redis://127.0.0.1:$port/0"
}
