"""The committed openapi.json is the one the handlers generate (Powertools), with every route in it."""

import json

from local.openapi import OPENAPI_FILE, build_document
from local.template import load_template


def test_the_committed_document_is_current() -> None:
    assert json.loads(OPENAPI_FILE.read_text()) == build_document(), "run `make openapi` and commit openapi.json"


def test_every_route_in_the_template_is_documented() -> None:
    document = build_document()
    routes = {(path, method.lower()) for fn in load_template().functions.values() for method, path in fn.routes}
    documented = {(path, method) for path, operations in document["paths"].items() for method in operations}
    assert routes == documented
