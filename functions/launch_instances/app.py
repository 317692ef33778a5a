"""Create workflow: launch the master, then the workers (idempotent on retry)."""

from typing import Any

from milvus_cloud.logic.provision import launch_instances
from milvus_cloud.workflow import spec_of, workflow_step


@workflow_step
def lambda_handler(event: dict[str, Any]) -> dict[str, Any]:
    nodes = launch_instances(spec_of(event), event["launch-token"])
    return {"nodes": nodes, "instance-ids": [node["instance-id"] for node in nodes]}
