"""Shared fixtures: one in-process SecantusDB per test session; per test, a fresh database, a clean
environment and, for tests that need AWS, moto in process with the deployment's shared resources."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from pymongo import MongoClient
from secantus import SecantusDBServer

from tests.support import FAKE_AWS, REGION, UNSET, Aws, Env, reset_caches

# Whatever the caller's shell holds, nothing here may reach a real account, a real database or the
# local stack's moto (the local stack sets AWS_ENDPOINT_URL in its own process only).
for _name in UNSET:
    os.environ.pop(_name, None)
os.environ.update(FAKE_AWS)
# As template.yaml deploys them (the Logger reads its level once, when the layer is imported).
os.environ.update(
    {"POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "INFO"}
)


def pytest_configure(config: pytest.Config) -> None:
    # The layer silences this on purpose (observability.py); pytest's own warning filters would undo that.
    config.addinivalue_line("filterwarnings", "ignore:No application metrics to publish:UserWarning")


@pytest.fixture(scope="session")
def mongodb_server() -> Iterator[SecantusDBServer]:
    server = SecantusDBServer(port=0, storage_path=":memory:", ttl_sweep_seconds=1)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mongo_client(mongodb_server: SecantusDBServer) -> Iterator[MongoClient[dict[str, Any]]]:
    """The tests' own view of MongoDB, independent of the code under test."""
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_server.uri, tz_aware=True)
    yield client
    client.close()


@pytest.fixture
def env(
    mongodb_server: SecantusDBServer, mongo_client: MongoClient[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Env]:
    """A fresh database and a clean environment for one test; caches cleared before and after."""
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    database = f"t_{uuid.uuid4().hex[:16]}"
    for key, value in {
        **FAKE_AWS,
        "MONGODB_URI": mongodb_server.uri,
        "MONGODB_DATABASE": database,
        "MONGODB_TIMEOUT_MS": "2000",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }.items():
        monkeypatch.setenv(key, value)
    reset_caches()
    yield Env(monkeypatch, mongodb_server.uri, database, mongo_client[database])
    reset_caches()
    mongo_client.drop_database(database)


@pytest.fixture
def aws(env: Env) -> Iterator[Aws]:
    """moto in process (state machines are created but never run), with the shared resources and their env."""
    # moto's ~2,600 default AMIs cost a tenth of a second per test; one registered image is all we need.
    env.monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        ec2.create_key_pair(KeyName="milvus-cloud-test")
        image_id = ec2.register_image(
            Name="al2023-ami-2023-kernel-6.1-x86_64",
            Architecture="x86_64",
            VirtualizationType="hvm",
            RootDeviceName="/dev/xvda",
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "VolumeType": "gp3"}}],
        )["ImageId"]
        base_group_id = ec2.create_security_group(GroupName="sg-base", Description="operators", VpcId=vpc_id)["GroupId"]
        ec2.authorize_security_group_ingress(
            GroupId=base_group_id,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "203.0.113.0/24"}]}
            ],
        )
        definition = {"StartAt": "Launch", "States": {"Launch": {"Type": "Pass", "End": True}}}
        state_machine_arn = boto3.client("stepfunctions", region_name=REGION).create_state_machine(
            name="CreateClusterStateMachine",
            definition=json.dumps(definition),
            roleArn="arn:aws:iam::123456789012:role/milvus-cloud-test",
        )["stateMachineArn"]
        env.set(
            VPC_ID=vpc_id,
            SUBNET_ID=subnet_id,
            KEY_PAIR_NAME="milvus-cloud-test",
            IMAGE_ID=image_id,
            BASE_SECURITY_GROUP_ID=base_group_id,
            CREATE_STATE_MACHINE_ARN=state_machine_arn,
        )
        yield Aws(ec2, vpc_id, subnet_id, "milvus-cloud-test", image_id, base_group_id, state_machine_arn)
        reset_caches()
