#!/usr/bin/env bash
# Instructions per request of the Envoy under test, counted by valgrind's callgrind: what the
# filter costs, exactly and repeatably, on a box too noisy for req/s to settle small
# differences (`make bench-instructions`, about 5 minutes). Counting starts after WARM
# requests (JWKS fetched, caches filled, V8's optimized code in place) and covers the next N,
# all sent one at a time over one keep-alive connection; every answer must be a 200.
# Variants (the requests of `make bench`'s scenarios):
#   bare        the match spec's bootstrap without the filter
#   wasm-noop   the same with bench/noop-filter: what any Rust module costs in V8
#   wasp        the match spec (10 operations), GET /v1/bench/42
#   jwt-bare    bare, the request carrying an RS256 token (the base of the jwt variants)
#   jwt-open    the jwt spec's unprotected twin, token sent and not checked
#   jwt-cached  the RS256-protected operation, same token every time (verified-token cache)
#   key-bare    bare, the request carrying an API key (the base of the key variants)
#   key-open    the apikey spec's open twin: Service Control configured, nothing to check
#   key-cached  the key-protected operation, same key every time (Check answered from cache)
#   key-xff     key-cached through two proxies (X-Forwarded-For with three entries): the caller
#               IP comes from the head instead of Envoy's source.address
#   native-10, native-10k
#               bare Envoy routing each operation natively (bench/bootstrap.py --native-routes: one
#               regex route per operation, in spec order, as ESPv2 generates them), 10 and 10,000
#               operations, the request for the spec's last operation (every route tried first)
#   tree-10, tree-10k
#               the same operations in the virtual host's matcher tree (bench/bootstrap.py
#               --native-tree: method, then a trie of literal path prefixes, then a regex or few),
#               behind the header guard a route that skips the filter needs (tree-unguarded-10:
#               without it)
#   wasp-10, wasp-10k
#               the filter on the same two specs and requests (its own matcher, one route)
#   probes      the no-op module making one host call of a kind per request (probe-get-path,
#               probe-get-missing, probe-get-map, probe-set-header, probe-set-property,
#               probe-route-name, probe-status): what each costs any filter
# Each is compared with its base (bare, jwt-bare or key-bare: the same request without the
# filter) and with wasm-noop. VARIANTS="bare wasp" picks some. Instruction counts are not time: a host call that moves
# memory or takes a lock costs more than its count says, but the ranking holds.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

N=${N:-2000}
WARM=${WARM:-2000}
VARIANTS=${VARIANTS:-bare wasm-noop wasp jwt-bare jwt-open jwt-cached key-bare key-open key-cached key-xff}
BENCH_NAME=bench-instructions
# shellcheck source=scripts/bench-common.sh
. scripts/bench-common.sh
# The venv's `envoy` is a Python launcher that execs the binary; valgrind must start the binary.
ENVOY_BINARY=$(compgen -G "$ROOT/.venv/lib/python3*/site-packages/envoy/_bin/envoy" | head -n 1 || true)
# The Envoy under callgrind.
LISTEN_PORT=18094
ADMIN_PORT=19094

[ -n "$ENVOY_BINARY" ] || die "no Envoy binary under .venv; run \`make bench-instructions\` (it installs Envoy first)"
require_tools bench-instructions
apt_install "command -v callgrind_control" valgrind
apt_install "python3 -c 'import yaml'" python3-yaml
for port in $UPSTREAM_PORT $UPSTREAM_ADMIN_PORT $CONTROL_PORT $LISTEN_PORT $ADMIN_PORT; do
  port_taken "$port" && die "port $port on 127.0.0.1 is in use"
done

make_work wasp-instructions

echo "== building the no-op module (bench/noop-filter)"
bench/build-noop.sh
NOOP_WASM=$ROOT/target/bench/noop_filter.wasm

echo "== tokens, key, specs and bootstraps in $WORK"
"$TOKENS_BIN" "$WORK/tokens" --issuer "$ISSUER" --audience "$AUDIENCE" --id-audience "$BACKEND_AUDIENCE" --count 1
TOKEN=$(cat "$WORK/tokens/token")
write_upstream "$WORK/tokens" "$TOKEN" "$WORK/upstream.yaml"
python3 bench/gen_spec.py 10 "$WORK/spec-match.yaml"
python3 bench/gen_spec.py 10 "$WORK/spec-jwt.yaml" --jwt "$ISSUER" "$UPSTREAM/bench/jwks.json" "$AUDIENCE"
python3 bench/gen_spec.py 10 "$WORK/spec-apikey.yaml" --apikey 1000000000
compile match "$WORK/spec-match.yaml"
case " $VARIANTS " in *" native-10k "* | *" tree-10k "* | *" wasp-10k "*)
  python3 bench/gen_spec.py 10000 "$WORK/spec-match10k.yaml"
  compile match10k "$WORK/spec-match10k.yaml" ;;
esac
compile jwt "$WORK/spec-jwt.yaml"
compile apikey "$WORK/spec-apikey.yaml" --service-control-url "http://127.0.0.1:$CONTROL_PORT" \
  --service-control-fail-policy closed --producer-project-id bench-producer
ROUTE=$(python3 bench/route_id.py "$WORK/out-match/filter.json" /v1/bench/{id})
KEY=$(create_key "$WORK/keys.db" bench-consumer)

echo "== upstream and wasp-control (CPU 0)"
start_envoy upstream 0 "$WORK/upstream.yaml" $UPSTREAM_ADMIN_PORT
start_control "$WORK/keys.db" "$WORK/out-apikey/control.json"

# count NAME SPEC MODULE PATH HEADER...: Envoy (SPEC's bootstrap; MODULE bare, wasp, a .wasm or
# probe:CALLS, the no-op module making those host calls) under callgrind on CPU 1; prints and
# records its instructions per request on PATH.
declare -A IR
MEASURED=()
count() {
  local name=$1 spec=$2 module=$3 path=$4
  shift 4
  local args=()
  case $module in
    bare) args=(--bare) ;;
    wasp) ;;
    probe:*) args=(--module "$NOOP_WASM" --probe "${module#probe:}") ;;
    native) args=(--native-routes) ;;
    tree) args=(--native-tree) ;;
    tree-unguarded) args=(--native-tree unguarded) ;;
    *) args=(--module "$module") ;;
  esac
  python3 bench/bootstrap.py "$WORK/out-$spec/envoy.yaml" "$WORK/$name.json" \
    --listen-port $LISTEN_PORT --admin-port $ADMIN_PORT "${args[@]}"
  taskset -c 1 valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/cg.$name" \
    "$ENVOY_BINARY" -c "$WORK/$name.json" --concurrency 1 --disable-hot-restart --log-level warn \
    >/dev/null 2>"$WORK/$name.log" &
  local pid=$!
  pids+=("$pid")
  wait_ready "$name (Envoy under callgrind)" "$pid" "http://127.0.0.1:$ADMIN_PORT/ready" LIVE "$WORK/$name.log" 300
  python3 bench/send.py $LISTEN_PORT "$path" "$WARM" "$@" || die "$name: warm-up failed"
  callgrind_control -i on "$pid" >/dev/null 2>&1
  python3 bench/send.py $LISTEN_PORT "$path" "$N" "$@" || die "$name: measured requests failed"
  callgrind_control -d "$pid" >/dev/null 2>&1
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  # The dump holds exactly the N requests (and whatever timers fired meanwhile).
  IR[$name]=$(awk '/^summary:/ {s += $2} END {print int(s / n)}' n="$N" "$WORK/cg.$name".*)
  printf '   %-11s %8d instructions/request\n' "$name" "${IR[$name]}"
  MEASURED+=("$name")
}

echo "== $N requests per variant after $WARM to warm up, Envoy under callgrind on CPU 1"
for v in $VARIANTS; do
  case $v in
    bare) count bare match bare /v1/bench/42 "x-wasp-route: $ROUTE" ;;
    wasm-noop) count wasm-noop match "$NOOP_WASM" /v1/bench/42 "x-wasp-route: $ROUTE" ;;
    wasp) count wasp match wasp /v1/bench/42 "x-benchpad: $ROUTE" ;;
    jwt-bare) count jwt-bare match bare /v1/bench/42 "x-wasp-route: $ROUTE" "authorization: Bearer $TOKEN" ;;
    jwt-open) count jwt-open jwt wasp /v1/open/42 "x-benchpad: $ROUTE" "authorization: Bearer $TOKEN" ;;
    jwt-cached) count jwt-cached jwt wasp /v1/bench/42 "x-benchpad: $ROUTE" "authorization: Bearer $TOKEN" ;;
    key-bare) count key-bare match bare /v1/bench/42 "x-wasp-route: $ROUTE" "x-api-key: $KEY" ;;
    key-open) count key-open apikey wasp /v1/open/42 "x-benchpad: $ROUTE" "x-api-key: $KEY" ;;
    key-cached) count key-cached apikey wasp /v1/bench/42 "x-benchpad: $ROUTE" "x-api-key: $KEY" ;;
    key-xff) count key-xff apikey wasp /v1/bench/42 "x-benchpad: $ROUTE" "x-api-key: $KEY" \
      "x-forwarded-for: 203.0.113.7, 10.0.0.1, 10.0.0.2" ;;
    # The last filler operation of each spec (bench/gen_spec.py): /v1/svc<i/10>/res<i%10>/{id}.
    native-10) count native-10 match native /v1/svc0/res6/42 "x-wasp-route: $ROUTE" ;;
    native-10k) count native-10k match10k native /v1/svc999/res6/42 "x-wasp-route: $ROUTE" ;;
    tree-10) count tree-10 match tree /v1/svc0/res6/42 "x-wasp-route: $ROUTE" ;;
    tree-10k) count tree-10k match10k tree /v1/svc999/res6/42 "x-wasp-route: $ROUTE" ;;
    tree-unguarded-10) count tree-unguarded-10 match tree-unguarded /v1/svc0/res6/42 "x-wasp-route: $ROUTE" ;;
    wasp-10) count wasp-10 match wasp /v1/svc0/res6/42 "x-benchpad: $ROUTE" ;;
    wasp-10k) count wasp-10k match10k wasp /v1/svc999/res6/42 "x-benchpad: $ROUTE" ;;
    probes)
      # One host call of each kind over the no-op module: the floor under any filter's work.
      for call in get-path get-missing get-map set-header set-property route-name status; do
        count "probe-$call" match "probe:$call" /v1/bench/42 "x-wasp-route: $ROUTE"
      done
      ;;
    *) die "unknown variant '$v'; choose from bare wasm-noop wasp jwt-bare jwt-open jwt-cached key-bare key-open key-cached key-xff native-10 native-10k tree-10 tree-10k tree-unguarded-10 wasp-10 wasp-10k probes" ;;
  esac
done

# base VARIANT: the same request without the filter.
base() {
  case $1 in jwt-*) echo jwt-bare ;; key-*) echo key-bare ;; *) echo bare ;; esac
}
echo "== against the same request to bare Envoy, and over wasm-noop"
for v in "${MEASURED[@]}"; do
  b=$(base "$v")
  [ "$v" = "$b" ] && continue
  [ -n "${IR[$b]:-}" ] || { echo "   $v: no $b in VARIANTS to compare with"; continue; }
  awk -v name="$v" -v ir="${IR[$v]}" -v bare="${IR[$b]}" -v base="$b" -v noop="${IR[wasm-noop]:-}" 'BEGIN {
    line = sprintf("   %-11s %+7d over %-8s (%.2fx)", name, ir - bare, base, ir / bare)
    if (noop != "" && base == "bare" && name != "wasm-noop") line = line sprintf(", %+7d over wasm-noop", ir - noop)
    print line
  }'
done
# What the JWT stage with a cached token and the API-key stage with a cached Check add to the
# filter on the same Envoy.
for pair in jwt-cached:jwt-open key-cached:key-open key-xff:key-cached; do
  IFS=: read -r v open <<<"$pair"
  if [ -n "${IR[$v]:-}" ] && [ -n "${IR[$open]:-}" ]; then
    printf '   %-11s %+7d over %s\n' "$v" $((IR[$v] - IR[$open])) "$open"
  fi
done
# 10,000 operations against 10, the same request (the spec's last operation): native routes
# against the filter's matcher.
for pair in native-10k:native-10 tree-10k:tree-10 wasp-10k:wasp-10; do
  IFS=: read -r many few <<<"$pair"
  if [ -n "${IR[$many]:-}" ] && [ -n "${IR[$few]:-}" ]; then
    awk -v many="$many" -v few="$few" -v a="${IR[$many]}" -v b="${IR[$few]}" 'BEGIN {
      printf "   %-11s %+7d over %s (%.2fx)\n", many, a - b, few, a / b }'
  fi
done
