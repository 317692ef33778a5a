"""The whitelist over HTTP on the local stack: after every PUT, the cluster's security group in moto holds
exactly the list (and its self-referencing rule); refusals change nothing; the state rules hold."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.e2e.conftest import Stack, assert_failure

NAME = "search-cats"
PORTS = {"milvus-port": 19530, "milvus-em-port": 19531}
Key = tuple[str, int, str | None]  # (cidr, port, description)


@dataclass
class Cluster:
    username: str
    token: str
    group_id: str


def make_cluster(stack: Stack, username: str, wait: bool = True) -> Cluster:
    token = stack.token(username)
    created = stack.create(token, username, NAME, "S1", 20)
    assert created.status_code == 202, created.text
    if wait:
        assert stack.wait_for(token, NAME)["state"] == "running"
    record = stack.record(username, NAME)
    assert record is not None
    return Cluster(username, token, record["security-group-id"])


@pytest.fixture
def cluster(stack: Stack, user: str) -> Cluster:
    """A running single-node cluster of this test's own user."""
    return make_cluster(stack, user)


def entry(source_ip: str, port_type: str = "milvus-port", description: str | None = None) -> dict[str, Any]:
    item = {"source-ip": source_ip, "port-type": port_type}
    if description is not None:
        item["description"] = description
    return item


def put(
    stack: Stack, cluster: Cluster, entries: Any, *, path: str = NAME, token: str | None = None, **overrides: Any
) -> requests.Response:
    """PUT the whitelist with the original request's body (the token in session-token)."""
    body = {
        "session-token": token or cluster.token,
        "username": cluster.username,
        "milvus-name": NAME,
        "ip-ranges": entries,
        **overrides,
    }
    return stack.request("PUT", f"/milvus/{path}/whitelist", json=body)


def get(stack: Stack, cluster: Cluster, token: str | None = None) -> requests.Response:
    return stack.request("GET", f"/milvus/{NAME}/whitelist", token or cluster.token)


def ingress(stack: Stack, group_id: str) -> list[dict[str, Any]]:
    # moto filters security group rules by group-id (not by group-name).
    rules = stack.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
    return [r for r in rules["SecurityGroupRules"] if not r["IsEgress"]]


def cidr_rules(stack: Stack, group_id: str) -> dict[Key, str]:
    """The group's CIDR ingress rules by (cidr, port, description) -> rule id; each tcp on a single port."""
    found: dict[Key, str] = {}
    for rule in ingress(stack, group_id):
        if not rule.get("CidrIpv4"):
            continue
        assert rule["IpProtocol"] == "tcp", rule
        assert rule["FromPort"] == rule["ToPort"] and rule["FromPort"] in PORTS.values(), rule
        key = (rule["CidrIpv4"], rule["FromPort"], rule.get("Description") or None)
        assert key not in found, rule
        found[key] = rule["SecurityGroupRuleId"]
    return found


def self_rules(stack: Stack, group_id: str) -> list[str]:
    return [
        r["SecurityGroupRuleId"]
        for r in ingress(stack, group_id)
        if r.get("ReferencedGroupInfo", {}).get("GroupId") == group_id and r["IpProtocol"] == "-1"
    ]


def keys(entries: list[dict[str, Any]]) -> set[Key]:
    return {(e["source-ip"], PORTS[e["port-type"]], e.get("description")) for e in entries}


def whitelist_of(stack: Stack, cluster: Cluster) -> list[dict[str, Any]]:
    record = stack.record(cluster.username, NAME)
    assert record is not None
    return list(record["whitelist"])


def aws_writes(stack: Stack) -> int:
    calls = stack.calls()
    return calls.get("AuthorizeSecurityGroupIngress", 0) + calls.get("RevokeSecurityGroupIngress", 0)


def test_each_whitelist_is_exactly_the_groups_rules(stack: Stack, cluster: Cluster) -> None:
    group_id = cluster.group_id
    own = self_rules(stack, group_id)
    assert len(own) == 1
    assert cidr_rules(stack, group_id) == {}  # nothing is reachable before a whitelist
    steps: list[tuple[list[dict[str, Any]], set[Key]]] = [
        (
            [
                entry("115.236.166.154/32", "milvus-port", "office"),
                entry("115.236.166.154/32", "miluvs-em-port"),  # the original spelling
            ],
            {("115.236.166.154/32", 19530, "office"), ("115.236.166.154/32", 19531, None)},
        ),
        (
            [
                entry("115.236.166.154/32", "miluvs-port", "office"),
                entry("198.51.100.0/24", "milvus-em-port", "vpn"),
                entry("203.0.113.7", "milvus-port"),  # a bare address is one host
                entry("203.0.113.7/32", "milvus-port"),  # a duplicate counts once
            ],
            {
                ("115.236.166.154/32", 19530, "office"),
                ("198.51.100.0/24", 19531, "vpn"),
                ("203.0.113.7/32", 19530, None),
            },
        ),
        (
            [entry("198.51.100.0/24", "milvus-em-port", "vpn"), entry("203.0.113.7/32", "milvus-port", "laptop")],
            {("198.51.100.0/24", 19531, "vpn"), ("203.0.113.7/32", 19530, "laptop")},
        ),
        ([], set()),  # an empty list closes the cluster again
    ]
    previous: dict[Key, str] = {}
    for entries, expected in steps:
        reply = put(stack, cluster, entries)

        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["status"] == "success"
        assert body["milvus-name"] == NAME
        assert keys(body["ip-ranges"]) == expected
        assert len(body["ip-ranges"]) == len(expected)
        rules = cidr_rules(stack, group_id)
        assert set(rules) == expected
        for key in set(rules) & set(previous):
            assert rules[key] == previous[key], f"rule {key} was replaced although it did not change"
        assert self_rules(stack, group_id) == own  # the cluster's own traffic is untouched
        read = get(stack, cluster)
        assert read.status_code == 200, read.text
        assert read.json()["ip-ranges"] == body["ip-ranges"]
        assert whitelist_of(stack, cluster) == body["ip-ranges"]
        previous = rules


def test_an_unchanged_list_makes_no_aws_write(stack: Stack, cluster: Cluster) -> None:
    entries = [entry("192.0.2.10/32", "milvus-port", "home"), entry("10.20.0.0/16", "milvus-em-port")]
    assert put(stack, cluster, entries).status_code == 200
    before_rules = cidr_rules(stack, cluster.group_id)
    before_writes = aws_writes(stack)

    same = [entry("10.20.0.0/16", "miluvs-em-port"), entry("192.0.2.10", "miluvs-port", "home")]
    reply = put(stack, cluster, same)

    assert reply.status_code == 200, reply.text
    assert keys(reply.json()["ip-ranges"]) == keys(entries)
    assert aws_writes(stack) == before_writes
    assert cidr_rules(stack, cluster.group_id) == before_rules


def test_refusals_change_nothing(stack: Stack, cluster: Cluster, new_user: Callable[[], str]) -> None:
    assert put(stack, cluster, [entry("192.0.2.10/32")]).status_code == 200
    before_rules = cidr_rules(stack, cluster.group_id)
    before_list = whitelist_of(stack, cluster)
    stranger = new_user()
    stranger_token = stack.token(stranger)
    too_many = [entry(f"10.9.{i}.0/24") for i in range(51)]
    cases: list[tuple[str, Callable[[], requests.Response], int, str | None]] = [
        ("port-type", lambda: put(stack, cluster, [entry("198.51.100.1/32", "http")]), 400, None),
        ("port-type-case", lambda: put(stack, cluster, [entry("198.51.100.1/32", "Milvus-Port")]), 400, None),
        ("host-bits", lambda: put(stack, cluster, [entry("198.51.100.1/24")]), 400, None),
        ("not-a-cidr", lambda: put(stack, cluster, [entry("198.51.100.300/32")]), 400, None),
        ("ipv6", lambda: put(stack, cluster, [entry("2001:db8::/64")]), 400, None),
        ("open", lambda: put(stack, cluster, [entry("0.0.0.0/0")]), 400, None),
        ("name-mismatch", lambda: put(stack, cluster, [entry("198.51.100.1/32")], path="other-cats"), 400, None),
        ("unknown-field", lambda: put(stack, cluster, [{**entry("198.51.100.1/32"), "port": 19530}]), 400, None),
        ("not-a-list", lambda: put(stack, cluster, "198.51.100.1/32"), 400, None),
        ("too-many", lambda: put(stack, cluster, too_many), 429, None),
        ("no-token", lambda: put(stack, cluster, [entry("198.51.100.1/32")], token="not-a-token"), 401, None),
        (
            "stranger-as-victim",
            lambda: put(stack, cluster, [entry("198.51.100.1/32")], token=stranger_token),
            403,
            None,
        ),
        (
            "stranger-as-self",
            lambda: put(stack, cluster, [entry("198.51.100.1/32")], token=stranger_token, username=stranger),
            404,
            "cluster-not-found",
        ),
        ("stranger-reads", lambda: get(stack, cluster, stranger_token), 404, "cluster-not-found"),
    ]
    for case, call, status, code in cases:
        reply = call()
        body = assert_failure(reply, status, code)
        if case == "port-type":
            assert body["description"] == "unsupported port-type: http"
        if case == "port-type-case":
            assert body["description"] == "unsupported port-type: Milvus-Port"
        if case == "host-bits":
            assert "198.51.100.0/24" in body["description"]  # the hint
        if case == "too-many":
            assert "50" in body["description"]
        if case.startswith("stranger"):
            assert cluster.username not in body["description"]
        assert cidr_rules(stack, cluster.group_id) == before_rules, case
        assert whitelist_of(stack, cluster) == before_list, case
    assert stack.record(stranger, NAME) is None


def test_a_whitelist_is_set_while_creating_and_kept_when_running(stack: Stack, user: str) -> None:
    cluster = make_cluster(stack, user, wait=False)
    reply = put(stack, cluster, [entry("192.0.2.10/32")])
    assert reply.status_code == 200, reply.text
    assert stack.wait_for(cluster.token, NAME)["state"] == "running"
    assert set(cidr_rules(stack, cluster.group_id)) == {("192.0.2.10/32", 19530, None)}
    assert keys(get(stack, cluster).json()["ip-ranges"]) == {("192.0.2.10/32", 19530, None)}


def test_a_whitelist_is_set_while_suspended(stack: Stack, cluster: Cluster) -> None:
    assert stack.request("POST", f"/milvus/{NAME}/suspend", cluster.token).status_code == 202
    wait_state(stack, cluster, "suspended")
    reply = put(stack, cluster, [entry("192.0.2.10/32", "milvus-em-port")])
    assert reply.status_code == 200, reply.text
    assert reply.json()["state"] == "suspended"
    assert set(cidr_rules(stack, cluster.group_id)) == {("192.0.2.10/32", 19531, None)}
    settle_workflows(stack, cluster.username)


def test_a_whitelist_is_refused_while_deleting(stack: Stack, cluster: Cluster) -> None:
    assert put(stack, cluster, [entry("192.0.2.10/32")]).status_code == 200
    assert stack.request("DELETE", f"/milvus/{NAME}", cluster.token).status_code == 202

    # The delete workflow waits at least one poll interval before it removes anything.
    reply = put(stack, cluster, [entry("198.51.100.1/32")])

    body = assert_failure(reply, 409, "invalid-state")
    assert "deleting" in body["description"]
    assert "running" in body["description"]
    record = stack.record(cluster.username, NAME)
    assert record is not None and record["state"] == "deleting"
    assert keys(record["whitelist"]) == {("192.0.2.10/32", 19530, None)}
    wait_gone(stack, cluster)
    settle_workflows(stack, cluster.username)


def test_a_whitelist_is_refused_when_failed(stack: Stack, user: str, faults: Stack) -> None:
    faults.set_faults([{"operation": "RunInstances", "code": "UnauthorizedOperation", "times": 1}])
    token = stack.token(user)
    assert stack.create(token, user, NAME, "S1", 20).status_code == 202
    assert stack.wait_for(token, NAME)["state"] == "failed"
    record = stack.record(user, NAME)
    assert record is not None
    cluster = Cluster(user, token, record["security-group-id"])

    body = assert_failure(put(stack, cluster, [entry("192.0.2.10/32")]), 409, "invalid-state")

    assert "failed" in body["description"]
    assert whitelist_of(stack, cluster) == []
    assert (
        stack.ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"sg-{user}-{NAME}"]}])[
            "SecurityGroups"
        ]
        == []
    )  # the rollback removed the group: nothing was re-opened


def wait_state(stack: Stack, cluster: Cluster, state: str, timeout: float = 30.0) -> dict[str, Any]:
    return stack.wait_state(cluster.token, NAME, state, timeout)


def wait_gone(stack: Stack, cluster: Cluster, timeout: float = 30.0) -> None:
    stack.wait_gone(cluster.token, NAME, timeout)


def settle_workflows(stack: Stack, username: str) -> None:
    """Wait for every delete, suspend and resume workflow of this user (the shared fixture waits for creates)."""
    for machine in stack.sfn.list_state_machines()["stateMachines"]:
        if machine["name"] == "CreateClusterStateMachine":
            continue
        for execution in stack.sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]:
            described = stack.sfn.describe_execution(executionArn=execution["executionArn"])
            if f'"username": "{username}"' in described["input"]:
                stack.wait_for_execution(execution["executionArn"])
