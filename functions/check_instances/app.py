"""Any workflow: one poll of whether the instances have reached the target state."""

from typing import Any

from milvus_cloud.logic.instances import check_instances
from milvus_cloud.workflow import workflow_step


@workflow_step
def lambda_handler(event: dict[str, Any]) -> dict[str, Any]:
    return check_instances(list(event["instance-ids"]), event["target"], int(event["attempt"]))
