"""Create workflow steps that talk to EC2 only: launch, wait, tag, associate the Elastic IP."""

from __future__ import annotations

from typing import Any

from milvus_cloud.catalog import MilvusType, NodeType, find_type
from milvus_cloud.dal import ec2
from milvus_cloud.errors import PermanentStepError
from milvus_cloud.settings import get_settings
from milvus_cloud.spec import ClusterSpec
from milvus_cloud.userdata import render_user_data

ROOT_VOLUME_GIB = 30
DATA_DEVICE = "/dev/sdf"


def node_name(spec: ClusterSpec, node_type: str, index: int) -> str:
    suffix = "master" if node_type == "master" else f"worker-{index}"
    return f"milvus-{spec.username}-{spec.milvus_name}-{suffix}"


def _cluster_type(spec: ClusterSpec) -> MilvusType:
    mtype = find_type(spec.milvus_type)
    if mtype is None:
        raise PermanentStepError(f"unknown milvus-type {spec.milvus_type}")
    return mtype


def _launch_params(
    spec: ClusterSpec, mtype: MilvusType, node_type: NodeType, name: str, instance_type: str, master_ip: str | None
) -> dict[str, Any]:
    settings = get_settings()
    volume = {"VolumeType": "gp3", "Encrypted": True, "DeleteOnTermination": True}
    tag_spec = [
        {"ResourceType": kind, "Tags": ec2.cluster_tags(spec.username, spec.milvus_name, name, node_type)}
        for kind in ("instance", "volume", "network-interface")
    ]
    return {
        "ImageId": settings.image_id,
        "InstanceType": instance_type,
        "KeyName": settings.key_pair_name,
        "UserData": render_user_data(
            milvus_type=mtype,
            node_type=node_type,
            cluster_key=spec.key,
            master_private_ip=master_ip,
        ),
        "NetworkInterfaces": [
            {
                "DeviceIndex": 0,
                "SubnetId": settings.subnet_id,
                "Groups": [settings.base_security_group_id, spec.security_group_id],
                "AssociatePublicIpAddress": True,  # workers pull images; only the whitelist opens ports
                "DeleteOnTermination": True,
            }
        ],
        "BlockDeviceMappings": [
            {"DeviceName": ec2.root_device_name(settings.image_id), "Ebs": {**volume, "VolumeSize": ROOT_VOLUME_GIB}},
            {"DeviceName": DATA_DEVICE, "Ebs": {**volume, "VolumeSize": spec.disk_size}},
        ],
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 2},
        "TagSpecifications": tag_spec,
    }


def launch_instances(spec: ClusterSpec, launch_token: str) -> list[dict[str, str]]:
    """Launch the master, then the workers with the master's private IP. A retry reuses what exists."""
    mtype = _cluster_type(spec)
    existing = {
        tag["Value"]: inst
        for inst in ec2.find_cluster_instances(spec.key, states=["pending", "running"])
        for tag in inst.get("Tags", [])
        if tag["Key"] == "Name"
    }
    master_ip: str | None = None
    nodes = []
    for index, (node_type, instance_type) in enumerate(mtype.node_types()):
        name = node_name(spec, node_type, index)
        instance = existing.get(name)
        if instance is None:
            params = _launch_params(spec, mtype, node_type, name, instance_type, master_ip)
            # ClientToken makes AWS itself refuse a second launch of this node within the execution.
            instance = ec2.run_instance(ClientToken=f"{launch_token[:40]}-{index}", **params)
        if node_type == "master":
            master_ip = instance["PrivateIpAddress"]
        nodes.append({"node-type": node_type, "instance-id": instance["InstanceId"]})
    return nodes
