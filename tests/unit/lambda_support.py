"""Helpers for unit tests: the project's handlers loaded as Lambda loads them, and API Gateway events built
from the sample events in events/ (so the samples are exercised too)."""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from local.lambdas import LocalContext
from local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
TEMPLATE = load_template()
DIR_TO_LOGICAL_ID = {fn.code_uri.name: logical_id for logical_id, fn in TEMPLATE.functions.items()}


def sample_event(function_dir: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / f"{function_dir}.json").read_text()))


@cache
def load_handler(function_dir: str) -> ModuleType:
    """functions/<dir>/app.py by template.yaml's CodeUri and Handler, under a module name of its own."""
    fn = TEMPLATE.functions[DIR_TO_LOGICAL_ID[function_dir]]
    module_name = fn.handler.rsplit(".", 1)[0]
    path = fn.code_uri / f"{module_name}.py"
    spec = importlib.util.spec_from_file_location(f"unit_fn_{function_dir}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def invoke(function_dir: str, event: dict[str, Any]) -> Any:
    fn = TEMPLATE.functions[DIR_TO_LOGICAL_ID[function_dir]]
    handler = getattr(load_handler(function_dir), fn.handler.rsplit(".", 1)[1])
    context = LocalContext(
        function_name=fn.logical_id,
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{fn.logical_id}",
    )
    return handler(event, context)


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


def api_event(
    function_dir: str,
    *,
    token: str | None = None,
    body: Any = None,
    raw_body: str | None = None,
    path_params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The sample event of a route, with this call's token, body, path parameters and headers.

    body (a dict, sent as is) replaces the sample's body, raw_body (text) replaces it byte for byte. Without
    either, the sample's own body is sent with session-token set to token (or removed, for token=None).
    For a GET, token travels as `Authorization: Bearer`. The sample's placeholder token is never sent.
    """
    event = copy.deepcopy(sample_event(function_dir))
    event["headers"].pop("Authorization", None)
    if raw_body is not None:
        event["body"] = raw_body
    elif event["body"] is not None or body is not None:
        data = json.loads(event["body"]) if body is None else dict(body)
        if body is None:
            data.pop("session-token")
            if token is not None:
                data["session-token"] = token
        event["body"] = json.dumps(data)
    if token is not None and event["httpMethod"] == "GET":
        event["headers"]["Authorization"] = f"Bearer {token}"
    if path_params is not None:
        event["pathParameters"] = path_params
        path = event["resource"]
        for key, value in path_params.items():
            path = path.replace("{" + key + "}", value)
        event["path"] = path
        event["requestContext"]["path"] = f"/{event['requestContext']['stage']}{path}"
    event["headers"].update(headers or {})
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    event["requestContext"]["requestId"] = str(uuid.uuid4())
    return event


def call_api(function_dir: str, **kwargs: Any) -> Reply:
    result = invoke(function_dir, api_event(function_dir, **kwargs))
    body = json.loads(result["body"]) if result.get("body") else None
    headers = dict(result.get("headers") or {})
    headers.update({k: v[-1] for k, v in (result.get("multiValueHeaders") or {}).items()})
    return Reply(result["statusCode"], body, headers)


def create_body(token: str | None, username: str, name: str, milvus_type: str = "M5", disk: Any = 50) -> dict[str, Any]:
    body = {"username": username, "milvus-name": name, "milvus-type": milvus_type, "disk-size": disk}
    if token is not None:
        body["session-token"] = token
    return body


def assert_failure(reply: Reply, status: int, code: str | None = None) -> None:
    """The contract's failure shape: exactly status, description and code."""
    assert reply.status == status, reply.body
    assert set(reply.body) == {"status", "description", "code"}, reply.body
    assert reply.body["status"] == "failed"
    assert isinstance(reply.body["description"], str) and reply.body["description"]
    assert isinstance(reply.body["code"], str) and reply.body["code"]
    if code is not None:
        assert reply.body["code"] == code, reply.body
