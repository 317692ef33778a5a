"""Refused creates over HTTP: the right 4xx in the failure shape, and nothing written anywhere."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Stack


@pytest.fixture(scope="module")
def refused(stack: Stack) -> tuple[str, str]:
    """A user of this module's own and a valid token (refused requests create nothing, so one is enough)."""
    username = f"e2e-{uuid.uuid4().hex[:10]}"
    return username, stack.token(username)


@pytest.fixture
def quiet(stack: Stack) -> Iterator[dict[str, int]]:
    """The stack's counts before the refused request; the test compares them after."""
    yield stack.counts()


def body_for(user: str, token: str, **changes: Any) -> dict[str, Any]:
    body = {"session-token": token, "username": user, "milvus-name": "cats", "milvus-type": "M5", "disk-size": 50}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


def check_refused(stack: Stack, reply: Any, status: int, before: dict[str, int], user: str) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    assert reply.headers["Content-Type"].startswith("application/json")
    body: dict[str, Any] = reply.json()
    assert set(body) == {"status", "description", "code"}, body
    assert body["status"] == "failed"
    assert isinstance(body["description"], str) and body["description"]
    assert isinstance(body["code"], str) and body["code"]
    assert stack.counts() == before
    assert stack.record(user, "cats") is None
    assert stack.leftovers(user, "cats") == {
        k: [] for k in ("instances", "volumes", "addresses", "groups", "interfaces")
    }
    return body


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"milvus-name": "Cats"}, id="upper-case"),
        pytest.param({"milvus-name": "9cats"}, id="starts-with-digit"),
        pytest.param({"milvus-name": "-cats"}, id="starts-with-dash"),
        pytest.param({"milvus-name": "ca"}, id="too-short"),
        pytest.param({"milvus-name": "c" * 41}, id="too-long"),
        pytest.param({"milvus-name": "cats.db"}, id="dot"),
        pytest.param({"milvus-name": {"$ne": None}}, id="operator"),
        pytest.param({"username": "E2E-User"}, id="bad-username"),
    ],
)
def test_bad_names_are_400(
    stack: Stack, refused: tuple[str, str], quiet: dict[str, int], changes: dict[str, Any]
) -> None:
    user, token = refused
    reply = stack.request("POST", "/milvus", json=body_for(user, token, **changes))
    check_refused(stack, reply, 400, quiet, user)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        pytest.param({"milvus-type": "M7"}, "M7", id="unknown-type"),
        pytest.param({"milvus-type": "m5"}, "m5", id="type-case"),
        pytest.param({"disk-size": 19}, "disk-size", id="disk-below-min"),
        pytest.param({"disk-size": 16385}, "disk-size", id="disk-above-max"),
        pytest.param({"milvus-type": "S1", "disk-size": 4096}, "disk-size", id="disk-above-type-max"),
        pytest.param({"disk-size": "50"}, "disk-size", id="disk-string"),
        pytest.param({"disk-size": 50.0}, "disk-size", id="disk-float"),
        pytest.param({"disk-size": True}, "disk-size", id="disk-bool"),
        pytest.param({"disk-size": None}, "disk-size", id="disk-null"),
        pytest.param({"milvus-type": 5}, "milvus-type", id="type-number"),
        pytest.param({"replicas": 3}, "replicas", id="unknown-field"),
        pytest.param({"disk-size": ...}, "disk-size", id="missing-disk"),
        pytest.param({"milvus-type": ...}, "milvus-type", id="missing-type"),
    ],
)
def test_invalid_requests_are_400_and_say_why(
    stack: Stack, refused: tuple[str, str], quiet: dict[str, int], changes: dict[str, Any], words: str
) -> None:
    user, token = refused
    reply = stack.request("POST", "/milvus", json=body_for(user, token, **changes))
    body = check_refused(stack, reply, 400, quiet, user)
    assert words in body["description"]


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param('{"username": "x", ', id="truncated"),
        pytest.param("username=x&milvus-name=cats", id="form"),
        pytest.param("[]", id="array"),
        pytest.param("", id="empty"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_400(
    stack: Stack, refused: tuple[str, str], quiet: dict[str, int], raw: str
) -> None:
    user, _ = refused
    reply = stack.request("POST", "/milvus", data=raw, headers={"Content-Type": "application/json"})
    check_refused(stack, reply, 400, quiet, user)


def test_a_missing_token_is_401(stack: Stack, refused: tuple[str, str], quiet: dict[str, int]) -> None:
    user, _ = refused
    reply = stack.request("POST", "/milvus", json=body_for(user, "x", **{"session-token": ...}))
    check_refused(stack, reply, 401, quiet, user)


def test_a_wrong_token_is_401(stack: Stack, refused: tuple[str, str], quiet: dict[str, int]) -> None:
    user, _ = refused
    reply = stack.request("POST", "/milvus", data=json.dumps(body_for(user, "forged-token")))
    check_refused(stack, reply, 401, quiet, user)
