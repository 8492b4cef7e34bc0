#!/usr/bin/env python3
"""Writes an OpenAPI 2.0 spec with N operations for the benchmark.

Every spec has GET /hello, GET /goodbye and the benched operation GET /v1/bench/{id};
the other N-3 operations are fillers /v1/svc<i/10>/res<i%10>/{id}, so the 10-op and the
10,000-op spec answer the same request (GET /v1/bench/42) among few or many siblings.

usage: gen_spec.py N OUT.yaml
"""
import sys

BENCHED_TEMPLATE = "/v1/bench/{id}"


def operation(path, operation_id):
    return (
        f"  {path}:\n"
        f"    get:\n"
        f"      operationId: {operation_id}\n"
        f"      responses: {{ \"200\": {{ description: ok }} }}\n"
    )


def spec(count):
    if count < 3:
        raise SystemExit("gen_spec.py: N must be at least 3")
    parts = [
        'swagger: "2.0"\n',
        f'info: {{ title: Bench{count}, version: "1.0.0" }}\n',
        "host: bench.endpoints.example.com\n",
        "schemes: [http]\n",
        "paths:\n",
        operation("/hello", "hello"),
        operation("/goodbye", "goodbye"),
        operation(BENCHED_TEMPLATE, "bench"),
    ]
    for i in range(count - 3):
        parts.append(operation(f"/v1/svc{i // 10}/res{i % 10}/{{id}}", f"filler{i}"))
    return "".join(parts)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    with open(sys.argv[2], "w") as out:
        out.write(spec(int(sys.argv[1])))
