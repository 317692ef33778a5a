"""The create workflow's steps, run in process against moto with the state the ASL hands each Task."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from milvus_cloud.dal.mongo import CLUSTERS
from milvus_cloud.errors import PermanentStepError, TransientStepError
from milvus_cloud.logic.create import create_cluster
from milvus_cloud.models import CreateClusterRequest
from tests.support import Aws, Env
from tests.unit.lambda_support import invoke, sample_event

TAG_KEYS = {"username", "milvus-name", "milvus-username", "node-type", "Name", "managed-by"}


def same_shape(sample: Any, actual: Any, path: str = "$") -> None:
    """The sample event has the keys (recursively) and value types the workflow really produces."""
    if isinstance(sample, dict) and not path.endswith(".states"):  # states are keyed by instance id
        assert isinstance(actual, dict), path
        assert set(sample) == set(actual), f"{path}: {sorted(sample)} != {sorted(actual)}"
        for key in sample:
            same_shape(sample[key], actual[key], f"{path}.{key}")
    elif isinstance(sample, list) and sample and actual:
        assert isinstance(actual, list), path
        same_shape(sample[0], actual[0], f"{path}[0]")
    elif sample is not None and actual is not None:
        assert type(sample) is type(actual), f"{path}: {type(sample).__name__} != {type(actual).__name__}"


def start(username: str = "alice", name: str = "cats", milvus_type: str = "M5", disk: int = 50) -> dict[str, Any]:
    """Create through the real create logic; the execution's input, as moto recorded it."""
    from milvus_cloud.dal import aws as aws_dal

    create_cluster(
        username,
        CreateClusterRequest.model_validate(
            {"username": username, "milvus-name": name, "milvus-type": milvus_type, "disk-size": disk}
        ),
        None,
    )
    sfn = aws_dal.client("stepfunctions")
    arn = sfn.list_executions(stateMachineArn=aws_dal.get_settings().create_state_machine_arn)["executions"][0]
    return dict(json.loads(sfn.describe_execution(executionArn=arn["executionArn"])["input"]))


def launch(state: dict[str, Any]) -> dict[str, Any]:
    same_shape(sample_event("launch_instances"), state)
    return {**state, "launch": invoke("launch_instances", state)}


def run_until_associated(state: dict[str, Any]) -> dict[str, Any]:
    """LaunchInstances -> CheckRunning -> TagResources -> AssociateAddress, as the ASL threads the state."""
    state = launch(state)
    check_input = {"instance-ids": state["launch"]["instance-ids"], "target": "running", "attempt": 0}
    same_shape(sample_event("check_instances"), check_input)
    state["check"] = invoke("check_instances", check_input)
    assert state["check"]["done"] is True
    same_shape(sample_event("tag_resources"), state)
    assert invoke("tag_resources", state) is None
    same_shape(sample_event("associate_address"), state)
    state["network"] = invoke("associate_address", state)
    same_shape(sample_event("register_cluster"), state)
    return state


def instances_of(aws: Aws, key: str, states: tuple[str, ...] = ("pending", "running")) -> list[dict[str, Any]]:
    pages = aws.ec2.describe_instances(
        Filters=[
            {"Name": "tag:milvus-username", "Values": [key]},
            {"Name": "instance-state-name", "Values": list(states)},
        ]
    )
    return [i for r in pages["Reservations"] for i in r["Instances"]]


def tags(resource: dict[str, Any]) -> dict[str, str]:
    """Tags of an instance or volume (Tags) or a network interface (TagSet)."""
    return {t["Key"]: t["Value"] for t in resource.get("Tags", resource.get("TagSet", []))}


def test_launch_creates_master_and_workers_as_the_contract_says(env: Env, aws: Aws) -> None:
    state = launch(start(disk=75))
    nodes = state["launch"]["nodes"]
    assert [n["node-type"] for n in nodes] == ["master", "worker"]
    assert state["launch"]["instance-ids"] == [n["instance-id"] for n in nodes]
    by_id = {i["InstanceId"]: i for i in instances_of(aws, "alice/cats")}
    assert set(by_id) == set(state["launch"]["instance-ids"])
    master_ip = by_id[nodes[0]["instance-id"]]["PrivateIpAddress"]
    for node in nodes:
        inst = by_id[node["instance-id"]]
        assert inst["InstanceType"] == "m5.2xlarge"
        assert inst["ImageId"] == aws.image_id
        assert inst["KeyName"] == aws.key_pair_name
        assert inst["SubnetId"] == aws.subnet_id
        assert inst["MetadataOptions"]["HttpTokens"] == "required"
        # The groups go on the primary interface (moto leaves the instance's own SecurityGroups list empty).
        [eni] = inst["NetworkInterfaces"]
        assert {g["GroupId"] for g in eni["Groups"]} == {aws.base_group_id, state["security-group-id"]}
        name = f"milvus-alice-cats-{'master' if node['node-type'] == 'master' else 'worker-1'}"
        expected_tags = {
            "username": "alice",
            "milvus-name": "cats",
            "milvus-username": "alice/cats",
            "node-type": node["node-type"],
            "Name": name,
            "managed-by": "milvus-cloud",
        }
        assert tags(inst) == expected_tags
        devices = {m["DeviceName"]: m["Ebs"] for m in inst["BlockDeviceMappings"]}
        assert "/dev/sdf" in devices and len(devices) == 2
        assert all(ebs["DeleteOnTermination"] for ebs in devices.values())
        volumes = aws.ec2.describe_volumes(VolumeIds=[ebs["VolumeId"] for ebs in devices.values()])["Volumes"]
        for volume in volumes:
            assert volume["Encrypted"] is True
            assert volume["VolumeType"] == "gp3"
            assert tags(volume) == expected_tags
        sizes = {v["Attachments"][0]["Device"]: v["Size"] for v in volumes}
        assert sizes["/dev/sdf"] == 75
        user_data = base64.b64decode(
            aws.ec2.describe_instance_attribute(InstanceId=inst["InstanceId"], Attribute="userData")["UserData"][
                "Value"
            ]
        ).decode()
        assert user_data.startswith("#!")
        if node["node-type"] == "worker":
            assert master_ip in user_data  # workers join the master by its private IP


@pytest.mark.parametrize(("milvus_type", "count"), [("S1", 1), ("M5-L", 4), ("G4", 2)])
def test_launch_follows_the_catalog(env: Env, aws: Aws, milvus_type: str, count: int) -> None:
    from milvus_cloud.catalog import find_type

    mtype = find_type(milvus_type)
    assert mtype is not None
    state = launch(start(milvus_type=milvus_type, disk=mtype.min_disk_size))
    launched = instances_of(aws, "alice/cats")
    assert len(launched) == len(state["launch"]["nodes"]) == count
    assert sorted(i["InstanceType"] for i in launched) == sorted(t for _, t in mtype.node_types())


def test_launching_twice_launches_nothing_more(env: Env, aws: Aws) -> None:
    state = launch(start())
    again = invoke("launch_instances", {k: v for k, v in state.items() if k != "launch"})
    assert again == state["launch"]
    assert len(instances_of(aws, "alice/cats")) == 2


def test_a_retried_launch_keeps_the_master_and_adds_the_missing_worker(
    env: Env, aws: Aws, aws_faults: Callable[..., None]
) -> None:
    state = start()
    aws_faults("RunInstances", "RequestLimitExceeded", times=1, skip=1)  # the master launches, the worker not
    with pytest.raises(TransientStepError, match="RequestLimitExceeded"):
        invoke("launch_instances", state)
    [master] = instances_of(aws, "alice/cats")
    result = invoke("launch_instances", state)
    assert result["nodes"][0]["instance-id"] == master["InstanceId"]
    assert len(instances_of(aws, "alice/cats")) == 2


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("RequestLimitExceeded", TransientStepError),
        ("InternalError", TransientStepError),
        ("InsufficientInstanceCapacity", PermanentStepError),
        ("UnauthorizedOperation", PermanentStepError),
    ],
)
def test_step_faults_are_sorted_into_retry_or_rollback(
    env: Env, aws: Aws, aws_faults: Callable[..., None], code: str, error: type[Exception]
) -> None:
    state = start()
    aws_faults("RunInstances", code)
    with pytest.raises(error, match=code):
        invoke("launch_instances", state)


def test_tag_step_tags_the_network_interfaces(env: Env, aws: Aws) -> None:
    state = run_until_associated(start())
    for node in state["launch"]["nodes"]:
        [inst] = aws.ec2.describe_instances(InstanceIds=[node["instance-id"]])["Reservations"][0]["Instances"]
        eni_ids = [eni["NetworkInterfaceId"] for eni in inst["NetworkInterfaces"]]
        assert eni_ids
        for eni in aws.ec2.describe_network_interfaces(NetworkInterfaceIds=eni_ids)["NetworkInterfaces"]:
            eni_tags = tags(eni)
            assert set(eni_tags) >= TAG_KEYS
            assert eni_tags["milvus-username"] == "alice/cats"
            assert eni_tags["node-type"] == node["node-type"]
            assert eni_tags["managed-by"] == "milvus-cloud"


def test_associate_gives_the_master_the_elastic_ip(env: Env, aws: Aws) -> None:
    state = run_until_associated(start())
    [address] = aws.ec2.describe_addresses(AllocationIds=[state["allocation-id"]])["Addresses"]
    master_id = state["launch"]["nodes"][0]["instance-id"]
    assert address["InstanceId"] == master_id
    master = aws.ec2.describe_instances(InstanceIds=[master_id])["Reservations"][0]["Instances"][0]
    assert master["PublicIpAddress"] == address["PublicIp"]
    network = state["network"]
    assert [set(i) for i in network["instances"]] == [
        {"node-type", "instance-id", "key-pair", "public-ip", "private-ip"}
    ] * 2
    assert network["instances"][0] == {
        "node-type": "master",
        "instance-id": master_id,
        "key-pair": aws.key_pair_name,
        "public-ip": address["PublicIp"],
        "private-ip": master["PrivateIpAddress"],
    }
    assert network["milvus-url"] == master["PublicDnsName"]


def test_register_makes_the_record_running(env: Env, aws: Aws) -> None:
    state = run_until_associated(start())
    assert invoke("register_cluster", state) is None
    doc = env.db[CLUSTERS].find_one({"username": "alice", "milvus-name": "cats"})
    assert doc is not None
    assert doc["state"] == "running"
    assert doc["state-reason"] is None
    assert doc["instances"] == state["network"]["instances"]
    assert doc["milvus-url"] == state["network"]["milvus-url"]


def test_register_does_not_revive_a_cluster_that_left_creating(env: Env, aws: Aws) -> None:
    state = run_until_associated(start())
    env.db[CLUSTERS].update_one({"milvus-name": "cats"}, {"$set": {"state": "deleting"}})
    invoke("register_cluster", state)
    assert env.db[CLUSTERS].find_one({"milvus-name": "cats"})["state"] == "deleting"


def test_check_instances_counts_attempts_and_gives_up(env: Env, aws: Aws) -> None:
    state = launch(start())
    ids = state["launch"]["instance-ids"]
    first = invoke("check_instances", {"instance-ids": ids, "target": "running", "attempt": 0})
    assert first["attempt"] == 1 and first["done"] is True
    assert set(first["states"]) == set(ids)
    env.set(MAX_POLL_ATTEMPTS=3)
    assert invoke("check_instances", {"instance-ids": ids, "target": "stopped", "attempt": 1})["done"] is False
    with pytest.raises(PermanentStepError, match="timed out"):
        invoke("check_instances", {"instance-ids": ids, "target": "stopped", "attempt": 2})


def test_a_lost_instance_while_starting_is_permanent(env: Env, aws: Aws) -> None:
    state = launch(start())
    aws.ec2.terminate_instances(InstanceIds=[state["launch"]["instance-ids"][1]])
    with pytest.raises(PermanentStepError):
        invoke("check_instances", {"instance-ids": state["launch"]["instance-ids"], "target": "running", "attempt": 0})


def rollback(state: dict[str, Any], *, like_samples: bool = True) -> dict[str, Any]:
    """TerminateInstances -> CheckTerminated -> ReleaseNetwork -> MarkFailed, as the ASL threads the state.

    The samples show a rollback after launch succeeded; like_samples=False for one that started earlier."""
    if like_samples:
        same_shape(sample_event("terminate_instances"), state)
    state = {**state, "terminated": invoke("terminate_instances", state)}
    state["check"] = invoke(
        "check_instances", {"instance-ids": state["terminated"]["instance-ids"], "target": "terminated", "attempt": 0}
    )
    assert state["check"]["done"] is True
    if like_samples:
        same_shape(sample_event("release_network"), state)
    assert invoke("release_network", state) is None
    if like_samples:
        same_shape(sample_event("mark_failed"), state)
    assert invoke("mark_failed", state) is None
    return state


def assert_nothing_left(aws: Aws, key: str) -> None:
    key_filter = [{"Name": "tag:milvus-username", "Values": [key]}]
    assert instances_of(aws, key, ("pending", "running", "stopping", "stopped", "shutting-down")) == []
    assert aws.ec2.describe_volumes(Filters=key_filter)["Volumes"] == []
    assert aws.ec2.describe_addresses(Filters=key_filter)["Addresses"] == []
    assert aws.ec2.describe_security_groups(Filters=key_filter)["SecurityGroups"] == []
    enis = aws.ec2.describe_network_interfaces(Filters=key_filter)["NetworkInterfaces"]
    assert enis == []


def test_rollback_after_associate_failed_leaves_nothing(env: Env, aws: Aws) -> None:
    state = run_until_associated(start())
    state.pop("network")
    error = {
        "Error": "PermanentStepError",
        "Cause": json.dumps({"errorType": "PermanentStepError", "errorMessage": "UnauthorizedOperation: no"}),
    }
    rollback({**state, "error": error})
    assert_nothing_left(aws, "alice/cats")
    doc = env.db[CLUSTERS].find_one({"milvus-name": "cats"})
    assert doc["state"] == "failed"
    assert doc["state-reason"] == "UnauthorizedOperation: no"


def test_rollback_is_safe_to_repeat_and_when_nothing_was_launched(env: Env, aws: Aws) -> None:
    state = start()  # the launch failed at once: no instance at all
    error = {"Error": "States.Timeout", "Cause": "the task timed out"}
    state = rollback({**state, "error": error}, like_samples=False)
    assert state["terminated"] == {"instance-ids": []}
    assert invoke("terminate_instances", state) == {"instance-ids": []}
    invoke("release_network", state)  # everything already gone: no error
    assert_nothing_left(aws, "alice/cats")
    assert env.db[CLUSTERS].find_one({"milvus-name": "cats"})["state-reason"] == "the task timed out"


def test_terminate_only_touches_this_clusters_instances(env: Env, aws: Aws) -> None:
    mine = launch(start(name="cats"))
    theirs_state = launch(start(username="bob", name="cats"))
    invoke("terminate_instances", mine)
    assert len(instances_of(aws, "bob/cats")) == len(theirs_state["launch"]["nodes"])
    assert instances_of(aws, "alice/cats") == []


def test_mark_failed_reports_an_incomplete_cleanup(env: Env, aws: Aws) -> None:
    start()
    invoke(
        "mark_failed",
        {
            "username": "alice",
            "milvus-name": "cats",
            "error": {"Error": "PermanentStepError", "Cause": json.dumps({"errorMessage": "NoCapacity"})},
            "rollback-error": {"Error": "TransientStepError", "Cause": json.dumps({"errorMessage": "Throttling"})},
        },
    )
    doc = env.db[CLUSTERS].find_one({"milvus-name": "cats"})
    assert doc["state"] == "failed"
    assert "NoCapacity" in doc["state-reason"] and "Throttling" in doc["state-reason"]
