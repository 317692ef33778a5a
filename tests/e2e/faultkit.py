"""Shared helpers for the fault-matrix and MongoDB-fault tests: enumerating injection points from a clean
run's call counts, injecting a fault for one case, and an orphan scan by tag that checks every AWS resource
of a user against the cluster records that should account for it."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.e2e.conftest import ROOT, Stack, stack_env

TRANSIENT_CODE = "RequestLimitExceeded"
TRANSIENT_TIMES = 2
# Rotated through the injection points, one per point.
PERMANENT_CODES = ("InsufficientInstanceCapacity", "UnauthorizedOperation", "InvalidParameterValue")
PERMANENT_TIMES = 1_000_000  # an outage that lasts until the case is over
# The state machine's Lambda dispatch (moto calls the step handlers through Lambda Invoke): bookkeeping of the
# local stack, not an AWS call of the product's. Everything else a workflow calls is an injection point.
BOOKKEEPING = frozenset({"Invoke"})
API_RETRIES = 4  # a client honouring 503 + Retry-After tries this many times in all
WHITELIST_PORTS = {19530: "milvus-port", 19531: "milvus-em-port"}


class FaultMatrixFigures(UserWarning):
    """The matrix's figures, surfaced in pytest's warnings summary (xdist does not show a worker's print)."""


def new_username(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def tokens(stack: Stack, usernames: Iterable[str]) -> dict[str, str]:
    """`python -m local token` for several users at once (each run costs about two seconds of imports)."""
    env = stack_env(Path(stack.info["stack_file"]))
    procs = {
        user: subprocess.Popen(
            [sys.executable, "-m", "local", "token", "--user", user],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for user in usernames
    }
    issued = {}
    for user, proc in procs.items():
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        issued[user] = out.strip().splitlines()[-1]
    return issued


def calls_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {op: n - before.get(op, 0) for op, n in after.items() if n - before.get(op, 0) > 0}


def injection_points(delta: dict[str, int]) -> list[str]:
    """The operations a clean run of a path made, in a stable order: the injection points of that path."""
    return sorted(op for op in delta if op not in BOOKKEEPING)


@contextlib.contextmanager
def injected(stack: Stack, operation: str, code: str, times: int) -> Iterator[None]:
    """One fault for the length of a case; cleared whatever happens."""
    stack.set_faults([{"operation": operation, "code": code, "times": times}])
    try:
        yield
    finally:
        stack.clear_faults()


def is_retryable(reply: requests.Response) -> bool:
    return reply.status_code == 503 and bool(reply.headers.get("Retry-After"))


def failure_shape_problem(reply: requests.Response) -> str | None:
    try:
        body = reply.json()
    except ValueError:
        return f"HTTP {reply.status_code} body is not JSON: {reply.text[:200]}"
    if set(body) != {"status", "description", "code"} or body["status"] != "failed":
        return f"HTTP {reply.status_code} body is not the failure shape: {body}"
    return None


def send_with_retries(send: Callable[[], requests.Response], attempts: int = API_RETRIES) -> list[requests.Response]:
    """What a well-behaved client does: retry on 503 with Retry-After (here after a short pause, not the
    advertised seconds: the fault is gone by then either way). Every reply, the last one last."""
    replies = [send()]
    while is_retryable(replies[-1]) and len(replies) < attempts:
        time.sleep(0.2)
        replies.append(send())
    return replies


def retry_problems(replies: list[requests.Response]) -> list[str]:
    """Every reply but the last must be a 503 with Retry-After in the failure shape."""
    problems = []
    for reply in replies[:-1]:
        if not is_retryable(reply):
            problems.append(f"an intermediate reply was {reply.status_code} without Retry-After: {reply.text[:200]}")
        elif shape := failure_shape_problem(reply):
            problems.append(shape)
    return problems


def group_rules(stack: Stack, group_id: str) -> set[tuple[str, str, str | None]]:
    """The whitelist as the security group really holds it: (cidr, port-type, description)."""
    rules = stack.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
    return {
        (r["CidrIpv4"], WHITELIST_PORTS[r["FromPort"]], r.get("Description") or None)
        for r in rules["SecurityGroupRules"]
        if not r["IsEgress"] and r.get("CidrIpv4") and r.get("FromPort") in WHITELIST_PORTS
    }


def as_rules(entries: Iterable[dict[str, Any]]) -> set[tuple[str, str, str | None]]:
    return {(e["source-ip"], e["port-type"], e.get("description") or None) for e in entries}


# ---- the orphan scan ----


def _tag(resource: dict[str, Any], key: str) -> str | None:
    return next((t["Value"] for t in resource.get("Tags", []) if t["Key"] == key), None)


@dataclass
class Holdings:
    """Every AWS resource of one user, found by tag (and groups by name too, in case one escaped tagging)."""

    instances: list[dict[str, Any]] = field(default_factory=list)
    volumes: list[dict[str, Any]] = field(default_factory=list)
    addresses: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    interfaces: list[dict[str, Any]] = field(default_factory=list)


def holdings(stack: Stack, username: str) -> Holdings:
    mine = [{"Name": "tag:username", "Values": [username]}]
    managed = [{"Name": "tag:managed-by", "Values": ["milvus-cloud"]}]
    groups = [
        g
        for page in stack.ec2.get_paginator("describe_security_groups").paginate()
        for g in page["SecurityGroups"]
        if _tag(g, "username") == username or g["GroupName"].startswith(f"sg-{username}-")
    ]
    return Holdings(
        instances=stack.instances([*mine, *managed]),
        volumes=[
            v for page in stack.ec2.get_paginator("describe_volumes").paginate(Filters=mine) for v in page["Volumes"]
        ],
        addresses=list(stack.ec2.describe_addresses(Filters=mine)["Addresses"]),
        groups=groups,
        interfaces=_interfaces(stack, groups),
    )


def _interfaces(stack: Stack, groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Network interfaces in the user's cluster groups (moto keeps no tags on interfaces), each labelled with
    its group's cluster."""
    if not groups:
        return []
    by_id = {g["GroupId"]: g for g in groups}
    found = stack.ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": list(by_id)}])
    interfaces = []
    for eni in found["NetworkInterfaces"]:
        group = next((by_id[g["GroupId"]] for g in eni.get("Groups", []) if g["GroupId"] in by_id), None)
        if group is not None:
            interfaces.append({**eni, "Tags": group.get("Tags", []), "GroupName": group["GroupName"]})
    return interfaces


def _cluster_of(resource: dict[str, Any], username: str) -> str:
    name = _tag(resource, "milvus-name")
    if name is None and resource.get("GroupName", "").startswith(f"sg-{username}-"):
        name = resource["GroupName"][len(f"sg-{username}-") :]
    return name or "?"


def unaccounted(stack: Stack, username: str, nothing_for: Iterable[str] = ()) -> list[str]:
    """Every resource of the user that no cluster record accounts for, in words.

    A record accounts for the instances it lists, the volumes and interfaces attached to them, its Elastic
    IP allocation and its security group. Clusters in nothing_for (a create that failed, a delete that
    succeeded) may have nothing at all left, whatever their record says."""
    strict = set(nothing_for)
    records = {r["milvus-name"]: r for r in stack.clusters.find({"username": username}, {"_id": False})}
    found = holdings(stack, username)
    # (kind, id, cluster, what a record must hold to account for it: a field and a value, or instance ids)
    resources: list[tuple[str, str, str, str, set[str]]] = []
    for inst in found.instances:
        resources.append(
            ("instance", inst["InstanceId"], _cluster_of(inst, username), "instances", {inst["InstanceId"]})
        )
    for vol in found.volumes:
        attached = {a["InstanceId"] for a in vol.get("Attachments", [])}
        resources.append(("volume", vol["VolumeId"], _cluster_of(vol, username), "instances", attached))
    for addr in found.addresses:
        aid = addr["AllocationId"]
        resources.append(("address", aid, _cluster_of(addr, username), "allocation-id", {aid}))
    for group in found.groups:
        gid = group["GroupId"]
        resources.append(("security-group", gid, _cluster_of(group, username), "security-group-id", {gid}))
    for eni in found.interfaces:
        owner = (eni.get("Attachment") or {}).get("InstanceId")
        eni_id = eni["NetworkInterfaceId"]
        resources.append(("interface", eni_id, _cluster_of(eni, username), "instances", {owner} if owner else set()))

    problems: list[str] = []
    for kind, resource_id, cluster, holder, wanted in resources:
        record = records.get(cluster)
        if cluster in strict:
            problems.append(f"{kind} {resource_id} of {cluster}: left behind (nothing of it may remain)")
            continue
        if record is None:
            problems.append(f"{kind} {resource_id} of {cluster}: no record accounts for it")
            continue
        if holder == "instances":
            held = {i["instance-id"] for i in record.get("instances") or []}
        else:
            held = {record.get(holder) or ""}
        if not wanted & held:
            problems.append(f"{kind} {resource_id} of {cluster}: its {record['state']} record does not list it")
    return problems


def sweep_report(stack: Stack) -> dict[str, Any]:
    """`python -m local sweep` (dry run) against this stack: what the orphan sweep reports."""
    done = subprocess.run(
        [sys.executable, "-m", "local", "sweep"],
        cwd=ROOT,
        env=stack_env(Path(stack.info["stack_file"])),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # The report is printed indented, so it starts at a line of its own "{"; log lines (JSON too) come before it.
    start = done.stdout.index("\n{\n") + 1 if not done.stdout.startswith("{\n") else 0
    report, _ = json.JSONDecoder().raw_decode(done.stdout[start:])
    assert isinstance(report, dict) and "found" in report, done.stdout
    return report


# ---- outcomes and figures ----


@dataclass
class Outcome:
    path: str
    operation: str
    mode: str
    code: str
    problems: list[str]
    orphans: list[str] = field(default_factory=list)
    where: str = "workflow"  # "api" when the API answered the fault itself (503)
    seconds: float = 0.0
    reached: bool = True  # False: this run never made the call (one a warm container caches, say)
    notes: list[str] = field(default_factory=list)  # worth knowing, not against the contract as tested

    @property
    def survived(self) -> bool:
        return self.reached and not self.problems and not self.orphans

    @property
    def failed(self) -> bool:
        return bool(self.problems or self.orphans)

    def describe(self) -> str:
        issues = "; ".join(
            [*self.problems, *(f"orphan: {o}" for o in self.orphans), *(f"note: {n}" for n in self.notes)]
        )
        return f"{self.path}/{self.operation}/{self.mode} ({self.code}, {self.where}): {issues}"


def report_failures(outcomes: list[Outcome]) -> str:
    failed = [o for o in outcomes if o.failed]
    lines = [f"{len(failed)} of {len(outcomes)} injection cases did not end as the contract says:"]
    lines += [f"  - {o.describe()}" for o in failed]
    return "\n".join(lines)


def progress(outcome: Outcome) -> None:
    verdict = "ok" if outcome.survived else outcome.describe() if outcome.failed else "not reached"
    if outcome.notes and not outcome.failed:
        verdict += f" (note: {'; '.join(outcome.notes)})"
    print(
        f"{outcome.path}/{outcome.operation}/{outcome.mode} ({outcome.code}, {outcome.where}) "
        f"[{outcome.seconds:.1f}s]: {verdict}"
    )


def figures(name: str, points: dict[str, list[str]], outcomes: list[Outcome]) -> str:
    """The summary line: points covered (every case of the point made the faulted call), faults injected and
    survived, orphans found; and the points no case could reach, if any."""
    unreached = sorted({(o.path, o.operation) for o in outcomes if not o.reached})
    covered = sum(len(ops) for ops in points.values()) - len(unreached)
    injected = [o for o in outcomes if o.reached]
    survived = sum(o.survived for o in injected)
    orphans = sum(len(o.orphans) for o in outcomes)
    per_path = ", ".join(f"{p} {len(ops)}" for p, ops in points.items())
    line = (
        f"{name}: {covered} injection points covered ({per_path}), {len(injected)} faults injected, "
        f"{survived} survived, {orphans} orphans found"
    )
    if unreached:
        line += f"; not reachable in a warm stack: {', '.join(f'{p}/{op}' for p, op in unreached)}"
    if noted := [o for o in outcomes if o.notes]:
        line += f"; {len(noted)} cases with notes: {', '.join(f'{o.path}/{o.operation}' for o in noted)}"
    print(line)
    warnings.warn(line, FaultMatrixFigures, stacklevel=2)
    return line
