"""The orphan sweep end to end (issue 4, item 5): `python -m local sweep` (the make target's command) against
the local stack, with orphans planted in its moto and MongoDB next to a healthy running cluster. A dry run
reports them and removes nothing; `--apply` removes them (and marks the stuck record failed) and leaves the
healthy cluster exactly as it was."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.e2e.conftest import ROOT, Stack, stack_env

Finding = tuple[str, str, str | None]


def sweep(stack: Stack, *args: str) -> dict[str, Any]:
    """Run the sweep command; its report (the JSON document it prints after its log lines)."""
    done = subprocess.run(
        [sys.executable, "-m", "local", "sweep", *args],
        cwd=ROOT,
        env=stack_env(Path(stack.info["stack_file"])),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    start = lines.index("{")
    report: dict[str, Any] = json.loads("\n".join(lines[start:]))
    return report


def findings(report: dict[str, Any], part: str = "found") -> set[Finding]:
    return {(f["kind"], f["resource_id"], f["cluster"]) for f in report[part]}


def tags(key: str, node_type: str | None = None) -> list[dict[str, str]]:
    username, name = key.split("/")
    values = {
        "username": username,
        "milvus-name": name,
        "milvus-username": key,
        "Name": f"milvus-{username}-{name}",
        "managed-by": "milvus-cloud",
    }
    if node_type:
        values["node-type"] = node_type
    return [{"Key": k, "Value": v} for k, v in values.items()]


def healthy_state(stack: Stack, username: str, name: str) -> dict[str, Any]:
    key = [{"Name": "tag:milvus-username", "Values": [f"{username}/{name}"]}]
    record = stack.record(username, name)
    assert record is not None
    rules = stack.ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [record["security-group-id"]]}]
    )["SecurityGroupRules"]
    return {
        "record": record,
        "instances": sorted((i["InstanceId"], i["State"]["Name"]) for i in stack.instances(key)),
        "volumes": sorted((v["VolumeId"], v["State"]) for v in stack.ec2.describe_volumes(Filters=key)["Volumes"]),
        "addresses": sorted(
            (a["AllocationId"], a.get("InstanceId")) for a in stack.ec2.describe_addresses(Filters=key)["Addresses"]
        ),
        "rules": sorted(r["SecurityGroupRuleId"] for r in rules),
    }


def test_the_sweep_command_reports_then_removes_planted_orphans_only(stack: Stack, user: str) -> None:
    token = stack.token(user)
    assert stack.create(token, user, "keep-cats", "S1", 20).status_code == 202
    assert stack.wait_for(token, "keep-cats")["state"] == "running"
    whitelist = {
        "session-token": token,
        "username": user,
        "milvus-name": "keep-cats",
        "ip-ranges": [{"source-ip": "198.51.100.0/24", "port-type": "milvus-port"}],
    }
    assert stack.request("PUT", "/milvus/keep-cats/whitelist", json=whitelist).status_code == 200
    stack.quiesce()
    baseline = findings(sweep(stack))  # whatever earlier tests on this stack left (normally nothing)
    healthy = healthy_state(stack, user, "keep-cats")
    [master] = stack.instances([{"Name": "tag:milvus-username", "Values": [f"{user}/keep-cats"]}])

    ghost = f"ghost-{uuid.uuid4().hex[:8]}"
    ec2 = stack.ec2
    orphan_instance = ec2.run_instances(
        ImageId=master["ImageId"],
        MinCount=1,
        MaxCount=1,
        InstanceType="m5.xlarge",
        SubnetId=master["SubnetId"],
        BlockDeviceMappings=[
            {"DeviceName": master["RootDeviceName"], "Ebs": {"VolumeSize": 8, "DeleteOnTermination": True}}
        ],
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": tags(f"{ghost}/one", "master")},
            {"ResourceType": "volume", "Tags": tags(f"{ghost}/one", "master")},
        ],
    )["Instances"][0]["InstanceId"]
    orphan_volume = ec2.create_volume(
        AvailabilityZone=master["Placement"]["AvailabilityZone"],
        Size=20,
        VolumeType="gp3",
        Encrypted=True,
        TagSpecifications=[{"ResourceType": "volume", "Tags": tags(f"{ghost}/two", "worker")}],
    )["VolumeId"]
    orphan_address = ec2.allocate_address(
        Domain="vpc", TagSpecifications=[{"ResourceType": "elastic-ip", "Tags": tags(f"{ghost}/three")}]
    )["AllocationId"]
    orphan_group = ec2.create_security_group(
        GroupName=f"sg-{ghost}-four",
        Description="milvus-cloud cluster whitelist",
        VpcId=master["VpcId"],
        TagSpecifications=[{"ResourceType": "security-group", "Tags": tags(f"{ghost}/four")}],
    )["GroupId"]
    now = datetime.now(UTC)
    stack.clusters.insert_one(
        {
            "username": ghost,
            "milvus-name": "stuck",
            "state": "creating",
            "milvus-type": "S1",
            "disk-size": 20,
            "instances": [],
            "created-at": now.isoformat(),
            "updated-at": now.isoformat(),
        }
    )
    planted = {
        ("instance", orphan_instance, f"{ghost}/one"),
        ("volume", orphan_volume, f"{ghost}/two"),
        ("address", orphan_address, f"{ghost}/three"),
        ("security-group", orphan_group, f"{ghost}/four"),
        ("stuck-record", f"{ghost}/stuck", f"{ghost}/stuck"),
    }

    dry = sweep(stack)

    assert dry["dry-run"] is True
    assert findings(dry) == baseline | planted
    assert dry["removed"] == []
    assert [i["InstanceId"] for i in stack.instances([{"Name": "instance-id", "Values": [orphan_instance]}])]
    assert ec2.describe_volumes(VolumeIds=[orphan_volume])["Volumes"]
    assert ec2.describe_addresses(AllocationIds=[orphan_address])["Addresses"]
    assert ec2.describe_security_groups(GroupIds=[orphan_group])["SecurityGroups"]
    stuck = stack.record(ghost, "stuck")
    assert stuck is not None and stuck["state"] == "creating"

    applied = sweep(stack, "--apply")

    assert applied["dry-run"] is False
    assert planted <= findings(applied, "removed")
    assert not stack.instances([{"Name": "instance-id", "Values": [orphan_instance]}])  # not live any more
    assert not ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": [orphan_volume]}])["Volumes"]
    assert orphan_address not in {a["AllocationId"] for a in ec2.describe_addresses()["Addresses"]}
    assert orphan_group not in {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]}
    stuck = stack.record(ghost, "stuck")
    assert stuck is not None and stuck["state"] == "failed" and stuck["state-reason"]
    assert healthy_state(stack, user, "keep-cats") == healthy
    described = stack.describe(token, "keep-cats")
    assert described.status_code == 200 and described.json()["state"] == "running"
    # Nothing planted is found any more; the failed stuck record is the user's to delete.
    assert not findings(sweep(stack)) & planted
    stack.clusters.delete_one({"username": ghost, "milvus-name": "stuck"})
