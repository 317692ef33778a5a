"""OpenAPI response declarations shared by the routes: the success model and the failure shape."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from milvus_cloud.models import Failure

FAILURES = {
    400: "invalid request",
    401: "missing, unknown or expired session token",
    403: "the token belongs to another user",
    404: "no such cluster",
    409: "conflict with the cluster's name or state",
    429: "quota reached",
    503: "MongoDB or AWS unavailable; see Retry-After",
}


def responses(status: int, model: type[BaseModel], *, public: bool = False) -> dict[int, Any]:
    out: dict[int, Any] = {status: {"description": "success", "content": {"application/json": {"model": model}}}}
    for code, text in FAILURES.items():
        if public and code in (401, 403, 404, 409, 429):
            continue
        out[code] = {"description": text, "content": {"application/json": {"model": Failure}}}
    return out
