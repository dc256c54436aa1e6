#!/usr/bin/env python3
"""Derives a contract file for one operation of an AWS query-protocol service from AWS's own
service model (botocore's `data/<service>/<version>/service-2.json[.gz]`, which the SDKs are
generated from).

    scripts/aws_contract.py <service-2.json or .json.gz> <Operation> > contract.json

Keeps the protocol, API version, XML namespace, the HTTP method and path, the input's members
and which are required, the output's result wrapper and members, and each declared error's code
and HTTP status. Leaves out AWS's documentation text.
"""
import gzip
import json
import sys

path, operation = sys.argv[1], sys.argv[2]
opener = gzip.open if path.endswith(".gz") else open
with opener(path, "rt", encoding="utf-8") as f:
    model = json.load(f)
shapes, op = model["shapes"], model["operations"][operation]
inp = shapes[op["input"]["shape"]]
out = shapes[op["output"]["shape"]] if "output" in op else {"members": {}}
contract = {
    "service": model["metadata"]["serviceId"],
    "protocol": model["metadata"]["protocol"],
    "apiVersion": model["metadata"]["apiVersion"],
    "xmlNamespace": model["metadata"]["xmlNamespace"],
    "operation": operation,
    "http": op["http"],
    "input": {"required": sorted(inp.get("required", [])), "members": sorted(inp["members"])},
    "output": {"resultWrapper": op.get("output", {}).get("resultWrapper"), "members": sorted(out["members"])},
    "errors": sorted(
        ({"code": shapes[e["shape"]]["error"]["code"], "httpStatusCode": shapes[e["shape"]]["error"]["httpStatusCode"]}
         for e in op.get("errors", [])),
        key=lambda e: e["code"],
    ),
}
json.dump(contract, sys.stdout, indent=1, sort_keys=True)
sys.stdout.write("\n")
