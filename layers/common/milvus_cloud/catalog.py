"""The Milvus type catalog (DESIGN §5): a data file shipped in the layer, read and checked once.

Plain frozen dataclasses, not pydantic: the launch step reads the catalog and should not pay for
pydantic at its cold start. The API serves the catalog through its own pydantic view (models.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path
from typing import Any, Literal

NodeType = Literal["master", "worker"]
CATALOG_FILE = Path(__file__).with_name("milvus_types.json")


@dataclass(frozen=True)
class MilvusType:
    """One entry of the catalog. vCPUs, memory and GPUs are per node."""

    name: str
    description: str
    master_instance_type: str
    worker_instance_type: str | None
    worker_count: int
    vcpus: int
    memory_gib: int
    gpus: int
    min_disk_size: int
    max_disk_size: int

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> MilvusType:
        """An entry of milvus_types.json (hyphenated keys), checked: no unknown or missing key, sane numbers."""
        keys = {_key(f.name): f.name for f in fields(cls)}
        if extra := set(entry) - set(keys):
            raise ValueError(f"extra fields in the catalog entry: {sorted(extra)}")
        if missing := set(keys) - set(entry):
            raise ValueError(f"missing fields in the catalog entry: {sorted(missing)}")
        mtype = cls(**{name: entry[key] for key, name in keys.items()})
        positive = (mtype.vcpus, mtype.memory_gib, mtype.min_disk_size)
        if min(positive) <= 0 or mtype.worker_count < 0 or mtype.gpus < 0 or mtype.max_disk_size < mtype.min_disk_size:
            raise ValueError(f"catalog entry {mtype.name}: counts and sizes must be positive, disk bounds ordered")
        return mtype

    def to_entry(self) -> dict[str, Any]:
        return {_key(f.name): getattr(self, f.name) for f in fields(self)}

    def node_types(self) -> list[tuple[NodeType, str]]:
        """(node-type, EC2 instance type) for every node, master first."""
        workers: list[tuple[NodeType, str]] = [
            ("worker", self.worker_instance_type or self.master_instance_type)
        ] * self.worker_count
        return [("master", self.master_instance_type), *workers]


def _key(field_name: str) -> str:
    return "milvus-type" if field_name == "name" else field_name.replace("_", "-")


@cache
def load_catalog() -> dict[str, MilvusType]:
    raw = json.loads(CATALOG_FILE.read_text())
    types = [MilvusType.from_entry(item) for item in raw["milvus-types"]]
    return {t.name: t for t in types}


def find_type(name: str) -> MilvusType | None:
    return load_catalog().get(name)
