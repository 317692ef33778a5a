"""milvus-cloud's benchmark suite (`make bench`): cold start, scale, workflow cost, throughput, package size.

Benchmarks, not tests: a slow figure is reported against its goal, never failed; only a real error
(a request that does not succeed, a stack that does not start) stops a section.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results.json"
USER = "bench-user"
NAME = "bench-scale"  # the benchmark user's cluster for scale and throughput


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (p99 of 200 values is the 198th)."""
    ordered = sorted(values)
    return float(ordered[max(1, math.ceil(pct / 100 * len(ordered))) - 1])


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    """(milliseconds, result) of one call."""
    start = time.perf_counter()
    result = call()
    return (time.perf_counter() - start) * 1000, result


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]], note: str = "") -> str:
    """A plain-text table; floats get one decimal."""
    cells = [[f"{c:.1f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = "  ".join("-" * w for w in widths)
    out = [f"\n== {title}", "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)), line]
    out += ["  ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    if note:
        out.append(note)
    text = "\n".join(out)
    print(text, flush=True)
    return text


def _numeric(cell: str) -> bool:
    return cell.replace(".", "", 1).replace("-", "", 1).replace("x", "", 1).isdigit()


def check(reply: requests.Response, *statuses: int) -> dict[str, Any]:
    """The JSON body of a reply that must have one of the statuses (a real error otherwise)."""
    if reply.status_code not in statuses:
        raise RuntimeError(f"{reply.request.method} {reply.url}: HTTP {reply.status_code} {reply.text[:300]}")
    body: dict[str, Any] = reply.json()
    return body


def wait_for(
    session: requests.Session, api: str, name: str, done: Callable[[requests.Response], bool], timeout: float
) -> float:
    """Poll GET /milvus/<name> until done(reply); the seconds it took. A timeout is a real error."""
    start = time.monotonic()
    while True:
        reply = session.get(f"{api}/milvus/{name}", timeout=30)
        if done(reply):
            return time.monotonic() - start
        if reply.status_code == 200 and reply.json().get("state") == "failed":
            raise RuntimeError(f"{name} failed: {reply.json().get('state-reason')}")
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"{name}: still {reply.status_code} {reply.text[:200]} after {timeout:.0f} s")
        time.sleep(0.5)


def in_state(state: str) -> Callable[[requests.Response], bool]:
    return lambda reply: reply.status_code == 200 and reply.json().get("state") == state


def handler_call(
    stack: Any, function: str, method: str, resource: str, token: str, body: dict[str, Any] | None = None
) -> Callable[[], dict[str, Any]]:
    """A bare call of a route's handler (no HTTP), with the event the HTTP front would build."""
    from local.http_front import proxy_event

    params = {"milvus-name": NAME} if "{milvus-name}" in resource else {}
    path = resource.replace("{milvus-name}", NAME)
    headers = {"Authorization": f"Bearer {token}", "Host": "127.0.0.1", "Content-Type": "application/json"}
    data = json.dumps(body).encode() if body is not None else b""

    def call() -> dict[str, Any]:
        result: dict[str, Any] = stack.registry.invoke(
            function, proxy_event(method, path, resource, params, headers, data)
        )
        if result["statusCode"] != 200:
            raise RuntimeError(f"{function}: HTTP {result['statusCode']} {str(result.get('body'))[:300]}")
        return result

    return call
