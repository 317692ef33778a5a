"""One settings model, read from the environment once per process (template.yaml sets it).

A frozen dataclass rather than a pydantic model: every function reads it, and the workflow steps that
never validate a request then need not import pydantic at all (about 70 ms of their cold start). The
few rules are checked here, by the same names and bounds a pydantic model would state."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Any

_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def env(name: str, default: Any, *, ge: float | None = None, le: float | None = None, gt: float | None = None) -> Any:
    """A field read from the environment variable `name`, with its bounds."""
    return field(default=default, metadata={"env": name, "ge": ge, "le": le, "gt": gt})


@dataclass(frozen=True)
class Settings:
    region: str = env("AWS_REGION", "us-east-1")
    mongodb_uri: str | None = env("MONGODB_URI", None)
    mongodb_secret_arn: str | None = env("MONGODB_SECRET_ARN", None)
    database_name: str = env("MONGODB_DATABASE", "milvus_cloud")
    mongodb_timeout_ms: int = env("MONGODB_TIMEOUT_MS", 3000, ge=1)

    subnet_id: str = env("SUBNET_ID", "")
    key_pair_name: str = env("KEY_PAIR_NAME", "")
    base_security_group_id: str = env("BASE_SECURITY_GROUP_ID", "")
    image_id: str = env("IMAGE_ID", "")
    vpc_id: str = env("VPC_ID", "")

    create_state_machine_arn: str = env("CREATE_STATE_MACHINE_ARN", "")
    delete_state_machine_arn: str = env("DELETE_STATE_MACHINE_ARN", "")
    power_state_machine_arn: str = env("POWER_STATE_MACHINE_ARN", "")

    milvus_port: str = env("MILVUS_PORT", "19530")
    milvus_em_port: str = env("MILVUS_EM_PORT", "19531")
    max_clusters_per_user: int = env("MAX_CLUSTERS_PER_USER", 20, ge=1)
    # A security group holds 60 inbound rules by default; one is the cluster's own.
    max_whitelist_entries: int = env("MAX_WHITELIST_ENTRIES", 50, ge=1, le=59)
    allow_open_whitelist: bool = env("ALLOW_OPEN_WHITELIST", False)
    session_ttl_hours: float = env("SESSION_TTL_HOURS", 12.0, gt=0)
    idempotency_ttl_seconds: int = env("IDEMPOTENCY_TTL_SECONDS", 86400, gt=0)
    retry_after_seconds: int = env("RETRY_AFTER_SECONDS", 5, ge=1)
    sweep_dry_run: bool = env("SWEEP_DRY_RUN", True)
    sweep_grace_minutes: float = env("SWEEP_GRACE_MINUTES", 60.0, ge=0)
    max_poll_attempts: int = env("MAX_POLL_ATTEMPTS", 40, ge=1)

    @classmethod
    def from_environment(cls, environ: dict[str, str]) -> Settings:
        values = {
            f.name: _parse(f.metadata, f.type, environ[f.metadata["env"]])
            for f in fields(cls)
            if f.metadata["env"] in environ
        }
        return cls(**values)


def _parse(meta: Any, kind: Any, raw: str) -> Any:
    name = meta["env"]
    try:
        if kind == "bool":
            if raw.strip().lower() not in _TRUE | _FALSE:
                raise ValueError(raw)
            return raw.strip().lower() in _TRUE
        value: Any = int(raw) if kind == "int" else float(raw) if kind == "float" else raw
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not a valid {kind}") from exc
    for bound, ok in (("ge", lambda b: value >= b), ("le", lambda b: value <= b), ("gt", lambda b: value > b)):
        if meta[bound] is not None and not ok(meta[bound]):
            raise ValueError(f"{name}={raw!r} must be {bound} {meta[bound]}")
    return value


@cache
def get_settings() -> Settings:
    environ = dict(os.environ)
    environ.setdefault("AWS_REGION", environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    return Settings.from_environment(environ)
