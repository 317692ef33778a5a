"""End-to-end fixtures: the local stack (`python -m local serve`) as a subprocess, once per test session
(per xdist worker), and a client that speaks HTTP to it and reads the truth from its moto and MongoDB."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from pymongo import MongoClient

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0
LIVE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.e2e)


def stack_env(stack_file: Path) -> dict[str, str]:
    """The subprocess's environment: this stack's file, the project on the path, and nothing that would
    point it at another database or AWS endpoint."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_", "AWS_ENDPOINT_URL", "LOCAL_"))}
    env.update(
        {
            "LOCAL_STACK_FILE": str(stack_file),
            "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "common"), str(ROOT)]),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def read_info(stack_file: Path, proc: subprocess.Popen[bytes], log: Path) -> dict[str, str]:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the local stack exited with {proc.returncode}:\n{log.read_text()}")
        if stack_file.exists():
            try:
                info = json.loads(stack_file.read_text())
            except json.JSONDecodeError:  # still being written
                info = None
            if info and {"api", "aws", "region", "mongodb", "database"} <= set(info):
                return dict(info)
        time.sleep(0.1)
    pytest.fail(f"the local stack did not start within {START_TIMEOUT:.0f}s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def stack_info(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    workdir = tmp_path_factory.mktemp("local-stack")
    stack_file, log = workdir / "stack.json", workdir / "stack.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "local", "serve", "--port", "0"],
            cwd=ROOT,
            env=stack_env(stack_file),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        info = read_info(stack_file, proc, log)
        yield {**info, "stack_file": str(stack_file), "log": str(log)}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def assert_failure(reply: requests.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The contract's failure shape, exactly: status, description and code."""
    assert reply.status_code == status, reply.text
    body: dict[str, Any] = reply.json()
    assert set(body) == {"status", "description", "code"}, body
    assert body["status"] == "failed" and body["description"] and body["code"]
    if code:
        assert body["code"] == code, body
    return body


class Stack:
    """The local stack as a test sees it: the HTTP API, and the truth in moto and MongoDB."""

    def __init__(self, info: dict[str, str]):
        self.info = info
        self.api = info["api"]
        self.http = requests.Session()
        aws = {
            "endpoint_url": info["aws"],
            "region_name": info["region"],
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        self.ec2 = boto3.client("ec2", **aws)
        self.sfn = boto3.client("stepfunctions", **aws)
        self.mongo: MongoClient[dict[str, Any]] = MongoClient(info["mongodb"], tz_aware=True)
        self.db = self.mongo[info["database"]]
        self.clusters = self.db["clusters"]

    # ---- tokens and HTTP ----

    def token(self, username: str, ttl_hours: float | None = None) -> str:
        """`python -m local token --user U`: the token is the last line of its output."""
        ttl = ["--ttl-hours", str(ttl_hours)] if ttl_hours is not None else []
        done = subprocess.run(
            [sys.executable, "-m", "local", "token", "--user", username, *ttl],
            cwd=ROOT,
            env=stack_env(Path(self.info["stack_file"])),
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout.strip().splitlines()[-1]

    def request(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, f"{self.api}{path}", headers=headers, timeout=30, **kwargs)

    def create(
        self,
        token: str | None,
        username: str,
        name: str,
        milvus_type: str = "M5",
        disk: Any = 50,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> requests.Response:
        body: dict[str, Any] = {"username": username, "milvus-name": name, "milvus-type": milvus_type}
        body["disk-size"] = disk
        if token is not None:
            body["session-token"] = token
        return self.request("POST", "/milvus", json={**body, **extra}, headers=headers)

    def describe(self, token: str, name: str) -> requests.Response:
        return self.request("GET", f"/milvus/{name}", token)

    def wait_for(self, token: str, name: str, timeout: float = 60.0) -> dict[str, Any]:
        """Poll GET until the cluster leaves creating (bounded); its last description."""
        deadline = time.monotonic() + timeout
        while True:
            reply = self.describe(token, name)
            assert reply.status_code == 200, reply.text
            body: dict[str, Any] = reply.json()
            if body["state"] != "creating":
                return body
            if time.monotonic() > deadline:
                pytest.fail(f"{name} still creating after {timeout:.0f}s")
            time.sleep(0.25)

    def wait_state(self, token: str, name: str, state: str, timeout: float = 30.0) -> dict[str, Any]:
        """Poll GET until the cluster is in state (bounded); its description then."""
        deadline = time.monotonic() + timeout
        while True:
            reply = self.describe(token, name)
            assert reply.status_code == 200, reply.text
            body: dict[str, Any] = reply.json()
            if body["state"] == state:
                return body
            if time.monotonic() > deadline:
                pytest.fail(f"{name} is {body['state']}, not {state}, after {timeout:.0f}s")
            time.sleep(0.2)

    def wait_gone(self, token: str, name: str, timeout: float = 30.0) -> None:
        """Poll GET until the cluster is gone (404), bounded."""
        deadline = time.monotonic() + timeout
        while self.describe(token, name).status_code != 404:
            if time.monotonic() > deadline:
                pytest.fail(f"{name} still there after {timeout:.0f}s")
            time.sleep(0.2)

    def wait_for_execution(self, arn: str, timeout: float = 60.0) -> str:
        """The workflow's end: every AWS change it makes is done by then."""
        deadline = time.monotonic() + timeout
        while True:
            status = str(self.sfn.describe_execution(executionArn=arn)["status"])
            if status != "RUNNING":
                return status
            if time.monotonic() > deadline:
                pytest.fail(f"execution {arn} still running after {timeout:.0f}s")
            time.sleep(0.25)

    def record(self, username: str, name: str) -> dict[str, Any] | None:
        return self.clusters.find_one({"username": username, "milvus-name": name}, {"_id": False})

    def settle(self, username: str) -> None:
        """Wait for every workflow a test started for this user, so the next test sees a quiet stack."""
        for doc in self.clusters.find({"username": username, "execution-arn": {"$exists": True}}):
            self.wait_for_execution(doc["execution-arn"])

    # ---- fault injection (local/control.py) ----

    def set_faults(self, faults: list[dict[str, Any]]) -> None:
        self.request("PUT", "/_local/faults", json=faults).raise_for_status()

    def clear_faults(self) -> None:
        self.request("DELETE", "/_local/faults").raise_for_status()

    def calls(self) -> dict[str, int]:
        return dict(self.request("GET", "/_local/calls").json())

    # ---- the truth in moto ----

    def instances(self, filters: list[dict[str, Any]], states: list[str] = LIVE_STATES) -> list[dict[str, Any]]:
        pages = self.ec2.get_paginator("describe_instances").paginate(
            Filters=[*filters, {"Name": "instance-state-name", "Values": states}]
        )
        return [inst for page in pages for res in page["Reservations"] for inst in res["Instances"]]

    def executions(self) -> list[dict[str, Any]]:
        return [
            execution
            for machine in self.sfn.list_state_machines()["stateMachines"]
            for page in self.sfn.get_paginator("list_executions").paginate(stateMachineArn=machine["stateMachineArn"])
            for execution in page["executions"]
        ]

    def quiesce(self, timeout: float = 60.0) -> None:
        """Wait until no workflow of any test runs (this worker's earlier tests may have left one going)."""
        deadline = time.monotonic() + timeout
        while any(e["status"] == "RUNNING" for e in self.executions()):
            if time.monotonic() > deadline:
                pytest.fail(f"workflows still running after {timeout:.0f}s")
            time.sleep(0.25)

    def counts(self) -> dict[str, int]:
        """Everything a refused request must leave as it was (taken once no workflow runs)."""
        self.quiesce()
        return {
            "clusters": self.clusters.count_documents({}),
            "instances": len(self.instances([])),
            "volumes": len(self.ec2.describe_volumes()["Volumes"]),
            "addresses": len(self.ec2.describe_addresses()["Addresses"]),
            "groups": len(self.ec2.describe_security_groups()["SecurityGroups"]),
            "executions": len(self.executions()),
        }

    def leftovers(self, username: str, name: str) -> dict[str, list[str]]:
        """Every AWS resource still tagged with the cluster (volumes moto deleted on termination are gone)."""
        by_key = [{"Name": "tag:milvus-username", "Values": [f"{username}/{name}"]}]
        return {
            "instances": [i["InstanceId"] for i in self.instances(by_key)],
            "volumes": [v["VolumeId"] for v in self.ec2.describe_volumes(Filters=by_key)["Volumes"]],
            "addresses": [a["AllocationId"] for a in self.ec2.describe_addresses(Filters=by_key)["Addresses"]],
            "groups": [g["GroupId"] for g in self.ec2.describe_security_groups(Filters=by_key)["SecurityGroups"]]
            + [
                g["GroupId"]
                for g in self.ec2.describe_security_groups(
                    Filters=[{"Name": "group-name", "Values": [f"sg-{username}-{name}"]}]
                )["SecurityGroups"]
            ],
            "interfaces": [
                n["NetworkInterfaceId"]
                for n in self.ec2.describe_network_interfaces(Filters=by_key)["NetworkInterfaces"]
            ],
        }


@pytest.fixture(scope="session")
def stack(stack_info: dict[str, str]) -> Iterator[Stack]:
    client = Stack(stack_info)
    yield client
    client.mongo.close()


@pytest.fixture
def new_user(stack: Stack) -> Iterator[Callable[[], str]]:
    """new_user() -> a username of this test's own. When the test is done, its workflows have all ended."""
    made: list[str] = []

    def make() -> str:
        made.append(f"e2e-{uuid.uuid4().hex[:10]}")
        return made[-1]

    yield make
    for username in made:
        stack.settle(username)


@pytest.fixture
def user(new_user: Callable[[], str]) -> str:
    return new_user()


@pytest.fixture
def faults(stack: Stack) -> Iterator[Stack]:
    """Fault injection for one test, on a quiet stack (so no other workflow meets the faults); cleared
    afterwards whatever happens."""
    stack.quiesce()
    stack.clear_faults()
    yield stack
    stack.clear_faults()
