"""MongoDB faults (issue 4, item 2): the database goes away at each step of a create and of a whitelist change,
and entirely, through the local stack's MongoDB proxy (PUT /_local/mongodb).

At every step k (the proxy lets k wire messages through, then cuts every connection), the API answers 503 with
Retry-After, or its normal answer if the fault came after the answer was decided; once MongoDB is back and
every workflow has ended, no AWS resource of the user is left that no record accounts for. A create record
left `creating` with no workflow behind it is tolerated only if the orphan sweep reports it as a
`stuck-record`. With MongoDB down entirely, every route answers 503 with Retry-After within a bounded time and
no AWS call is made."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.e2e import faultkit
from tests.e2e.conftest import Stack

TYPE, DISK = "S1", 20
MAX_STEPS = 16  # a bound on k, whatever the clean request measured
# MongoDB timeouts are 3 s; a create that must undo its AWS work meets a few of them (each write is retried
# once), and must still answer well inside API Gateway's 29 s.
ROUTE_BOUND_SECONDS = 20.0
BASELINE = [{"source-ip": "198.51.100.1/32", "port-type": "milvus-port"}]
CHANGED = [
    {"source-ip": "198.51.100.2/32", "port-type": "milvus-port"},
    {"source-ip": "198.51.100.3/32", "port-type": "milvus-em-port", "description": "office"},
]


def mongodb(stack: Stack, **config: Any) -> dict[str, Any]:
    reply = stack.request("PUT", "/_local/mongodb", json=config)
    assert reply.status_code == 200, f"the stack has no MongoDB proxy: {reply.text}"
    return dict(reply.json())


def messages(stack: Stack) -> int:
    return int(mongodb(stack, down=False)["messages"])


def proxy_cuts_the_handlers_off(stack: Stack) -> bool:
    """With the proxy down, a route that must read MongoDB (a token lookup) cannot answer 401. Asked once with
    the proxy up first, so that the handlers' client has connected and discovered its server."""
    warm = stack.request("GET", "/milvus", "not-a-real-token")
    assert warm.status_code == 401, warm.text
    mongodb(stack, down=True)
    try:
        reply = stack.request("GET", "/milvus", "not-a-real-token")
    finally:
        mongodb(stack, down=False)
    return reply.status_code == 503


@pytest.fixture(scope="module")
def session_proxy_works(stack: Stack) -> bool:
    return proxy_cuts_the_handlers_off(stack)


def test_the_local_stack_cuts_the_handlers_off_mongodb(session_proxy_works: bool) -> None:
    assert session_proxy_works, (
        "PUT /_local/mongodb {'down': true} left the handlers reading MongoDB: SecantusDB reports itself as a "
        "one-member replica set, so pymongo discovers the member's real address and connects around the proxy "
        "(local/stack.py _start_mongo_proxy must give the handlers a URI with directConnection=true)"
    )


@pytest.fixture(scope="module")
def mstack(stack: Stack, session_proxy_works: bool) -> Stack:
    """The session's stack, once its handlers are shown to reach MongoDB through the fault proxy."""
    assert session_proxy_works, "the MongoDB fault proxy does not cut the handlers off (see the test above)"
    return stack


@pytest.fixture(scope="module")
def users(mstack: Stack) -> dict[str, tuple[str, str]]:
    """role -> (username, token): one user per test, their tokens issued at once."""
    names = {role: faultkit.new_username(f"mf-{role}") for role in ("create", "white", "down")}
    issued = faultkit.tokens(mstack, names.values())
    return {role: (name, issued[name]) for role, name in names.items()}


@pytest.fixture
def restored(mstack: Stack) -> Iterator[Stack]:
    """MongoDB up and no fault in place before and after the test, whatever happens."""
    mstack.quiesce()
    mongodb(mstack, down=False)
    mstack.clear_faults()
    yield mstack
    mongodb(mstack, down=False)
    mstack.clear_faults()


def answer_problem(reply: requests.Response, normal: int) -> str | None:
    """None if the reply is the normal answer or a 503 with Retry-After in the failure shape."""
    if reply.status_code == normal:
        return None
    if not faultkit.is_retryable(reply):
        return f"HTTP {reply.status_code} (Retry-After {reply.headers.get('Retry-After')}): {reply.text[:200]}"
    return faultkit.failure_shape_problem(reply)


def ever_launched(stack: Stack, user: str, name: str) -> list[str]:
    key = [{"Name": "tag:milvus-username", "Values": [f"{user}/{name}"]}]
    states = ["pending", "running", "stopping", "stopped", "shutting-down", "terminated"]
    return [i["InstanceId"] for i in stack.instances(key, states=states)]


def test_mongodb_down_at_each_step_of_create(restored: Stack, users: dict[str, tuple[str, str]]) -> None:
    stack = restored
    user, token = users["create"]
    start = messages(stack)
    assert stack.create(token, user, "measure", TYPE, DISK).status_code == 202
    steps = min(messages(stack) - start, MAX_STEPS)
    stack.quiesce()
    assert steps > 0

    problems: list[str] = []
    outcomes: dict[int, str] = {}
    stuck: list[str] = []
    strict: list[str] = []
    for k in range(steps + 1):
        name = f"step-{k:02d}"
        mongodb(stack, down_after=k)
        started = time.monotonic()
        try:
            reply = stack.create(token, user, name, TYPE, DISK)
        finally:
            mongodb(stack, down=False)
        elapsed = time.monotonic() - started
        stack.quiesce()  # any workflow the create started, retried through the outage, has ended
        record = stack.record(user, name)
        outcomes[k] = f"{reply.status_code} -> {record['state'] if record else 'no record'} ({elapsed:.1f}s)"
        if problem := answer_problem(reply, 202):
            problems.append(f"k={k}: {problem}")
        if elapsed > ROUTE_BOUND_SECONDS:
            problems.append(f"k={k}: the answer took {elapsed:.1f}s")
        if reply.status_code == 202:
            if record is None or record["state"] not in ("running", "failed"):
                problems.append(f"k={k}: accepted, but the cluster ended {record and record['state']}")
            elif record["state"] == "failed":
                strict.append(name)  # rolled back: nothing of it may remain
        elif record is None:
            strict.append(name)
            if launched := ever_launched(stack, user, name):
                problems.append(f"k={k}: refused, yet instances were launched: {launched}")
        elif record["state"] == "creating":
            stuck.append(f"{user}/{name}")
            if launched := ever_launched(stack, user, name):
                problems.append(f"k={k}: refused, yet instances were launched: {launched}")
        else:
            problems.append(f"k={k}: refused, but the record is {record['state']}")
    orphans = faultkit.unaccounted(stack, user, nothing_for=strict)
    if stuck:
        report = faultkit.sweep_report(stack)
        reported = {f["resource_id"] for f in report["found"] if f["kind"] == "stuck-record"}
        problems += [f"{key} is left creating and the sweep does not report it" for key in stuck if key not in reported]
    print(f"create, MongoDB cut after k messages (clean create: {steps}): {outcomes}")
    print(f"stuck records reported by the sweep: {stuck}; orphans: {orphans}")
    assert not problems and not orphans, "\n".join([*problems, *(f"orphan: {o}" for o in orphans)])


def expire_lease(stack: Stack, user: str, name: str) -> bool:
    """Time travel: a lease a cut-off writer could not release expires by design (60 s); age it now."""
    past = datetime.now(UTC) - timedelta(seconds=1)
    result = stack.clusters.update_one(
        {"username": user, "milvus-name": name, "whitelist-lease": {"$gt": past}}, {"$set": {"whitelist-lease": past}}
    )
    return result.modified_count > 0


def put_whitelist(stack: Stack, user: str, token: str, name: str, entries: list[dict[str, Any]]) -> requests.Response:
    body = {"session-token": token, "username": user, "milvus-name": name, "ip-ranges": entries}
    return stack.request("PUT", f"/milvus/{name}/whitelist", json=body)


def test_mongodb_down_at_each_step_of_a_whitelist_change(restored: Stack, users: dict[str, tuple[str, str]]) -> None:
    stack = restored
    user, token = users["white"]
    name = "guarded"
    assert stack.create(token, user, name, TYPE, DISK).status_code == 202
    stack.quiesce()
    assert put_whitelist(stack, user, token, name, BASELINE).status_code == 200
    start = messages(stack)
    assert put_whitelist(stack, user, token, name, CHANGED).status_code == 200
    steps = min(messages(stack) - start, MAX_STEPS)
    assert steps > 0

    problems: list[str] = []
    outcomes: dict[int, str] = {}
    leases = 0
    for k in range(steps + 1):
        reset = put_whitelist(stack, user, token, name, BASELINE)
        assert reset.status_code == 200, f"k={k}: the reset failed: {reset.text}"
        mongodb(stack, down_after=k)
        started = time.monotonic()
        try:
            reply = put_whitelist(stack, user, token, name, CHANGED)
        finally:
            mongodb(stack, down=False)
        elapsed = time.monotonic() - started
        record = stack.record(user, name)
        assert record is not None
        actual = faultkit.group_rules(stack, record["security-group-id"])
        outcomes[k] = f"{reply.status_code} ({elapsed:.1f}s)"
        if problem := answer_problem(reply, 200):
            problems.append(f"k={k}: {problem}")
        if elapsed > ROUTE_BOUND_SECONDS:
            problems.append(f"k={k}: the answer took {elapsed:.1f}s")
        if reply.status_code == 200 and actual != faultkit.as_rules(CHANGED):
            problems.append(f"k={k}: 200, but the group holds {sorted(actual, key=str)}")
        if expire_lease(stack, user, name):
            leases += 1
            outcomes[k] += " lease left held"
        # Once MongoDB is back, the whitelist the API reports is what the group really holds.
        read = stack.request("GET", f"/milvus/{name}/whitelist", token)
        if read.status_code != 200 or faultkit.as_rules(read.json()["ip-ranges"]) != actual:
            problems.append(f"k={k}: GET whitelist is {read.status_code} {read.text[:200]}, the group {actual}")
    orphans = faultkit.unaccounted(stack, user)
    print(f"whitelist change, MongoDB cut after k messages (clean change: {steps}): {outcomes}")
    print(f"leases left held by a cut-off writer (expired by the test): {leases}")
    assert not problems and not orphans, "\n".join([*problems, *(f"orphan: {o}" for o in orphans)])


def test_mongodb_down_entirely(restored: Stack, users: dict[str, tuple[str, str]]) -> None:
    stack = restored
    user, token = users["down"]
    assert stack.create(token, user, "standing", TYPE, DISK).status_code == 202
    stack.quiesce()
    body = {"session-token": token, "username": user}
    routes: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/milvus", {"json": {**body, "milvus-name": "newcomer", "milvus-type": TYPE, "disk-size": DISK}}),
        ("GET", "/milvus", {}),
        ("GET", "/milvus/standing", {}),
        ("PUT", "/milvus/standing/whitelist", {"json": {**body, "milvus-name": "standing", "ip-ranges": CHANGED}}),
        ("GET", "/milvus/standing/whitelist", {}),
        ("POST", "/milvus/standing/suspend", {}),
        ("POST", "/milvus/standing/resume", {}),
        ("DELETE", "/milvus/standing", {}),
    ]
    instances = len(stack.instances([]))
    before = stack.calls()
    mongodb(stack, down=True)
    problems: list[str] = []
    timings: dict[str, float] = {}
    try:
        for method, path, extra in routes:
            started = time.monotonic()
            reply = stack.request(method, path, token, **extra)
            timings[f"{method} {path}"] = round(time.monotonic() - started, 1)
            if not faultkit.is_retryable(reply):
                problems.append(f"{method} {path}: HTTP {reply.status_code} {reply.text[:200]}")
            elif shape := faultkit.failure_shape_problem(reply):
                problems.append(f"{method} {path}: {shape}")
            if timings[f"{method} {path}"] > ROUTE_BOUND_SECONDS:
                problems.append(f"{method} {path}: took {timings[f'{method} {path}']}s")
        public = stack.request("GET", "/milvus-types")
        if public.status_code != 200:
            problems.append(f"GET /milvus-types needs no database, yet answered {public.status_code}")
    finally:
        mongodb(stack, down=False)
    stack.quiesce()
    made = faultkit.injection_points(faultkit.calls_delta(before, stack.calls()))
    print(f"MongoDB down: seconds per route {timings}; AWS calls made: {made}")
    if made:
        problems.append(f"AWS calls were made while MongoDB was down: {made}")
    if len(stack.instances([])) != instances:
        problems.append("instances were launched while MongoDB was down")
    record = stack.record(user, "standing")
    if record is None or record["state"] != "running":
        problems.append(f"the standing cluster changed: {record and record['state']}")
    if stack.record(user, "newcomer") is not None:
        problems.append("the refused create left a record")
    assert not problems, "\n".join(problems)
