"""Suspend, resume and delete over HTTP on the local stack, checked against moto: the instances' states, the
url and the Elastic IP kept across suspend and resume, nothing of a deleted cluster left behind, and the
state rules, the type rule and the cluster quota."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import requests

from tests.e2e.conftest import Stack, assert_failure

NAME = "search-cats"


def action(stack: Stack, token: str, verb: str, name: str = NAME) -> requests.Response:
    if verb == "delete":
        return stack.request("DELETE", f"/milvus/{name}", token)
    return stack.request("POST", f"/milvus/{name}/{verb}", token)


def running_cluster(stack: Stack, username: str, milvus_type: str = "M5", disk: int = 50) -> tuple[str, dict[str, Any]]:
    token = stack.token(username)
    reply = stack.create(token, username, NAME, milvus_type, disk)
    assert reply.status_code == 202, reply.text
    described = stack.wait_for(token, NAME)
    assert described["state"] == "running", described
    return token, described


def wait_state(stack: Stack, token: str, state: str, timeout: float = 30.0) -> dict[str, Any]:
    return stack.wait_state(token, NAME, state, timeout)


def wait_gone(stack: Stack, token: str, timeout: float = 30.0) -> None:
    stack.wait_gone(token, NAME, timeout)


def machine_arn(stack: Stack, name: str) -> str:
    return next(m["stateMachineArn"] for m in stack.sfn.list_state_machines()["stateMachines"] if m["name"] == name)


def executions_of(stack: Stack, machine: str, username: str) -> list[dict[str, Any]]:
    """This user's executions of a state machine (by the input each was started with)."""
    found = []
    for execution in stack.sfn.list_executions(stateMachineArn=machine_arn(stack, machine))["executions"]:
        described = stack.sfn.describe_execution(executionArn=execution["executionArn"])
        if json.loads(described["input"]).get("username") == username:
            found.append(described)
    return found


def instance_states(stack: Stack, username: str) -> dict[str, str]:
    key = [{"Name": "tag:milvus-username", "Values": [f"{username}/{NAME}"]}]
    return {i["InstanceId"]: i["State"]["Name"] for i in stack.instances(key)}


def the_address(stack: Stack, username: str) -> dict[str, Any]:
    [address] = stack.ec2.describe_addresses(
        Filters=[{"Name": "tag:milvus-username", "Values": [f"{username}/{NAME}"]}]
    )["Addresses"]
    return address


def test_suspend_and_resume_keep_the_url(stack: Stack, user: str) -> None:
    token, described = running_cluster(stack, user)
    url = described["milvus-url"]
    ids = {i["instance-id"] for i in described["instances"]}
    master = next(i["instance-id"] for i in described["instances"] if i["node-type"] == "master")
    eip = the_address(stack, user)["PublicIp"]
    assert set(instance_states(stack, user).values()) == {"running"}

    reply = action(stack, token, "suspend")
    assert reply.status_code == 202, reply.text
    assert reply.json() == {"status": "success", "milvus-name": NAME, "state": "suspending"}
    assert stack.describe(token, NAME).json()["state"] in ("suspending", "suspended")
    suspended = wait_state(stack, token, "suspended")
    assert suspended["milvus-url"] == url
    states = instance_states(stack, user)
    assert set(states) == ids
    assert set(states.values()) == {"stopped"}
    record = stack.record(user, NAME)
    assert record is not None
    assert stack.wait_for_execution(record["suspend-execution-arn"]) == "SUCCEEDED"

    again = assert_failure(action(stack, token, "suspend"), 409, "invalid-state")
    assert "running" in again["description"]

    reply = action(stack, token, "resume")
    assert reply.status_code == 202, reply.text
    assert reply.json() == {"status": "success", "milvus-name": NAME, "state": "resuming"}
    resumed = wait_state(stack, token, "running")
    assert resumed["milvus-url"] == url
    assert resumed["state-reason"] is None
    assert set(instance_states(stack, user).values()) == {"running"}
    address = the_address(stack, user)
    assert address["PublicIp"] == eip
    assert address["InstanceId"] == master
    [master_now] = stack.instances([{"Name": "instance-id", "Values": [master]}])
    assert master_now["PublicIpAddress"] == eip
    assert next(i for i in resumed["instances"] if i["node-type"] == "master")["public-ip"] == eip
    record = stack.record(user, NAME)
    assert record is not None
    assert stack.wait_for_execution(record["resume-execution-arn"]) == "SUCCEEDED"

    again = assert_failure(action(stack, token, "resume"), 409, "invalid-state")
    assert "suspended" in again["description"]
    assert stack.describe(token, NAME).json()["state"] == "running"


def test_delete_leaves_nothing_and_frees_the_name(stack: Stack, user: str) -> None:
    token, _ = running_cluster(stack, user)
    whitelist = {
        "session-token": token,
        "username": user,
        "milvus-name": NAME,
        "ip-ranges": [{"source-ip": "192.0.2.10/32", "port-type": "milvus-port"}],
    }
    assert stack.request("PUT", f"/milvus/{NAME}/whitelist", json=whitelist).status_code == 200
    before = stack.leftovers(user, NAME)
    assert before["instances"] and before["volumes"] and before["addresses"] and before["groups"]

    reply = action(stack, token, "delete")
    assert reply.status_code == 202, reply.text
    assert reply.json() == {"status": "success", "milvus-name": NAME, "state": "deleting"}
    # A repeated delete while deleting answers the same, and starts no second workflow.
    # (The workflow waits at least one poll interval before it removes the record.)
    repeated = action(stack, token, "delete")
    assert repeated.status_code == 202, repeated.text
    assert repeated.json() == reply.json()
    assert len(executions_of(stack, "DeleteClusterStateMachine", user)) == 1

    wait_gone(stack, token)
    [execution] = executions_of(stack, "DeleteClusterStateMachine", user)
    assert stack.wait_for_execution(execution["executionArn"]) == "SUCCEEDED"
    assert stack.leftovers(user, NAME) == {
        "instances": [],
        "volumes": [],
        "addresses": [],
        "groups": [],
        "interfaces": [],
    }
    for instance_id in before["instances"]:
        [gone] = stack.instances([{"Name": "instance-id", "Values": [instance_id]}], states=["terminated"])
        assert gone["State"]["Name"] == "terminated"
    assert stack.record(user, NAME) is None
    assert_failure(stack.request("GET", f"/milvus/{NAME}/whitelist", token), 404)
    assert stack.request("GET", "/milvus", token).json()["clusters"] == []

    # The name is free again, for any type.
    recreated = stack.create(token, user, NAME, "S1", 20)
    assert recreated.status_code == 202, recreated.text
    final = stack.wait_for(token, NAME)
    assert final["state"] == "running"
    assert final["milvus-type"] == "S1"
    assert final["whitelist"] == []


def test_a_repeated_delete_starts_one_workflow(stack: Stack, user: str, faults: Stack) -> None:
    token, _ = running_cluster(stack, user, "S1", 20)
    # Keep the delete busy for a while: its first terminate attempts fail as throttled, and are retried.
    faults.set_faults([{"operation": "TerminateInstances", "code": "RequestLimitExceeded", "times": 1}])

    replies = [action(stack, token, "delete") for _ in range(4)]

    assert [r.status_code for r in replies] == [202] * 4, [r.text for r in replies]
    assert all(r.json()["state"] == "deleting" for r in replies)
    assert len(executions_of(stack, "DeleteClusterStateMachine", user)) == 1
    wait_gone(stack, token, timeout=45)
    [execution] = executions_of(stack, "DeleteClusterStateMachine", user)
    assert stack.wait_for_execution(execution["executionArn"]) == "SUCCEEDED"
    assert stack.leftovers(user, NAME) == {
        "instances": [],
        "volumes": [],
        "addresses": [],
        "groups": [],
        "interfaces": [],
    }


def test_a_failed_cluster_can_be_deleted(stack: Stack, user: str, faults: Stack) -> None:
    token = stack.token(user)
    faults.set_faults([{"operation": "AssociateAddress", "code": "UnauthorizedOperation", "times": 1}])
    assert stack.create(token, user, NAME, "M5", 50).status_code == 202
    failed = stack.wait_for(token, NAME)
    assert failed["state"] == "failed", failed
    assert failed["state-reason"]
    record = stack.record(user, NAME)
    assert record is not None
    stack.wait_for_execution(record["execution-arn"])

    reply = action(stack, token, "delete")

    assert reply.status_code == 202, reply.text
    wait_gone(stack, token)
    [execution] = executions_of(stack, "DeleteClusterStateMachine", user)
    assert json.loads(execution["input"])["previous-state"] == "failed"
    assert stack.wait_for_execution(execution["executionArn"]) == "SUCCEEDED"
    assert stack.leftovers(user, NAME) == {
        "instances": [],
        "volumes": [],
        "addresses": [],
        "groups": [],
        "interfaces": [],
    }
    assert stack.create(token, user, NAME, "S1", 20).status_code == 202


def test_nonsensical_transitions_say_which_states_allow_them(stack: Stack, user: str) -> None:
    token, _ = running_cluster(stack, user, "S1", 20)
    resume = assert_failure(action(stack, token, "resume"), 409, "invalid-state")
    assert "suspended" in resume["description"] and "running" in resume["description"]
    assert stack.describe(token, NAME).json()["state"] == "running"
    assert executions_of(stack, "PowerClusterStateMachine", user) == []

    assert action(stack, token, "suspend").status_code == 202
    wait_state(stack, token, "suspended")
    suspend = assert_failure(action(stack, token, "suspend"), 409, "invalid-state")
    assert "running" in suspend["description"] and "suspended" in suspend["description"]
    assert len(executions_of(stack, "PowerClusterStateMachine", user)) == 1
    for execution in executions_of(stack, "PowerClusterStateMachine", user):
        assert stack.wait_for_execution(execution["executionArn"]) == "SUCCEEDED"


def test_another_users_token_changes_nothing(stack: Stack, new_user: Callable[[], str]) -> None:
    owner, stranger = new_user(), new_user()
    token, _ = running_cluster(stack, owner, "S1", 20)
    stranger_token = stack.token(stranger)
    for verb in ("suspend", "resume", "delete"):
        body = assert_failure(action(stack, stranger_token, verb), 404, "cluster-not-found")
        assert owner not in body["description"]
        as_owner = {"session-token": stranger_token, "username": owner, "milvus-name": NAME}
        method = "DELETE" if verb == "delete" else "POST"
        path = f"/milvus/{NAME}" if verb == "delete" else f"/milvus/{NAME}/{verb}"
        assert_failure(stack.request(method, path, json=as_owner), 403)
        assert_failure(action(stack, "not-a-token", verb), 401)
    assert stack.describe(token, NAME).json()["state"] == "running"
    assert set(instance_states(stack, owner).values()) == {"running"}
    assert executions_of(stack, "PowerClusterStateMachine", owner) == []
    assert executions_of(stack, "DeleteClusterStateMachine", owner) == []


def test_the_type_of_a_cluster_cannot_change(stack: Stack, user: str) -> None:
    token = stack.token(user)
    assert stack.create(token, user, NAME, "M5", 50).status_code == 202
    groups_before = stack.leftovers(user, NAME)["groups"]

    body = assert_failure(stack.create(token, user, NAME, "S1", 20), 409, "type-immutable")

    assert "type" in body["description"] and "M5" in body["description"]
    assert stack.leftovers(user, NAME)["groups"] == groups_before
    final = stack.wait_for(token, NAME)
    assert final["milvus-type"] == "M5"


def test_the_cluster_quota(stack: Stack, user: str) -> None:
    token = stack.token(user)
    names = [f"quota-{i:02d}" for i in range(20)]
    for name in names:
        reply = stack.create(token, user, name, "S1", 20)
        assert reply.status_code == 202, reply.text

    refused = assert_failure(stack.create(token, user, "quota-20", "S1", 20), 429)

    assert "20" in refused["description"]
    assert stack.record(user, "quota-20") is None
    assert stack.leftovers(user, "quota-20") == {
        "instances": [],
        "volumes": [],
        "addresses": [],
        "groups": [],
        "interfaces": [],
    }
    listed = stack.request("GET", "/milvus", token).json()["clusters"]
    assert sorted(c["milvus-name"] for c in listed) == names
