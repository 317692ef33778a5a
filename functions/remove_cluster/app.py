"""Delete workflow: archive the record and free the name."""

from typing import Any

from milvus_cloud.logic.records import remove_cluster
from milvus_cloud.workflow import workflow_step


@workflow_step
def lambda_handler(event: dict[str, Any]) -> None:
    remove_cluster(event["username"], event["milvus-name"])
