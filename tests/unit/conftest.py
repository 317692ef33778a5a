"""Unit-test fixtures (the shared ones are in tests/conftest.py; helpers in lambda_support.py)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest

from tests.support import Aws, Env, reset_caches


@pytest.fixture
def issue_token(env: Any) -> Callable[..., str]:
    """issue_token(user, hours=12) -> a session token, as the admin command issues it."""
    from milvus_cloud.dal import sessions

    def issue(username: str, hours: float = 12) -> str:
        return sessions.issue_token(username, timedelta(hours=hours))

    return issue


@pytest.fixture
def aws_faults(aws: Aws) -> Iterator[Callable[..., None]]:
    """inject(operation, code, times=1, skip=0): that boto3 call fails in this process (the local stack's
    own fault injection, local/faults.py, through botocore's before-call hook: moto is still behind it)."""
    from local import faults

    faults.install()
    reset_caches()  # the code's clients must come from the hooked default session

    injected: list[faults.Fault] = []

    def inject(operation: str, code: str, times: int = 1, skip: int = 0) -> None:
        injected.append(faults.Fault(operation, code, times=times, skip=skip))
        faults.set_faults(injected)

    yield inject
    faults.set_faults([])
    boto3.DEFAULT_SESSION = None  # the next client gets a fresh, unhooked session
    reset_caches()


@pytest.fixture
def machines(env: Env, aws: Aws) -> dict[str, str]:
    """The delete and power state machines in moto (started, never run here), and their ARNs in the env."""
    sfn = aws.client("stepfunctions")
    definition = json.dumps({"StartAt": "Hold", "States": {"Hold": {"Type": "Pass", "End": True}}})
    arns = {
        name: sfn.create_state_machine(
            name=name, definition=definition, roleArn="arn:aws:iam::123456789012:role/milvus-cloud-test"
        )["stateMachineArn"]
        for name in ("DeleteClusterStateMachine", "PowerClusterStateMachine")
    }
    env.set(
        DELETE_STATE_MACHINE_ARN=arns["DeleteClusterStateMachine"],
        POWER_STATE_MACHINE_ARN=arns["PowerClusterStateMachine"],
    )
    return arns
