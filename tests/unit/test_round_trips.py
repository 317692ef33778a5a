"""Round trips: the AWS calls and MongoDB commands each route and each workflow step makes, counted with
botocore's event hooks and pymongo's command monitoring, against the floors the README states.

Counts are deterministic, unlike times: a change that adds a round trip fails here."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from pymongo import monitoring

from milvus_cloud.dal import clusters
from tests.support import Aws, Env, reset_caches
from tests.unit.lambda_support import call_api, create_body, invoke

USER, NAME = "trip-user", "trip-cluster"

# route or step: (MongoDB commands, AWS calls) at their floor, warm (indexes already ensured).
FLOORS: dict[str, tuple[list[str], list[str]]] = {
    "GET /milvus-types": ([], []),
    "GET /milvus/{name}": (["find sessions", "find clusters"], []),
    "GET /milvus": (["find sessions", "find clusters"], []),
    "GET whitelist": (["find sessions", "find clusters"], []),
    "PUT whitelist, unchanged": (["find sessions", "find clusters"], []),
    "PUT whitelist, one more entry": (
        [
            "find sessions",
            "find clusters",
            "update clusters",  # take the lease
            "update clusters",  # store what the group holds
            "update clusters",  # release the lease
            "insert audit",
        ],
        ["DescribeSecurityGroupRules", "AuthorizeSecurityGroupIngress"],
    ),
    "POST /milvus": (
        [
            "find sessions",
            "count clusters",  # the quota (aggregate or count, by driver)
            "insert clusters",  # reserve the name
            "update clusters",  # the AWS ids and the execution, in one write
            "insert audit",
        ],
        ["AllocateAddress", "CreateSecurityGroup", "AuthorizeSecurityGroupIngress", "StartExecution"],
    ),
    "POST suspend": (["find sessions", "findAndModify clusters", "insert audit"], ["StartExecution"]),
    "DELETE /milvus/{name}": (["find sessions", "findAndModify clusters", "insert audit"], ["StartExecution"]),
    "step launch_instances (M5: master + 1 worker)": (
        [],
        ["DescribeInstances", "DescribeImages", "RunInstances", "RunInstances"],
    ),
    "step check_instances": ([], ["DescribeInstances"]),
    "step tag_resources": ([], ["DescribeInstances", "CreateTags", "CreateTags"]),
    "step associate_address": ([], ["AssociateAddress", "DescribeInstances"]),
    "step register_cluster": (["update clusters"], []),
    "step terminate_instances": ([], ["DescribeInstances", "TerminateInstances"]),
    "step release_network": ([], ["DescribeAddresses", "DisassociateAddress", "ReleaseAddress", "DeleteSecurityGroup"]),
    "step remove_cluster": (["find clusters", "insert cluster_history", "delete clusters"], []),
}


class Counts(monitoring.CommandListener):
    def __init__(self) -> None:
        self.mongo: list[str] = []
        self.aws: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        if name in {"ping", "hello", "isMaster", "ismaster", "endSessions", "buildInfo"}:
            return
        target = event.command.get(name)
        self.mongo.append(f"{'count' if name in ('aggregate', 'count') else name} {target}")

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def on_aws(self, model: Any, **_: Any) -> None:
        self.aws.append(model.name)

    def clear(self) -> None:
        self.mongo.clear()
        self.aws.clear()


@pytest.fixture
def counts(env: Env, aws: Aws) -> Iterator[Counts]:
    listener = Counts()
    monitoring.register(listener)  # applies to the clients made from now on: the caches are cleared below
    boto3.setup_default_session()
    boto3.DEFAULT_SESSION.events.register("before-call.*.*", listener.on_aws)  # type: ignore[union-attr]
    reset_caches()
    yield listener
    monitoring._LISTENERS.command_listeners.remove(listener)
    boto3.DEFAULT_SESSION = None
    reset_caches()


def measure(counts: Counts, action: Callable[[], Any]) -> tuple[list[str], list[str], Any]:
    counts.clear()
    result = action()
    return list(counts.mongo), list(counts.aws), result


def check(label: str, mongo: list[str], calls: list[str]) -> None:
    floor_mongo, floor_aws = FLOORS[label]
    assert Counter(mongo) == Counter(floor_mongo), f"{label}: MongoDB {mongo}"
    assert Counter(calls) == Counter(floor_aws), f"{label}: AWS {calls}"


def spec_event(record: dict[str, Any], **extra: Any) -> dict[str, Any]:
    keys = ("username", "milvus-name", "milvus-type", "disk-size", "security-group-id", "allocation-id")
    return {**{key: record[key] for key in keys}, **extra}


def test_every_route_and_step_meets_its_floor(
    env: Env, aws: Aws, machines: dict[str, str], counts: Counts, issue_token: Callable[..., str]
) -> None:
    token = issue_token(USER)
    call_api("list_clusters", token=token)  # warm: indexes are ensured once per container

    mongo, calls, _ = measure(counts, lambda: call_api("list_milvus_types"))
    check("GET /milvus-types", mongo, calls)

    mongo, calls, reply = measure(counts, lambda: call_api("create_cluster", body=create_body(token, USER, NAME)))
    assert reply.status == 202, reply.body
    check("POST /milvus", mongo, calls)

    record = clusters.get_cluster(USER, NAME) or {}
    mongo, calls, launch = measure(
        counts, lambda: invoke("launch_instances", spec_event(record, **{"launch-token": "a" * 32}))
    )
    check("step launch_instances (M5: master + 1 worker)", mongo, calls)
    state = spec_event(record, launch=launch)

    mongo, calls, _ = measure(
        counts,
        lambda: invoke("check_instances", {"instance-ids": launch["instance-ids"], "target": "running", "attempt": 0}),
    )
    check("step check_instances", mongo, calls)
    mongo, calls, _ = measure(counts, lambda: invoke("tag_resources", state))
    check("step tag_resources", mongo, calls)
    mongo, calls, network = measure(counts, lambda: invoke("associate_address", state))
    check("step associate_address", mongo, calls)
    mongo, calls, _ = measure(counts, lambda: invoke("register_cluster", {**state, "network": network}))
    check("step register_cluster", mongo, calls)

    path = {"milvus-name": NAME}
    for label, function_dir in (("GET /milvus/{name}", "get_cluster"), ("GET /milvus", "list_clusters")):
        mongo, calls, reply = measure(counts, lambda d=function_dir: call_api(d, token=token, path_params=path))
        assert reply.status == 200, reply.body
        check(label, mongo, calls)

    ranges = [{"source-ip": "115.236.166.154/32", "port-type": "milvus-port"}]
    body = {"session-token": token, "username": USER, "milvus-name": NAME, "ip-ranges": ranges}
    mongo, calls, reply = measure(counts, lambda: call_api("set_whitelist", body=body, path_params=path))
    assert reply.status == 200, reply.body
    check("PUT whitelist, one more entry", mongo, calls)
    mongo, calls, reply = measure(counts, lambda: call_api("set_whitelist", body=body, path_params=path))
    assert reply.status == 200, reply.body
    check("PUT whitelist, unchanged", mongo, calls)
    mongo, calls, reply = measure(counts, lambda: call_api("get_whitelist", token=token, path_params=path))
    assert reply.status == 200, reply.body
    check("GET whitelist", mongo, calls)

    action = {"session-token": token, "username": USER, "milvus-name": NAME}
    mongo, calls, reply = measure(counts, lambda: call_api("suspend_cluster", body=action, path_params=path))
    assert reply.status == 202, reply.body
    check("POST suspend", mongo, calls)
    clusters.update_cluster(USER, NAME, {"state": "suspended"})
    mongo, calls, reply = measure(counts, lambda: call_api("delete_cluster", body=action, path_params=path))
    assert reply.status == 202, reply.body
    check("DELETE /milvus/{name}", mongo, calls)

    mongo, calls, terminated = measure(counts, lambda: invoke("terminate_instances", state))
    check("step terminate_instances", mongo, calls)
    mongo, calls, _ = measure(counts, lambda: invoke("release_network", state))
    check("step release_network", mongo, calls)
    mongo, calls, _ = measure(counts, lambda: invoke("remove_cluster", state))
    check("step remove_cluster", mongo, calls)
    assert terminated["instance-ids"]
