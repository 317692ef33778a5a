"""The Idempotency-Key header over HTTP: a retried create is answered once and launches once."""

from __future__ import annotations

import uuid

from tests.e2e.conftest import Stack


def test_the_same_key_and_body_answer_the_same_and_launch_once(stack: Stack, user: str) -> None:
    token = stack.token(user)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    stack.quiesce()  # no other test's workflow launches while this one counts launches
    calls_before = stack.calls().get("RunInstances", 0)
    first = stack.create(token, user, "cats", headers=key)
    assert first.status_code == 202, first.text
    again = stack.create(token, user, "cats", headers=key)
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert stack.wait_for(token, "cats")["state"] == "running"
    stack.settle(user)
    late = stack.create(stack.token(user), user, "cats", headers=key)  # after the fact, with a fresh token
    assert (late.status_code, late.json()) == (first.status_code, first.json())
    assert stack.clusters.count_documents({"username": user}) == 1
    assert len(stack.instances([{"Name": "tag:milvus-username", "Values": [f"{user}/cats"]}])) == 2
    assert stack.calls().get("RunInstances", 0) - calls_before == 2  # one master, one worker: one launch
    addresses = stack.ec2.describe_addresses(Filters=[{"Name": "tag:username", "Values": [user]}])["Addresses"]
    assert len(addresses) == 1


def test_the_same_key_with_another_body_is_409(stack: Stack, user: str) -> None:
    token = stack.token(user)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    assert stack.create(token, user, "cats", headers=key).status_code == 202
    stack.wait_for(token, "cats")
    stack.settle(user)
    before = stack.counts()
    for reply in (
        stack.create(token, user, "cats", disk=80, headers=key),
        stack.create(token, user, "dogs", headers=key),
    ):
        assert reply.status_code == 409, reply.text
        body = reply.json()
        assert set(body) == {"status", "description", "code"} and body["status"] == "failed"
    assert stack.counts() == before
    assert stack.record(user, "dogs") is None


def test_without_a_key_a_repeat_is_a_duplicate(stack: Stack, user: str) -> None:
    token = stack.token(user)
    assert stack.create(token, user, "cats").status_code == 202
    assert stack.create(token, user, "cats").status_code == 409
