"""EC2 user data that boots a customer's Milvus on Amazon Linux 2023 (x86_64).

``render_user_data`` fills ``userdata_templates/bootstrap.sh`` and embeds in it one of the Docker
Compose files beside it. On first boot the instance then waits for its data EBS volume, formats it
(xfs, only when blank) and mounts it on /var/lib/milvus by UUID; installs Docker (whose images also
live on that volume) and the pinned compose plugin, plus the NVIDIA driver and container toolkit on
GPU types; starts the stack through the systemd unit ``milvus-cloud.service`` (containers are also
``restart: always``, so a stopped and started instance comes back) and waits for Milvus's /healthz.
Progress goes to /var/log/milvus-cloud-bootstrap.log.

Topology (Milvus 2.6: one mixcoord, streaming nodes and the Woodpecker WAL kept in MinIO, so neither
Pulsar nor Kafka):

* single node (``worker_count == 0``), ``compose-standalone.yml``: ``milvus run standalone`` with etcd,
  MinIO and Attu on one bridge network. Host ports: 19530 (gRPC/REST), 9091 (healthz, metrics and the
  Milvus WebUI), 19531 (Attu, container port 3000). etcd and MinIO publish nothing.
* cluster master, ``compose-master.yml``: etcd :2379, MinIO :9000, Milvus mixcoord :53100 and proxy
  :19530 (+19529 internal, 9091 healthz/WebUI), and Attu :19531.
* cluster worker, ``compose-worker.yml``: Milvus querynode :21123, datanode :21124 and streamingnode
  :22222 (its embedded query node :21125), joined to etcd and MinIO on the master's private IP.

Cluster containers use host networking, since each Milvus component registers ``<private ip>:<port>``
in etcd for the others to dial: the security group must open those ports between the cluster's nodes.
MinIO keeps its documented default credentials (minioadmin) because it is reachable only inside that
group and the workers must know them. GPU types run ``milvusdb/milvus:<version>-gpu`` on every node,
each Milvus container reserving the instance's GPUs (query and data nodes are the ones using them).
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from pathlib import Path
from typing import Literal

from milvus_cloud.catalog import MilvusType

# Milvus 2.6 is the stable line whose cluster needs no Pulsar (mixcoord + streaming nodes + Woodpecker).
MILVUS_VERSION = "v2.6.16"
# etcd and MinIO as pinned by the docker-compose file Milvus ships with that release.
ETCD_IMAGE = "quay.io/coreos/etcd:v3.5.25"
MINIO_IMAGE = "minio/minio:RELEASE.2024-12-18T13-15-44Z"
# Attu 2.6.x is the Attu line made for Milvus 2.6.
ATTU_IMAGE = "zilliz/attu:v2.6.5"
# AL2023 packages no compose plugin: the script installs this release binary from GitHub.
COMPOSE_VERSION = "v2.40.3"
# NVIDIA's 580 long-term branch with the open kernel modules (Turing, e.g. the T4, and newer GPUs).
NVIDIA_DRIVER_STREAM = "580-open"
# EC2 rejects user data larger than 16 KiB.
USER_DATA_LIMIT = 16 * 1024

TEMPLATES = Path(__file__).with_name("userdata_templates")
_CLUSTER_KEY = re.compile(r"[a-z0-9-]+/[a-z0-9-]+")
_DEVICE = re.compile(r"/dev/[a-z0-9]+")
_PLACEHOLDER = re.compile(r"@@([A-Z_]+)@@")
# Hands every GPU of the instance to the Milvus containers (merged into the x-milvus anchor).
_GPU_DEPLOY = """\
  deploy:
    resources:
      reservations:
        devices:
          - driver: nvidia
            count: all
            capabilities: [gpu]"""


def render_user_data(
    *,
    milvus_type: MilvusType,
    node_type: Literal["master", "worker"],
    cluster_key: str,
    master_private_ip: str | None,
    data_device_name: str = "/dev/sdf",
) -> str:
    """The bash user-data script for one node of a ``milvus_type`` cluster.

    ``master_private_ip`` is None for the master and the master's private IPv4 for a worker.
    Raises ValueError on arguments that do not describe a node of this type.
    """
    if not _CLUSTER_KEY.fullmatch(cluster_key):
        raise ValueError(f"cluster_key must be <username>/<milvus-name>: {cluster_key!r}")
    if not _DEVICE.fullmatch(data_device_name):
        raise ValueError(f"not a device name like /dev/sdf: {data_device_name!r}")
    layout, master_ip = _layout(milvus_type, node_type, master_private_ip)
    gpu = milvus_type.gpus > 0
    compose = _fill(
        (TEMPLATES / f"compose-{layout}.yml").read_text(),
        MILVUS_IMAGE=f"milvusdb/milvus:{MILVUS_VERSION}{'-gpu' if gpu else ''}",
        ETCD_IMAGE=ETCD_IMAGE,
        MINIO_IMAGE=MINIO_IMAGE,
        ATTU_IMAGE=ATTU_IMAGE,
        MASTER_IP=master_ip,
        GPU_DEPLOY=_GPU_DEPLOY if gpu else "",
    )
    script = _fill(
        (TEMPLATES / "bootstrap.sh").read_text(),
        CLUSTER_KEY=shlex.quote(cluster_key),
        NODE_ROLE=shlex.quote(layout),
        MASTER_IP=shlex.quote(master_ip),
        DATA_DEVICE=shlex.quote(data_device_name),
        GPU="1" if gpu else "0",
        COMPOSE_VERSION=shlex.quote(COMPOSE_VERSION),
        NVIDIA_DRIVER_STREAM=shlex.quote(NVIDIA_DRIVER_STREAM),
        COMPOSE_FILE=compose.rstrip("\n"),
    )
    if len(script.encode()) > USER_DATA_LIMIT:
        raise RuntimeError(f"user data is {len(script.encode())} bytes, over EC2's {USER_DATA_LIMIT}")
    return script


def _layout(milvus_type: MilvusType, node_type: str, master_private_ip: str | None) -> tuple[str, str]:
    """(template layout, master IP or "") for this node, checking the arguments agree."""
    if node_type == "master":
        if master_private_ip is not None:
            raise ValueError("the master is not given a master IP")
        return ("master" if milvus_type.worker_count else "standalone"), ""
    if node_type != "worker":
        raise ValueError(f"node_type must be master or worker: {node_type!r}")
    if milvus_type.worker_count == 0:
        raise ValueError(f"milvus type {milvus_type.name} has no workers")
    if master_private_ip is None:
        raise ValueError("a worker needs the master's private IP")
    try:
        return "worker", str(ipaddress.IPv4Address(master_private_ip))
    except ValueError as exc:
        raise ValueError(f"master_private_ip is not an IPv4 address: {master_private_ip!r}") from exc


def _fill(template: str, **values: str) -> str:
    """Replace each @@NAME@@; a placeholder with no value is a template bug and raises KeyError."""
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)
