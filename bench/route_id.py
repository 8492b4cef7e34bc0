#!/usr/bin/env python3
"""Prints the route id (x-wasp-route value) of the operation with a given template.

The bare variant has no filter to set the header, so the benchmark sends it itself,
in every variant alike (the filter overwrites it), to take the same Envoy route.

usage: route_id.py filter.json TEMPLATE
"""
import json
import sys

if len(sys.argv) != 3:
    raise SystemExit(__doc__)
with open(sys.argv[1]) as f:
    config = json.load(f)
routes = {op["route"] for op in config["operations"] if op["template"] == sys.argv[2]}
if len(routes) != 1:
    raise SystemExit(f"route_id.py: {len(routes)} routes for template {sys.argv[2]!r}")
print(routes.pop())
