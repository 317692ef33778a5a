"""Create over HTTP on the local stack: the answer, the workflow to running, and the truth in MongoDB and moto."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from tests.e2e.conftest import Stack

ORIGINAL_FIELDS = {
    "username",
    "milvus-name",
    "milvus-url",
    "milvus-port",
    "milvus-em-port",
    "milvus-type",
    "subnet-id",
    "security-groups",
    "instances",
}
TAG_KEYS = {"username", "milvus-name", "milvus-username", "Name", "managed-by"}


class Created:
    def __init__(self, stack: Stack, username: str, name: str, token: str, disk: int):
        self.username, self.name, self.token, self.disk = username, name, token, disk
        self.reply = stack.create(token, username, name, "M5", disk)
        self.answer: dict[str, Any] = self.reply.json()
        self.final = stack.wait_for(token, name) if self.reply.status_code == 202 else {}
        self.record = stack.record(username, name) or {}
        self.key = f"{username}/{name}"
        self.instances = stack.instances([{"Name": "tag:milvus-username", "Values": [self.key]}])


@pytest.fixture(scope="module")
def created(stack: Stack) -> Iterator[Created]:
    """One M5 cluster created over HTTP and run to its end; the tests below read it from every side."""
    username = f"e2e-{uuid.uuid4().hex[:10]}"
    cluster = Created(stack, username, "search-cats", stack.token(username), 64)
    yield cluster
    stack.settle(username)


def eip_dns(ip: str) -> str:
    """EC2's public DNS rule in us-east-1, the local stack's region."""
    return f"ec2-{ip.replace('.', '-')}.compute-1.amazonaws.com"


def tags(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", resource.get("TagSet", []))}


def stack_subnet_and_base_group(stack: Stack) -> tuple[str, str]:
    [vpc] = stack.ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["false"]}])["Vpcs"]
    [subnet] = stack.ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]
    [base] = stack.ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}, {"Name": "group-name", "Values": ["sg-base"]}]
    )["SecurityGroups"]
    return subnet["SubnetId"], base["GroupId"]


def the_address(stack: Stack, created: Created) -> dict[str, Any]:
    [address] = stack.ec2.describe_addresses(Filters=[{"Name": "tag:milvus-username", "Values": [created.key]}])[
        "Addresses"
    ]
    return address


def test_create_answers_202_with_exactly_the_contracts_keys(stack: Stack, created: Created) -> None:
    assert created.reply.status_code == 202, created.reply.text
    assert set(created.answer) == {"status", "milvus-name", "milvus-url", "milvus-port", "milvus-em-port", "state"}
    assert created.answer["status"] == "success"
    assert created.answer["milvus-name"] == "search-cats"
    assert created.answer["milvus-port"] == "19530"
    assert created.answer["milvus-em-port"] == "19531"
    assert created.answer["state"] == "creating"
    assert re.fullmatch(r"ec2-\d+-\d+-\d+-\d+\.compute-1\.amazonaws\.com", created.answer["milvus-url"])
    assert created.answer["milvus-url"] == eip_dns(the_address(stack, created)["PublicIp"])


def test_the_cluster_becomes_running(created: Created) -> None:
    assert created.final["state"] == "running", created.final
    assert created.final["state-reason"] is None
    assert [i["node-type"] for i in created.final["instances"]] == ["master", "worker"]


def test_the_record_holds_the_original_fields_exactly(stack: Stack, created: Created) -> None:
    doc = created.record
    assert set(doc) >= ORIGINAL_FIELDS
    subnet_id, _ = stack_subnet_and_base_group(stack)
    master, worker = doc["instances"]
    assert doc["username"] == created.username
    assert doc["milvus-name"] == "search-cats"
    assert doc["milvus-port"] == "19530" and doc["milvus-em-port"] == "19531"
    assert doc["milvus-type"] == "M5"
    assert doc["subnet-id"] == subnet_id
    assert doc["security-groups"] == [
        {"group-name": "sg-base"},
        {"group-name": f"sg-{created.username}-search-cats"},
    ]
    by_id = {i["InstanceId"]: i for i in created.instances}
    for item, node_type in ((master, "master"), (worker, "worker")):
        assert set(item) == {"node-type", "instance-id", "key-pair", "public-ip", "private-ip"}
        assert item["node-type"] == node_type
        inst = by_id[item["instance-id"]]
        assert item["key-pair"] == inst["KeyName"] == "milvus-cloud-local"
        assert item["public-ip"] == inst["PublicIpAddress"]
        assert item["private-ip"] == inst["PrivateIpAddress"]
    assert doc["milvus-url"] == by_id[master["instance-id"]]["PublicDnsName"]
    assert doc["milvus-url"] == eip_dns(the_address(stack, created)["PublicIp"])


def test_the_record_keeps_state_and_what_cleanup_needs(stack: Stack, created: Created) -> None:
    doc = created.record
    assert doc["disk-size"] == 64
    assert doc["state"] == "running"
    created_at = datetime.fromisoformat(doc["created-at"])
    assert datetime.fromisoformat(doc["updated-at"]) >= created_at
    assert doc["allocation-id"] == the_address(stack, created)["AllocationId"]
    [group] = stack.ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [f"sg-{created.username}-search-cats"]}]
    )["SecurityGroups"]
    assert doc["security-group-id"] == group["GroupId"]
    execution = stack.sfn.describe_execution(executionArn=doc["execution-arn"])
    assert execution["status"] == "SUCCEEDED"


def test_describe_shows_the_running_cluster(stack: Stack, created: Created) -> None:
    body = created.final
    assert body["status"] == "success"
    for key in ORIGINAL_FIELDS:
        assert body[key] == created.record[key], key
    assert body["disk-size"] == 64


def test_instances_use_the_stacks_subnet_both_groups_and_imdsv2(stack: Stack, created: Created) -> None:
    subnet_id, base_id = stack_subnet_and_base_group(stack)
    assert len(created.instances) == 2
    for inst in created.instances:
        assert inst["SubnetId"] == subnet_id
        assert inst["InstanceType"] == "m5.2xlarge"
        assert inst["MetadataOptions"]["HttpTokens"] == "required"
        [eni] = inst["NetworkInterfaces"]  # the groups are the primary interface's
        assert {g["GroupId"] for g in eni["Groups"]} == {base_id, created.record["security-group-id"]}


def test_instances_volumes_and_interfaces_carry_the_tags(stack: Stack, created: Created) -> None:
    for inst in created.instances:
        node_type = tags(inst)["node-type"]
        expected = {
            "username": created.username,
            "milvus-name": "search-cats",
            "milvus-username": created.key,
            "node-type": node_type,
            "managed-by": "milvus-cloud",
        }
        assert tags(inst).items() >= expected.items()
        assert tags(inst)["Name"]
        volume_ids = [m["Ebs"]["VolumeId"] for m in inst["BlockDeviceMappings"]]
        for volume in stack.ec2.describe_volumes(VolumeIds=volume_ids)["Volumes"]:
            assert tags(volume).items() >= expected.items()
        eni_ids = [n["NetworkInterfaceId"] for n in inst["NetworkInterfaces"]]
        for eni in stack.ec2.describe_network_interfaces(NetworkInterfaceIds=eni_ids)["NetworkInterfaces"]:
            assert tags(eni).items() >= expected.items()
    assert {tags(i)["node-type"] for i in created.instances} == {"master", "worker"}
    address_tags = tags(the_address(stack, created))
    assert set(address_tags) >= TAG_KEYS and address_tags["milvus-username"] == created.key


def test_volumes_are_encrypted_gp3_with_a_data_volume_of_disk_size(stack: Stack, created: Created) -> None:
    for inst in created.instances:
        mappings = {m["DeviceName"]: m["Ebs"] for m in inst["BlockDeviceMappings"]}
        assert "/dev/sdf" in mappings and len(mappings) == 2
        assert all(ebs["DeleteOnTermination"] for ebs in mappings.values())
        volumes = stack.ec2.describe_volumes(VolumeIds=[ebs["VolumeId"] for ebs in mappings.values()])["Volumes"]
        assert all(v["Encrypted"] is True and v["VolumeType"] == "gp3" for v in volumes)
        [data] = [v for v in volumes if v["VolumeId"] == mappings["/dev/sdf"]["VolumeId"]]
        assert data["Size"] == created.disk == 64


def test_the_master_holds_the_elastic_ip(stack: Stack, created: Created) -> None:
    address = the_address(stack, created)
    [master] = [i for i in created.instances if tags(i)["node-type"] == "master"]
    assert address["InstanceId"] == master["InstanceId"]
    assert master["PublicIpAddress"] == address["PublicIp"]
    assert created.record["instances"][0]["public-ip"] == address["PublicIp"]


def test_nothing_is_reachable_before_a_whitelist(stack: Stack, created: Created) -> None:
    [group] = stack.ec2.describe_security_groups(GroupIds=[created.record["security-group-id"]])["SecurityGroups"]
    assert set(tags(group)) >= TAG_KEYS
    for permission in group["IpPermissions"]:
        assert permission["IpRanges"] == [] and permission.get("Ipv6Ranges", []) == []
        assert permission.get("PrefixListIds", []) == []
    assert [pair["GroupId"] for p in group["IpPermissions"] for pair in p["UserIdGroupPairs"]] == [group["GroupId"]]
