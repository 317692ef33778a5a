"""Workflow steps that remove a cluster's AWS resources (rollback of create, and delete)."""

from __future__ import annotations

import contextlib

from milvus_cloud.dal import ec2


def terminate_cluster_instances(cluster_key: str, known_ids: list[str] | None = None) -> list[str]:
    """Terminate every live instance tagged with the cluster, whatever launch got to record. If that
    lookup fails, the instances the workflow knows are terminated anyway before the error goes on."""
    known = list(known_ids or [])
    try:
        found = [inst["InstanceId"] for inst in ec2.find_cluster_instances(cluster_key)]
    except Exception:
        with contextlib.suppress(Exception):  # the lookup failed: at least stop paying for what we know
            ec2.terminate_instances(known)
        raise
    ec2.terminate_instances(found)  # live ones only: terminating twice is an error in moto
    return sorted(set(known) | set(found))


def release_network(allocation_id: str | None, security_group_id: str | None) -> None:
    """Release the Elastic IP and delete the cluster's group: after the instances' interfaces are gone."""
    if allocation_id:
        ec2.release_address(allocation_id)
    if security_group_id:
        ec2.delete_security_group(security_group_id)


def stop_cluster_instances(instance_ids: list[str]) -> None:
    ec2.stop_instances(instance_ids)


def start_cluster_instances(instance_ids: list[str]) -> None:
    ec2.start_instances(instance_ids)
