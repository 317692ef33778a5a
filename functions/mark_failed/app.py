"""Rollback: mark the record failed, with the reason in words."""

from typing import Any

from milvus_cloud.logic.records import failure_reason, mark_failed
from milvus_cloud.workflow import workflow_step


@workflow_step
def lambda_handler(event: dict[str, Any]) -> None:
    reason = failure_reason(event.get("error"))
    if event.get("action") == "delete":
        reason = f"delete failed: {reason}; retry the delete"
    if event.get("rollback-error"):
        reason += f" (cleanup incomplete: {failure_reason(event['rollback-error'])})"
    mark_failed(event["username"], event["milvus-name"], reason)
