"""The API's OpenAPI document, generated from the handlers' Powertools resolvers (one per function)."""

from __future__ import annotations

import json
import sys
from typing import Any

from local.lambdas import HandlerRegistry
from local.template import ROOT, load_template

OPENAPI_FILE = ROOT / "openapi.json"


def build_document() -> dict[str, Any]:
    template = load_template()
    registry = HandlerRegistry(template.functions, "123456789012", "us-east-1")
    document: dict[str, Any] = {}
    for _, fn in sorted(template.functions.items()):
        if not fn.routes:
            continue
        app = registry.module(fn).app
        part = json.loads(app.get_openapi_json_schema(title="milvus-cloud", version="1.0.0"))
        if not document:
            document = {**part, "paths": {}, "components": {"schemas": {}}}
        for path, operations in part.get("paths", {}).items():
            api_path = path.replace("{milvus_name}", "{milvus-name}")
            for operation in operations.values():
                for param in operation.get("parameters", []):
                    if param.get("name") == "milvus_name":
                        param["name"] = "milvus-name"
            document["paths"].setdefault(api_path, {}).update(operations)
        document["components"]["schemas"].update(part.get("components", {}).get("schemas", {}))
    document["paths"] = dict(sorted(document["paths"].items()))
    document["components"]["schemas"] = dict(sorted(document["components"]["schemas"].items()))
    return document


def main() -> None:
    text = json.dumps(build_document(), indent=2) + "\n"
    if "--check" in sys.argv:
        if not OPENAPI_FILE.exists() or OPENAPI_FILE.read_text() != text:
            sys.exit("openapi.json is stale: run `make openapi`")
        return
    OPENAPI_FILE.write_text(text)
    print(f"wrote {OPENAPI_FILE}")


if __name__ == "__main__":
    main()
