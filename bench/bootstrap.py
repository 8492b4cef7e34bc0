#!/usr/bin/env python3
"""Turns a generated wasp bootstrap into a benchmark variant.

Applied to every variant alike: fixed listener and admin ports and, following Envoy's
benchmarking advice, no access log and no request-id generation (unless --as-shipped).
With --bare the wasm filter is removed too, leaving the same listener, HCM, routes and
clusters.

With --module the wasm filter loads another module (the no-op baseline); --probe CALLS gives
the no-op module a comma-separated list of host calls to make per request (bench/noop-filter).

With --static-rewrite ID_TOKEN_FILE (implies --bare) every operation with a path translation
and backend auth gets an equivalent static Envoy route ahead of the generated ones: the
operation's template as a regex match, a regex_rewrite to what the filter would send, the same
cluster and Host rewrite, the client's Authorization copied to X-Forwarded-Authorization and a
fixed `Authorization: Bearer <ID token>`. Bare Envoy then does comparable work without wasm.

With --native-routes (implies --bare) every operation gets its own Envoy route ahead of the
generated ones, in spec order: the template as a regex and the method as a `:method` match, the
operation's route action. Bare Envoy then matches operations the way ESPv2's generated routes do
(one regex per operation, tried in order), which is what native per-operation routing costs.

With --native-tree (implies --bare) the virtual host matches operations with Envoy's matcher tree
instead of a route list: the method (exact map), then the longest literal prefix of the path
(prefix map, a trie), then the few templates under that prefix as regexes; anything else takes
the generated routes' last route. A request carrying a header the filter would strip before the
router sees it (Envoy's x-envoy-* request headers, a method override) takes that
last route too, as a route that skips the filter would have to: the guard is measured with the
tree. What native routing costs when it does not scan every route.

With --jwt-authn ISSUER AUDIENCE JWKS_FILE (implies --bare) Envoy's native jwt_authn filter
checks every request against the JWK set (local_jwks), forwarding the token and the payload in
X-Endpoint-API-UserInfo as ESPv2 does; --jwt-cache-size N > 0 turns on its verified-token cache.

usage: bootstrap.py IN.yaml OUT.json --listen-port P --admin-port P
                    [--bare] [--as-shipped] [--module PATH [--probe CALLS]]
                    [--static-rewrite ID_TOKEN_FILE] [--native-routes | --native-tree [unguarded]]
                    [--jwt-authn ISSUER AUDIENCE JWKS_FILE [--jwt-cache-size N]]
"""
import argparse
import json
import re

import yaml

HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
WASM = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"
JWT_AUTHN = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"


def set_port(address, port):
    address["socket_address"]["port_value"] = port


def hcm_configs(bootstrap):
    for listener in bootstrap["static_resources"]["listeners"]:
        for chain in listener["filter_chains"]:
            for network_filter in chain["filters"]:
                config = network_filter.get("typed_config", {})
                if config.get("@type") == HCM:
                    yield config


def template_regex(template):
    """A regex matching what a template of literal segments and `{name}` segments matches."""
    parts = []
    for segment in template.strip("/").split("/"):
        if re.fullmatch(r"\{[A-Za-z_][A-Za-z0-9_]*\}", segment):
            parts.append("([^/]+)")
        elif re.fullmatch(r"[A-Za-z0-9_.~-]+", segment):
            parts.append(re.escape(segment))
        else:
            raise SystemExit(f"bootstrap.py: --static-rewrite handles literal and {{name}} segments, not {segment!r}")
    return "^/" + "/".join(parts) + "$"


def static_rewrite_routes(operations, routes_by_id, id_token):
    """Static routes doing what the filter does for operations with path translation."""
    static = []
    for op in operations:
        translation = op.get("path_translation")
        if not translation or "backend_auth" not in op:
            continue
        regex = template_regex(op["template"])
        if translation["kind"] == "CONSTANT_ADDRESS":
            names = re.findall(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", op["template"])
            query = "&".join(f"{name}=\\{i}" for i, name in enumerate(names, 1))
            substitution = translation["path"] + (f"?{query}" if query else "")
        else:
            substitution = translation["prefix"] + "\\0"
        generated = routes_by_id[op["route"]]
        route = dict(generated["route"])
        route["regex_rewrite"] = {"pattern": {"regex": regex}, "substitution": substitution}
        static.append({
            "name": f"static-{op['name']}",
            "match": {"safe_regex": {"regex": regex}},
            "route": route,
            "request_headers_to_remove": generated.get("request_headers_to_remove", []),
            # In this order: the copy reads the client's value before it is replaced.
            "request_headers_to_add": [
                {"header": {"key": "x-forwarded-authorization", "value": "%REQ(authorization)%"},
                 "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"},
                {"header": {"key": "authorization", "value": f"Bearer {id_token}"},
                 "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"},
            ],
        })
    if not static:
        raise SystemExit("bootstrap.py: --static-rewrite found no operation with path translation and backend auth")
    return static


def native_routes(operations, routes_by_id):
    """One route per operation, in spec order, matched as ESPv2's generated routes match."""
    native = []
    for op in operations:
        generated = routes_by_id[op["route"]]
        native.append({
            "name": op["name"],
            "match": {
                "safe_regex": {"regex": template_regex(op["template"])},
                "headers": [{"name": ":method", "string_match": {"exact": op["method"]}}],
            },
            "route": generated["route"],
        })
    return native


HEADER_INPUT = "type.googleapis.com/envoy.type.matcher.v3.HttpRequestHeaderMatchInput"
ROUTE = "type.googleapis.com/envoy.config.route.v3.Route"


def header_input(name):
    return {"name": name, "typed_config": {"@type": HEADER_INPUT, "header_name": name}}


def route_action(name, route):
    """A matcher tree's action: the route to take (its own match is not consulted)."""
    return {"action": {"name": name, "typed_config": {"@type": ROUTE, "name": name, "match": {"prefix": "/"},
                                                      "route": route}}}


def literal_prefix(template):
    """The template's leading literal segments: `/v1/items/` for `/v1/items/{id}`, `/hello`."""
    segments = template.strip("/").split("/")
    literal = []
    for segment in segments:
        if "{" in segment or "*" in segment:
            break
        literal.append(segment)
    prefix = "/" + "/".join(literal)
    # A template that goes on after its literal part: the slash before the next segment too.
    return prefix + "/" if literal and len(literal) < len(segments) else prefix


# Request headers a route that skips the filter must not let through to Envoy's router as the
# client sent them (filter/src/client_headers.rs: ENVOY_HEADERS, the external address, every
# method override). A header input named `host` reads `:authority` in Envoy, so the second host
# the filter refuses cannot be guarded here at all. The gateway's generated headers
# would be removed by the route itself (`request_headers_to_remove`), so they need no guard.
GUARDED = [
    "x-envoy-original-path", "x-envoy-original-url", "x-envoy-original-host",
    "x-envoy-decorator-operation", "x-envoy-upstream-rq-timeout-ms",
    "x-envoy-upstream-rq-per-try-timeout-ms", "x-envoy-upstream-rq-timeout-alt-response",
    "x-envoy-expected-rq-timeout-ms", "x-envoy-max-retries", "x-envoy-retry-on",
    "x-envoy-retry-grpc-on", "x-envoy-retriable-status-codes", "x-envoy-retriable-header-names",
    "x-envoy-hedge-on-per-try-timeout", "x-envoy-upstream-stream-duration-ms",
    "x-envoy-is-timeout-retry", "x-envoy-attempt-count", "x-envoy-upstream-alt-stat-name",
    "x-envoy-force-trace", "x-envoy-internal", "x-envoy-downstream-service-cluster",
    "x-envoy-downstream-service-node", "x-envoy-ip-tags", "x-envoy-original-dst-host",
    "x-envoy-external-address", "x-http-method-override", "x-http-method", "x-method-override",
]


def present(name):
    return {"single_predicate": {"input": header_input(name),
                                 "value_match": {"safe_regex": {"google_re2": {}, "regex": ".*"}}}}


def native_tree(operations, routes_by_id, fallback, guarded=True):
    """The virtual host's matcher: method, then the path's longest literal prefix, then the
    templates under it as regexes on `:path` (which carries the query)."""
    by_method = {}
    for op in operations:
        regex = template_regex(op["template"])[:-1] + r"(\?.*)?$"
        by_prefix = by_method.setdefault(op["method"], {})
        by_prefix.setdefault(literal_prefix(op["template"]), []).append({
            "predicate": {"single_predicate": {"input": header_input(":path"),
                                               "value_match": {"safe_regex": {"google_re2": {}, "regex": regex}}}},
            "on_match": route_action(op["name"], routes_by_id[op["route"]]["route"]),
        })
    otherwise = route_action(fallback["name"], fallback["route"])
    methods = {}
    for method, by_prefix in by_method.items():
        methods[method] = {"matcher": {
            "matcher_tree": {
                "input": header_input(":path"),
                "prefix_match_map": {"map": {
                    prefix: {"matcher": {"matcher_list": {"matchers": matchers}, "on_no_match": otherwise}}
                    for prefix, matchers in by_prefix.items()
                }},
            },
            "on_no_match": otherwise,
        }}
    by_operation = {
        "matcher_tree": {"input": header_input(":method"), "exact_match_map": {"map": methods}},
        "on_no_match": otherwise,
    }
    if not guarded:
        return by_operation
    return {
        "matcher_list": {"matchers": [{
            "predicate": {"or_matcher": {"predicate": [present(name) for name in GUARDED]}},
            "on_match": otherwise,
        }]},
        "on_no_match": {"matcher": by_operation},
    }


def jwt_authn_filter(issuer, audience, jwks, cache_size):
    provider = {
        "issuer": issuer,
        "audiences": [audience],
        "local_jwks": {"inline_string": jwks},
        "forward": True,
        "forward_payload_header": "x-endpoint-api-userinfo",
    }
    if cache_size > 0:
        provider["jwt_cache_config"] = {"jwt_cache_size": cache_size}
    return {
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": JWT_AUTHN,
            "providers": {"bench": provider},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "bench"}}],
        },
    }


def transform(bootstrap, listen_port, admin_port, bare, as_shipped, module=None,
              static_rewrite=None, jwt_authn=None, probe=None, native=False, tree=None):
    set_port(bootstrap["admin"]["address"], admin_port)
    listeners = bootstrap["static_resources"]["listeners"]
    if len(listeners) != 1:
        raise SystemExit(f"bootstrap.py: expected one listener, found {len(listeners)}")
    set_port(listeners[0]["address"], listen_port)
    hcms = list(hcm_configs(bootstrap))
    if len(hcms) != 1:
        raise SystemExit(f"bootstrap.py: expected one HTTP connection manager, found {len(hcms)}")
    hcm = hcms[0]
    if not as_shipped:
        hcm.pop("access_log", None)
        hcm["generate_request_id"] = False
    filters = hcm["http_filters"]
    wasm = [f for f in filters if f.get("typed_config", {}).get("@type") == WASM]
    if len(wasm) != 1:
        raise SystemExit(f"bootstrap.py: expected one wasm filter, found {len(wasm)}")
    if static_rewrite is not None or native or tree:
        filter_config = json.loads(wasm[0]["typed_config"]["config"]["configuration"]["value"])
        virtual_hosts = hcm["route_config"]["virtual_hosts"]
        if len(virtual_hosts) != 1:
            raise SystemExit(f"bootstrap.py: expected one virtual host, found {len(virtual_hosts)}")
        routes = virtual_hosts[0]["routes"]
        # Routes are named route-<id>, the pinned ones and the default one alike.
        by_id = {entry["name"][len("route-"):]: entry for entry in routes
                 if entry.get("name", "").startswith("route-")}
        if tree:
            virtual_hosts[0]["matcher"] = native_tree(filter_config["operations"], by_id, routes[-1],
                                                      guarded=tree == "guarded")
            del virtual_hosts[0]["routes"]
            ahead = None
        elif native:
            ahead = native_routes(filter_config["operations"], by_id)
        else:
            ahead = static_rewrite_routes(filter_config["operations"], by_id, static_rewrite)
        if ahead is not None:
            virtual_hosts[0]["routes"] = ahead + routes
        bare = True
    if jwt_authn is not None:
        bare = True
    if bare:
        hcm["http_filters"] = filters = [f for f in filters if f not in wasm]
    if jwt_authn is not None:
        routers = [i for i, f in enumerate(filters) if f.get("typed_config", {}).get("@type") == ROUTER]
        if len(routers) != 1:
            raise SystemExit(f"bootstrap.py: expected one router filter, found {len(routers)}")
        filters.insert(routers[0], jwt_authn_filter(*jwt_authn))
    if module:
        wasm[0]["typed_config"]["config"]["vm_config"]["code"] = {"local": {"filename": module}}
    if probe:
        wasm[0]["typed_config"]["config"]["configuration"]["value"] = f"probe:{probe}"
    return bootstrap


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--listen-port", type=int, required=True)
    parser.add_argument("--admin-port", type=int, required=True)
    parser.add_argument("--bare", action="store_true")
    parser.add_argument("--as-shipped", action="store_true", help="keep the access log and request ids")
    parser.add_argument("--module", help="load this wasm module instead of the generated one")
    parser.add_argument("--static-rewrite", metavar="ID_TOKEN_FILE",
                        help="bare, with static routes doing the filter's path translation and backend auth")
    parser.add_argument("--native-routes", action="store_true",
                        help="bare, with one regex route per operation as ESPv2 generates them")
    parser.add_argument("--native-tree", nargs="?", const="guarded", choices=["guarded", "unguarded"],
                        help="bare, with the operations in the virtual host's matcher tree "
                             "(unguarded: without the header guard)")
    parser.add_argument("--jwt-authn", nargs=3, metavar=("ISSUER", "AUDIENCE", "JWKS_FILE"),
                        help="bare, with Envoy's jwt_authn filter")
    parser.add_argument("--jwt-cache-size", type=int, default=0, help="jwt_authn's jwt_cache_size (0: no cache)")
    parser.add_argument("--probe", metavar="CALLS",
                        help="with --module bench/noop-filter's build: the host calls it makes per request")
    args = parser.parse_args()
    with open(args.input) as f:
        bootstrap = yaml.safe_load(f)
    id_token = None
    if args.static_rewrite:
        with open(args.static_rewrite) as f:
            id_token = f.read().strip()
    jwt_authn = None
    if args.jwt_authn:
        issuer, audience, jwks_file = args.jwt_authn
        with open(jwks_file) as f:
            jwt_authn = (issuer, audience, f.read(), args.jwt_cache_size)
    transform(bootstrap, args.listen_port, args.admin_port, args.bare, args.as_shipped, args.module,
              id_token, jwt_authn, args.probe, args.native_routes, args.native_tree)
    with open(args.output, "w") as f:
        json.dump(bootstrap, f, indent=1)


if __name__ == "__main__":
    main()
