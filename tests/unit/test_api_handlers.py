"""The API handlers, invoked as API Gateway invokes them: status codes and the contract's failure shape."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from milvus_cloud.dal.mongo import CLUSTERS, IDEMPOTENCY
from tests.support import Aws, Env
from tests.unit.lambda_support import Reply, api_event, assert_failure, call_api, create_body, invoke

CREATE_KEYS = {"status", "milvus-name", "milvus-url", "milvus-port", "milvus-em-port", "state"}


def snapshot(env: Env, aws: Aws) -> dict[str, Any]:
    return {
        "clusters": env.db[CLUSTERS].count_documents({}),
        "addresses": len(aws.ec2.describe_addresses()["Addresses"]),
        "groups": len(aws.ec2.describe_security_groups()["SecurityGroups"]),
        "executions": len(
            aws.client("stepfunctions").list_executions(stateMachineArn=aws.state_machine_arn)["executions"]
        ),
    }


def create(token: str | None, username: str = "alice", name: str = "cats", **kwargs: Any) -> Reply:
    headers = kwargs.pop("headers", None)
    return call_api("create_cluster", body=create_body(token, username, name, **kwargs), headers=headers)


def describe(token: str | None, name: str, headers: dict[str, str] | None = None) -> Reply:
    return call_api("get_cluster", token=token, path_params={"milvus-name": name}, headers=headers)


# ---- POST /milvus ----


def test_create_answers_202_with_the_contracts_keys(env: Env, aws: Aws, issue_token: Callable[..., str]) -> None:
    reply = create(issue_token("alice"))
    assert reply.status == 202, reply.body
    assert set(reply.body) == CREATE_KEYS
    assert reply.body["status"] == "success"
    assert reply.body["state"] == "creating"
    assert reply.body["milvus-name"] == "cats"
    assert reply.body["milvus-port"] == "19530" and reply.body["milvus-em-port"] == "19531"
    assert reply.body["milvus-url"].endswith(".compute-1.amazonaws.com")
    assert reply.headers.get("Content-Type", "").startswith("application/json")
    assert env.db[CLUSTERS].count_documents({"username": "alice", "state": "creating"}) == 1


def test_create_takes_the_token_from_the_authorization_header(
    env: Env, aws: Aws, issue_token: Callable[..., str]
) -> None:
    token = issue_token("alice")
    reply = create(None, headers={"Authorization": f"Bearer {token}"})
    assert reply.status == 202, reply.body


REFUSALS: list[Any] = [
    pytest.param({"username": "Alice"}, 400, id="username-upper-case"),
    pytest.param({"milvus-name": "1cats"}, 400, id="name-starts-with-digit"),
    pytest.param({"milvus-name": "ca"}, 400, id="name-too-short"),
    pytest.param({"milvus-name": "c" * 41}, 400, id="name-too-long"),
    pytest.param({"milvus-name": "cats_1"}, 400, id="name-underscore"),
    pytest.param({"milvus-name": {"$ne": None}}, 400, id="operator-in-name"),
    pytest.param({"milvus-type": "M7"}, 400, id="unknown-type"),
    pytest.param({"disk-size": 19}, 400, id="disk-below-min"),
    pytest.param({"disk-size": 16385}, 400, id="disk-above-max"),
    pytest.param({"disk-size": "50"}, 400, id="disk-as-string"),
    pytest.param({"disk-size": 50.0}, 400, id="disk-as-float"),
    pytest.param({"disk-size": True}, 400, id="disk-as-bool"),
    pytest.param({"region": "us-west-2"}, 400, id="unknown-field"),
    pytest.param({"milvus-type": None}, 400, id="type-null"),
    pytest.param({"username": "bob"}, 403, id="someone-elses-username"),
    pytest.param({"session-token": "not-a-valid-token"}, 401, id="unknown-token"),
]


@pytest.mark.parametrize(("changes", "status"), REFUSALS)
def test_a_refused_create_writes_nothing(
    env: Env, aws: Aws, issue_token: Callable[..., str], changes: dict[str, Any], status: int
) -> None:
    body = {**create_body(issue_token("alice"), "alice", "cats"), **changes}
    before = snapshot(env, aws)
    reply = call_api("create_cluster", body=body)
    assert_failure(reply, status)
    assert snapshot(env, aws) == before


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param('{"username": "alice", ', id="truncated"),
        pytest.param("not json", id="not-json"),
        pytest.param("[]", id="array"),
        pytest.param("null", id="null"),
        pytest.param('"text"', id="string"),
        pytest.param("", id="empty"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_400(env: Env, aws: Aws, raw: str) -> None:
    before = snapshot(env, aws)
    assert_failure(call_api("create_cluster", raw_body=raw), 400)
    assert snapshot(env, aws) == before


@pytest.mark.parametrize("missing", ["username", "milvus-name", "milvus-type", "disk-size"])
def test_every_field_is_required(env: Env, aws: Aws, issue_token: Callable[..., str], missing: str) -> None:
    body = create_body(issue_token("alice"), "alice", "cats")
    del body[missing]
    reply = call_api("create_cluster", body=body)
    assert_failure(reply, 400)
    assert missing in reply.body["description"]


def test_create_without_a_token_is_401(env: Env, aws: Aws) -> None:
    before = snapshot(env, aws)
    assert_failure(create(None), 401)
    assert snapshot(env, aws) == before


def test_create_with_an_expired_token_is_401(env: Env, aws: Aws, issue_token: Callable[..., str]) -> None:
    before = snapshot(env, aws)
    assert_failure(create(issue_token("alice", hours=-1)), 401)
    assert snapshot(env, aws) == before


def test_a_duplicate_name_is_409_and_a_type_change_says_so(env: Env, aws: Aws, issue_token: Callable[..., str]) -> None:
    token = issue_token("alice")
    assert create(token).status == 202
    before = snapshot(env, aws)
    assert_failure(create(token), 409)
    assert_failure(create(token, milvus_type="S1"), 409, "type-immutable")
    assert snapshot(env, aws) == before
    assert create(issue_token("bob"), username="bob").status == 202  # names are per user


def test_quota_is_429(env: Env, aws: Aws, issue_token: Callable[..., str]) -> None:
    env.set(MAX_CLUSTERS_PER_USER=1)
    token = issue_token("alice")
    assert create(token, name="one").status == 202
    before = snapshot(env, aws)
    assert_failure(create(token, name="two"), 429)
    assert snapshot(env, aws) == before


def test_an_aws_failure_is_503_with_retry_after_and_leaves_nothing(
    env: Env, aws: Aws, issue_token: Callable[..., str]
) -> None:
    token = issue_token("alice")
    before = snapshot(env, aws)
    env.set(CREATE_STATE_MACHINE_ARN=aws.state_machine_arn + "-gone")
    reply = create(token)
    assert_failure(reply, 503)
    assert int(reply.headers["Retry-After"]) >= 1
    assert snapshot(env, aws) == before


# ---- Idempotency-Key ----


def test_the_same_idempotency_key_and_body_answer_the_same_and_launch_once(
    env: Env, aws: Aws, issue_token: Callable[..., str]
) -> None:
    token = issue_token("alice")
    first = create(token, headers={"Idempotency-Key": "key-1"})
    assert first.status == 202, first.body
    after_first = snapshot(env, aws)
    again = create(token, headers={"Idempotency-Key": "key-1"})
    assert (again.status, again.body) == (first.status, first.body)
    assert snapshot(env, aws) == after_first
    assert after_first["executions"] == 1
    # a new token for the same user is the same request: the token is no part of the payload
    third = create(issue_token("alice"), headers={"Idempotency-Key": "key-1"})
    assert (third.status, third.body) == (first.status, first.body)


def test_the_same_idempotency_key_with_another_body_is_409(env: Env, aws: Aws, issue_token: Callable[..., str]) -> None:
    token = issue_token("alice")
    assert create(token, headers={"Idempotency-Key": "key-1"}).status == 202
    before = snapshot(env, aws)
    assert_failure(create(token, disk=60, headers={"Idempotency-Key": "key-1"}), 409)
    assert_failure(create(token, name="dogs", headers={"Idempotency-Key": "key-1"}), 409)
    assert snapshot(env, aws) == before


def test_idempotency_keys_are_per_user(env: Env, aws: Aws, issue_token: Callable[..., str]) -> None:
    assert create(issue_token("alice"), headers={"Idempotency-Key": "shared"}).status == 202
    reply = create(issue_token("bob"), username="bob", headers={"Idempotency-Key": "shared"})
    assert reply.status == 202, reply.body
    assert env.db[CLUSTERS].count_documents({}) == 2


def test_a_refused_create_with_a_key_can_be_retried_with_the_key(
    env: Env, aws: Aws, issue_token: Callable[..., str]
) -> None:
    env.set(MAX_CLUSTERS_PER_USER=1)
    token = issue_token("alice")
    assert create(token, name="one").status == 202
    assert_failure(create(token, name="two", headers={"Idempotency-Key": "k"}), 429)
    env.set(MAX_CLUSTERS_PER_USER=2)
    assert create(token, name="two", headers={"Idempotency-Key": "k"}).status == 202
    assert env.db[IDEMPOTENCY].count_documents({}) == 1


# ---- GET /milvus/{milvus-name} and GET /milvus ----


def test_describe_own_cluster(env: Env, aws: Aws, issue_token: Callable[..., str]) -> None:
    token = issue_token("alice")
    created = create(token).body
    reply = describe(token, "cats")
    assert reply.status == 200, reply.body
    body = reply.body
    assert body["status"] == "success"
    for key in ("milvus-name", "milvus-url", "milvus-port", "milvus-em-port", "state"):
        assert body[key] == created[key]
    assert body["username"] == "alice" and body["milvus-type"] == "M5" and body["disk-size"] == 50
    assert body["security-groups"] == [{"group-name": "sg-base"}, {"group-name": "sg-alice-cats"}]
    assert body["subnet-id"] == aws.subnet_id
    assert "_id" not in body


def test_describe_takes_a_lower_case_authorization_header(env: Env, aws: Aws, issue_token: Callable[..., str]) -> None:
    token = issue_token("alice")
    create(token)
    assert describe(None, "cats", headers={"authorization": f"Bearer {token}"}).status == 200


def test_another_users_cluster_is_404_like_a_missing_one(env: Env, aws: Aws, issue_token: Callable[..., str]) -> None:
    create(issue_token("alice"))
    theirs = describe(issue_token("bob"), "cats")
    missing = describe(issue_token("bob"), "dogs")
    assert_failure(theirs, 404)
    assert_failure(missing, 404)
    assert theirs.body["code"] == missing.body["code"]
    assert "alice" not in theirs.body["description"]


@pytest.mark.parametrize("function_dir", ["get_cluster", "list_clusters"])
def test_reads_without_a_valid_token_are_401(
    env: Env, aws: Aws, issue_token: Callable[..., str], function_dir: str
) -> None:
    kwargs: dict[str, Any] = {"path_params": {"milvus-name": "cats"}} if function_dir == "get_cluster" else {}
    assert_failure(call_api(function_dir, token=None, **kwargs), 401)
    assert_failure(call_api(function_dir, token="bogus", **kwargs), 401)
    assert_failure(call_api(function_dir, token=issue_token("alice", hours=-1), **kwargs), 401)
    assert_failure(call_api(function_dir, headers={"Authorization": "Basic abc"}, **kwargs), 401)


def test_list_shows_only_the_callers_clusters(env: Env, aws: Aws, issue_token: Callable[..., str]) -> None:
    alice, bob = issue_token("alice"), issue_token("bob")
    create(alice, name="cats")
    create(alice, name="dogs")
    create(bob, username="bob", name="birds")
    reply = call_api("list_clusters", token=alice)
    assert reply.status == 200
    assert reply.body["status"] == "success"
    assert [c["milvus-name"] for c in reply.body["clusters"]] == ["cats", "dogs"]
    assert {c["username"] for c in reply.body["clusters"]} == {"alice"}
    assert call_api("list_clusters", token=issue_token("carol")).body["clusters"] == []


# ---- GET /milvus-types ----


def test_milvus_types_needs_no_token_and_no_database(env: Env) -> None:
    env.set(MONGODB_URI="mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=200", MONGODB_TIMEOUT_MS=200)
    reply = call_api("list_milvus_types")
    assert reply.status == 200, reply.body
    assert reply.body["status"] == "success"
    types = {t["milvus-type"]: t for t in reply.body["milvus-types"]}
    assert {"M5"} <= set(types)
    assert types["M5"]["worker-count"] == 1
    assert any(t["gpus"] > 0 for t in types.values())
    assert any(t["worker-count"] == 0 for t in types.values())
    for t in types.values():
        assert {"master-instance-type", "vcpus", "memory-gib", "min-disk-size", "max-disk-size"} <= set(t)


def test_an_unknown_route_is_404_in_the_failure_shape(env: Env) -> None:
    event = api_event("list_milvus_types")
    event["path"] = event["resource"] = "/no-such-route"
    result = invoke("list_milvus_types", event)
    assert_failure(Reply(result["statusCode"], json.loads(result["body"]), {}), 404)
