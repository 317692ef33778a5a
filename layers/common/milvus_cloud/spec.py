"""What the workflows know about a cluster: the state machines' input, written by create and delete.

A frozen dataclass, not pydantic: every workflow step reads it, and none of them validates a request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ClusterSpec:
    username: str
    milvus_name: str
    milvus_type: str
    disk_size: int
    security_group_id: str
    allocation_id: str

    FIELDS = ("username", "milvus-name", "milvus-type", "disk-size", "security-group-id", "allocation-id")

    @property
    def key(self) -> str:
        return f"{self.username}/{self.milvus_name}"

    @classmethod
    def from_input(cls, state: dict[str, Any]) -> ClusterSpec:
        """From a state machine's state (which holds more than the spec)."""
        return cls(*(state[key] for key in cls.FIELDS))

    def to_input(self) -> dict[str, Any]:
        return dict(zip(self.FIELDS, (getattr(self, k.replace("-", "_")) for k in self.FIELDS), strict=True))
