"""Suspend workflow: stop the cluster's instances."""

from typing import Any

from milvus_cloud.logic.teardown import stop_cluster_instances
from milvus_cloud.workflow import workflow_step


@workflow_step
def lambda_handler(event: dict[str, Any]) -> None:
    stop_cluster_instances(list(event["launch"]["instance-ids"]))
