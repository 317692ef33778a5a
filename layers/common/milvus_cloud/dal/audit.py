"""The audit trail: who did what, when, and with what result, for every authenticated state change."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from milvus_cloud.dal.mongo import AUDIT, get_db


def record_action(
    username: str, action: str, target: str | None, status: int, code: str | None, request_id: str
) -> None:
    entry: dict[str, Any] = {
        "username": username,
        "action": action,
        "milvus-name": target,
        "status": status,
        "code": code,
        "request-id": request_id,
        "at": datetime.now(UTC),
    }
    get_db()[AUDIT].insert_one(entry)
