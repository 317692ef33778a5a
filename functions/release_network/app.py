"""Rollback and delete: release the Elastic IP and delete the cluster's security group."""

from typing import Any

from milvus_cloud.logic.teardown import release_network
from milvus_cloud.workflow import workflow_step


@workflow_step
def lambda_handler(event: dict[str, Any]) -> None:
    release_network(event.get("allocation-id"), event.get("security-group-id"))
