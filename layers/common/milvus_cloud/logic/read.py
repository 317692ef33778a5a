"""Describe, list and the type catalog: read-only routes."""

from __future__ import annotations

from typing import Any

from milvus_cloud.dal import clusters
from milvus_cloud.errors import NotFound
from milvus_cloud.models import ClusterListResponse, ClusterResponse, ClusterView, WhitelistResponse


def get_owned_cluster(username: str, milvus_name: str) -> dict[str, Any]:
    """The caller's own cluster; another user's is as absent as a missing one."""
    record = clusters.get_cluster(username, milvus_name)
    if record is None:
        raise NotFound(f"no cluster named {milvus_name}", code="cluster-not-found")
    return record


def describe_cluster(username: str, milvus_name: str) -> ClusterResponse:
    return ClusterResponse.model_validate(get_owned_cluster(username, milvus_name))


def list_user_clusters(username: str) -> ClusterListResponse:
    views = [ClusterView.model_validate(record) for record in clusters.list_clusters(username)]
    return ClusterListResponse(clusters=views)


def whitelist_response(record: dict[str, Any], entries: list[dict[str, Any]]) -> WhitelistResponse:
    return WhitelistResponse.model_validate(
        {"milvus-name": record["milvus-name"], "ip-ranges": entries, "state": record["state"]}
    )


def get_whitelist(username: str, milvus_name: str) -> WhitelistResponse:
    """The whitelist as applied. After an interrupted change, the group's rules are read back first."""
    record = get_owned_cluster(username, milvus_name)
    if record.get("whitelist-pending"):
        from milvus_cloud.logic.whitelist import reconcile_from_group  # EC2 only in this rare case

        reconcile_from_group(username, milvus_name, record)
        record = get_owned_cluster(username, milvus_name)
    return whitelist_response(record, record.get("whitelist", []))
