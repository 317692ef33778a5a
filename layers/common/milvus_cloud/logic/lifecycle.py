"""Delete, suspend and resume: a compare-and-set on the record's state, then the workflow."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from milvus_cloud.dal import clusters, workflows
from milvus_cloud.dal.workflows import execution_arn
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
    machine, name = _execution_name(username, milvus_name, action)
    arn_field = f"{action}-execution-arn"
    # One compare-and-set moves the state and names the workflow; it returns the record as it was.
    before = clusters.transition(
        username,
        milvus_name,
        allowed,
        {"state": transient_state, "state-reason": None, arn_field: execution_arn(machine, name)},
    )
    if before is None:
        current = get_owned_cluster(username, milvus_name)
        if action == "delete" and current["state"] == "deleting":
            return ClusterActionResponse.model_validate({"milvus-name": milvus_name, "state": "deleting"})
        raise Conflict(
            f"{action} is allowed only when the cluster is {' or '.join(allowed)}; it is {current['state']}",
            code="invalid-state",
        )
    try:
        workflows.start_execution(machine, name, _workflow_input(before, action))
    except Exception:
        previous = {"state": before["state"], "state-reason": before.get("state-reason")}
        if arn_field in before:
            previous[arn_field] = before[arn_field]
        gone = () if arn_field in before else (arn_field,)
        clusters.update_cluster(username, milvus_name, previous, only_in_states=[transient_state], unset=gone)
        raise
    return ClusterActionResponse.model_validate({"milvus-name": milvus_name, "state": transient_state})


def _execution_name(username: str, milvus_name: str, action: str) -> tuple[str, str]:
    settings = get_settings()
    machine = settings.delete_state_machine_arn if action == "delete" else settings.power_state_machine_arn
    digest = hashlib.sha256(f"{username}/{milvus_name}".encode()).hexdigest()[:16]
    return machine, f"{action}-{digest}-{uuid.uuid4().hex[:20]}"
