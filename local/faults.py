"""Fault injection for the local stack: make a named AWS call fail, through botocore's event hooks."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse


@dataclass
class Fault:
    operation: str  # e.g. "RunInstances"
    code: str  # e.g. "InsufficientInstanceCapacity"
    times: int = 1_000_000  # how many calls fail (a few for a transient fault)
    skip: int = 0  # let this many calls through first
    status: int = 400


_lock = threading.Lock()
_faults: list[Fault] = []
calls: dict[str, int] = {}


def set_faults(faults: list[Fault]) -> None:
    with _lock:
        _faults[:] = faults


def _before_call(model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
    name = model.name
    with _lock:
        calls[name] = calls.get(name, 0) + 1
        for fault in _faults:
            if fault.operation != name or fault.times <= 0:
                continue
            if fault.skip > 0:
                fault.skip -= 1
                continue
            fault.times -= 1
            body = {
                "Error": {"Code": fault.code, "Message": f"injected fault on {name}"},
                "ResponseMetadata": {"HTTPStatusCode": fault.status},
            }
            return AWSResponse("http://fault", fault.status, {}, None), body
    return None


boot_seconds = 0.0  # moto's instances run at once; the benchmarks simulate EC2's boot time


def _after_describe(parsed: dict[str, Any], **_: Any) -> None:
    """Report instances as pending until boot_seconds after their launch, as EC2 would."""
    if boot_seconds <= 0:
        return
    now = datetime.now(UTC)
    for reservation in parsed.get("Reservations", []):
        for inst in reservation.get("Instances", []):
            booted = inst["LaunchTime"] + timedelta(seconds=boot_seconds)
            if inst["State"]["Name"] == "running" and booted > now:
                inst["State"] = {"Code": 0, "Name": "pending"}


def _launch_time_on_start() -> None:
    """EC2 sets LaunchTime when a stopped instance starts; moto keeps the first launch's, which would let a
    resumed instance skip the simulated boot."""
    from moto.core.utils import utcnow
    from moto.ec2.models.instances import Instance

    if getattr(Instance.start, "sets_launch_time", False):
        return
    original = Instance.start

    def start(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        self.launch_time = utcnow()
        return result

    start.sets_launch_time = True  # type: ignore[attr-defined]
    Instance.start = start  # type: ignore[method-assign]


def install() -> None:
    """Hook every boto3 client made from now on in this process (the handlers', not moto's own)."""
    _launch_time_on_start()
    boto3.setup_default_session()
    boto3.DEFAULT_SESSION.events.register("before-call.*.*", _before_call)
    boto3.DEFAULT_SESSION.events.register("after-call.ec2.DescribeInstances", _after_describe)
