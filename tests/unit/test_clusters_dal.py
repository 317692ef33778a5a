"""Cluster records: one per (username, milvus-name) under a unique index, always scoped to the user."""

from __future__ import annotations

from typing import Any

from milvus_cloud.dal import clusters
from milvus_cloud.dal.mongo import CLUSTER_HISTORY, CLUSTERS, get_db
from tests.support import Env


def record(username: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"username": username, "milvus-name": name, "milvus-type": "M5", "state": "creating", **extra}


def test_unique_index_on_the_cluster_key(env: Env) -> None:
    get_db()
    keys = [ix for ix in env.db[CLUSTERS].index_information().values() if ix.get("unique")]
    assert [ix["key"] for ix in keys] == [[("username", 1), ("milvus-name", 1)]]


def test_second_insert_of_the_same_key_returns_false(env: Env) -> None:
    assert clusters.insert_cluster(record("alice", "cats")) is True
    assert clusters.insert_cluster(record("alice", "cats", **{"milvus-type": "S1"})) is False
    assert env.db[CLUSTERS].count_documents({}) == 1
    assert env.db[CLUSTERS].find_one()["milvus-type"] == "M5"  # the first one stands


def test_the_same_name_for_another_user_is_another_cluster(env: Env) -> None:
    assert clusters.insert_cluster(record("alice", "cats"))
    assert clusters.insert_cluster(record("bob", "cats"))
    assert env.db[CLUSTERS].count_documents({}) == 2


def test_insert_leaves_no_object_id_in_the_callers_dict(env: Env) -> None:
    doc = record("alice", "cats")
    clusters.insert_cluster(doc)
    assert "_id" not in doc


def test_list_and_count_are_scoped_to_the_user(env: Env) -> None:
    for user, name in [("alice", "zebra"), ("alice", "apple"), ("bob", "mango"), ("alicia", "kiwi")]:
        clusters.insert_cluster(record(user, name))
    listed = clusters.list_clusters("alice")
    assert [r["milvus-name"] for r in listed] == ["apple", "zebra"]
    assert all(r["username"] == "alice" and "_id" not in r for r in listed)
    assert clusters.count_clusters("alice") == 2
    assert clusters.count_clusters("bob") == 1
    assert clusters.list_clusters("carol") == []


def test_get_is_scoped_to_the_user(env: Env) -> None:
    clusters.insert_cluster(record("alice", "cats"))
    assert clusters.get_cluster("alice", "cats")["username"] == "alice"
    assert clusters.get_cluster("bob", "cats") is None


def test_update_with_a_state_guard_is_a_compare_and_set(env: Env) -> None:
    clusters.insert_cluster(record("alice", "cats"))
    assert clusters.update_cluster("alice", "cats", {"state": "running"}, only_in_states=["deleting"]) is False
    assert clusters.get_cluster("alice", "cats")["state"] == "creating"
    assert clusters.update_cluster("alice", "cats", {"state": "running"}, only_in_states=["creating"]) is True
    after = clusters.get_cluster("alice", "cats")
    assert after is not None and after["state"] == "running" and after["updated-at"]
    assert clusters.update_cluster("bob", "cats", {"state": "failed"}) is False


def test_a_deleted_name_can_be_created_again(env: Env) -> None:
    clusters.insert_cluster(record("alice", "cats"))
    clusters.archive_and_delete_cluster("alice", "cats", final_state="deleted")
    assert clusters.get_cluster("alice", "cats") is None
    assert env.db[CLUSTER_HISTORY].find_one({"username": "alice"})["state"] == "deleted"
    assert clusters.insert_cluster(record("alice", "cats"))
