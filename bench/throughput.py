"""Throughput of the local stack: 200 describes over HTTP and the same through a bare handler call,
at concurrency 16 and 1, to show what the HTTP front adds."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from bench import NAME, handler_call, median, percentile, table, timed

COUNT, CONCURRENCY = 200, 16


def http_describe(api: str, token: str) -> Callable[[], int]:
    local = threading.local()

    def call() -> int:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.headers["Authorization"] = f"Bearer {token}"
        return int(local.session.get(f"{api}/milvus/{NAME}", timeout=30).status_code)

    return call


def handler_describe(stack: Any, token: str) -> Callable[[], int]:
    describe = handler_call(stack, "GetClusterFunction", "GET", "/milvus/{milvus-name}", token)
    return lambda: int(describe()["statusCode"])


def load(call: Callable[[], int], concurrency: int) -> dict[str, float]:
    for _ in range(concurrency):  # warm-up: a session per thread, the handler module loaded
        call()
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(lambda _: timed(call), range(COUNT)))
    wall = time.perf_counter() - start
    bad = [status for _, status in results if status != 200]
    if bad:
        raise RuntimeError(f"{len(bad)} of {COUNT} describes failed: HTTP {sorted(set(bad))}")
    ms = [elapsed for elapsed, _ in results]
    return {"p50_ms": median(ms), "p99_ms": percentile(ms, 99), "requests_per_s": COUNT / wall}


def run(stack: Any, token: str) -> dict[str, Any]:
    paths = {"HTTP front": http_describe(stack.info["api"], token), "bare handler": handler_describe(stack, token)}
    result: dict[str, Any] = {}
    rows = []
    for concurrency in (CONCURRENCY, 1):
        for path, call in paths.items():
            figures = load(call, concurrency)
            result[f"{path}, concurrency {concurrency}"] = {k: round(v, 2) for k, v in figures.items()}
            rows.append([path, concurrency, figures["p50_ms"], figures["p99_ms"], figures["requests_per_s"]])
    for concurrency in (CONCURRENCY, 1):
        http, bare = (result[f"{p}, concurrency {concurrency}"] for p in paths)
        result[f"front adds at concurrency {concurrency}, p50 ms"] = round(http["p50_ms"] - bare["p50_ms"], 2)
    table(
        f"Throughput: {COUNT} describes (GET /milvus/{{name}}) on the local stack",
        ["path", "concurrency", "p50 ms", "p99 ms", "requests/s"],
        rows,
        note="the local stack runs one API handler at a time (as one Lambda container would), so concurrency "
        f"queues; the HTTP front adds {result['front adds at concurrency 1, p50 ms']:.1f} ms per request (p50 at "
        "concurrency 1)",
    )
    return result
