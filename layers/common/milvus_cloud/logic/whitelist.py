"""The whitelist: declarative, applied as a difference to the cluster's security group.

How the group and the record never disagree: a change takes a short lease on the record (so two
writers never interleave), diffs the desired list against the group's actual rules, revokes and
authorizes only the difference, then stores what the group now holds. If AWS fails midway, the
group's rules are read back and stored as the record's whitelist before the 503 goes out; if even
that fails, the record keeps `whitelist-pending`, and the next call reconciles from the group.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from datetime import UTC, datetime
from typing import Any

from milvus_cloud import request_context
from milvus_cloud.dal import clusters, ec2
from milvus_cloud.errors import BadRequest, Conflict, QuotaExceeded, ServiceUnavailable
from milvus_cloud.logic.read import get_owned_cluster, whitelist_response
from milvus_cloud.models import WhitelistEntry, WhitelistRequest, WhitelistResponse
from milvus_cloud.settings import get_settings

PORT_TYPES = {
    "milvus-port": "milvus-port",
    "milvus-em-port": "milvus-em-port",
    "miluvs-port": "milvus-port",  # the original design's spellings
    "miluvs-em-port": "milvus-em-port",
}
OPEN_STATES = ("creating", "running", "suspending", "suspended", "resuming")
LEASE_SECONDS = 35  # just over the function's 30 s timeout: a crashed writer's lease soon expires
CIDR_SHAPE = re.compile(r"\d{1,3}(\.\d{1,3}){3}(/([0-9]|[1-2][0-9]|3[0-2]))?")
Rule = tuple[str, str, str | None]  # (cidr, port-type, description)


def _ports() -> dict[str, int]:
    settings = get_settings()
    return {"milvus-port": int(settings.milvus_port), "milvus-em-port": int(settings.milvus_em_port)}


def normalise_cidr(source_ip: str) -> str:
    """An IPv4 CIDR in canonical form; a bare address means /32. Host bits set are refused, not guessed."""
    if not CIDR_SHAPE.fullmatch(source_ip):  # no netmask notation, no zero-padded prefix
        raise BadRequest(
            f"invalid source-ip: {source_ip} is not an IPv4 CIDR such as 203.0.113.0/24", code="invalid-cidr"
        )
    try:
        network = ipaddress.IPv4Network(source_ip if "/" in source_ip else f"{source_ip}/32", strict=True)
    except ValueError as exc:
        hint = ""
        with contextlib.suppress(ValueError):
            hint = f"; did you mean {ipaddress.IPv4Network(source_ip, strict=False)}?"
        raise BadRequest(f"invalid source-ip: {source_ip} is not an IPv4 CIDR{hint}", code="invalid-cidr") from exc
    if network.prefixlen == 0 and not get_settings().allow_open_whitelist:
        raise BadRequest(
            "source-ip 0.0.0.0/0 would open the cluster to everyone; list your own ranges", code="open-whitelist"
        )
    return str(network)


def desired_rules(request: WhitelistRequest) -> list[Rule]:
    rules: dict[tuple[str, str], Rule] = {}
    for entry in request.ip_ranges:
        port_type = PORT_TYPES.get(entry.port_type)
        if port_type is None:
            raise BadRequest(f"unsupported port-type: {entry.port_type}", code="unsupported-port-type")
        cidr = normalise_cidr(entry.source_ip)
        # A repeated entry counts once.
        rules.setdefault((cidr, port_type), (cidr, port_type, entry.description or None))
    limit = get_settings().max_whitelist_entries
    if len(rules) > limit:
        raise QuotaExceeded(f"whitelist quota reached: at most {limit} entries per cluster")
    return list(rules.values())


def _as_entries(rules: list[Rule]) -> list[dict[str, Any]]:
    return [
        WhitelistEntry.model_validate({"source-ip": c, "port-type": p, "description": d}).model_dump(by_alias=True)
        for c, p, d in rules
    ]


def _as_rules(entries: list[dict[str, Any]]) -> set[Rule]:
    return {(e["source-ip"], e["port-type"], e.get("description")) for e in entries}


def reconcile_from_group(username: str, milvus_name: str, record: dict[str, Any]) -> None:
    """After an interrupted change the group is the truth: store what it holds, if no change is in flight."""
    lease = record.get("whitelist-lease")
    if record.get("security-group-id") and (lease is None or lease < datetime.now(UTC)):
        _record_actual(username, milvus_name, record["security-group-id"])


def set_whitelist(username: str, milvus_name: str, request: WhitelistRequest) -> WhitelistResponse:
    if request.milvus_name != milvus_name:
        raise BadRequest("milvus-name in the body must equal the one in the path", code="name-mismatch")
    desired = desired_rules(request)
    record = get_owned_cluster(username, milvus_name)
    if record["state"] not in OPEN_STATES:
        raise Conflict(
            f"the whitelist can be set while the cluster is {', '.join(OPEN_STATES)}; it is {record['state']}",
            code="invalid-state",
        )
    if _as_rules(record.get("whitelist", [])) == set(desired) and not record.get("whitelist-pending"):
        request_context.nothing_changed.set(True)
        return whitelist_response(record, record.get("whitelist", []))  # unchanged: no AWS write at all
    _take_lease(username, milvus_name)
    try:
        applied = _apply(username, milvus_name, record["security-group-id"], desired)
    finally:
        clusters.release_whitelist_lease(username, milvus_name)
    return whitelist_response(record, applied)


def _take_lease(username: str, milvus_name: str) -> None:
    if not clusters.take_whitelist_lease(username, milvus_name, OPEN_STATES, LEASE_SECONDS):
        raise Conflict(
            "another whitelist change for this cluster is in progress, or its state changed; retry in a few seconds",
            code="whitelist-busy",
        )


def _apply(username: str, milvus_name: str, group_id: str, desired: list[Rule]) -> list[dict[str, Any]]:
    ports = _ports()
    actual = ec2.whitelist_rules(group_id, set(ports.values()))
    wanted = {(cidr, ports[pt]): desc for cidr, pt, desc in desired}
    have = {(r["CidrIpv4"], r["FromPort"]): (r.get("Description") or None, r["SecurityGroupRuleId"]) for r in actual}
    try:
        ec2.revoke_rules(group_id, [rule_id for key, (_, rule_id) in have.items() if key not in wanted])
        ec2.authorize_cidr_rules(group_id, sorted((*key, desc) for key, desc in wanted.items() if key not in have))
        # A new description only: change it in place, so access never drops for a kept entry.
        ec2.update_rule_descriptions(
            group_id, sorted((*key, desc) for key, desc in wanted.items() if key in have and have[key][0] != desc)
        )
    except Exception as exc:
        _record_actual(username, milvus_name, group_id)
        raise ServiceUnavailable(
            "the whitelist could not be applied in full; the record shows what the group holds; retry",
            retry_after=get_settings().retry_after_seconds,
            code="whitelist-partial",
        ) from exc
    return _store(username, milvus_name, desired)


def _record_actual(username: str, milvus_name: str, group_id: str) -> None:
    port_types = {port: name for name, port in _ports().items()}
    actual = ec2.whitelist_rules(group_id, set(port_types))
    rules = [(r["CidrIpv4"], port_types[r["FromPort"]], r.get("Description") or None) for r in actual]
    _store(username, milvus_name, rules)


def _store(username: str, milvus_name: str, rules: list[Rule]) -> list[dict[str, Any]]:
    entries = _as_entries(rules)
    clusters.store_whitelist(username, milvus_name, entries)
    return entries
