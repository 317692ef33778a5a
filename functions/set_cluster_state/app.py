"""Suspend and resume workflows: move the record to its next state (or back, with the reason)."""

from typing import Any

from milvus_cloud.logic.records import failure_reason, set_state
from milvus_cloud.workflow import workflow_step


@workflow_step
def lambda_handler(event: dict[str, Any]) -> None:
    reason = failure_reason(event["error"]) if event.get("error") else None
    set_state(
        event["username"], event["milvus-name"], event["state"], list(event["expected"]), reason, event.get("network")
    )
