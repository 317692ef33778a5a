"""The orphan sweep (logic/sweep.py), in process against moto and SecantusDB (issue 4, item 5).

Orphans of every kind are planted next to healthy clusters made by the real create path (create logic and
workflow steps): an instance, a detached volume, an Elastic IP and a cluster security group with no record;
a record whose instance has vanished; a record stuck in creating with no workflow; and an instance and an
address of a running cluster that its record does not list. The sweep must find exactly these, remove
nothing in a dry run, remove the removable ones with dry_run=False and no grace (and mark the stuck record
failed) while every healthy cluster stays as it was, and keep a freshly seen orphan during a grace period.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from milvus_cloud.dal import ec2
from milvus_cloud.dal.mongo import CLUSTERS, ORPHANS
from milvus_cloud.logic.create import create_cluster
from milvus_cloud.logic.sweep import find_orphans, sweep
from milvus_cloud.models import CreateClusterRequest
from tests.support import Aws, Env
from tests.unit.lambda_support import invoke

REMOVABLE = {"instance", "volume", "address", "security-group", "stuck-record"}
Finding = tuple[str, str, str | None]  # kind, resource id, cluster key


@dataclass
class World:
    expected: set[Finding]  # every orphan planted
    ids: dict[str, str]  # a name for each planted orphan -> its id
    healthy: dict[str, dict[str, list[str]]]  # cluster key -> its resources by kind


def tags(key: str, node_type: str | None = None) -> list[dict[str, str]]:
    username, milvus_name = key.split("/")
    return ec2.cluster_tags(username, milvus_name, f"milvus-{username}-{milvus_name}", node_type)


def create(username: str, name: str, milvus_type: str = "M5") -> dict[str, Any]:
    """The real create: record, address, group and the workflow's start; the execution's input."""
    from milvus_cloud.dal import aws as aws_dal

    create_cluster(
        username,
        CreateClusterRequest.model_validate(
            {"username": username, "milvus-name": name, "milvus-type": milvus_type, "disk-size": 50}
        ),
        None,
    )
    sfn = aws_dal.client("stepfunctions")
    machine = aws_dal.get_settings().create_state_machine_arn
    for execution in sfn.list_executions(stateMachineArn=machine)["executions"]:
        given = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
        if given["username"] == username and given["milvus-name"] == name:
            return dict(given)
    raise AssertionError("no execution")


def launch(state: dict[str, Any]) -> dict[str, Any]:
    return {**state, "launch": invoke("launch_instances", state)}


def run(username: str, name: str, milvus_type: str = "M5") -> dict[str, Any]:
    """A running cluster, through the create workflow's own steps."""
    state = launch(create(username, name, milvus_type))
    check = {"instance-ids": state["launch"]["instance-ids"], "target": "running", "attempt": 0}
    state["check"] = invoke("check_instances", check)
    invoke("tag_resources", state)
    state["network"] = invoke("associate_address", state)
    invoke("register_cluster", state)
    return state


def instance_ids(aws: Aws, key: str) -> list[str]:
    found = aws.ec2.describe_instances(
        Filters=[
            {"Name": "tag:milvus-username", "Values": [key]},
            {"Name": "instance-state-name", "Values": ec2.LIVE_STATES},
        ]
    )
    return sorted(i["InstanceId"] for r in found["Reservations"] for i in r["Instances"])


def resources_of(aws: Aws, key: str) -> dict[str, list[str]]:
    by_key = [{"Name": "tag:milvus-username", "Values": [key]}]
    return {
        "instances": instance_ids(aws, key),
        "volumes": sorted(v["VolumeId"] for v in aws.ec2.describe_volumes(Filters=by_key)["Volumes"]),
        "addresses": sorted(a["AllocationId"] for a in aws.ec2.describe_addresses(Filters=by_key)["Addresses"]),
        "groups": sorted(g["GroupId"] for g in aws.ec2.describe_security_groups(Filters=by_key)["SecurityGroups"]),
    }


def run_orphan_instance(aws: Aws, key: str) -> str:
    inst = aws.ec2.run_instances(
        ImageId=aws.image_id,
        MinCount=1,
        MaxCount=1,
        InstanceType="m5.xlarge",
        SubnetId=aws.subnet_id,
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "DeleteOnTermination": True}}],
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": tags(key, "master")},
            {"ResourceType": "volume", "Tags": tags(key, "master")},
        ],
    )["Instances"][0]
    return str(inst["InstanceId"])


@pytest.fixture
def world(env: Env, aws: Aws) -> World:
    # Healthy clusters: running (M5, two nodes), suspended (S1), creating with its workflow running, and a
    # failed one whose rollback left nothing.
    run("alice", "cats")
    run("dave", "paused", "S1")
    paused = instance_ids(aws, "dave/paused")
    aws.ec2.stop_instances(InstanceIds=paused)
    env.db[CLUSTERS].update_one({"username": "dave", "milvus-name": "paused"}, {"$set": {"state": "suspended"}})
    launch(create("erin", "fresh"))  # creating: its workflow is in charge of what it has made so far
    env.db[CLUSTERS].insert_one(
        {
            "username": "frank",
            "milvus-name": "gone",
            "state": "failed",
            "state-reason": "InsufficientInstanceCapacity",
            "instances": [],
            "milvus-type": "S1",
            "disk-size": 20,
        }
    )
    healthy = {key: resources_of(aws, key) for key in ("alice/cats", "dave/paused", "erin/fresh")}

    ids: dict[str, str] = {}
    # No record at all.
    ids["instance"] = run_orphan_instance(aws, "ghost/one")
    ids["volume"] = aws.ec2.create_volume(
        AvailabilityZone="us-east-1a",
        Size=50,
        VolumeType="gp3",
        Encrypted=True,
        TagSpecifications=[{"ResourceType": "volume", "Tags": tags("ghost/two", "worker")}],
    )["VolumeId"]
    ids["address"], _ = ec2.allocate_address(tags("ghost/three"))
    ids["group"] = ec2.create_security_group("sg-ghost-four", aws.vpc_id, tags("ghost/four"))
    # A record whose master has vanished (terminated behind the control plane's back).
    run("bob", "lost", "M5")
    bob = env.db[CLUSTERS].find_one({"username": "bob", "milvus-name": "lost"})
    assert bob is not None
    ids["vanished"] = next(i["instance-id"] for i in bob["instances"] if i["node-type"] == "master")
    aws.ec2.terminate_instances(InstanceIds=[ids["vanished"]])
    # A create interrupted after it allocated but before its workflow started: no execution-arn.
    create("carol", "stuck", "S1")
    env.db[CLUSTERS].update_one({"username": "carol", "milvus-name": "stuck"}, {"$unset": {"execution-arn": ""}})
    # A running cluster with an instance and an address its record does not list.
    ids["unlisted-instance"] = run_orphan_instance(aws, "alice/cats")
    ids["unlisted-address"], _ = ec2.allocate_address(tags("alice/cats"))

    expected: set[Finding] = {
        ("instance", ids["instance"], "ghost/one"),
        ("volume", ids["volume"], "ghost/two"),
        ("address", ids["address"], "ghost/three"),
        ("security-group", ids["group"], "ghost/four"),
        ("vanished-instance", ids["vanished"], "bob/lost"),
        ("stuck-record", "carol/stuck", "carol/stuck"),
        ("instance", ids["unlisted-instance"], "alice/cats"),
        ("address", ids["unlisted-address"], "alice/cats"),
    }
    return World(expected, ids, healthy)


def as_set(findings: list[dict[str, Any]]) -> set[Finding]:
    return {(f["kind"], f["resource_id"], f["cluster"]) for f in findings}


def state_of_aws(aws: Aws) -> dict[str, Any]:
    return {
        "instances": {
            i["InstanceId"]: i["State"]["Name"]
            for r in aws.ec2.describe_instances()["Reservations"]
            for i in r["Instances"]
        },
        "volumes": {v["VolumeId"]: v["State"] for v in aws.ec2.describe_volumes()["Volumes"]},
        "addresses": {a["AllocationId"]: a.get("InstanceId") for a in aws.ec2.describe_addresses()["Addresses"]},
        "groups": sorted(g["GroupId"] for g in aws.ec2.describe_security_groups()["SecurityGroups"]),
    }


def records(env: Env) -> dict[str, dict[str, Any]]:
    return {f"{d['username']}/{d['milvus-name']}": d for d in env.db[CLUSTERS].find({}, {"_id": False})}


def test_the_sweep_finds_every_kind_of_orphan_and_nothing_else(world: World) -> None:
    found = {(f.kind, f.resource_id, f.cluster) for f in find_orphans()}
    assert found == world.expected
    kinds = {kind for kind, _, _ in found}
    assert kinds == {"instance", "volume", "address", "security-group", "vanished-instance", "stuck-record"}


def test_a_dry_run_reports_and_removes_nothing(env: Env, aws: Aws, world: World) -> None:
    before_aws, before_records = state_of_aws(aws), records(env)

    report = sweep(dry_run=True, grace=timedelta(0))

    assert report["dry-run"] is True
    assert as_set(report["found"]) == world.expected
    assert report["removed"] == []
    assert as_set(report["kept"]) == world.expected
    assert state_of_aws(aws) == before_aws
    assert records(env) == before_records


def test_the_default_is_a_dry_run(env: Env, aws: Aws, world: World) -> None:
    """The first release reports only (SWEEP_DRY_RUN defaults to true), and the Lambda follows it."""
    before_aws, before_records = state_of_aws(aws), records(env)

    report = sweep(grace=timedelta(0))
    from_lambda = invoke("sweep_orphans", {})

    assert report["dry-run"] is True and report["removed"] == []
    assert from_lambda["dry-run"] is True and from_lambda["removed"] == []
    assert as_set(from_lambda["found"]) == world.expected
    assert state_of_aws(aws) == before_aws
    assert records(env) == before_records


def test_apply_without_grace_removes_the_orphans_and_nothing_else(env: Env, aws: Aws, world: World) -> None:
    before_records = records(env)
    ids = world.ids

    report = sweep(dry_run=False, grace=timedelta(0))

    assert report["dry-run"] is False
    removed = as_set(report["removed"])
    assert removed == {f for f in world.expected if f[0] in REMOVABLE}
    assert as_set(report["kept"]) == {f for f in world.expected if f[0] not in REMOVABLE}  # reported only
    after = state_of_aws(aws)
    assert after["instances"][ids["instance"]] in ("shutting-down", "terminated")
    assert after["instances"][ids["unlisted-instance"]] in ("shutting-down", "terminated")
    assert ids["volume"] not in after["volumes"]
    assert ids["address"] not in after["addresses"]
    assert ids["unlisted-address"] not in after["addresses"]
    assert ids["group"] not in after["groups"]
    stuck = records(env)["carol/stuck"]
    assert stuck["state"] == "failed" and stuck["state-reason"]
    # The healthy clusters: every resource still there, in the state it was; their records unchanged.
    for key, owned in world.healthy.items():
        assert resources_of(aws, key)["instances"] == sorted(
            i for i in owned["instances"] if i not in (ids["unlisted-instance"],)
        ), key
        for instance_id in owned["instances"]:
            assert after["instances"][instance_id] in ("running", "stopped", "pending"), key
        assert all(v in after["volumes"] for v in owned["volumes"]), key
        assert all(a in after["addresses"] for a in owned["addresses"]), key
        assert all(g in after["groups"] for g in owned["groups"]), key
    alice = before_records["alice/cats"]
    assert after["addresses"][alice["allocation-id"]] == next(
        i["instance-id"] for i in alice["instances"] if i["node-type"] == "master"
    )
    assert {i for i in world.healthy["dave/paused"]["instances"] if after["instances"][i] != "stopped"} == set()
    for key, record in records(env).items():
        if key != "carol/stuck":
            assert record == before_records[key], key
    assert env.db[ORPHANS].count_documents({"_id": {"$in": [f[1] for f in removed]}}) == 0

    # The next run: the vanished instance is still reported; the stuck create, now failed, leaves its
    # address and group to be swept; nothing else.
    carol = before_records["carol/stuck"]
    again = {(f.kind, f.resource_id, f.cluster) for f in find_orphans()}
    assert again == {
        ("vanished-instance", ids["vanished"], "bob/lost"),
        ("address", carol["allocation-id"], "carol/stuck"),
        ("security-group", carol["security-group-id"], "carol/stuck"),
    }
    sweep(dry_run=False, grace=timedelta(0))
    assert {f.kind for f in find_orphans()} == {"vanished-instance"}


def test_a_grace_period_keeps_a_freshly_seen_orphan(env: Env, aws: Aws, world: World) -> None:
    before_aws = state_of_aws(aws)

    first = sweep(dry_run=False, grace=timedelta(hours=1))

    assert first["removed"] == []
    assert as_set(first["kept"]) == world.expected
    assert state_of_aws(aws) == before_aws
    seen = {doc["_id"] for doc in env.db[ORPHANS].find()}
    assert seen == {f[1] for f in world.expected}
    # The address was first seen two hours ago: it is past the grace period now; the rest is not.
    env.db[ORPHANS].update_one(
        {"_id": world.ids["address"]}, {"$set": {"first-seen": datetime.now(UTC) - timedelta(hours=2)}}
    )

    second = sweep(dry_run=False, grace=timedelta(hours=1))

    assert as_set(second["removed"]) == {("address", world.ids["address"], "ghost/three")}
    after = state_of_aws(aws)
    assert world.ids["address"] not in after["addresses"]
    assert {k: v for k, v in after["addresses"].items()} == {
        k: v for k, v in before_aws["addresses"].items() if k != world.ids["address"]
    }
    assert after["instances"] == before_aws["instances"]
    assert after["volumes"] == before_aws["volumes"]
    assert after["groups"] == before_aws["groups"]


def test_an_orphan_that_is_accounted_for_again_is_forgotten(env: Env, aws: Aws, world: World) -> None:
    """first-seen is dropped once a resource stops being an orphan, so a later orphaning starts the clock."""
    sweep(dry_run=True, grace=timedelta(hours=1))
    assert env.db[ORPHANS].find_one({"_id": world.ids["unlisted-address"]}) is not None
    # The record now lists the extra address (as if an operator had repaired it).
    env.db[CLUSTERS].update_one(
        {"username": "alice", "milvus-name": "cats"}, {"$set": {"allocation-id": world.ids["unlisted-address"]}}
    )

    report = sweep(dry_run=True, grace=timedelta(hours=1))

    assert env.db[ORPHANS].find_one({"_id": world.ids["unlisted-address"]}) is None
    assert world.ids["unlisted-address"] not in {f["resource_id"] for f in report["found"]}
