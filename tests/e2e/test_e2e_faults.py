"""AWS faults injected into the local stack mid-workflow: a permanent one rolls everything back and marks the
cluster failed with the reason; a transient one is retried and the cluster still runs."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Stack

NOTHING = {"instances": [], "volumes": [], "addresses": [], "groups": [], "interfaces": []}


def create_and_wait(stack: Stack, user: str) -> tuple[dict[str, Any], dict[str, Any]]:
    token = stack.token(user)
    reply = stack.create(token, user, "cats")
    assert reply.status_code == 202, reply.text
    final = stack.wait_for(token, "cats")
    record = stack.record(user, "cats")
    assert record is not None
    stack.wait_for_execution(record["execution-arn"])
    return final, record


def launched(stack: Stack, user: str) -> list[dict[str, Any]]:
    """Every instance the cluster ever had, terminated ones included."""
    key = [{"Name": "tag:milvus-username", "Values": [f"{user}/cats"]}]
    return stack.instances(key, states=["pending", "running", "shutting-down", "terminated", "stopping", "stopped"])


def test_a_worker_launch_failure_rolls_back_the_master_too(faults: Stack, user: str) -> None:
    stack = faults
    before = stack.calls().get("RunInstances", 0)
    stack.set_faults([{"operation": "RunInstances", "code": "InsufficientInstanceCapacity", "times": 1, "skip": 1}])
    final, record = create_and_wait(stack, user)
    assert final["state"] == "failed"
    assert "InsufficientInstanceCapacity" in final["state-reason"]
    assert record["state"] == "failed" and record["state-reason"] == final["state-reason"]
    assert stack.calls().get("RunInstances", 0) - before == 2  # the master launched, the worker failed
    [master] = launched(stack, user)
    assert master["State"]["Name"] == "terminated"
    assert stack.leftovers(user, "cats") == NOTHING
    assert stack.sfn.describe_execution(executionArn=record["execution-arn"])["status"] == "FAILED"


def test_an_address_failure_after_both_launched_rolls_everything_back(faults: Stack, user: str) -> None:
    stack = faults
    stack.set_faults([{"operation": "AssociateAddress", "code": "UnauthorizedOperation", "times": 1}])
    final, record = create_and_wait(stack, user)
    assert final["state"] == "failed"
    assert "UnauthorizedOperation" in final["state-reason"]
    assert record["state"] == "failed"
    instances = launched(stack, user)
    assert len(instances) == 2
    assert {i["State"]["Name"] for i in instances} == {"terminated"}
    assert stack.leftovers(user, "cats") == NOTHING
    listed = stack.request("GET", "/milvus", stack.token(user)).json()["clusters"]
    assert [(c["milvus-name"], c["state"]) for c in listed] == [("cats", "failed")]


def test_a_transient_fault_is_retried_and_the_cluster_runs(faults: Stack, user: str) -> None:
    stack = faults
    before = stack.calls().get("RunInstances", 0)
    stack.set_faults([{"operation": "RunInstances", "code": "RequestLimitExceeded", "times": 2}])
    final, record = create_and_wait(stack, user)
    assert final["state"] == "running", final
    assert final["state-reason"] is None
    assert stack.sfn.describe_execution(executionArn=record["execution-arn"])["status"] == "SUCCEEDED"
    assert stack.calls().get("RunInstances", 0) - before == 4  # two refused, then master and worker
    instances = launched(stack, user)
    assert len(instances) == 2 and {i["State"]["Name"] for i in instances} == {"running"}
    assert len(stack.leftovers(user, "cats")["addresses"]) == 1
