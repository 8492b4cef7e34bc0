#!/usr/bin/env python3
"""Writes AllocateQuota request bodies for `make bench`'s control scenario, as a Lua file
bench/allocate.lua loads: one template per API key, split around a 16-character
placeholder where the script puts a new operation id on every request (wasp-control, like
Google's Service Control, grants a repeated operation id once: a retry).

Each body is what the wasp filter sends for an operation charging quota: the service, the
operation's method name, `api_key:<key>` as consumer, the metric and cost in quota_metrics,
BEST_EFFORT mode. The protobuf encoding is written out here (a handful of fields).

usage: allocate_bodies.py CONTROL.json OUT.lua KEY...
"""
import json
import sys

PLACEHOLDER = b"\x00" * 16


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number, payload):
    """A length-delimited field (string or message)."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def int_field(number, value):
    return varint(number << 3) + varint(value)


def body(service, method, metric, cost, key):
    metric_value = int_field(5, cost)  # MetricValue.int64_value
    metric_set = field(1, metric.encode()) + field(2, metric_value)
    operation = (
        field(1, PLACEHOLDER)  # operation_id, replaced per request
        + field(2, method.encode())
        + field(3, f"api_key:{key}".encode())
        + field(5, metric_set)
        + int_field(6, 2)  # QuotaMode.BEST_EFFORT, as ESPv2 sends
    )
    return field(1, service.encode()) + field(2, operation) + field(4, b"bench")


def lua_string(data):
    return '"' + "".join(f"\\{b}" for b in data) + '"'


def main():
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    control = json.load(open(sys.argv[1]))
    charged = next(op for op in control["operations"] if op["metric_costs"])
    metric, cost = next(iter(charged["metric_costs"].items()))
    with open(sys.argv[2], "w") as out:
        out.write("return {\n")
        for key in sys.argv[3:]:
            data = body(control["service_name"], charged["operation"], metric, cost, key)
            at = data.index(PLACEHOLDER)
            out.write(
                f"  {{ pre = {lua_string(data[:at])}, post = {lua_string(data[at + 16:])} }},\n"
            )
        out.write("}\n")


main()
