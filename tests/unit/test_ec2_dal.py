"""EC2 helpers against moto: tags, DNS names, the cluster's security group, cleanup that tolerates the gone."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from botocore.exceptions import ClientError

from milvus_cloud.dal import ec2
from tests.support import Aws

TAG_KEYS = {"username", "milvus-name", "milvus-username", "Name", "managed-by"}


def as_dict(tags: list[dict[str, str]]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags}


def test_cluster_tags() -> None:
    tags = as_dict(ec2.cluster_tags("alice", "cats", "milvus-alice-cats-master", "master"))
    assert tags == {
        "username": "alice",
        "milvus-name": "cats",
        "milvus-username": "alice/cats",
        "Name": "milvus-alice-cats-master",
        "managed-by": "milvus-cloud",
        "node-type": "master",
    }
    assert set(as_dict(ec2.cluster_tags("alice", "cats", "sg-alice-cats"))) == TAG_KEYS  # no node-type


def test_security_group_name() -> None:
    assert ec2.security_group_name("milvus-test", "search-cats") == "sg-milvus-test-search-cats"


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("us-east-1", "ec2-52-82-52-246.compute-1.amazonaws.com"),
        ("eu-west-1", "ec2-52-82-52-246.eu-west-1.compute.amazonaws.com"),
        ("us-west-2", "ec2-52-82-52-246.us-west-2.compute.amazonaws.com"),
        ("cn-northwest-1", "ec2-52-82-52-246.cn-northwest-1.compute.amazonaws.com.cn"),
        ("cn-north-1", "ec2-52-82-52-246.cn-north-1.compute.amazonaws.com.cn"),
    ],
)
def test_public_dns_name_follows_ec2s_rule(region: str, expected: str) -> None:
    assert ec2.public_dns_name("52.82.52.246", region) == expected


def test_allocate_address_is_tagged_at_creation(aws: Aws) -> None:
    tags = ec2.cluster_tags("alice", "cats", "milvus-alice-cats")
    allocation_id, public_ip = ec2.allocate_address(tags)
    [address] = aws.ec2.describe_addresses(AllocationIds=[allocation_id])["Addresses"]
    assert address["PublicIp"] == public_ip
    assert address["Domain"] == "vpc"
    assert as_dict(address["Tags"]) == as_dict(tags)


def test_cluster_group_talks_to_itself_and_has_no_cidr_rule(aws: Aws) -> None:
    tags = ec2.cluster_tags("alice", "cats", "sg-alice-cats")
    group_id = ec2.create_security_group("sg-alice-cats", aws.vpc_id, tags)
    [fresh] = aws.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    assert fresh["IpPermissions"] == []  # it starts with no rule at all
    ec2.allow_cluster_traffic(group_id)
    [group] = aws.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    assert group["GroupName"] == "sg-alice-cats"
    assert group["VpcId"] == aws.vpc_id
    assert as_dict(group["Tags"]) == as_dict(tags)
    rules = aws.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])[
        "SecurityGroupRules"
    ]
    ingress = [r for r in rules if not r["IsEgress"]]
    assert len(ingress) == 1
    [rule] = ingress
    assert rule["ReferencedGroupInfo"]["GroupId"] == group_id
    assert rule["IpProtocol"] == "-1"
    for r in ingress:
        assert not r.get("CidrIpv4") and not r.get("CidrIpv6") and not r.get("PrefixListId")
    assert group["IpPermissions"][0]["IpRanges"] == []
    # sg-base keeps only its own rule: a self-reference there would join every user's instances.
    [base] = aws.ec2.describe_security_groups(GroupIds=[aws.base_group_id])["SecurityGroups"]
    assert all(not p["UserIdGroupPairs"] for p in base["IpPermissions"])


def test_release_address_disassociates_and_tolerates_already_gone(aws: Aws) -> None:
    allocation_id, _ = ec2.allocate_address(ec2.cluster_tags("alice", "cats", "x"))
    instance = aws.ec2.run_instances(
        ImageId=aws.image_id, MinCount=1, MaxCount=1, SubnetId=aws.subnet_id, InstanceType="m5.large"
    )["Instances"][0]
    ec2.associate_address(allocation_id, instance["InstanceId"])
    [address] = aws.ec2.describe_addresses(AllocationIds=[allocation_id])["Addresses"]
    assert address["InstanceId"] == instance["InstanceId"]
    ec2.release_address(allocation_id)
    assert aws.ec2.describe_addresses()["Addresses"] == []
    ec2.release_address(allocation_id)  # already gone: no error
    ec2.release_address("eipalloc-0123456789abcdef0")


def test_delete_security_group_tolerates_already_gone(aws: Aws) -> None:
    group_id = ec2.create_security_group("sg-alice-cats", aws.vpc_id, ec2.cluster_tags("alice", "cats", "sg"))
    ec2.delete_security_group(group_id)
    names = [g["GroupName"] for g in aws.ec2.describe_security_groups()["SecurityGroups"]]
    assert "sg-alice-cats" not in names
    ec2.delete_security_group(group_id)
    ec2.delete_security_group("sg-0123456789abcdef0")


def test_other_ec2_errors_still_raise(aws: Aws, aws_faults: Callable[..., None]) -> None:
    allocation_id, _ = ec2.allocate_address(ec2.cluster_tags("alice", "cats", "x"))
    group_id = ec2.create_security_group("sg-alice-cats", aws.vpc_id, ec2.cluster_tags("alice", "cats", "sg"))
    aws_faults("ReleaseAddress", "UnauthorizedOperation")
    aws_faults("DeleteSecurityGroup", "DependencyViolation")
    with pytest.raises(ClientError, match="UnauthorizedOperation"):
        ec2.release_address(allocation_id)
    with pytest.raises(ClientError, match="DependencyViolation"):
        ec2.delete_security_group(group_id)
    with pytest.raises(ClientError):
        ec2.associate_address("eipalloc-0123456789abcdef0", "i-0123456789abcdef0")
    # the faults were one-offs: the retry succeeds
    ec2.release_address(allocation_id)
    ec2.delete_security_group(group_id)
    assert aws.ec2.describe_addresses()["Addresses"] == []


def test_find_cluster_instances_by_tag_and_state(aws: Aws) -> None:
    def launch(username: str, name: str) -> str:
        return aws.ec2.run_instances(
            ImageId=aws.image_id,
            MinCount=1,
            MaxCount=1,
            SubnetId=aws.subnet_id,
            TagSpecifications=[{"ResourceType": "instance", "Tags": ec2.cluster_tags(username, name, "n")}],
        )["Instances"][0]["InstanceId"]

    mine = [launch("alice", "cats"), launch("alice", "cats")]
    launch("alice", "dogs")
    launch("alice-cats", "x")  # another key entirely
    assert sorted(i["InstanceId"] for i in ec2.find_cluster_instances("alice/cats")) == sorted(mine)
    ec2.terminate_instances([mine[0]])
    assert [i["InstanceId"] for i in ec2.find_cluster_instances("alice/cats")] == [mine[1]]
    ec2.terminate_instances([])  # nothing to do, no call
    assert ec2.describe_instances([]) == []


def test_root_device_name_comes_from_the_image(aws: Aws) -> None:
    expected = aws.ec2.describe_images(ImageIds=[aws.image_id])["Images"][0]["RootDeviceName"]
    assert ec2.root_device_name(aws.image_id) == expected
