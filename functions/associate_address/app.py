"""Create workflow: the Elastic IP onto the master; the instances as the record will hold them."""

from typing import Any

from milvus_cloud.logic.instances import associate_address
from milvus_cloud.workflow import spec_of, workflow_step


@workflow_step
def lambda_handler(event: dict[str, Any]) -> dict[str, Any]:
    return associate_address(spec_of(event), event["launch"]["nodes"])
