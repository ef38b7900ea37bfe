#!/usr/bin/env python3
"""Prints the three recipes of docs/recipes.md (HubSpot, Klaviyo, ShipStation) as
configuration for the PHPUnit suite and the benchmarks: exactly as documented, except
that each URL's scheme and host point at the local receiver (path and query kept), the
key file is WORKDIR/NAME.key and ca_file trusts WORKDIR/ca/ca.pem.

    recipes-config.py RECIPES_MD PORT WORKDIR [--unshaped]

--unshaped: the same destinations named NAME-raw, without their body (the policy's
output as the body): what a shaped body is measured against.
"""
import re
import sys

doc, port, work = sys.argv[1], sys.argv[2], sys.argv[3]
unshaped = "--unshaped" in sys.argv[4:]
blocks = open(doc, encoding="utf-8").read().split("```toml\n")[1:4]
for block in blocks:
    block = block.split("```")[0]
    name = re.search(r"^\[destinations\.([A-Za-z0-9_.-]+)\]$", block, re.M).group(1)
    block = re.sub(r'^url = "https://[^/"]+', f'url = "https://localhost:{port}', block, count=1, flags=re.M)
    block = re.sub(r'^key_file = "[^"]*"', f'key_file = "{work}/{name}.key"\nca_file = "{work}/ca/ca.pem"', block, count=1, flags=re.M)
    if unshaped:
        sections = re.split(r"(?m)^(?=\[)", block)
        kept = [s for s in sections if not s.startswith(f"[destinations.{name}.body")]
        block = "".join(kept).replace(f"[destinations.{name}", f"[destinations.{name}-raw")
    print(block)
