"""Create workflow: tag what launch could not (the network interfaces)."""

from typing import Any

from milvus_cloud.logic.instances import tag_resources
from milvus_cloud.workflow import spec_of, workflow_step


@workflow_step
def lambda_handler(event: dict[str, Any]) -> None:
    tag_resources(spec_of(event), event["launch"]["nodes"])
