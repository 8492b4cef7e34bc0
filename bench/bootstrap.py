#!/usr/bin/env python3
"""Turns a generated wasp bootstrap into a benchmark variant.

Applied to every variant alike: fixed listener and admin ports and, following Envoy's
benchmarking advice, no access log and no request-id generation (unless --as-shipped).
With --bare the wasm filter is removed too, leaving the same listener, HCM, routes and
clusters.

With --module the wasm filter loads another module (the no-op baseline).

usage: bootstrap.py IN.yaml OUT.json --listen-port P --admin-port P
                    [--bare] [--as-shipped] [--module PATH]
"""
import argparse
import json

import yaml

HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
WASM = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"


def set_port(address, port):
    address["socket_address"]["port_value"] = port


def hcm_configs(bootstrap):
    for listener in bootstrap["static_resources"]["listeners"]:
        for chain in listener["filter_chains"]:
            for network_filter in chain["filters"]:
                config = network_filter.get("typed_config", {})
                if config.get("@type") == HCM:
                    yield config


def transform(bootstrap, listen_port, admin_port, bare, as_shipped, module=None):
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
    if bare:
        hcm["http_filters"] = [f for f in filters if f not in wasm]
    if module:
        wasm[0]["typed_config"]["config"]["vm_config"]["code"] = {"local": {"filename": module}}
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
    args = parser.parse_args()
    with open(args.input) as f:
        bootstrap = yaml.safe_load(f)
    transform(bootstrap, args.listen_port, args.admin_port, args.bare, args.as_shipped, args.module)
    with open(args.output, "w") as f:
        json.dump(bootstrap, f, indent=1)


if __name__ == "__main__":
    main()
