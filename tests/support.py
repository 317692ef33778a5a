"""What the shared fixtures hand to tests: the per-test environment and the moto resources."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from pymongo.database import Database

REGION = "us-east-1"
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
}
UNSET = (
    "AWS_ENDPOINT_URL",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "MONGODB_SECRET_ARN",
    "MONGODB_URI",
    "MONGODB_DATABASE",
    "LOCAL_STACK_FILE",
    "SUBNET_ID",
    "VPC_ID",
    "KEY_PAIR_NAME",
    "IMAGE_ID",
    "BASE_SECURITY_GROUP_ID",
    "CREATE_STATE_MACHINE_ARN",
    "DELETE_STATE_MACHINE_ARN",
    "POWER_STATE_MACHINE_ARN",
    "MAX_CLUSTERS_PER_USER",
    "MAX_WHITELIST_ENTRIES",
    "ALLOW_OPEN_WHITELIST",
    "SESSION_TTL_HOURS",
)


def reset_caches() -> None:
    """Forget everything a process caches from its environment: settings, MongoDB client, boto3 clients."""
    from milvus_cloud.dal import aws, mongo
    from milvus_cloud.settings import get_settings

    get_settings.cache_clear()
    mongo.reset_for_tests()
    aws.client.cache_clear()


@dataclass
class Env:
    monkeypatch: pytest.MonkeyPatch
    uri: str
    database: str
    db: Database[dict[str, Any]]
    values: dict[str, str] = field(default_factory=dict)

    def set(self, **values: str | int) -> None:
        """Change settings for this test (and forget the cached ones)."""
        for key, value in values.items():
            self.monkeypatch.setenv(key, str(value))
            self.values[key] = str(value)
        reset_caches()


@dataclass
class Aws:
    """The deployment-wide resources template.yaml points at, created in moto."""

    ec2: Any
    vpc_id: str
    subnet_id: str
    key_pair_name: str
    image_id: str
    base_group_id: str
    state_machine_arn: str

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)
