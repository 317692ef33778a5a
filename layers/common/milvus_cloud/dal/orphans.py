"""When the sweep first saw each orphan: removal waits for the grace period from then."""

from __future__ import annotations

from datetime import UTC, datetime

from milvus_cloud.dal.mongo import ORPHANS, get_db


def first_seen(resource_ids: list[str]) -> dict[str, datetime]:
    """Record the sighting of each id (now, if new) and forget ids no longer orphaned."""
    collection = get_db()[ORPHANS]
    now = datetime.now(UTC)
    for resource_id in resource_ids:
        collection.update_one({"_id": resource_id}, {"$setOnInsert": {"first-seen": now}}, upsert=True)
    collection.delete_many({"_id": {"$nin": resource_ids}})
    return {doc["_id"]: doc["first-seen"] for doc in collection.find({"_id": {"$in": resource_ids}})}


def forget(resource_id: str) -> None:
    get_db()[ORPHANS].delete_one({"_id": resource_id})
