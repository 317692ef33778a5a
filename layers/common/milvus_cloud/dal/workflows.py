"""Step Functions: start a workflow, and ask whether one is still running."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from milvus_cloud.dal.aws import client, error_code


def execution_arn(state_machine_arn: str, name: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"


def start_execution(state_machine_arn: str, name: str, payload: dict[str, Any]) -> str:
    client("stepfunctions").start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload))
    return execution_arn(state_machine_arn, name)


def execution_running(arn: str | None) -> bool:
    if not arn:
        return False
    try:
        return bool(client("stepfunctions").describe_execution(executionArn=arn)["status"] == "RUNNING")
    except ClientError as exc:
        if error_code(exc) == "ExecutionDoesNotExist":
            return False
        raise
