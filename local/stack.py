"""Start the whole local stack in one process: SecantusDB, moto (with Step Functions), the HTTP front."""

from __future__ import annotations

import contextlib
import io
import json
import os
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from local import faults
from local.lambdas import HandlerRegistry
from local.template import ROOT, Template, load_template, render_definition, resolve

ACCOUNT = "123456789012"
REGION = "us-east-1"
DATABASE = "milvus_cloud"
STACK_FILE = Path(os.environ.get("LOCAL_STACK_FILE") or ROOT / ".local" / "stack.json")
# The local stack's answers to the template's parameters: seconds, not minutes, of waiting.
LOCAL_PARAMETERS = {
    "KeyPairName": "milvus-cloud-local",
    "ConsoleCidr": "203.0.113.0/24",
    "MongoDbSecretArn": "",
    "PollIntervalSeconds": "1",
    "BootWaitSeconds": "1",
    "MaxClustersPerUser": "20",
    "MaxWhitelistEntries": "50",
    "AllowOpenWhitelist": "false",
    "LogLevel": "WARNING",
}


@dataclass
class LocalStack:
    port: int = 3000
    mongodb_uri: str | None = None  # a real MongoDB instead of the embedded SecantusDB
    database: str = DATABASE
    template: Template = field(default_factory=load_template)
    info: dict[str, str] = field(default_factory=dict)
    _stops: list[Any] = field(default_factory=list)

    def start(self) -> dict[str, str]:
        mongodb = self.mongodb_uri or self._start_secantus()
        aws = self._start_moto()
        self._set_environment(aws, self._start_mongo_proxy(mongodb))
        faults.install()
        refs = self._deploy_shared_resources()
        self.registry = HandlerRegistry(self.template.functions, ACCOUNT, REGION)
        self._deploy_functions(refs)
        self._deploy_state_machines(refs)
        api = self._start_http_front()
        self.info = {"api": api, "aws": aws, "region": REGION, "mongodb": mongodb, "database": self.database}
        STACK_FILE.parent.mkdir(exist_ok=True)
        STACK_FILE.write_text(json.dumps(self.info, indent=2) + "\n")
        return self.info

    def stop(self) -> None:
        for stop in reversed(self._stops):
            with contextlib.suppress(Exception):  # stopping is best effort
                stop()
        self._stops.clear()
        if STACK_FILE.exists() and json.loads(STACK_FILE.read_text()).get("api") == self.info.get("api"):
            STACK_FILE.unlink()

    def _start_secantus(self) -> str:
        from secantus import SecantusDBServer

        server = SecantusDBServer(port=0, storage_path=":memory:", ttl_sweep_seconds=1)
        server.start()
        self._stops.append(server.stop)
        return str(server.uri)

    def _start_mongo_proxy(self, mongodb: str) -> str:
        """The handlers reach MongoDB through a proxy that tests can take down (/_local/mongodb)."""
        from urllib.parse import urlsplit

        from local import control
        from local.mongo_proxy import MongoProxy

        parts = urlsplit(mongodb)
        if parts.scheme != "mongodb" or not parts.port or "," in parts.netloc:
            return mongodb  # an external MongoDB (replica set, SRV): no fault proxy
        proxy = MongoProxy(parts.hostname or "127.0.0.1", parts.port)
        proxy.start()
        control.mongo_proxy = proxy
        self._stops.append(proxy.stop)
        # directConnection: SecantusDB announces itself as a replica set member at its own address, and pymongo
        # would follow that past the proxy.
        query = "&".join(q for q in (parts.query, "directConnection=true") if q)
        return parts._replace(netloc=f"127.0.0.1:{proxy.port}", query=query).geturl()

    def _start_moto(self) -> str:
        import logging

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log would drown the output
        from moto.awslambda_simple.models import LambdaSimpleBackend
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        self._stops.append(server.stop)
        host, port = server.get_host_and_port()
        os.environ["MOTO_PORT"] = str(port)  # the state machine's tasks call localhost:MOTO_PORT
        endpoint = f"http://{host}:{port}"
        import requests

        requests.post(
            f"{endpoint}/moto-api/config",
            json={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}},
            timeout=10,
        ).raise_for_status()

        stack = self

        def invoke(
            _backend: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any
        ) -> bytes:
            return stack.registry.moto_invoke(function_name, body, response_headers)

        LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign,assignment]
        return endpoint

    def _set_environment(self, aws: str, mongodb: str) -> None:
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": aws,
                "AWS_ACCESS_KEY_ID": "testing",
                # moto's fake credentials
                "AWS_SECRET_ACCESS_KEY": "testing",  # nosec B105
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                "MONGODB_URI": mongodb,
                "MONGODB_DATABASE": self.database,
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_DISABLED": "true",
                "POWERTOOLS_DEV": os.environ.get("POWERTOOLS_DEV", "false"),
            }
        )

    def _param(self, name: str) -> str:
        return os.environ.get(
            f"LOCAL_{name.upper()}", LOCAL_PARAMETERS.get(name) or str(self.template.parameter_default(name))
        )

    def _deploy_shared_resources(self) -> dict[str, str]:
        """What template.yaml's parameters point at and its own resources, created in moto as deploying would."""
        ec2 = boto3.client("ec2", region_name=REGION)
        vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        ec2.modify_subnet_attribute(SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": True})
        key_name = self._param("KeyPairName")
        ec2.create_key_pair(KeyName=key_name)
        image_path = str(self.template.parameter_default("ImageId"))
        image_id = boto3.client("ssm", region_name=REGION).get_parameter(Name=image_path)["Parameter"]["Value"]

        params = {name: self._param(name) for name in self.template.raw["Parameters"]}
        refs = {
            **params,
            "VpcId": vpc_id,
            "SubnetId": subnet_id,
            "ImageId": image_id,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
        }
        base = self.template.resource("BaseSecurityGroup")["Properties"]
        group_id = ec2.create_security_group(
            GroupName=base["GroupName"],
            Description=base["GroupDescription"],
            VpcId=vpc_id,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": base["Tags"]}],
        )["GroupId"]
        ec2.authorize_security_group_ingress(
            GroupId=group_id,
            IpPermissions=[
                {
                    "IpProtocol": r["IpProtocol"],
                    "FromPort": r["FromPort"],
                    "ToPort": r["ToPort"],
                    "IpRanges": [{"CidrIp": resolve(r["CidrIp"], refs), "Description": r.get("Description", "")}],
                }
                for r in base["SecurityGroupIngress"]
            ],
        )
        refs.update({"BaseSecurityGroup": group_id, "BaseSecurityGroup.GroupId": group_id})
        return refs

    def _deploy_functions(self, refs: dict[str, str]) -> None:
        lam = boto3.client("lambda", region_name=REGION)
        iam = boto3.client("iam", region_name=REGION)
        role = iam.create_role(RoleName="milvus-cloud-local", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("app.py", "# dispatched to the project's handler by the local stack\n")
        for logical_id in self.template.functions:
            lam.create_function(
                FunctionName=logical_id,
                Runtime="python3.13",
                Role=role,
                Handler="app.lambda_handler",
                Code={"ZipFile": buf.getvalue()},
            )
            refs[logical_id] = logical_id
            refs[f"{logical_id}.Arn"] = self.registry.arn(logical_id)

    def _deploy_state_machines(self, refs: dict[str, str]) -> None:
        sfn = boto3.client("stepfunctions", region_name=REGION)
        role = f"arn:aws:iam::{ACCOUNT}:role/milvus-cloud-local"
        for logical_id, machine in self.template.state_machines.items():
            arn = sfn.create_state_machine(
                name=logical_id, definition=json.dumps(render_definition(machine, refs)), roleArn=role
            )["stateMachineArn"]
            refs[logical_id] = arn
        # Now that every name is known, the functions' environment as template.yaml sets it.
        for fn in self.template.functions.values():
            for key, value in fn.environment.items():
                if key == "MONGODB_SECRET_ARN":
                    continue  # the local stack passes MONGODB_URI instead of a secret
                os.environ[key] = resolve(value, refs)

    def _start_http_front(self) -> str:
        from local.control import control_handler
        from local.http_front import compile_routes, make_server

        routes = compile_routes({fid: fn.routes for fid, fn in self.template.functions.items()})
        server = make_server("127.0.0.1", self.port, routes, self.registry.invoke, control_handler)
        thread = threading.Thread(target=server.serve_forever, name="http-front", daemon=True)
        thread.start()
        self._stops.append(server.server_close)
        self._stops.append(server.shutdown)
        return f"http://127.0.0.1:{server.server_address[1]}"


def read_stack_file(path: Path = STACK_FILE) -> dict[str, str]:
    return dict(json.loads(path.read_text()))
