"""Scale: describe, list and an unchanged whitelist for one user, with 100 and then 100,000 cluster
records of other users in MongoDB (over HTTP, and through the bare handler so the HTTP front's constant
cost does not hide the database's); then every query the data access layer makes: its plan (explain)
and its time at both sizes."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import requests
from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

from bench import NAME, USER, check, handler_call, in_state, median, table, timed, wait_for

REQUESTS = 50
QUERY_RUNS = 21
SLOW_MS = 500.0  # a query slower than this is timed once
NOISE_MS = 2.0  # growth below this is timer and scheduler noise, not scale
SMALL, LARGE, BATCH = 100, 100_000, 5_000
GOAL = 1.5
PER_USER = 5  # other users have 5 clusters each
WHITELIST = [
    {"source-ip": "198.51.100.7/32", "port-type": "milvus-port"},
    {"source-ip": "198.51.100.7/32", "port-type": "milvus-em-port"},
]
ROUTES = {  # route: (function, method, resource)
    "describe": ("GetClusterFunction", "GET", "/milvus/{milvus-name}"),
    "list": ("ListClustersFunction", "GET", "/milvus"),
    "whitelist": ("SetWhitelistFunction", "PUT", "/milvus/{milvus-name}/whitelist"),
}


def setup(api: str, token: str) -> None:
    """The user's own cluster, running, with its whitelist set once."""
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    body = {"session-token": token, "username": USER, "milvus-name": NAME, "milvus-type": "S1", "disk-size": 20}
    check(http.post(f"{api}/milvus", json=body, timeout=30), 202)
    wait_for(http, api, NAME, in_state("running"), timeout=60)
    check(http.put(f"{api}/milvus/{NAME}/whitelist", json=whitelist_body(token), timeout=30), 200)


def whitelist_body(token: str) -> dict[str, Any]:
    return {"session-token": token, "username": USER, "milvus-name": NAME, "ip-ranges": WHITELIST}


def others(template: dict[str, Any], start: int, stop: int) -> list[dict[str, Any]]:
    return [
        {**template, "username": f"other-{i // PER_USER:06d}", "milvus-name": f"cluster-{i % PER_USER}"}
        for i in range(start, stop)
    ]


def route_calls(stack: Any, token: str) -> dict[str, Callable[[], Any]]:
    """Per route, its HTTP request and its bare handler call."""
    api, http = stack.info["api"], requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    calls: dict[str, Callable[[], Any]] = {}
    for route, (function, method, resource) in ROUTES.items():
        body = whitelist_body(token) if method == "PUT" else None
        url = api + resource.replace("{milvus-name}", NAME)
        calls[f"{route} HTTP"] = lambda m=method, u=url, b=body: check(http.request(m, u, json=b, timeout=30), 200)
        calls[f"{route} handler"] = handler_call(stack, function, method, resource, token, body)
    return calls


def measure(calls: dict[str, Callable[[], Any]]) -> dict[str, float]:
    for call in calls.values():  # warm-up, not measured
        call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(REQUESTS):  # interleaved, so drift hits every route alike
        for name, call in calls.items():
            times[name].append(timed(call)[0])
    return {name: median(ms) for name, ms in times.items()}


def dal_queries(token: str) -> dict[str, tuple[Callable[[], Any] | None, dict[str, Any]]]:
    """Every query of dal/clusters.py and dal/sessions.py, called through the real code (the handlers' own
    client and path), with the command explain is asked about."""
    from milvus_cloud.dal import clusters, sessions

    key = {"username": USER, "milvus-name": NAME}
    states = ["creating", "running", "suspending", "suspended", "resuming"]
    free = [{"whitelist-lease": None}, {"whitelist-lease": {"$lt": datetime.now(UTC)}}]
    lease = {**key, "state": {"$in": states}, "$or": free}

    def lease_round_trip() -> None:
        if not clusters.take_whitelist_lease(USER, NAME, states, 60):
            raise RuntimeError("the benchmark could not take its own cluster's whitelist lease")
        clusters.release_whitelist_lease(USER, NAME)

    return {
        "sessions.find_session": (
            lambda: sessions.find_session(token),
            {"find": "sessions", "filter": {"_id": sessions.hash_token(token)}},
        ),
        "clusters.get_cluster": (lambda: clusters.get_cluster(USER, NAME), {"find": "clusters", "filter": key}),
        "clusters.list_clusters": (
            lambda: clusters.list_clusters(USER),
            {"find": "clusters", "filter": {"username": USER}, "sort": {"milvus-name": 1}},
        ),
        "clusters.count_clusters": (
            lambda: clusters.count_clusters(USER),
            {"count": "clusters", "query": {"username": USER}},
        ),
        "clusters.update_cluster (CAS)": (
            lambda: clusters.update_cluster(USER, NAME, {}, only_in_states=states),
            {"findAndModify": "clusters", "query": {**key, "state": {"$in": states}}, "update": {"$set": {"x": 1}}},
        ),
        "clusters.take+release_whitelist_lease": (
            lease_round_trip,
            {"findAndModify": "clusters", "query": lease, "update": {"$set": {"x": 1}}},
        ),
        "clusters.release_whitelist_lease": (
            lambda: clusters.release_whitelist_lease(USER, NAME),
            {"update": "clusters", "updates": [{"q": key, "u": {"$set": {"whitelist-lease": None}}}]},
        ),
        "clusters.all_clusters (sweep)": (None, {"find": "clusters", "filter": {}}),  # not timed: a full scan
    }


def time_queries(queries: dict[str, Any], db: Any) -> dict[str, float | str | None]:
    """Median ms per query; a query slower than SLOW_MS runs once, and one that times out says so."""
    times: dict[str, float | str | None] = {}
    try:
        for name, (call, _) in queries.items():
            if call is None:
                times[name] = None
                continue
            try:
                first = timed(call)[0]
                runs = [first] if first > SLOW_MS else [first, *(timed(call)[0] for _ in range(QUERY_RUNS - 1))]
                times[name] = median(runs)
            except PyMongoError as exc:
                times[name] = f"error: {type(exc).__name__}"
    finally:  # the lease round trip leaves whitelist-pending set, as a real change does until it stores the list
        update = {"$set": {"whitelist-pending": False, "whitelist-lease": None}}
        db.clusters.update_one({"username": USER, "milvus-name": NAME}, update)
    return times


def plan(node: dict[str, Any]) -> str:
    """The winning plan as a chain of stages, e.g. FETCH <- IXSCAN(cluster_key)."""
    stage = node.get("stage", "?") + (f"({node['indexName']})" if "indexName" in node else "")
    inner = node.get("inputStage") or (node.get("inputStages") or [None])[0]
    return f"{stage} <- {plan(inner)}" if inner else stage


def explain(db: Any, command: dict[str, Any]) -> tuple[str, Any]:
    try:
        out = db.command({"explain": command, "verbosity": "executionStats"})
    except OperationFailure as exc:
        return f"explain unsupported: {str(exc)[:60]}", "?"
    return plan(out["queryPlanner"]["winningPlan"]), out.get("executionStats", {}).get("totalDocsExamined", "?")


def verdict(name: str, chain: str, small: float | None, large: float | None) -> str:
    if "sweep" in name:
        return "full scan, by design"
    grew = small is not None and large is not None and large > GOAL * small and large - small > NOISE_MS
    if grew:
        return "SCALES WITH N"
    return "index" if "IXSCAN" in chain else "explain: COLLSCAN, time flat"


def run(stack: Any, token: str) -> dict[str, Any]:
    info = stack.info
    setup(info["api"], token)
    db = MongoClient(info["mongodb"], tz_aware=True)[info["database"]]
    record = db.clusters.find_one({"username": USER, "milvus-name": NAME}, {"_id": False})
    if record is None:
        raise RuntimeError("the benchmark user's record is missing")
    calls, queries = route_calls(stack, token), dal_queries(token)

    db.clusters.insert_many(others(record, 0, SMALL))
    small, small_q = measure(calls), time_queries(queries, db)
    start, inserted = time.perf_counter(), 0
    for first in range(SMALL, LARGE, BATCH):
        inserted += len(db.clusters.insert_many(others(record, first, min(first + BATCH, LARGE))).inserted_ids)
    rate = inserted / (time.perf_counter() - start)
    total = db.clusters.count_documents({})
    large, large_q = measure(calls), time_queries(queries, db)

    rows, routes = [], {}
    for name in calls:
        ratio = large[name] / small[name]
        goal = ("ok" if ratio <= GOAL else "OVER") if name.endswith("HTTP") else ""
        rows.append([name, small[name], large[name], f"{ratio:.2f}", goal])
        routes[name] = {"small_ms": round(small[name], 2), "large_ms": round(large[name], 2), "ratio": round(ratio, 3)}
    table(
        f"Scale: median of {REQUESTS} requests (ms), {SMALL:,} vs {LARGE:,} other users' records; "
        f"goal <= {GOAL}x over HTTP",
        ["route", f"{SMALL:,} ms", f"{LARGE:,} ms", "ratio", "goal"],
        rows,
        note=f"inserted {inserted:,} records (insert_many, batches of {BATCH:,}): {rate:,.0f} records/s; "
        f"clusters collection: {total:,} documents",
    )
    result: dict[str, Any] = {"requests": REQUESTS, "records": [SMALL, LARGE], "insert_rate_per_s": round(rate)}
    result["routes"] = routes

    explained = {name: explain(db, command) for name, (_, command) in queries.items()}
    rows, result["queries"] = [], {}
    for name, (chain, docs) in explained.items():
        a, b = small_q[name], large_q[name]
        timings = (a, b) if isinstance(a, float) and isinstance(b, float) else (None, None)
        served = "TIMED OUT" if isinstance(b, str) else verdict(name, chain, *timings)
        rows.append([name, chain, docs, "-" if a is None else a, "-" if b is None else b, served])
        result["queries"][name] = {
            "plan": chain,
            "docs_examined": docs,
            "small_ms": round(a, 2) if isinstance(a, float) else a,
            "large_ms": round(b, 2) if isinstance(b, float) else b,
            "verdict": served,
        }
    table(
        f"Scale: the data access layer's queries, explain (executionStats) at {total:,} documents and "
        f"median of {QUERY_RUNS} calls through the real code (ms)",
        ["query", "winning plan", "docs examined", f"{SMALL:,} ms", f"{LARGE:,} ms", "served by"],
        rows,
        note=f"index: IXSCAN in the plan; 'explain: COLLSCAN, time flat': the plan says COLLSCAN but the time did "
        f"not grow; SCALES WITH N: the time grew more than {GOAL}x (and {NOISE_MS:.0f} ms) from {SMALL:,} to "
        f"{LARGE:,} records",
    )
    return result
