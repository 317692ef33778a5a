"""EC2 helpers. Every resource is tagged at creation, so nothing billable ever exists untagged."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from botocore.exceptions import ClientError

from milvus_cloud.dal.aws import client, error_code

MANAGED_BY = "milvus-cloud"
LIVE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]
Tags = list[dict[str, str]]


def cluster_tags(username: str, milvus_name: str, name: str, node_type: str | None = None) -> Tags:
    tags = {
        "username": username,
        "milvus-name": milvus_name,
        "milvus-username": f"{username}/{milvus_name}",
        "Name": name,
        "managed-by": MANAGED_BY,
    }
    if node_type:
        tags["node-type"] = node_type
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def security_group_name(username: str, milvus_name: str) -> str:
    return f"sg-{username}-{milvus_name}"


def public_dns_name(public_ip: str, region: str) -> str:
    """EC2's public DNS rule for a region (used until the instance reports its own)."""
    host = "ec2-" + public_ip.replace(".", "-")
    if region == "us-east-1":
        return f"{host}.compute-1.amazonaws.com"
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{host}.{region}.compute.{suffix}"


def allocate_address(tags: Tags) -> tuple[str, str]:
    resp = client("ec2").allocate_address(
        Domain="vpc", TagSpecifications=[{"ResourceType": "elastic-ip", "Tags": tags}]
    )
    return resp["AllocationId"], resp["PublicIp"]


def create_security_group(group_name: str, vpc_id: str, tags: Tags) -> str:
    """The cluster's own group: it starts with no whitelist rule."""
    resp = client("ec2").create_security_group(
        GroupName=group_name,
        Description="milvus-cloud cluster whitelist",
        VpcId=vpc_id,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}],
    )
    return str(resp["GroupId"])


def allow_cluster_traffic(group_id: str) -> None:
    """Let the cluster's own instances talk to each other: a rule that references the group itself."""
    client("ec2").authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {
                "IpProtocol": "-1",
                "UserIdGroupPairs": [{"GroupId": group_id, "Description": "cluster nodes talk to each other"}],
            }
        ],
    )


def find_cluster_instances(cluster_key: str, states: Iterable[str] = LIVE_STATES) -> list[dict[str, Any]]:
    pages = (
        client("ec2")
        .get_paginator("describe_instances")
        .paginate(
            Filters=[
                {"Name": "tag:milvus-username", "Values": [cluster_key]},
                {"Name": "tag:managed-by", "Values": [MANAGED_BY]},
                {"Name": "instance-state-name", "Values": list(states)},
            ]
        )
    )
    return [inst for page in pages for res in page["Reservations"] for inst in res["Instances"]]


def describe_instances(instance_ids: list[str]) -> list[dict[str, Any]]:
    if not instance_ids:
        return []
    resp = client("ec2").describe_instances(InstanceIds=instance_ids)
    return [inst for res in resp["Reservations"] for inst in res["Instances"]]


@cache  # an AMI's root device never changes: one lookup per image per container
def root_device_name(image_id: str) -> str:
    images = client("ec2").describe_images(ImageIds=[image_id])["Images"]
    if not images:
        raise ValueError(f"image {image_id} not found")
    return str(images[0].get("RootDeviceName", "/dev/xvda"))


def run_instance(**params: Any) -> dict[str, Any]:
    return dict(client("ec2").run_instances(MinCount=1, MaxCount=1, **params)["Instances"][0])


def create_tags(resource_ids: list[str], tags: Tags) -> None:
    if resource_ids:
        client("ec2").create_tags(Resources=resource_ids, Tags=tags)


def associate_address(allocation_id: str, instance_id: str) -> None:
    client("ec2").associate_address(AllocationId=allocation_id, InstanceId=instance_id, AllowReassociation=True)


def terminate_instances(instance_ids: list[str]) -> None:
    if instance_ids:
        client("ec2").terminate_instances(InstanceIds=instance_ids)


def stop_instances(instance_ids: list[str]) -> None:
    if instance_ids:
        client("ec2").stop_instances(InstanceIds=instance_ids)


def start_instances(instance_ids: list[str]) -> None:
    if instance_ids:
        client("ec2").start_instances(InstanceIds=instance_ids)


def release_address(allocation_id: str) -> None:
    """Disassociate (if needed) and release; an address already gone counts as released."""
    ec2 = client("ec2")
    try:
        addresses = ec2.describe_addresses(AllocationIds=[allocation_id])["Addresses"]
        for address in addresses:
            if address.get("AssociationId"):
                ec2.disassociate_address(AssociationId=address["AssociationId"])
        ec2.release_address(AllocationId=allocation_id)
    except ClientError as exc:
        if error_code(exc) not in {"InvalidAllocationID.NotFound", "InvalidAddress.NotFound"}:
            raise


def delete_security_group(group_id: str) -> None:
    """Delete the cluster's group; one already gone counts as deleted."""
    try:
        client("ec2").delete_security_group(GroupId=group_id)
    except ClientError as exc:
        if error_code(exc) not in {"InvalidGroup.NotFound", "InvalidGroupId.NotFound"}:
            raise


def whitelist_rules(group_id: str, ports: set[int]) -> list[dict[str, Any]]:
    """The group's CIDR ingress rules on the given ports (the whitelist as AWS holds it)."""
    pages = (
        client("ec2")
        .get_paginator("describe_security_group_rules")
        .paginate(Filters=[{"Name": "group-id", "Values": [group_id]}])
    )
    return [
        rule
        for page in pages
        for rule in page["SecurityGroupRules"]
        if not rule["IsEgress"] and rule.get("CidrIpv4") and rule.get("FromPort") in ports
    ]


def _cidr_permissions(rules: list[tuple[str, int, str | None]]) -> list[dict[str, Any]]:
    permissions = []
    for cidr, port, description in rules:
        ip_range = {"CidrIp": cidr, **({"Description": description} if description else {})}
        permissions.append({"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [ip_range]})
    return permissions


def authorize_cidr_rules(group_id: str, rules: list[tuple[str, int, str | None]]) -> None:
    if rules:
        client("ec2").authorize_security_group_ingress(GroupId=group_id, IpPermissions=_cidr_permissions(rules))


def update_rule_descriptions(group_id: str, rules: list[tuple[str, int, str | None]]) -> None:
    """Set new descriptions on existing rules, in place."""
    if rules:
        client("ec2").update_security_group_rule_descriptions_ingress(
            GroupId=group_id, IpPermissions=_cidr_permissions(rules)
        )


def revoke_rules(group_id: str, rule_ids: list[str]) -> None:
    if rule_ids:
        client("ec2").revoke_security_group_ingress(GroupId=group_id, SecurityGroupRuleIds=rule_ids)


def _managed_filter() -> list[dict[str, Any]]:
    return [{"Name": "tag:managed-by", "Values": [MANAGED_BY]}]


def managed_instances() -> list[dict[str, Any]]:
    pages = (
        client("ec2")
        .get_paginator("describe_instances")
        .paginate(Filters=[*_managed_filter(), {"Name": "instance-state-name", "Values": LIVE_STATES}])
    )
    return [inst for page in pages for res in page["Reservations"] for inst in res["Instances"]]


def managed_volumes() -> list[dict[str, Any]]:
    pages = client("ec2").get_paginator("describe_volumes").paginate(Filters=_managed_filter())
    return [vol for page in pages for vol in page["Volumes"]]


def managed_addresses() -> list[dict[str, Any]]:
    return list(client("ec2").describe_addresses(Filters=_managed_filter())["Addresses"])


def managed_security_groups() -> list[dict[str, Any]]:
    pages = client("ec2").get_paginator("describe_security_groups").paginate(Filters=_managed_filter())
    return [group for page in pages for group in page["SecurityGroups"]]


def delete_volume(volume_id: str) -> None:
    try:
        client("ec2").delete_volume(VolumeId=volume_id)
    except ClientError as exc:
        if error_code(exc) != "InvalidVolume.NotFound":
            raise


def tag_value(resource: dict[str, Any], key: str) -> str | None:
    return next((t["Value"] for t in resource.get("Tags", []) if t["Key"] == key), None)
