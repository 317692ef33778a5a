"""Workflow steps on running instances, EC2 only and free of pydantic: poll, tag, associate, describe."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from milvus_cloud.dal import ec2
from milvus_cloud.dal.aws import error_code
from milvus_cloud.errors import PermanentStepError
from milvus_cloud.settings import get_settings
from milvus_cloud.spec import ClusterSpec


def check_instances(instance_ids: list[str], target: str, attempt: int) -> dict[str, Any]:
    """One poll: are all instances in the target state? Bounded by MAX_POLL_ATTEMPTS."""
    if target == "terminated":
        states = {inst["InstanceId"]: inst["State"]["Name"] for inst in _still_there(instance_ids)}
        done = not states
    else:
        states = {inst["InstanceId"]: inst["State"]["Name"] for inst in ec2.describe_instances(instance_ids)}
        done = all(state == target for state in states.values())
    if target == "running":
        lost = [iid for iid, state in states.items() if state in ("shutting-down", "terminated")]
        if lost:
            raise PermanentStepError(f"instance {lost[0]} stopped unexpectedly while starting")
    if not done and attempt + 1 >= get_settings().max_poll_attempts:
        raise PermanentStepError(f"timed out waiting for the instances to be {target}")
    return {"attempt": attempt + 1, "done": done, "states": states}


def _still_there(instance_ids: list[str]) -> list[dict[str, Any]]:
    """Instances not yet terminated; one AWS no longer knows counts as terminated."""
    try:
        found = ec2.describe_instances(instance_ids)
    except ClientError as exc:
        if error_code(exc) != "InvalidInstanceID.NotFound":
            raise
        found = [inst for iid in instance_ids for inst in _describe_if_known(iid)]
    return [inst for inst in found if inst["State"]["Name"] != "terminated"]


def _describe_if_known(instance_id: str) -> list[dict[str, Any]]:
    try:
        return ec2.describe_instances([instance_id])
    except ClientError as exc:
        if error_code(exc) != "InvalidInstanceID.NotFound":
            raise
        return []


def tag_resources(spec: ClusterSpec, nodes: list[dict[str, str]]) -> None:
    """Tag what launch could not: the network interfaces (and volumes again, harmlessly)."""
    by_id = {node["instance-id"]: node for node in nodes}
    for inst in ec2.describe_instances(list(by_id)):
        node_type = by_id[inst["InstanceId"]]["node-type"]
        name = next((t["Value"] for t in inst.get("Tags", []) if t["Key"] == "Name"), inst["InstanceId"])
        resources = [eni["NetworkInterfaceId"] for eni in inst.get("NetworkInterfaces", [])]
        resources += [bdm["Ebs"]["VolumeId"] for bdm in inst.get("BlockDeviceMappings", []) if "Ebs" in bdm]
        ec2.create_tags(resources, ec2.cluster_tags(spec.username, spec.milvus_name, name, node_type))


def associate_address(spec: ClusterSpec, nodes: list[dict[str, str]]) -> dict[str, Any]:
    """Give the master the cluster's Elastic IP; return the instances as the record holds them."""
    master = next(node for node in nodes if node["node-type"] == "master")
    ec2.associate_address(spec.allocation_id, master["instance-id"])
    return describe_nodes(nodes)


def describe_nodes(nodes: list[dict[str, str]]) -> dict[str, Any]:
    by_id = {inst["InstanceId"]: inst for inst in ec2.describe_instances([n["instance-id"] for n in nodes])}
    records = []
    for node in nodes:
        inst = by_id[node["instance-id"]]
        records.append(
            {
                "node-type": node["node-type"],
                "instance-id": node["instance-id"],
                "key-pair": inst.get("KeyName", ""),
                "public-ip": inst.get("PublicIpAddress"),
                "private-ip": inst.get("PrivateIpAddress"),
            }
        )
    master = by_id[next(n["instance-id"] for n in nodes if n["node-type"] == "master")]
    return {"instances": records, "milvus-url": master.get("PublicDnsName") or ""}
