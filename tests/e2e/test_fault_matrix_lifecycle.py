"""The fault matrix of the lifecycle paths (issue 4, item 1): whitelist (a change), suspend, resume and delete,
through the API and the real DeleteCluster and PowerCluster state machines.

As for create, the injection points are enumerated from the paths themselves: one cluster is taken through a
whitelist change, a suspend, a resume and a delete with no fault, and the stack's call counts name every
operation each path made. Then every (path, operation) is failed:
- transiently (RequestLimitExceeded twice): whitelist answers 200 and the group holds the list; suspend ends
  suspended, resume running; delete removes the cluster and every resource of it. A 503 with Retry-After is
  retried, as a client would.
- permanently (InsufficientInstanceCapacity, UnauthorizedOperation or InvalidParameterValue in rotation, for
  as long as the case lasts): whitelist answers 503 with Retry-After and its record equals the group's actual
  rules; suspend and resume put the record back in its previous state with the reason; delete ends `failed`
  with the reason and the record still holding every id (or succeeds, if the call was not essential); a fault
  the API met itself is a 503 with Retry-After that changed nothing.
After every case, a scan by tag finds no instance, volume, address, group or interface that the user's records
do not account for. Each (path, mode) test loops over its points and reports every failing point at once."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from tests.e2e import faultkit
from tests.e2e.conftest import Stack
from tests.e2e.faultkit import Outcome

PATHS = ("whitelist", "suspend", "resume", "delete")
EXPECTED = {
    "whitelist": {"DescribeSecurityGroupRules", "AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress"},
    "suspend": {"StartExecution", "StopInstances", "DescribeInstances"},
    "resume": {"StartExecution", "StartInstances", "DescribeInstances", "AssociateAddress"},
    "delete": {"StartExecution", "TerminateInstances", "DescribeInstances", "ReleaseAddress", "DeleteSecurityGroup"},
}
TYPE, DISK = "S1", 20
BASELINE = [
    {"source-ip": "192.0.2.1/32", "port-type": "milvus-port"},
    {"source-ip": "192.0.2.2/32", "port-type": "milvus-port", "description": "old"},
]
# From the baseline: one rule revoked, one authorized, one description changed in place.
CHANGED = [
    {"source-ip": "192.0.2.2/32", "port-type": "milvus-port", "description": "new"},
    {"source-ip": "192.0.2.3/32", "port-type": "milvus-em-port"},
]
EVERY_STATE = ["pending", "running", "stopping", "stopped", "shutting-down", "terminated"]
POWER = {"suspend": ("running", "suspended", "stopped"), "resume": ("suspended", "running", "running")}


@dataclass
class LifecycleMatrix:
    stack: Stack
    tokens: dict[str, str]  # username -> token
    users: dict[str, str]  # role -> username
    clean: dict[str, dict[str, int]]  # path -> the clean run's call counts
    points: dict[str, list[str]]
    outcomes: list[Outcome] = field(default_factory=list)
    ran: set[tuple[str, str]] = field(default_factory=set)

    def token(self, role: str) -> str:
        return self.tokens[self.users[role]]

    def code(self, path: str, operation: str) -> str:
        """The permanent error of a point: the three rotate over every point of every path, in order."""
        index = [(p, op) for p in PATHS for op in self.points[p]].index((path, operation))
        return faultkit.PERMANENT_CODES[index % len(faultkit.PERMANENT_CODES)]


def whitelist_body(user: str, token: str, name: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"session-token": token, "username": user, "milvus-name": name, "ip-ranges": entries}


def put_whitelist(stack: Stack, user: str, token: str, name: str, entries: list[dict[str, Any]]) -> requests.Response:
    return stack.request("PUT", f"/milvus/{name}/whitelist", json=whitelist_body(user, token, name, entries))


def act(stack: Stack, token: str, verb: str, name: str) -> requests.Response:
    if verb == "delete":
        return stack.request("DELETE", f"/milvus/{name}", token)
    return stack.request("POST", f"/milvus/{name}/{verb}", token)


def create_running(stack: Stack, user: str, token: str, names: list[str]) -> None:
    """Several clusters at once: the creates answer at once and their workflows run side by side."""
    for name in names:
        reply = stack.create(token, user, name, TYPE, DISK)
        assert reply.status_code == 202, reply.text
    stack.quiesce()
    for name in names:
        record = stack.record(user, name)
        assert record is not None and record["state"] == "running", record


@pytest.fixture(scope="module")
def matrix(stack: Stack) -> Iterator[LifecycleMatrix]:
    stack.quiesce()
    stack.clear_faults()
    roles = ("enumerate", "whitelist", "power", "delete-transient", "delete-permanent")
    users = {role: faultkit.new_username(f"fm-{role[:10]}") for role in roles}
    tokens = faultkit.tokens(stack, users.values())
    user, token = users["enumerate"], tokens[users["enumerate"]]
    for role, name in (("enumerate", "enumerate"), ("whitelist", "guarded"), ("power", "sleepy")):
        assert stack.create(tokens[users[role]], users[role], name, TYPE, DISK).status_code == 202
    stack.quiesce()
    assert put_whitelist(stack, user, token, "enumerate", BASELINE).status_code == 200

    def measure(run: Callable[[], requests.Response], status: int) -> dict[str, int]:
        before = stack.calls()
        reply = run()
        assert reply.status_code == status, reply.text
        stack.quiesce()
        return faultkit.calls_delta(before, stack.calls())

    clean = {
        "whitelist": measure(lambda: put_whitelist(stack, user, token, "enumerate", CHANGED), 200),
        "suspend": measure(lambda: act(stack, token, "suspend", "enumerate"), 202),
        "resume": measure(lambda: act(stack, token, "resume", "enumerate"), 202),
        "delete": measure(lambda: act(stack, token, "delete", "enumerate"), 202),
    }
    assert stack.record(user, "enumerate") is None, "the clean delete did not remove the cluster"
    points = {path: faultkit.injection_points(clean[path]) for path in PATHS}
    yield LifecycleMatrix(stack, tokens, users, clean, points)
    stack.clear_faults()


def test_the_enumeration_finds_every_known_call(matrix: LifecycleMatrix) -> None:
    for path in PATHS:
        print(f"{path} injection points: {matrix.points[path]} (clean run: {matrix.clean[path]})")
    missing = {path: sorted(EXPECTED[path] - set(matrix.points[path])) for path in PATHS}
    assert not any(missing.values()), f"the clean runs missed calls, so the enumeration is broken: {missing}"
    every = {op for ops in matrix.points.values() for op in ops}
    known = {"TerminateInstances", "ReleaseAddress", "DeleteSecurityGroup", "StopInstances", "StartInstances"}
    assert known <= every


# ---- one case ----


@dataclass
class Case:
    """A fault in place while a request (retried if transient) and any workflow it starts run to their end."""

    m: LifecycleMatrix
    path: str
    operation: str
    mode: str

    def __post_init__(self) -> None:
        transient = self.mode == "transient"
        self.code = faultkit.TRANSIENT_CODE if transient else self.m.code(self.path, self.operation)
        self.outcome = Outcome(self.path, self.operation, self.mode, self.code, [])

    def run(self, send: Callable[[], requests.Response]) -> list[requests.Response]:
        stack = self.m.stack
        stack.quiesce()
        started = time.monotonic()
        before = stack.calls()
        times = faultkit.TRANSIENT_TIMES if self.mode == "transient" else faultkit.PERMANENT_TIMES
        with faultkit.injected(stack, self.operation, self.code, times):
            replies = faultkit.send_with_retries(send) if self.mode == "transient" else [send()]
            stack.quiesce()
        made = faultkit.calls_delta(before, stack.calls()).get(self.operation, 0)
        self.outcome.seconds = time.monotonic() - started
        self.outcome.reached = made > 0
        if self.mode == "transient":
            self.outcome.problems += faultkit.retry_problems(replies)
            if len(replies) > 1:
                self.outcome.where = "api"
            if made and made < self.m.clean[self.path].get(self.operation, 0) + faultkit.TRANSIENT_TIMES:
                self.problem(f"the fault fired fewer than {faultkit.TRANSIENT_TIMES} times ({made} calls)")
        elif faultkit.is_retryable(replies[-1]):
            self.outcome.where = "api"
            if shape := faultkit.failure_shape_problem(replies[-1]):
                self.problem(shape)
        return replies

    def problem(self, text: str) -> None:
        self.outcome.problems.append(text)

    def expect_status(self, reply: requests.Response, status: int) -> bool:
        if reply.status_code != status:
            self.problem(f"HTTP {reply.status_code}, not {status}: {reply.text[:200]}")
            return False
        return True


def instance_states(stack: Stack, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    found = stack.instances([{"Name": "instance-id", "Values": ids}], states=EVERY_STATE)
    return {i["InstanceId"]: i["State"]["Name"] for i in found}


def ids_of(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "allocation-id": record.get("allocation-id"),
        "security-group-id": record.get("security-group-id"),
        "instances": sorted(i["instance-id"] for i in record.get("instances") or []),
    }


# ---- whitelist ----


def whitelist_case(m: LifecycleMatrix, operation: str, mode: str) -> Outcome:
    stack, user, token = m.stack, m.users["whitelist"], m.token("whitelist")
    name = "guarded"
    assert put_whitelist(stack, user, token, name, BASELINE).status_code == 200  # the same start every time
    case = Case(m, "whitelist", operation, mode)
    replies = case.run(lambda: put_whitelist(stack, user, token, name, CHANGED))
    record = stack.record(user, name)
    assert record is not None
    actual = faultkit.group_rules(stack, record["security-group-id"])
    stored = faultkit.as_rules(record.get("whitelist") or [])
    if not case.outcome.reached:
        pass
    elif mode == "transient":
        wanted = faultkit.as_rules(CHANGED)
        if case.expect_status(replies[-1], 200):
            answered = faultkit.as_rules(replies[-1].json()["ip-ranges"])
            if answered != wanted:
                case.problem(f"the answer lists {sorted(answered, key=str)}, not the request")
        if actual != wanted:
            case.problem(f"the group holds {sorted(actual, key=str)}, not the list")
        if stored != wanted:
            case.problem(f"the record holds {sorted(stored, key=str)}, not the list")
    else:
        if not faultkit.is_retryable(replies[-1]):
            case.problem(f"not a 503 with Retry-After: HTTP {replies[-1].status_code} {replies[-1].text[:200]}")
        if stored != actual:
            case.problem(f"the record holds {sorted(stored, key=str)} but the group {sorted(actual, key=str)}")
    read = stack.request("GET", f"/milvus/{name}/whitelist", token)  # the faults are cleared by now
    if read.status_code != 200 or faultkit.as_rules(read.json()["ip-ranges"]) != actual:
        case.problem(f"GET whitelist disagrees with the group afterwards: {read.status_code} {read.text[:200]}")
    case.outcome.orphans = faultkit.unaccounted(stack, user)
    return case.outcome


# ---- suspend and resume ----


def ensure_state(m: LifecycleMatrix, state: str) -> None:
    """Bring the power cluster to a state with a clean suspend or resume (no fault is in place)."""
    stack, user, token = m.stack, m.users["power"], m.token("power")
    record = stack.record(user, "sleepy")
    assert record is not None
    if record["state"] == state:
        return
    verb = {"suspended": "suspend", "running": "resume"}[state]
    assert act(stack, token, verb, "sleepy").status_code == 202
    stack.quiesce()
    record = stack.record(user, "sleepy")
    assert record is not None and record["state"] == state, record


def heal(m: LifecycleMatrix, state: str) -> None:
    """Line the instances up with the record (a reverted suspend or resume may leave them otherwise; see
    the notes), directly in moto, so that every case starts from a consistent cluster."""
    record = m.stack.record(m.users["power"], "sleepy")
    assert record is not None
    ids = [i["instance-id"] for i in record["instances"]]
    states = set(instance_states(m.stack, ids).values())
    if state == "running" and states != {"running"}:
        m.stack.ec2.start_instances(InstanceIds=ids)
    elif state == "suspended" and states != {"stopped"}:
        m.stack.ec2.stop_instances(InstanceIds=ids)


def power_case(m: LifecycleMatrix, verb: str, operation: str, mode: str) -> Outcome:
    stack, user, token = m.stack, m.users["power"], m.token("power")
    start, target, ec2_state = POWER[verb]
    ensure_state(m, start)
    heal(m, start)
    case = Case(m, verb, operation, mode)
    replies = case.run(lambda: act(stack, token, verb, "sleepy"))
    record = stack.record(user, "sleepy")
    assert record is not None
    reason = record.get("state-reason") or ""
    if not case.outcome.reached:
        pass
    elif mode == "transient":
        if case.expect_status(replies[-1], 202) and (record["state"], reason) != (target, ""):
            case.problem(f"the cluster is {record['state']} ({reason!r}), not {target}")
        ids = [i["instance-id"] for i in record["instances"]]
        states = instance_states(stack, ids)
        if set(states.values()) != {ec2_state}:
            case.problem(f"the instances are {states}, not {ec2_state}")
        if verb == "resume":
            master = next(i["instance-id"] for i in record["instances"] if i["node-type"] == "master")
            [address] = stack.ec2.describe_addresses(AllocationIds=[record["allocation-id"]])["Addresses"]
            if address.get("InstanceId") != master:
                case.problem(f"the Elastic IP is on {address.get('InstanceId')}, not on the master {master}")
    elif case.outcome.where == "api":
        if record["state"] != start:
            case.problem(f"the refused {verb} left the cluster {record['state']}, not {start}")
    elif replies[-1].status_code != 202:
        case.problem(f"neither 503 with Retry-After nor 202: HTTP {replies[-1].status_code} {replies[-1].text[:200]}")
    elif record["state"] != start or case.code not in reason:
        case.problem(f"the cluster is {record['state']} ({reason!r}), not back to {start} with the reason")
    if mode == "permanent" and record["state"] == start:
        states = instance_states(stack, [i["instance-id"] for i in record["instances"]])
        expected = POWER["resume" if start == "running" else "suspend"][2]
        if set(states.values()) != {expected}:
            case.outcome.notes.append(f"the record says {start} but the instances are {sorted(set(states.values()))}")
    case.outcome.orphans = faultkit.unaccounted(stack, user)
    return case.outcome


# ---- delete ----


def delete_case(m: LifecycleMatrix, role: str, name: str, operation: str, mode: str) -> Outcome:
    stack, user, token = m.stack, m.users[role], m.token(role)
    before = stack.record(user, name)
    assert before is not None and before["state"] == "running", before
    case = Case(m, "delete", operation, mode)
    replies = case.run(lambda: act(stack, token, "delete", name))
    record = stack.record(user, name)
    gone = record is None and stack.describe(token, name).status_code == 404
    if not case.outcome.reached:
        case.outcome.orphans = faultkit.unaccounted(stack, user, nothing_for=[name] if gone else [])
        return case.outcome
    if mode == "transient":
        if case.expect_status(replies[-1], 202) and not gone:
            case.problem(f"the cluster was not deleted: {record and (record['state'], record.get('state-reason'))}")
    elif case.outcome.where == "api":
        if record is None or record["state"] != "running":
            case.problem(f"the refused delete changed the cluster: {record and record['state']}")
    elif replies[-1].status_code != 202:
        case.problem(f"neither 503 with Retry-After nor 202: HTTP {replies[-1].status_code} {replies[-1].text[:200]}")
    elif record is not None:  # gone is fine too: the call was not essential
        reason = record.get("state-reason") or ""
        if record["state"] != "failed" or case.code not in reason:
            case.problem(f"the cluster is {record['state']} ({reason!r}), not failed with the reason")
        if ids_of(record) != ids_of(before):
            case.problem(f"the record lost ids: {ids_of(before)} -> {ids_of(record)}")
    case.outcome.orphans = faultkit.unaccounted(stack, user, nothing_for=[name] if gone else [])
    return case.outcome


# ---- the matrix ----


def interleave(*lists: list[Any]) -> list[Any]:
    out = []
    for i in range(max(map(len, lists))):
        out += [items[i] for items in lists if i < len(items)]
    return out


def run_path(m: LifecycleMatrix, path: str, mode: str) -> list[Outcome]:
    if path == "whitelist":
        return [whitelist_case(m, op, mode) for op in m.points["whitelist"]]
    if path == "power":
        suspends = [("suspend", op) for op in m.points["suspend"]]
        resumes = [("resume", op) for op in m.points["resume"]]
        # Transient cases flip the state, so alternate; permanent ones leave it, so group them.
        order = interleave(suspends, resumes) if mode == "transient" else suspends + resumes
        return [power_case(m, verb, op, mode) for verb, op in order]
    role = f"delete-{mode}"
    names = [f"del-{i:02d}-{op.lower()[:24]}" for i, op in enumerate(m.points["delete"])]
    create_running(m.stack, m.users[role], m.token(role), names)
    return [delete_case(m, role, name, op, mode) for name, op in zip(names, m.points["delete"], strict=True)]


@pytest.mark.parametrize(
    ("path", "mode"),
    [(path, mode) for path in ("whitelist", "power", "delete") for mode in ("permanent", "transient")],
)
def test_every_lifecycle_call_fails(matrix: LifecycleMatrix, faults: Stack, path: str, mode: str) -> None:
    outcomes = run_path(matrix, path, mode)
    matrix.outcomes += outcomes
    matrix.ran.add((path, mode))
    for outcome in outcomes:
        faultkit.progress(outcome)
    assert not any(o.failed for o in outcomes), faultkit.report_failures(outcomes)
    if len(matrix.ran) == 6:  # the whole matrix ran: its figures, for the README
        faultkit.figures("fault matrix (lifecycle)", matrix.points, matrix.outcomes)
        assert len(matrix.outcomes) == 2 * sum(len(ops) for ops in matrix.points.values())
