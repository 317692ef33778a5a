"""Create a cluster: validate, reserve the record, allocate the address and group, start the workflow."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)

from milvus_cloud.catalog import MilvusType, find_type, load_catalog
from milvus_cloud.dal import clusters, ec2, workflows
from milvus_cloud.dal.idempotency import MongoPersistenceLayer
from milvus_cloud.errors import BadRequest, Conflict, QuotaExceeded, ServiceUnavailable
from milvus_cloud.models import CreateClusterRequest, CreateClusterResponse
from milvus_cloud.observability import logger
from milvus_cloud.settings import get_settings
from milvus_cloud.spec import ClusterSpec

idempotency_config = IdempotencyConfig(
    event_key_jmespath="[owner, key]",
    payload_validation_jmespath="request",
    expires_after_seconds=get_settings().idempotency_ttl_seconds,
)


def create_cluster(username: str, request: CreateClusterRequest, idempotency_key: str | None) -> dict[str, Any]:
    """The create response body. With an Idempotency-Key, a retry gets the first answer back."""
    if not idempotency_key:
        return _create(username, request)
    payload = {
        "owner": username,
        "key": idempotency_key,
        "request": request.model_dump(mode="json", exclude={"session_token"}),
    }
    try:
        return _idempotent_create(payload=payload)
    except IdempotencyValidationError as exc:
        raise Conflict(
            "this Idempotency-Key was already used with a different request body", code="idempotency-key-reused"
        ) from exc
    except IdempotencyAlreadyInProgressError as exc:
        raise Conflict(
            "a request with this Idempotency-Key is still in progress; retry shortly", code="idempotency-in-progress"
        ) from exc
    except IdempotencyPersistenceLayerError as exc:
        raise ServiceUnavailable(
            "the database is unavailable; retry later", retry_after=get_settings().retry_after_seconds
        ) from exc


@idempotent_function(
    data_keyword_argument="payload", persistence_store=MongoPersistenceLayer(), config=idempotency_config
)
def _idempotent_create(payload: dict[str, Any]) -> dict[str, Any]:
    request = CreateClusterRequest.model_validate(payload["request"])
    return _create(payload["owner"], request)


def check_request(username: str, request: CreateClusterRequest) -> MilvusType:
    """The rules a create must meet before anything is written."""
    mtype = find_type(request.milvus_type)
    if mtype is None:
        known = ", ".join(load_catalog())
        raise BadRequest(
            f"unknown milvus-type: {request.milvus_type}; choose one of {known}", code="unknown-milvus-type"
        )
    if not mtype.min_disk_size <= request.disk_size <= mtype.max_disk_size:
        raise BadRequest(
            f"disk-size must be between {mtype.min_disk_size} and {mtype.max_disk_size} GiB for {mtype.name}",
            code="invalid-disk-size",
        )
    limit = get_settings().max_clusters_per_user
    if clusters.count_clusters(username) >= limit:
        refuse_existing(username, request)  # a name conflict says more than the quota
        raise QuotaExceeded(f"cluster quota reached: at most {limit} clusters per user; delete one first")
    return mtype


def refuse_existing(username: str, request: CreateClusterRequest) -> None:
    """409 if the name is taken: a cluster's type cannot change, and a name is one cluster."""
    existing = clusters.get_cluster(username, request.milvus_name)
    if existing is None:
        return
    if existing["milvus-type"] != request.milvus_type:
        raise Conflict(
            f"the type of a cluster cannot change: {request.milvus_name} is {existing['milvus-type']}; "
            "create a new cluster with another name for another type",
            code="type-immutable",
        )
    raise Conflict(f"a cluster named {request.milvus_name} already exists", code="already-exists")


def _new_record(username: str, request: CreateClusterRequest) -> dict[str, Any]:
    settings = get_settings()
    now = clusters.now_iso()
    return {
        "username": username,
        "milvus-name": request.milvus_name,
        "milvus-url": "",
        "milvus-port": settings.milvus_port,
        "milvus-em-port": settings.milvus_em_port,
        "milvus-type": request.milvus_type,
        "subnet-id": settings.subnet_id,
        "security-groups": [
            {"group-name": "sg-base"},
            {"group-name": ec2.security_group_name(username, request.milvus_name)},
        ],
        "instances": [],
        "disk-size": request.disk_size,
        "state": "creating",
        "state-reason": None,
        "whitelist": [],
        "base-security-group-id": settings.base_security_group_id,
        "created-at": now,
        "updated-at": now,
    }


def _create(username: str, request: CreateClusterRequest) -> dict[str, Any]:
    check_request(username, request)
    record = _new_record(username, request)
    if not clusters.insert_cluster(record):
        refuse_existing(username, request)
        raise Conflict(f"a cluster named {request.milvus_name} is being changed; retry", code="already-exists")
    created: dict[str, str] = {}
    try:
        url = _provision_network(username, request, created)
        _start_workflow(username, request, created)
    except Exception:
        logger.exception("create failed before the workflow started; undoing", extra={"created_resources": created})
        _undo(username, request.milvus_name, created)
        raise
    answer = CreateClusterResponse.model_validate(
        {
            "milvus-name": request.milvus_name,
            "milvus-url": url,
            "milvus-port": record["milvus-port"],
            "milvus-em-port": record["milvus-em-port"],
            "state": "creating",
        }
    )
    return answer.model_dump(by_alias=True)


def _provision_network(username: str, request: CreateClusterRequest, created: dict[str, str]) -> str:
    settings = get_settings()
    name = request.milvus_name
    group_name = ec2.security_group_name(username, name)
    allocation_id, public_ip = ec2.allocate_address(ec2.cluster_tags(username, name, f"milvus-{username}-{name}"))
    created["allocation-id"] = allocation_id
    created["security-group-id"] = ec2.create_security_group(
        group_name, settings.vpc_id, ec2.cluster_tags(username, name, group_name)
    )
    ec2.allow_cluster_traffic(created["security-group-id"])
    created["elastic-ip"] = public_ip
    created["milvus-url"] = ec2.public_dns_name(public_ip, settings.region)
    return created["milvus-url"]


def _start_workflow(username: str, request: CreateClusterRequest, created: dict[str, str]) -> None:
    spec = ClusterSpec(
        username,
        request.milvus_name,
        request.milvus_type,
        request.disk_size,
        created["security-group-id"],
        created["allocation-id"],
    )
    digest = hashlib.sha256(spec.key.encode()).hexdigest()[:16]
    launch_token = uuid.uuid4().hex
    machine = get_settings().create_state_machine_arn
    name = f"create-{digest}-{launch_token[:20]}"
    # One write: the AWS ids for cleanup, and the execution named before it starts, so that once it
    # runs the API has nothing left that can fail.
    clusters.update_cluster(
        username, request.milvus_name, {**created, "execution-arn": workflows.execution_arn(machine, name)}
    )
    workflows.start_execution(machine, name, {**spec.to_input(), "launch-token": launch_token})


def _undo(username: str, milvus_name: str, created: dict[str, str]) -> None:
    """Best effort: free what was made, then the name. Whatever fails here the orphan sweep finds by tag."""
    steps = [
        lambda: ec2.delete_security_group(created["security-group-id"]) if "security-group-id" in created else None,
        lambda: ec2.release_address(created["allocation-id"]) if "allocation-id" in created else None,
        lambda: clusters.delete_cluster(username, milvus_name),
    ]
    for step in steps:
        try:
            step()
        except Exception:  # noqa: BLE001 - undo goes on; the orphan sweep finds what is left
            logger.exception("undo step failed")
