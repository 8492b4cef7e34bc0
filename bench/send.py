#!/usr/bin/env python3
"""Sends N GET requests one at a time over one keep-alive connection; each must get a 200.

usage: send.py PORT PATH N ["name: value"...]
"""
import http.client
import sys

if len(sys.argv) < 4:
    raise SystemExit(__doc__)
port, path, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
headers = dict(header.split(": ", 1) for header in sys.argv[4:])
connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
for _ in range(count):
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise SystemExit(f"send.py: GET {path} answered {response.status}: {body[:200]!r}")
