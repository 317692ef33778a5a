"""One settings model, read from the environment once per process (template.yaml sets it)."""

from __future__ import annotations

import os
from functools import cache

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True, extra="ignore")

    region: str = Field("us-east-1", alias="AWS_REGION")
    mongodb_uri: str | None = Field(None, alias="MONGODB_URI")
    mongodb_secret_arn: str | None = Field(None, alias="MONGODB_SECRET_ARN")
    database_name: str = Field("milvus_cloud", alias="MONGODB_DATABASE")
    mongodb_timeout_ms: int = Field(3000, alias="MONGODB_TIMEOUT_MS")

    subnet_id: str = Field("", alias="SUBNET_ID")
    key_pair_name: str = Field("", alias="KEY_PAIR_NAME")
    base_security_group_id: str = Field("", alias="BASE_SECURITY_GROUP_ID")
    image_id: str = Field("", alias="IMAGE_ID")
    vpc_id: str = Field("", alias="VPC_ID")

    create_state_machine_arn: str = Field("", alias="CREATE_STATE_MACHINE_ARN")
    delete_state_machine_arn: str = Field("", alias="DELETE_STATE_MACHINE_ARN")
    power_state_machine_arn: str = Field("", alias="POWER_STATE_MACHINE_ARN")

    milvus_port: str = Field("19530", alias="MILVUS_PORT")
    milvus_em_port: str = Field("19531", alias="MILVUS_EM_PORT")
    max_clusters_per_user: int = Field(20, alias="MAX_CLUSTERS_PER_USER", ge=1)
    # A security group holds 60 inbound rules by default; one is the cluster's own.
    max_whitelist_entries: int = Field(50, alias="MAX_WHITELIST_ENTRIES", ge=1, le=59)
    allow_open_whitelist: bool = Field(False, alias="ALLOW_OPEN_WHITELIST")
    session_ttl_hours: float = Field(12, alias="SESSION_TTL_HOURS", gt=0)
    idempotency_ttl_seconds: int = Field(86400, alias="IDEMPOTENCY_TTL_SECONDS", gt=0)
    retry_after_seconds: int = Field(5, alias="RETRY_AFTER_SECONDS", ge=1)
    sweep_dry_run: bool = Field(True, alias="SWEEP_DRY_RUN")
    sweep_grace_minutes: float = Field(60, alias="SWEEP_GRACE_MINUTES", ge=0)
    max_poll_attempts: int = Field(40, alias="MAX_POLL_ATTEMPTS", ge=1)


@cache
def get_settings() -> Settings:
    env = dict(os.environ)
    env.setdefault("AWS_REGION", env.get("AWS_DEFAULT_REGION", "us-east-1"))
    return Settings.model_validate(env)
