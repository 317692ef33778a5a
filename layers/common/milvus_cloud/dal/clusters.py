"""Cluster records in MongoDB: one document per (username, milvus-name), under a unique index."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from milvus_cloud.dal.mongo import CLUSTER_HISTORY, CLUSTERS, get_db

Record = dict[str, Any]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _key(username: str, milvus_name: str) -> dict[str, str]:
    return {"username": username, "milvus-name": milvus_name}


def insert_cluster(record: Record) -> bool:
    """Reserve the name. False if a record with this (username, milvus-name) already exists."""
    try:
        get_db()[CLUSTERS].insert_one(record)
    except DuplicateKeyError:
        return False
    record.pop("_id", None)
    return True


def get_cluster(username: str, milvus_name: str) -> Record | None:
    return get_db()[CLUSTERS].find_one(_key(username, milvus_name), {"_id": False})


def list_clusters(username: str) -> list[Record]:
    cursor = get_db()[CLUSTERS].find({"username": username}, {"_id": False}).sort("milvus-name", 1)
    return list(cursor)


def count_clusters(username: str) -> int:
    return get_db()[CLUSTERS].count_documents({"username": username})


def update_cluster(
    username: str,
    milvus_name: str,
    changes: Record,
    *,
    only_in_states: Iterable[str] | None = None,
    unset: Iterable[str] = (),
) -> bool:
    """Apply changes; with only_in_states, only if the record is in one of them (a compare-and-set).
    True if it applied. (update_one, not find_one_and_update: SecantusDB serves only the former by index.)"""
    query: Record = _key(username, milvus_name)
    if only_in_states is not None:
        query["state"] = {"$in": list(only_in_states)}
    update: Record = {"$set": {**changes, "updated-at": now_iso()}}
    if unset:
        update["$unset"] = dict.fromkeys(unset, "")
    return get_db()[CLUSTERS].update_one(query, update).matched_count == 1


def transition(username: str, milvus_name: str, from_states: Iterable[str], changes: Record) -> Record | None:
    """Compare-and-set on the state; the record as it was before, or None if it was not in from_states."""
    return get_db()[CLUSTERS].find_one_and_update(
        {**_key(username, milvus_name), "state": {"$in": list(from_states)}},
        {"$set": {**changes, "updated-at": now_iso()}},
        projection={"_id": False},
        return_document=ReturnDocument.BEFORE,
    )


def delete_cluster(username: str, milvus_name: str) -> None:
    get_db()[CLUSTERS].delete_one(_key(username, milvus_name))


def archive_and_delete_cluster(username: str, milvus_name: str, final_state: str) -> None:
    """Keep a copy in the history collection, then free the name for a new cluster."""
    record = get_cluster(username, milvus_name)
    if record is None:
        return
    get_db()[CLUSTER_HISTORY].insert_one({**record, "state": final_state, "archived-at": now_iso()})
    delete_cluster(username, milvus_name)


def take_whitelist_lease(username: str, milvus_name: str, states: Iterable[str], seconds: int) -> bool:
    """One whitelist writer at a time per cluster; a lease left by a crashed writer expires."""
    now = datetime.now(UTC)
    taken = get_db()[CLUSTERS].update_one(
        # No lease, or an expired one. ($not/$gt rather than $or: an $or makes SecantusDB scan the collection.)
        {**_key(username, milvus_name), "state": {"$in": list(states)}, "whitelist-lease": {"$not": {"$gt": now}}},
        {"$set": {"whitelist-lease": now + timedelta(seconds=seconds), "whitelist-pending": True}},
    )
    return taken.matched_count == 1


def release_whitelist_lease(username: str, milvus_name: str) -> None:
    get_db()[CLUSTERS].update_one(_key(username, milvus_name), {"$set": {"whitelist-lease": None}})


def store_whitelist(username: str, milvus_name: str, entries: list[Record]) -> None:
    update_cluster(username, milvus_name, {"whitelist": entries, "whitelist-pending": False})


SWEEP_FIELDS = (
    "username",
    "milvus-name",
    "state",
    "instances",
    "allocation-id",
    "security-group-id",
    "execution-arn",
    "created-at",
)


def all_clusters() -> list[Record]:
    """Every record, with only what the orphan sweep compares (a full scan, once per sweep)."""
    return list(get_db()[CLUSTERS].find({}, {"_id": False, **dict.fromkeys(SWEEP_FIELDS, True)}))
