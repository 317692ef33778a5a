"""The orphan sweep: AWS resources tagged `managed-by: milvus-cloud` that no live record accounts for,
and records whose instances have vanished. It reports them (logs and metrics) and, unless dry-run,
removes orphans first seen longer ago than the grace period. Records it only reports, except a
create interrupted before its workflow started, which it marks failed so that the user can delete it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from milvus_cloud.dal import clusters, ec2, orphans, workflows
from milvus_cloud.observability import logger
from milvus_cloud.settings import get_settings

STEADY_STATES = ("running", "suspended", "suspending", "resuming")


@dataclass
class Finding:
    kind: str  # instance, volume, address, security-group, vanished-instance, stuck-record
    resource_id: str
    cluster: str | None
    reason: str


def _unaccounted(record: dict[str, Any] | None, owned: bool) -> str | None:
    """Why a resource of this cluster is an orphan, or None if the record accounts for it."""
    if record is None:
        return "no record for its cluster"
    if record["state"] == "failed":
        return "its cluster failed and the rollback left it"
    if record["state"] in STEADY_STATES and not owned:
        return "its cluster's record does not list it"
    return None  # creating or deleting: a workflow is in charge


def find_orphans() -> list[Finding]:
    records = {f"{r['username']}/{r['milvus-name']}": r for r in clusters.all_clusters()}
    findings: list[Finding] = []
    live_instances = ec2.managed_instances()
    for inst in live_instances:
        key = ec2.tag_value(inst, "milvus-username")
        record = records.get(key or "")
        ids = {i["instance-id"] for i in (record or {}).get("instances", [])}
        reason = _unaccounted(record, inst["InstanceId"] in ids)
        if reason:
            findings.append(Finding("instance", inst["InstanceId"], key, reason))
    for vol in ec2.managed_volumes():
        if vol["State"] == "available":  # every volume of ours is attached, and deleted with its instance
            findings.append(Finding("volume", vol["VolumeId"], ec2.tag_value(vol, "milvus-username"), "detached"))
    for addr in ec2.managed_addresses():
        key = ec2.tag_value(addr, "milvus-username")
        record = records.get(key or "")
        reason = _unaccounted(record, (record or {}).get("allocation-id") == addr["AllocationId"])
        if reason:
            findings.append(Finding("address", addr["AllocationId"], key, reason))
    for group in ec2.managed_security_groups():
        key = ec2.tag_value(group, "milvus-username")
        if key is None:
            continue  # sg-base: the template's own
        record = records.get(key)
        reason = _unaccounted(record, (record or {}).get("security-group-id") == group["GroupId"])
        if reason:
            findings.append(Finding("security-group", group["GroupId"], key, reason))
    for key, record in records.items():
        if record["state"] == "creating" and not workflows.execution_running(record.get("execution-arn")):
            findings.append(Finding("stuck-record", key, key, "create was interrupted before its workflow started"))
    live_ids = {inst["InstanceId"] for inst in live_instances}
    for key, record in records.items():
        if record["state"] in STEADY_STATES:
            for inst in record.get("instances", []):
                if inst["instance-id"] not in live_ids:
                    findings.append(Finding("vanished-instance", inst["instance-id"], key, "recorded but gone"))
    return findings


def _fail_stuck(cluster_key: str) -> None:
    username, milvus_name = cluster_key.split("/", 1)
    reason = "create was interrupted before its workflow started; delete the cluster and create it again"
    clusters.update_cluster(
        username, milvus_name, {"state": "failed", "state-reason": reason}, only_in_states=["creating"]
    )


_REMOVERS = {
    "stuck-record": _fail_stuck,
    "instance": lambda rid: ec2.terminate_instances([rid]),
    "volume": ec2.delete_volume,
    "address": ec2.release_address,
    "security-group": ec2.delete_security_group,
}


def sweep(dry_run: bool | None = None, grace: timedelta | None = None) -> dict[str, Any]:
    settings = get_settings()
    dry_run = settings.sweep_dry_run if dry_run is None else dry_run
    grace = timedelta(minutes=settings.sweep_grace_minutes) if grace is None else grace
    findings = find_orphans()
    seen = orphans.first_seen([f.resource_id for f in findings])
    now = datetime.now(UTC)
    removed, kept = [], []
    for finding in findings:
        remover = _REMOVERS.get(finding.kind)
        old_enough = now - seen.get(finding.resource_id, now) >= grace
        if dry_run or remover is None or not old_enough:
            kept.append(finding)
            continue
        try:
            remover(finding.resource_id)
            orphans.forget(finding.resource_id)
            removed.append(finding)
        except Exception:  # noqa: BLE001 - one stuck resource must not stop the sweep; next run retries
            logger.exception("could not remove orphan", extra=asdict(finding))
            kept.append(finding)
    report = {
        "dry-run": dry_run,
        "found": [asdict(f) for f in findings],
        "removed": [asdict(f) for f in removed],
        "kept": [asdict(f) for f in kept],
    }
    logger.info("orphan sweep", extra={"found": len(findings), "removed": len(removed), "dry_run": dry_run})
    return report
