"""Delete, suspend and resume: a compare-and-set on the record's state, then the workflow."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from milvus_cloud.dal import clusters, workflows
from milvus_cloud.errors import Conflict
from milvus_cloud.logic.read import get_owned_cluster
from milvus_cloud.models import ClusterActionResponse
from milvus_cloud.settings import get_settings

# action: (states it may start from, the state while it runs)
TRANSITIONS = {
    # Not while creating: a launch in flight could outrun the terminate.
    "delete": (("running", "suspended", "failed", "suspending", "resuming"), "deleting"),
    "suspend": (("running",), "suspending"),
    "resume": (("suspended",), "resuming"),
}


def _workflow_input(record: dict[str, Any], action: str) -> dict[str, Any]:
    nodes = [{"node-type": i["node-type"], "instance-id": i["instance-id"]} for i in record.get("instances", [])]
    return {
        "action": action,
        "previous-state": record["state"],
        "username": record["username"],
        "milvus-name": record["milvus-name"],
        "milvus-type": record["milvus-type"],
        "disk-size": record["disk-size"],
        "allocation-id": record.get("allocation-id"),
        "security-group-id": record.get("security-group-id"),
        "launch": {"nodes": nodes, "instance-ids": [n["instance-id"] for n in nodes]},
    }


def change_cluster(username: str, milvus_name: str, action: str) -> ClusterActionResponse:
    """Start delete, suspend or resume. A repeated delete while deleting answers without a second workflow."""
    allowed, transient_state = TRANSITIONS[action]
    record = get_owned_cluster(username, milvus_name)
    if action == "delete" and record["state"] == "deleting":
        return ClusterActionResponse.model_validate({"milvus-name": milvus_name, "state": "deleting"})
    updated = clusters.update_cluster(
        username, milvus_name, {"state": transient_state, "state-reason": None}, only_in_states=allowed
    )
    if updated is None:
        current = (clusters.get_cluster(username, milvus_name) or record)["state"]
        raise Conflict(
            f"{action} is allowed only when the cluster is {' or '.join(allowed)}; it is {current}",
            code="invalid-state",
        )
    try:
        arn = _start(action, _workflow_input(record, action))
    except Exception:
        previous = {"state": record["state"], "state-reason": record.get("state-reason")}
        clusters.update_cluster(username, milvus_name, previous, only_in_states=[transient_state])
        raise
    clusters.update_cluster(username, milvus_name, {f"{action}-execution-arn": arn})
    return ClusterActionResponse.model_validate({"milvus-name": milvus_name, "state": transient_state})


def _start(action: str, payload: dict[str, Any]) -> str:
    settings = get_settings()
    machine = settings.delete_state_machine_arn if action == "delete" else settings.power_state_machine_arn
    digest = hashlib.sha256(f"{payload['username']}/{payload['milvus-name']}".encode()).hexdigest()[:16]
    return workflows.start_execution(machine, f"{action}-{digest}-{uuid.uuid4().hex[:20]}", payload)
