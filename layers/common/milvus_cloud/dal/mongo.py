"""One MongoDB client per process, reused across warm invocations; indexes ensured once."""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

from pymongo import ASCENDING, MongoClient
from pymongo.database import Database

from milvus_cloud.settings import get_settings

CLUSTERS = "clusters"
CLUSTER_HISTORY = "cluster_history"
SESSIONS = "sessions"
IDEMPOTENCY = "idempotency"
ORPHANS = "orphans"
AUDIT = "audit"

_index_lock = threading.Lock()
_indexed: set[str] = set()


def _connection_string() -> str:
    settings = get_settings()
    if settings.mongodb_uri:
        return settings.mongodb_uri
    if settings.mongodb_secret_arn:
        from aws_lambda_powertools.utilities import parameters  # only deployments with a secret pay for it

        return str(parameters.get_secret(settings.mongodb_secret_arn, max_age=300))
    raise RuntimeError("set MONGODB_URI or MONGODB_SECRET_ARN")


@cache
def get_client() -> MongoClient[dict[str, Any]]:
    timeout = get_settings().mongodb_timeout_ms
    return MongoClient(
        _connection_string(),
        serverSelectionTimeoutMS=timeout,
        connectTimeoutMS=timeout,
        socketTimeoutMS=timeout * 3,
        retryWrites=True,
        retryReads=True,
        tz_aware=True,
    )


def get_db() -> Database[dict[str, Any]]:
    db = get_client()[get_settings().database_name]
    if db.name not in _indexed:
        with _index_lock:
            if db.name not in _indexed:
                ensure_indexes(db)
                _indexed.add(db.name)
    return db


def ensure_indexes(db: Database[dict[str, Any]]) -> None:
    db[CLUSTERS].create_index([("username", ASCENDING), ("milvus-name", ASCENDING)], unique=True, name="cluster_key")
    db[SESSIONS].create_index("expires-at", expireAfterSeconds=0, name="session_ttl")
    db[IDEMPOTENCY].create_index("expires-at", expireAfterSeconds=0, name="idempotency_ttl")
    db[AUDIT].create_index([("username", ASCENDING), ("at", ASCENDING)], name="audit_by_user")
    db[CLUSTER_HISTORY].create_index([("username", ASCENDING), ("milvus-name", ASCENDING)], name="history_key")


def reset_for_tests() -> None:
    """Forget the cached client and index state (tests point the process at a new server)."""
    if get_client.cache_info().currsize:
        get_client().close()
    get_client.cache_clear()
    _indexed.clear()
