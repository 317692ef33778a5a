"""Hostile input through the local stack (issue 4, item 6): every request of tests/e2e/hostile_corpus.py gets
a 4xx (never a 5xx) in the contract's failure shape, and MongoDB and AWS are exactly as they were.

The corpus is aimed at an attacker's own running cluster (so hostile bodies get past authentication) and at a
victim's running cluster (other users' tokens and names). Both clusters, their whitelists and the tokens exist
before the "before" snapshot; the snapshot is taken again once the whole corpus is through.

The summary (requests tried, by status, server errors) is printed; see it with
`pytest tests/e2e/test_hostile_input.py -rP`.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from milvus_cloud.dal.sessions import hash_token
from tests.e2e import hostile_corpus
from tests.e2e.conftest import Stack
from tests.e2e.hostile_corpus import Case, Context

FAILURE_KEYS = {"status", "description", "code"}
SENDERS = 8


@dataclass
class Outcome:
    case: Case
    status: int | None  # None: no HTTP answer at all
    body: Any = None
    content_type: str = ""
    error: str | None = None

    def problems(self) -> list[str]:
        """What is wrong with this answer, by the contract; empty if it is right."""
        if self.status is None:
            return [f"no answer: {self.error}"]
        found = []
        if not 400 <= self.status < 500:
            found.append(f"status {self.status}")
        elif self.case.expect and self.status not in self.case.expect:
            found.append(f"status {self.status}, the contract says {sorted(self.case.expect)}")
        if not self.content_type.startswith("application/json"):
            found.append(f"content-type {self.content_type!r}")
        body = self.body
        if not (isinstance(body, dict) and set(body) == FAILURE_KEYS):
            found.append(f"not the failure shape: {str(body)[:120]!r}")
        elif not (
            body["status"] == "failed"
            and isinstance(body["description"], str)
            and body["description"].strip()
            and isinstance(body["code"], str)
            and body["code"]
        ):
            found.append(f"failure shape with bad values: {body}")
        return found


@dataclass
class Run:
    context: Context
    outcomes: list[Outcome]
    before: dict[str, Any]
    after: dict[str, Any]
    seconds: float
    summary: dict[str, Any] = field(default_factory=dict)


def snapshot(stack: Stack, sessions_after: datetime) -> dict[str, Any]:
    """Everything a refused request must leave as it was: every collection's document count (sessions: those
    live after `sessions_after`, so the TTL sweep of the expired ones does not count), the clusters' full
    content, and the instances, volumes, addresses, groups and their rules in moto."""
    stack.quiesce()
    mongo: dict[str, Any] = {}
    for name in sorted(stack.db.list_collection_names()):
        query = {"expires-at": {"$gt": sessions_after}} if name == "sessions" else {}
        mongo[f"count:{name}"] = stack.db[name].count_documents(query)
    mongo["clusters"] = sorted(
        (json.loads(json.dumps(doc, default=str)) for doc in stack.clusters.find({})),
        key=lambda d: (d["username"], d["milvus-name"]),
    )
    ec2 = stack.ec2
    instances = {i["InstanceId"]: (i["State"]["Name"], i.get("PublicIpAddress")) for i in stack.instances([])}
    volumes = {
        v["VolumeId"]: (v["State"], v["Size"], sorted(a["InstanceId"] for a in v.get("Attachments", [])))
        for v in ec2.describe_volumes()["Volumes"]
    }
    addresses = {a["AllocationId"]: (a["PublicIp"], a.get("InstanceId")) for a in ec2.describe_addresses()["Addresses"]}
    groups = {}
    for group in ec2.describe_security_groups()["SecurityGroups"]:
        rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group["GroupId"]]}])
        groups[group["GroupId"]] = sorted(
            json.dumps(
                {k: r.get(k) for k in ("SecurityGroupRuleId", "IsEgress", "IpProtocol", "FromPort", "ToPort")}
                | {"cidr": r.get("CidrIpv4"), "ref": r.get("ReferencedGroupInfo"), "desc": r.get("Description")},
                sort_keys=True,
            )
            for r in rules["SecurityGroupRules"]
        )
    return {
        "mongo": mongo,
        "aws": {"instances": instances, "volumes": volumes, "addresses": addresses, "groups": groups},
        "executions": len(stack.executions()),
    }


def running_cluster(stack: Stack, username: str, token: str, name: str, cidr: str) -> None:
    reply = stack.create(token, username, name, "S1", 20)
    assert reply.status_code == 202, reply.text
    assert stack.wait_for(token, name)["state"] == "running"
    body = {
        "session-token": token,
        "username": username,
        "milvus-name": name,
        "ip-ranges": [{"source-ip": cidr, "port-type": "milvus-port", "description": "office"}],
    }
    reply = stack.request("PUT", f"/milvus/{name}/whitelist", json=body)
    assert reply.status_code == 200, reply.text


def expired_tokens(stack: Stack, username: str) -> tuple[str, ...]:
    """One issued by the admin command with a lifetime of a third of a millisecond, and one whose session
    document (stored as the real hash) expired an hour ago, as the TTL index has not yet removed."""
    by_command = stack.token(username, ttl_hours=1e-7)
    planted = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    stack.db["sessions"].insert_one(
        {
            "_id": hash_token(planted),
            "username": username,
            "created-at": now - timedelta(hours=13),
            "expires-at": now - timedelta(hours=1),
        }
    )
    return by_command, planted


def send(http: requests.Session, api: str, case: Case) -> Outcome:
    try:
        reply = http.request(case.method, api + case.path, data=case.body, headers=case.headers, timeout=60)
    except requests.RequestException as exc:
        return Outcome(case, None, error=f"{type(exc).__name__}: {exc}"[:300])
    try:
        body: Any = reply.json()
    except ValueError:
        body = reply.text[:300]
    return Outcome(case, reply.status_code, body, reply.headers.get("Content-Type", ""))


def summarise(run: Run) -> dict[str, Any]:
    by_status = Counter(str(o.status) for o in run.outcomes)
    wrong = [o for o in run.outcomes if o.problems()]
    return {
        "requests": len(run.outcomes),
        "seconds": round(run.seconds, 1),
        "by-status": dict(sorted(by_status.items())),
        "server-errors": sum(1 for o in run.outcomes if o.status is None or o.status >= 500),
        "wrong-answers": len(wrong),
        "by-route": hostile_corpus.summary([o.case for o in run.outcomes])["by-route"],
        "by-category": hostile_corpus.summary([o.case for o in run.outcomes])["by-category"],
    }


@pytest.fixture(scope="module")
def run(stack: Stack) -> Run:
    tag = uuid.uuid4().hex[:8]
    attacker, victim = f"e2e-atk-{tag}", f"e2e-vic-{tag}"
    token, victim_token = stack.token(attacker), stack.token(victim)
    running_cluster(stack, attacker, token, "own-cats", "198.51.100.10/32")
    running_cluster(stack, victim, victim_token, "victim-cats", "203.0.113.10/32")
    context = Context(
        user=attacker,
        token=token,
        cluster="own-cats",
        victim=victim,
        victim_token=victim_token,
        victim_cluster="victim-cats",
        expired_tokens=expired_tokens(stack, attacker),
        stored_hash=hash_token(token),
    )
    cases = hostile_corpus.build(context)
    sessions_after = datetime.now(UTC) + timedelta(seconds=1)
    time.sleep(1.1)  # every expired token is past `sessions_after`; every live one (12 h) is far beyond it
    before = snapshot(stack, sessions_after)
    started = time.monotonic()
    local = threading.local()

    def send_one(case: Case) -> Outcome:
        if not hasattr(local, "http"):
            local.http = requests.Session()
        return send(local.http, stack.api, case)

    # Several at a time (the stack still runs one API call at a time): network waits overlap, and the
    # stack sees hostile requests arrive side by side.
    with ThreadPoolExecutor(max_workers=SENDERS) as pool:
        outcomes = list(pool.map(send_one, cases))
    seconds = time.monotonic() - started
    after = snapshot(stack, sessions_after)
    result = Run(context, outcomes, before, after, seconds)
    result.summary = summarise(result)
    return result


def test_the_corpus_is_large_and_reaches_every_route(run: Run) -> None:
    cases = [o.case for o in run.outcomes]
    assert len(cases) >= 300
    by_route = Counter(c.route for c in cases)
    for route in hostile_corpus.ROUTES:
        assert by_route[route] >= 5, (route, by_route)
    categories = {c.category for c in cases}
    assert {
        "wrong-type",
        "missing-field",
        "unknown-field",
        "operator",
        "operator-path",
        "deep-nesting",
        "oversized-body",
        "oversized-string",
        "oversized-list",
        "bad-name",
        "bad-cidr",
        "other-user",
        "bad-token",
        "not-a-json-object",
        "bad-authorization",
    } <= categories
    assert any("expired" in c.id for c in cases)


def test_no_hostile_request_gets_a_server_error(run: Run) -> None:
    errors = [
        f"{o.case.id}: {o.status} {str(o.body)[:100] if o.status else o.error}"
        for o in run.outcomes
        if o.status is None or o.status >= 500
    ]
    assert not errors, f"{len(errors)} server errors:\n" + "\n".join(errors[:40])


def test_every_hostile_request_gets_a_4xx_in_the_failure_shape(run: Run) -> None:
    wrong = [f"{o.case.id}: {'; '.join(o.problems())}" for o in run.outcomes if o.problems()]
    assert not wrong, f"{len(wrong)} of {len(run.outcomes)} answers break the contract:\n" + "\n".join(wrong[:40])


def test_mongodb_is_unchanged(run: Run) -> None:
    assert run.after["mongo"] == run.before["mongo"]


def test_aws_is_unchanged(run: Run) -> None:
    assert run.after["aws"] == run.before["aws"]
    assert run.after["executions"] == run.before["executions"]


def test_both_clusters_still_run_with_their_whitelists(stack: Stack, run: Run) -> None:
    ctx = run.context
    for token, name, cidr in (
        (ctx.token, ctx.cluster, "198.51.100.10/32"),
        (ctx.victim_token, ctx.victim_cluster, "203.0.113.10/32"),
    ):
        described = stack.describe(token, name)
        assert described.status_code == 200, described.text
        assert described.json()["state"] == "running"
        assert [e["source-ip"] for e in described.json()["whitelist"]] == [cidr]


def test_print_the_summary(run: Run) -> None:
    """The figures the README quotes (shown with -rP)."""
    print("hostile input summary:", json.dumps(run.summary, indent=2))
    assert run.summary["requests"] == len(run.outcomes)
