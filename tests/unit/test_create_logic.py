"""Create: the rules checked before anything is written, and a clean undo when AWS fails part-way."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from milvus_cloud.dal import ec2
from milvus_cloud.dal.mongo import CLUSTERS
from milvus_cloud.errors import BadRequest, Conflict, QuotaExceeded
from milvus_cloud.logic.create import create_cluster
from milvus_cloud.models import CreateClusterRequest
from tests.support import Aws, Env


def request(name: str, milvus_type: str = "M5", disk: int = 50, username: str = "alice") -> CreateClusterRequest:
    return CreateClusterRequest.model_validate(
        {"username": username, "milvus-name": name, "milvus-type": milvus_type, "disk-size": disk}
    )


def create(username: str = "alice", name: str = "cats", **kwargs: Any) -> dict[str, Any]:
    return create_cluster(username, request(name, username=username, **kwargs), None)


def snapshot(env: Env, aws: Aws) -> dict[str, Any]:
    """What a refused request must leave exactly as it was."""
    sfn = aws.client("stepfunctions")
    return {
        "clusters": sorted((d["username"], d["milvus-name"]) for d in env.db[CLUSTERS].find()),
        "addresses": sorted(a["AllocationId"] for a in aws.ec2.describe_addresses()["Addresses"]),
        "groups": sorted(g["GroupId"] for g in aws.ec2.describe_security_groups()["SecurityGroups"]),
        "executions": len(sfn.list_executions(stateMachineArn=aws.state_machine_arn)["executions"]),
    }


def test_create_reserves_the_record_allocates_and_starts_the_workflow(env: Env, aws: Aws) -> None:
    answer = create(name="cats", disk=50)
    doc = env.db[CLUSTERS].find_one({"username": "alice", "milvus-name": "cats"})
    assert doc is not None
    [address] = aws.ec2.describe_addresses()["Addresses"]
    assert answer == {
        "status": "success",
        "milvus-name": "cats",
        "milvus-url": ec2.public_dns_name(address["PublicIp"], "us-east-1"),
        "milvus-port": "19530",
        "milvus-em-port": "19531",
        "state": "creating",
    }
    assert doc["state"] == "creating"
    assert doc["milvus-url"] == answer["milvus-url"]
    assert doc["milvus-type"] == "M5" and doc["disk-size"] == 50
    assert doc["subnet-id"] == aws.subnet_id
    assert doc["security-groups"] == [{"group-name": "sg-base"}, {"group-name": "sg-alice-cats"}]
    assert doc["instances"] == []
    assert doc["allocation-id"] == address["AllocationId"]
    [group] = aws.ec2.describe_security_groups(GroupNames=["sg-alice-cats"])["SecurityGroups"]
    assert doc["security-group-id"] == group["GroupId"]
    tags = {t["Key"]: t["Value"] for t in address["Tags"]}
    assert tags["milvus-username"] == "alice/cats" and tags["managed-by"] == "milvus-cloud"
    sfn = aws.client("stepfunctions")
    [execution] = sfn.list_executions(stateMachineArn=aws.state_machine_arn)["executions"]
    assert doc["execution-arn"] == execution["executionArn"]
    given = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert given == {
        "username": "alice",
        "milvus-name": "cats",
        "milvus-type": "M5",
        "disk-size": 50,
        "security-group-id": group["GroupId"],
        "allocation-id": address["AllocationId"],
        "launch-token": given["launch-token"],
    }
    assert len(given["launch-token"]) >= 20


def test_quota_is_reached_at_the_configured_limit(env: Env, aws: Aws) -> None:
    env.set(MAX_CLUSTERS_PER_USER=2)
    create(name="one")
    create(name="two")
    before = snapshot(env, aws)
    with pytest.raises(QuotaExceeded) as info:
        create(name="three")
    assert info.value.status_code == 429
    assert "2" in info.value.description
    assert snapshot(env, aws) == before
    create(username="bob", name="three")  # the quota is per user


def test_the_type_of_an_existing_cluster_cannot_change(env: Env, aws: Aws) -> None:
    create(name="cats", milvus_type="M5")
    before = snapshot(env, aws)
    with pytest.raises(Conflict) as info:
        create(name="cats", milvus_type="S1")
    assert info.value.status_code == 409
    assert info.value.code == "type-immutable"
    assert "M5" in info.value.description
    with pytest.raises(Conflict) as again:
        create(name="cats", milvus_type="M5")
    assert again.value.code != "type-immutable"
    assert snapshot(env, aws) == before
    assert env.db[CLUSTERS].find_one({"milvus-name": "cats"})["milvus-type"] == "M5"


def test_an_unknown_type_is_a_bad_request(env: Env, aws: Aws) -> None:
    before = snapshot(env, aws)
    with pytest.raises(BadRequest) as info:
        create(milvus_type="M7")
    assert info.value.status_code == 400
    assert "M5" in info.value.description  # it names the types there are
    assert snapshot(env, aws) == before


@pytest.mark.parametrize("milvus_type", ["S1", "M5", "G4"])
def test_disk_size_must_be_within_the_types_bounds(env: Env, aws: Aws, milvus_type: str) -> None:
    from milvus_cloud.catalog import find_type

    bounds = find_type(milvus_type)
    assert bounds is not None
    before = snapshot(env, aws)
    for disk in (bounds.min_disk_size - 1, bounds.max_disk_size + 1, 0, -1):
        with pytest.raises(BadRequest) as info:
            create(name="cats", milvus_type=milvus_type, disk=disk)
        assert info.value.status_code == 400
    assert snapshot(env, aws) == before
    create(name="smallest", milvus_type=milvus_type, disk=bounds.min_disk_size)
    create(name="largest", milvus_type=milvus_type, disk=bounds.max_disk_size)


def assert_nothing_left(env: Env, aws: Aws, before: dict[str, Any]) -> None:
    assert snapshot(env, aws)["clusters"] == before["clusters"]
    assert snapshot(env, aws)["addresses"] == before["addresses"]
    assert snapshot(env, aws)["groups"] == before["groups"]
    assert not aws.ec2.describe_addresses(Filters=[{"Name": "tag:milvus-username", "Values": ["alice/cats"]}])[
        "Addresses"
    ]
    groups = aws.ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["sg-alice-cats"]}])
    assert groups["SecurityGroups"] == []


def test_a_workflow_that_cannot_start_leaves_nothing(env: Env, aws: Aws) -> None:
    """StartExecution fails after the record, the address and the group exist: all three are undone."""
    before = snapshot(env, aws)
    env.set(CREATE_STATE_MACHINE_ARN=aws.state_machine_arn.replace("CreateClusterStateMachine", "Missing"))
    with pytest.raises(ClientError):
        create(name="cats")
    assert_nothing_left(env, aws, before)
    env.set(CREATE_STATE_MACHINE_ARN=aws.state_machine_arn)
    create(name="cats")  # the name is free again


@pytest.mark.parametrize(
    ("operation", "code"),
    [
        ("AllocateAddress", "AddressLimitExceeded"),
        ("CreateSecurityGroup", "RulesPerSecurityGroupLimitExceeded"),
        ("AuthorizeSecurityGroupIngress", "UnauthorizedOperation"),
        ("StartExecution", "ExecutionLimitExceeded"),
    ],
)
def test_an_aws_fault_after_the_record_is_reserved_leaves_nothing(
    env: Env, aws: Aws, aws_faults: Callable[..., None], operation: str, code: str
) -> None:
    before = snapshot(env, aws)
    aws_faults(operation, code)
    with pytest.raises(ClientError, match=code):
        create(name="cats")
    assert_nothing_left(env, aws, before)
    create(name="cats")
