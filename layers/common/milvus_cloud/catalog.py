"""The Milvus type catalog (DESIGN §5): a data file shipped in the layer, read once."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

NodeType = Literal["master", "worker"]
CATALOG_FILE = Path(__file__).with_name("milvus_types.json")


class MilvusType(BaseModel):
    """One entry of the catalog. vCPUs, memory and GPUs are per node."""

    model_config = ConfigDict(populate_by_name=True, frozen=True, extra="forbid")

    name: str = Field(alias="milvus-type")
    description: str
    master_instance_type: str = Field(alias="master-instance-type")
    worker_instance_type: str | None = Field(alias="worker-instance-type")
    worker_count: int = Field(alias="worker-count", ge=0)
    vcpus: int = Field(gt=0)
    memory_gib: int = Field(alias="memory-gib", gt=0)
    gpus: int = Field(ge=0)
    min_disk_size: int = Field(alias="min-disk-size", gt=0)
    max_disk_size: int = Field(alias="max-disk-size", gt=0)

    def node_types(self) -> list[tuple[NodeType, str]]:
        """(node-type, EC2 instance type) for every node, master first."""
        workers: list[tuple[NodeType, str]] = [
            ("worker", self.worker_instance_type or self.master_instance_type)
        ] * self.worker_count
        return [("master", self.master_instance_type), *workers]


@cache
def load_catalog() -> dict[str, MilvusType]:
    raw = json.loads(CATALOG_FILE.read_text())
    types = [MilvusType.model_validate(item) for item in raw["milvus-types"]]
    return {t.name: t for t in types}


def find_type(name: str) -> MilvusType | None:
    return load_catalog().get(name)
