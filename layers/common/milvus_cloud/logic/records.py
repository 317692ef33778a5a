"""Workflow steps that write the cluster record in MongoDB."""

from __future__ import annotations

import json
from typing import Any

from milvus_cloud.dal import clusters


def register_cluster(username: str, milvus_name: str, network: dict[str, Any]) -> bool:
    """The instances and the real public DNS name into the record; the cluster is running."""
    changes = {
        "instances": network["instances"],
        "milvus-url": network["milvus-url"],
        "state": "running",
        "state-reason": None,
    }
    if not network["milvus-url"]:
        changes.pop("milvus-url")  # keep the Elastic IP's DNS name if EC2 has not reported one
    return clusters.update_cluster(username, milvus_name, changes, only_in_states=["creating"])


def failure_reason(error: dict[str, Any] | None) -> str:
    """The words of a Step Functions error object ({"Error", "Cause"}) that a user can read."""
    if not error:
        return "unknown failure"
    cause = error.get("Cause") or ""
    try:
        parsed = json.loads(cause)
        message = parsed.get("errorMessage") if isinstance(parsed, dict) else None
    except (ValueError, TypeError):
        message = None
    return str(message or cause or error.get("Error") or "unknown failure")[:500]


def mark_failed(username: str, milvus_name: str, reason: str) -> None:
    clusters.update_cluster(username, milvus_name, {"state": "failed", "state-reason": reason})


def remove_cluster(username: str, milvus_name: str) -> None:
    clusters.archive_and_delete_cluster(username, milvus_name, final_state="deleted")


def set_state(
    username: str,
    milvus_name: str,
    state: str,
    expected: list[str],
    reason: str | None = None,
    network: dict[str, Any] | None = None,
) -> None:
    """Move the record from one of the expected states to state (with the instances, when given)."""
    changes: dict[str, Any] = {"state": state, "state-reason": reason}
    if network:
        changes["instances"] = network["instances"]
    clusters.update_cluster(username, milvus_name, changes, only_in_states=expected)
