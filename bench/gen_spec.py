#!/usr/bin/env python3
"""Writes an OpenAPI 2.0 spec with N operations for the benchmark.

Every spec has GET /hello, GET /goodbye and the benched operation GET /v1/bench/{id};
the other N-3 operations are fillers /v1/svc<i/10>/res<i%10>/{id}, so the 10-op and the
10,000-op spec answer the same request (GET /v1/bench/42) among few or many siblings.

--jwt ISSUER JWKS_URI AUDIENCE protects the benched operation with a JWT provider
(securityDefinitions oauth2 + x-google-issuer/jwks_uri/audiences; the JWT scenario) and adds
its unprotected twin GET /v1/open/{id}, so one Envoy shows what the JWT stage itself costs.

--apikey LIMIT requires an API key on the benched operation (securityDefinitions apiKey with
ESPv2's default locations: query `key` or `api_key`, header `x-api-key`), and adds two
operations: GET /v1/open/{id}, needing no key and charging no quota, and GET /v1/quota/{id},
needing a key and charging 1 unit of metric `bench-requests`, limited to LIMIT units per
minute per consumer project (x-google-management + x-google-quota; the API-key scenario).

--rewrite ADDRESS AUDIENCE adds the rewrite scenario's two operations, both with
x-google-backend and backend auth (jwt_audience AUDIENCE):
  GET /v1/items/{id}   CONSTANT_ADDRESS        -> ADDRESS/items?id=<id>
  GET /v2/things/{id}  APPEND_PATH_TO_ADDRESS  -> ADDRESS/append/v2/things/<id>

--openapi3 writes the same service in OpenAPI 3 (Google's 3.x dialect: the host and base path
in a server marked x-google-endpoint, an empty x-google-api-management); only the plain form
(no --jwt, --apikey or --rewrite), for timing `wasp compile` of either format.

usage: gen_spec.py N OUT.yaml [--jwt ISSUER JWKS_URI AUDIENCE | --apikey LIMIT]
                   [--rewrite ADDRESS AUDIENCE] [--openapi3]
"""
import argparse

BENCHED_TEMPLATE = "/v1/bench/{id}"
PROVIDER = "bench_jwt"
KEY_SCHEME = "bench_key"
METRIC = "bench-requests"


def operation(path, operation_id, extra=""):
    return (
        f"  {path}:\n"
        f"    get:\n"
        f"      operationId: {operation_id}\n"
        f"{extra}"
        f"      responses: {{ \"200\": {{ description: ok }} }}\n"
    )


def backend(address, translation, audience):
    return (
        f"      x-google-backend:\n"
        f"        address: {address}\n"
        f"        path_translation: {translation}\n"
        f"        jwt_audience: {audience}\n"
    )


def management(limit):
    return (
        "x-google-management:\n"
        "  metrics:\n"
        f"  - {{ name: {METRIC}, displayName: Bench requests, valueType: INT64, metricKind: DELTA }}\n"
        "  quota:\n"
        "    limits:\n"
        f"    - {{ name: bench-limit, metric: {METRIC}, unit: \"1/min/{{project}}\", values: {{ STANDARD: {limit} }} }}\n"
    )


OPENAPI3_HEAD = (
    "openapi: 3.0.4\n"
    "info: {{ title: Bench{count}, version: \"1.0.0\" }}\n"
    "servers: [ {{ url: \"https://bench.endpoints.example.com\", x-google-endpoint: {{}} }} ]\n"
    "x-google-api-management: {{}}\n"
)


def spec(count, jwt=None, rewrite=None, apikey=None, openapi3=False):
    if count < 3:
        raise SystemExit("gen_spec.py: N must be at least 3")
    if openapi3 and (jwt or rewrite or apikey):
        raise SystemExit("gen_spec.py: --openapi3 writes only the plain form")
    if jwt and apikey:
        raise SystemExit("gen_spec.py: --jwt and --apikey protect the same operation; choose one")
    security = ""
    if jwt:
        security = f"      security: [ {{ {PROVIDER}: [] }} ]\n"
    elif apikey:
        security = f"      security: [ {{ {KEY_SCHEME}: [] }} ]\n"
    parts = [
        'swagger: "2.0"\n',
        f'info: {{ title: Bench{count}, version: "1.0.0" }}\n',
        "host: bench.endpoints.example.com\n",
        "schemes: [http]\n",
    ]
    if openapi3:
        parts = [OPENAPI3_HEAD.format(count=count)]
    if jwt:
        issuer, jwks_uri, audience = jwt
        parts += [
            "securityDefinitions:\n",
            f"  {PROVIDER}:\n",
            "    type: oauth2\n",
            '    authorizationUrl: ""\n',
            "    flow: implicit\n",
            f"    x-google-issuer: {issuer}\n",
            f"    x-google-jwks_uri: {jwks_uri}\n",
            f"    x-google-audiences: {audience}\n",
        ]
    if apikey:
        # `in: query, name: key` stands for ESPv2's default key locations.
        parts += [
            "securityDefinitions:\n",
            f"  {KEY_SCHEME}: {{ type: apiKey, in: query, name: key }}\n",
            management(apikey),
        ]
    parts += [
        "paths:\n",
        operation("/hello", "hello"),
        operation("/goodbye", "goodbye"),
        operation(BENCHED_TEMPLATE, "bench", security),
    ]
    filler_count = count - 3
    if jwt or apikey:
        parts.append(operation("/v1/open/{id}", "open"))
        filler_count = max(0, filler_count - 1)
    if apikey:
        parts.append(operation("/v1/quota/{id}", "quota",
                               security + f"      x-google-quota: {{ metricCosts: {{ {METRIC}: 1 }} }}\n"))
        filler_count = max(0, filler_count - 1)
    if rewrite:
        address, audience = rewrite
        parts.append(operation("/v1/items/{id}", "constant",
                               backend(f"{address}/items", "CONSTANT_ADDRESS", audience)))
        parts.append(operation("/v2/things/{id}", "append",
                               backend(f"{address}/append", "APPEND_PATH_TO_ADDRESS", audience)))
        filler_count = max(0, filler_count - 2)
    for i in range(filler_count):
        parts.append(operation(f"/v1/svc{i // 10}/res{i % 10}/{{id}}", f"filler{i}"))
    return "".join(parts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int)
    parser.add_argument("output")
    parser.add_argument("--jwt", nargs=3, metavar=("ISSUER", "JWKS_URI", "AUDIENCE"))
    parser.add_argument("--rewrite", nargs=2, metavar=("ADDRESS", "AUDIENCE"))
    parser.add_argument("--apikey", type=int, metavar="LIMIT")
    parser.add_argument("--openapi3", action="store_true")
    args = parser.parse_args()
    with open(args.output, "w") as out:
        out.write(spec(args.count, args.jwt, args.rewrite, args.apikey, args.openapi3))


if __name__ == "__main__":
    main()
