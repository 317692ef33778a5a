"""Schemathesis against the local stack with the committed openapi.json (issue 4, item 6): property-based
requests for every operation, positive and negative; no server error, and every response conforms to the
document (schema and content type).

Hooks (written to a temporary file, loaded through SCHEMATHESIS_HOOKS) aim the generated requests at a user of
this test's own: a well-formed `username` or `session-token` in a body becomes that user's, and a well-formed
`milvus-name` in a path becomes one of its running clusters (one for reads and the whitelist, one for suspend
and resume, one for delete), so that requests get past authentication and reach the code behind it. Malformed
values are left as generated. Each response's status is counted for the figures.

Bounded: at most MAX_EXAMPLES cases per operation and phase, a fixed seed, a hard timeout. The figures are
printed (see them with -rP).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ROOT, Stack, stack_env

MAX_EXAMPLES = 20
SEED = 20261204
TIMEOUT = 240
CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"

HOOKS = """
import os
import re

import schemathesis

USER = os.environ["ST_USER"]
TOKEN = os.environ["ST_TOKEN"]
READ, POWER, DOOMED = os.environ["ST_CLUSTERS"].split(",")
STATS = os.environ["ST_STATS"]
NAME = re.compile(r"^[a-z][a-z0-9-]{2,39}$")
TYPES = ["S1", "M5", "X9"]


def _is_name(value):
    return isinstance(value, str) and NAME.fullmatch(value) is not None


def _cluster_for(context):
    operation = context.operation
    if operation is None:
        return READ
    if operation.method.upper() == "DELETE":
        return DOOMED
    if operation.path.endswith(("/suspend", "/resume")):
        return POWER
    return READ


@schemathesis.hook
def map_path_parameters(context, path_parameters):
    if isinstance(path_parameters, dict) and _is_name(path_parameters.get("milvus-name")):
        return {**path_parameters, "milvus-name": _cluster_for(context)}
    return path_parameters


@schemathesis.hook
def map_body(context, body):
    if not isinstance(body, dict):
        return body
    body = dict(body)
    if _is_name(body.get("username")):
        body["username"] = USER
    if isinstance(body.get("session-token"), str) and 0 < len(body["session-token"]) <= 256:
        body["session-token"] = TOKEN
    creating = context.operation is not None and context.operation.path == "/milvus"
    if not creating and _is_name(body.get("milvus-name")):
        body["milvus-name"] = _cluster_for(context)
    if creating and isinstance(body.get("milvus-type"), str) and body["milvus-type"]:
        body["milvus-type"] = TYPES[len(body["milvus-type"]) % len(TYPES)]
    return body


@schemathesis.hook
def after_call(context, case, response):
    with open(STATS, "a") as out:
        out.write(f"{case.method} {case.operation.path} {response.status_code}\\n")
"""


def schemathesis_cli() -> str:
    found = Path(sys.executable).parent / "schemathesis"
    if found.exists():
        return str(found)
    which = shutil.which("schemathesis")
    if which is None:
        pytest.fail("schemathesis is not installed: pip install schemathesis (requirements-dev.txt)")
    return which


def running(stack: Stack, user: str, token: str, name: str) -> None:
    reply = stack.create(token, user, name, "S1", 20)
    assert reply.status_code == 202, reply.text


@pytest.fixture(scope="module")
def fuzzed(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    workdir = tmp_path_factory.mktemp("schemathesis")
    user = "e2e-st-" + os.urandom(4).hex()
    token = stack.token(user)
    clusters = ("st-read", "st-power", "st-doomed")
    for name in clusters:
        running(stack, user, token, name)
    for name in clusters:
        assert stack.wait_for(token, name)["state"] == "running"
    hooks, stats, report = workdir / "hooks.py", workdir / "statuses.txt", workdir / "report.json"
    hooks.write_text(HOOKS)
    env = {
        **stack_env(Path(stack.info["stack_file"])),
        "SCHEMATHESIS_HOOKS": str(hooks),
        "ST_USER": user,
        "ST_TOKEN": token,
        "ST_CLUSTERS": ",".join(clusters),
        "ST_STATS": str(stats),
        "SCHEMATHESIS_TELEMETRY": "false",
        "NO_COLOR": "1",
    }
    command = [
        schemathesis_cli(),
        "run",
        str(ROOT / "openapi.json"),
        "--url",
        stack.api,
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        CHECKS,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "4",
        "--request-timeout",
        "30",
        "--suppress-health-check",
        "all",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    stack.settle(user)
    assert report.exists(), f"schemathesis wrote no report (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
    result: dict[str, Any] = json.loads(report.read_text())
    statuses = Counter(line.rsplit(" ", 1)[1] for line in stats.read_text().splitlines()) if stats.exists() else {}
    return {"report": result, "statuses": dict(sorted(statuses.items())), "output": done.stdout + done.stderr}


def test_every_operation_is_tested(fuzzed: dict[str, Any]) -> None:
    report = fuzzed["report"]
    document = json.loads((ROOT / "openapi.json").read_text())
    operations = sum(len(methods) for methods in document["paths"].values())
    assert report["operations"]["tested"] == operations == report["operations"]["selected"], report["operations"]
    assert report["operations"]["errored"] == 0, report["errors"]
    assert report["errors"] == [], fuzzed["output"][-4000:]
    assert report["test_cases"]["generated"] >= operations * 10


def test_no_server_error_and_no_response_breaks_the_schema(fuzzed: dict[str, Any]) -> None:
    report = fuzzed["report"]
    assert report["failures"] == [], "\n".join([json.dumps(report["failures"], indent=2), fuzzed["output"][-6000:]])
    assert report["exit_code"] == 0, fuzzed["output"][-6000:]


def test_requests_reach_past_authentication(fuzzed: dict[str, Any]) -> None:
    """The hooks work: successes (2xx) and refusals from behind authentication (404, 409) are among the answers."""
    statuses = fuzzed["statuses"]
    assert any(code.startswith("2") for code in statuses), statuses
    assert {"404", "409"} & set(statuses), statuses


def test_print_the_figures(fuzzed: dict[str, Any]) -> None:
    report = fuzzed["report"]
    figures = {
        "schemathesis": report["schemathesis_version"],
        "operations": report["operations"]["tested"],
        "test-cases": report["test_cases"]["generated"],
        "with-failures": report["test_cases"]["with_failures"],
        "failures": [(f["code"], f["title"], f["count"], f["operations"]) for f in report["failures"]],
        "phases": {k: v["status"] for k, v in report["phases"].items()},
        "statuses": fuzzed["statuses"],
        "warnings": {k: v for k, v in report["warnings"].items() if v},
        "seconds": round(report["running_time"], 1),
    }
    print("schemathesis figures:", json.dumps(figures, indent=2))
    assert figures["operations"] > 0
