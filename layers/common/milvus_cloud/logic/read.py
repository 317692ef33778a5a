"""Describe, list and the type catalog: read-only routes."""

from __future__ import annotations

from typing import Any

from milvus_cloud.dal import clusters
from milvus_cloud.errors import NotFound
from milvus_cloud.models import ClusterListResponse, ClusterResponse, ClusterView


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
