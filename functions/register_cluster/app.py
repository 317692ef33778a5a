"""Create workflow: write the instances and the public DNS name into the record; state running."""

from typing import Any

from milvus_cloud.logic.records import register_cluster
from milvus_cloud.workflow import workflow_step


@workflow_step
def lambda_handler(event: dict[str, Any]) -> None:
    register_cluster(event["username"], event["milvus-name"], event["network"])
