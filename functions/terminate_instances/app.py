"""Rollback and delete: terminate every instance tagged with the cluster."""

from typing import Any

from milvus_cloud.logic.teardown import terminate_cluster_instances
from milvus_cloud.workflow import workflow_step


@workflow_step
def lambda_handler(event: dict[str, Any]) -> dict[str, Any]:
    known = (event.get("launch") or {}).get("instance-ids") or []
    return {"instance-ids": terminate_cluster_instances(f"{event['username']}/{event['milvus-name']}", known)}
