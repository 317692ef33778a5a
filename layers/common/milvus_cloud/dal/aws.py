"""boto3 clients built once per process, and the classification of AWS faults."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
from botocore.exceptions import ConnectionError as BotoConnectionError

from milvus_cloud.settings import get_settings

# Throttling and service hiccups: worth another try; anything else is the request's own fault.
TRANSIENT_CODES = frozenset(
    {
        "RequestLimitExceeded",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "Unavailable",
        "RequestTimeout",
        "DependencyViolation",
    }
)
CAPACITY_CODES = frozenset({"InsufficientInstanceCapacity", "InsufficientAddressCapacity", "AddressLimitExceeded"})

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=5, read_timeout=20)


@cache
def client(service: str) -> Any:
    return boto3.client(service, region_name=get_settings().region, config=_CONFIG)


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "Unknown"))
    return type(exc).__name__


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, (EndpointConnectionError, BotoConnectionError)):
        return True
    if isinstance(exc, ClientError):
        return error_code(exc) in TRANSIENT_CODES
    return isinstance(exc, BotoCoreError)


def is_capacity(exc: BaseException) -> bool:
    return isinstance(exc, ClientError) and error_code(exc) in CAPACITY_CODES
