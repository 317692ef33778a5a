"""The local stack's control routes (/_local/...): fault injection and call counts, for tests."""

from __future__ import annotations

from typing import Any

from local import faults
from local.mongo_proxy import MongoProxy

mongo_proxy: MongoProxy | None = None  # set by the stack when the handlers reach MongoDB through it


def control_handler(method: str, path: str, body: Any) -> tuple[int, Any]:
    if path == "/_local/faults" and method == "PUT":
        faults.set_faults([faults.Fault(**item) for item in (body or [])])
        return 200, {"status": "success"}
    if path == "/_local/faults" and method == "DELETE":
        faults.set_faults([])
        return 200, {"status": "success"}
    if path == "/_local/calls" and method == "GET":
        return 200, dict(faults.calls)
    if path == "/_local/boot" and method == "PUT":
        faults.boot_seconds = float((body or {}).get("seconds", 0))
        return 200, {"seconds": faults.boot_seconds}
    if path == "/_local/mongodb" and method == "PUT" and mongo_proxy is not None:
        return 200, mongo_proxy.configure(**(body or {}))
    return 404, {"status": "failed", "description": f"no such control route: {path}", "code": "no-such-route"}
