"""The fault matrix of the create path (issue 4, item 1): every AWS call a clean create makes, through the API
and the real CreateCluster state machine, failed transiently and permanently.

The injection points are not a hard-coded list: a clean create is run first and the stack's call counts
(GET /_local/calls) name every operation it made. For each one:
- transient (RequestLimitExceeded twice): the create still ends `running` (a client retries a 503 that carries
  Retry-After, as the contract tells it to);
- permanent (InsufficientInstanceCapacity, UnauthorizedOperation or InvalidParameterValue, for as long as the
  case lasts): either the API answers 503 with Retry-After and wrote nothing, or the cluster ends `failed` with a
  state-reason naming the error; and nothing of the cluster is left in AWS.
Each case's fault is cleared when it ends. One test per mode loops over the points and reports every failing
point in one message; the last test prints the figures that the README quotes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.e2e import faultkit
from tests.e2e.conftest import Stack
from tests.e2e.faultkit import Outcome

PATH = "create"
# At least these must be found, or the enumeration itself has failed silently.
EXPECTED = {
    "AllocateAddress",
    "CreateSecurityGroup",
    "AuthorizeSecurityGroupIngress",
    "StartExecution",
    "RunInstances",
    "DescribeInstances",
    "CreateTags",
    "AssociateAddress",
}
TYPE, DISK = "S1", 20  # a single node: the cheapest create that still runs every step


@dataclass
class CreateMatrix:
    stack: Stack
    clean: dict[str, int]  # the clean run's call counts
    points: list[str]
    tokens: dict[str, str]  # mode -> token of that mode's own user (each has its own cluster quota)
    users: dict[str, str]
    outcomes: list[Outcome] = field(default_factory=list)
    ran: set[str] = field(default_factory=set)


@pytest.fixture(scope="module")
def matrix(stack: Stack) -> Iterator[CreateMatrix]:
    stack.quiesce()
    stack.clear_faults()
    users = {mode: faultkit.new_username(f"fm-create-{mode[:4]}") for mode in ("clean", "transient", "permanent")}
    tokens = faultkit.tokens(stack, users.values())
    user = users["clean"]
    before = stack.calls()
    reply = stack.create(tokens[user], user, "enumerate", TYPE, DISK)
    assert reply.status_code == 202, reply.text
    stack.quiesce()
    clean = faultkit.calls_delta(before, stack.calls())
    record = stack.record(user, "enumerate")
    assert record is not None and record["state"] == "running", record
    yield CreateMatrix(
        stack,
        clean,
        faultkit.injection_points(clean),
        {mode: tokens[u] for mode, u in users.items()},
        users,
    )
    stack.clear_faults()


def test_the_enumeration_finds_every_known_call(matrix: CreateMatrix) -> None:
    print(f"create injection points: {matrix.points} (clean run: {matrix.clean})")
    missing = EXPECTED - set(matrix.points)
    assert not missing, f"the clean create made no {sorted(missing)} call: the enumeration is broken ({matrix.clean})"


def run_case(m: CreateMatrix, index: int, operation: str, mode: str) -> Outcome:
    stack, user, token = m.stack, m.users[mode], m.tokens[mode]
    name = f"{mode[:4]}-{index:02d}-{operation.lower()[:24]}".rstrip("-")
    code = faultkit.TRANSIENT_CODE if mode == "transient" else faultkit.PERMANENT_CODES[index % 3]
    times = faultkit.TRANSIENT_TIMES if mode == "transient" else faultkit.PERMANENT_TIMES
    stack.quiesce()
    started = time.monotonic()
    before = stack.calls()
    with faultkit.injected(stack, operation, code, times):
        if mode == "transient":
            replies = faultkit.send_with_retries(lambda: stack.create(token, user, name, TYPE, DISK))
        else:
            replies = [stack.create(token, user, name, TYPE, DISK)]
        stack.quiesce()  # the workflow, rollback included, ends while the fault is still in place
    made = faultkit.calls_delta(before, stack.calls()).get(operation, 0)
    outcome = Outcome(PATH, operation, mode, code, [], seconds=time.monotonic() - started)
    problems = outcome.problems
    final = replies[-1]
    record = stack.record(user, name)
    outcome.reached = made > 0
    if not outcome.reached:  # nothing was injected: the create ran clean, and must have left nothing stray
        outcome.orphans = faultkit.unaccounted(stack, user)
        return outcome
    if mode == "transient":
        problems += faultkit.retry_problems(replies)
        outcome.where = "api" if len(replies) > 1 else "workflow"
        if made < m.clean.get(operation, 0) + faultkit.TRANSIENT_TIMES:
            problems.append(f"the fault fired fewer than {faultkit.TRANSIENT_TIMES} times ({operation}: {made} calls)")
        if final.status_code != 202:
            problems.append(f"the create ended in HTTP {final.status_code}: {final.text[:200]}")
        elif record is None or record["state"] != "running" or record.get("state-reason"):
            problems.append(f"the cluster is not running: {record and (record['state'], record.get('state-reason'))}")
        else:
            ids = [i["instance-id"] for i in record["instances"]]
            live = {
                i["InstanceId"]: i["State"]["Name"] for i in stack.instances([{"Name": "instance-id", "Values": ids}])
            }
            if not ids or set(live.values()) != {"running"} or set(live) != set(ids):
                problems.append(f"the record's instances are not all running: {live}")
            status = stack.sfn.describe_execution(executionArn=record["execution-arn"])["status"]
            if status != "SUCCEEDED":
                problems.append(f"the workflow ended {status}")
        outcome.orphans = faultkit.unaccounted(stack, user)
    else:
        if faultkit.is_retryable(final):
            outcome.where = "api"
            if shape := faultkit.failure_shape_problem(final):
                problems.append(shape)
            if record is not None:
                problems.append(f"the refused create left a record: {record['state']}")
        elif final.status_code == 202:
            if record is None or record["state"] != "failed":
                problems.append(f"the cluster did not end failed: {record and record['state']}")
            elif code not in (record.get("state-reason") or ""):
                problems.append(f"the state-reason does not name {code}: {record.get('state-reason')!r}")
            elif stack.sfn.describe_execution(executionArn=record["execution-arn"])["status"] != "FAILED":
                problems.append("the workflow did not end FAILED")
        else:
            problems.append(f"neither 503 with Retry-After nor 202: HTTP {final.status_code} {final.text[:200]}")
        outcome.orphans = faultkit.unaccounted(stack, user, nothing_for=[name])
        if outcome.orphans and record is not None:
            outcome.notes.append(f"state-reason: {record.get('state-reason')!r}")
    return outcome


@pytest.mark.parametrize("mode", ["transient", "permanent"])
def test_every_create_call_fails(matrix: CreateMatrix, faults: Stack, mode: str) -> None:
    outcomes = [run_case(matrix, i, op, mode) for i, op in enumerate(matrix.points)]
    matrix.outcomes += outcomes
    matrix.ran.add(mode)
    for outcome in outcomes:
        faultkit.progress(outcome)
    assert not any(o.failed for o in outcomes), faultkit.report_failures(outcomes)
    if matrix.ran == {"transient", "permanent"}:  # the whole matrix ran: its figures, for the README
        faultkit.figures("fault matrix (create)", {PATH: matrix.points}, matrix.outcomes)
        assert len(matrix.outcomes) == 2 * len(matrix.points)
