#!/usr/bin/env python3
"""Derives ams-hub's contract file from one of Amazon's published OpenAPI documents.

    scripts/amazon_contract.py <Amazon's OpenAPI file, JSON or YAML> [path prefix ...] > contract.json

Keeps what a request and an answer must satisfy: paths, methods, parameters (name, place,
required, schema), request and response media types and schemas, response headers, and the
schemas they reach. Leaves out Amazon's prose (descriptions, summaries, examples, tags,
contact and licence). With path prefixes, only the paths that start with one of them (and
the schemas they reach) are kept. The output is itself an OpenAPI 3 document, sorted, so a
re-derivation after Amazon changes a document shows as a readable diff.
"""
import json
import sys

PROSE = {"description", "summary", "example", "examples", "tags", "externalDocs", "contact", "license",
         "termsOfService", "x-amazon-apigateway-integration"}


def load(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.endswith((".yaml", ".yml")):
        import yaml  # PyYAML (in the test venv: moto depends on it)
        return yaml.safe_load(text)
    return json.loads(text)


def strip(node):
    if isinstance(node, dict):
        return {k: strip(v) for k, v in node.items() if k not in PROSE}
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node


def refs(node, found):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                found.add(v)
            else:
                refs(v, found)
    elif isinstance(node, list):
        for v in node:
            refs(v, found)


def main():
    doc = load(sys.argv[1])
    prefixes = sys.argv[2:]
    paths = {p: ops for p, ops in doc.get("paths", {}).items() if not prefixes or any(p.startswith(x) for x in prefixes)}
    # Only the components the kept paths reach (transitively).
    components = doc.get("components", {})
    wanted, todo = set(), set()
    refs(paths, todo)
    while todo:
        ref = todo.pop()
        if ref in wanted:
            continue
        wanted.add(ref)
        _, _, kind, name = ref.split("/", 3)
        refs(components.get(kind, {}).get(name, {}), todo)
    kept = {}
    for ref in sorted(wanted):
        _, _, kind, name = ref.split("/", 3)
        kept.setdefault(kind, {})[name] = components[kind][name]
    out = {
        "openapi": doc.get("openapi"),
        "info": {"title": doc.get("info", {}).get("title"), "version": doc.get("info", {}).get("version")},
        "paths": strip(paths),
        "components": strip(kept),
    }
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
