"""Who sees what over HTTP: a token acts only for its user; another user's cluster does not exist for you."""

from __future__ import annotations

from collections.abc import Callable

from tests.e2e.conftest import Stack, assert_failure


def test_describe_and_list_show_only_the_callers_clusters(stack: Stack, new_user: Callable[[], str]) -> None:
    alice, bob = new_user(), new_user()
    alice_token, bob_token = stack.token(alice), stack.token(bob)
    assert stack.create(alice_token, alice, "cats").status_code == 202
    assert stack.create(alice_token, alice, "secret-plans", "S1", 20).status_code == 202
    assert stack.create(bob_token, bob, "cats", "S1", 30).status_code == 202  # the same name, another user
    listed = stack.request("GET", "/milvus", alice_token)
    assert listed.status_code == 200
    assert [(c["username"], c["milvus-name"]) for c in listed.json()["clusters"]] == [
        (alice, "cats"),
        (alice, "secret-plans"),
    ]
    assert [c["milvus-name"] for c in stack.request("GET", "/milvus", bob_token).json()["clusters"]] == ["cats"]
    mine = stack.describe(bob_token, "cats").json()
    assert (mine["username"], mine["milvus-type"], mine["disk-size"]) == (bob, "S1", 30)
    theirs = assert_failure(stack.describe(bob_token, "secret-plans"), 404)
    missing = assert_failure(stack.describe(bob_token, "no-such-cluster"), 404)
    assert theirs["code"] == missing["code"]
    assert alice not in theirs["description"]


def test_a_token_cannot_create_for_another_username(stack: Stack, new_user: Callable[[], str]) -> None:
    victim, attacker = new_user(), new_user()
    before = stack.counts()
    assert_failure(stack.create(stack.token(attacker), victim, "cats"), 403)
    assert stack.counts() == before
    assert stack.record(victim, "cats") is None


def test_a_duplicate_name_is_409_and_a_type_change_is_refused(stack: Stack, user: str) -> None:
    token = stack.token(user)
    assert stack.create(token, user, "cats").status_code == 202
    assert_failure(stack.create(token, user, "cats"), 409)  # while it is still creating
    assert stack.wait_for(token, "cats")["state"] == "running"
    before = stack.counts()
    assert_failure(stack.create(token, user, "cats"), 409)
    body = assert_failure(stack.create(token, user, "cats", "G4", 60), 409, "type-immutable")
    assert "M5" in body["description"]
    assert stack.counts() == before
    assert stack.describe(token, "cats").json()["milvus-type"] == "M5"


def test_missing_unknown_and_expired_tokens_are_401(stack: Stack, user: str) -> None:
    expired = stack.token(user, ttl_hours=-1)
    for token in (None, "not-a-token", expired):
        assert_failure(stack.request("GET", "/milvus", token), 401)
        assert_failure(stack.request("GET", "/milvus/cats", token), 401)
        assert_failure(stack.create(token, user, "cats"), 401)
    assert stack.record(user, "cats") is None


def test_the_type_catalog_is_public(stack: Stack) -> None:
    reply = stack.request("GET", "/milvus-types")
    assert reply.status_code == 200
    body = reply.json()
    assert body["status"] == "success"
    m5 = next(t for t in body["milvus-types"] if t["milvus-type"] == "M5")
    assert m5["worker-count"] == 1


def test_unknown_routes_and_methods_answer_in_the_failure_shape(stack: Stack) -> None:
    assert_failure(stack.request("GET", "/nothing-here"), 404)
    assert_failure(stack.request("PATCH", "/milvus"), 405)
