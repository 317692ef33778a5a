"""Session tokens: only a SHA-256 hash is stored, with the username and an expiry (TTL index)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from milvus_cloud.dal.mongo import SESSIONS, get_db


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def issue_token(username: str, ttl: timedelta) -> str:
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    get_db()[SESSIONS].insert_one(
        {"_id": hash_token(token), "username": username, "created-at": now, "expires-at": now + ttl}
    )
    return token


def find_session(token: str) -> dict[str, Any] | None:
    """The live session for a token, or None. The expiry is checked here too: TTL sweeps lag."""
    session = get_db()[SESSIONS].find_one({"_id": hash_token(token)})
    if session is None or session["expires-at"] <= datetime.now(UTC):
        return None
    return session
