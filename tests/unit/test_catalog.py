"""The type catalog (DESIGN §5): a data file in the layer, with M5, a single-node type and a GPU type."""

from __future__ import annotations

import json

import pytest

from milvus_cloud.catalog import CATALOG_FILE, MilvusType, find_type, load_catalog

CATALOG = load_catalog()


def test_m5_is_a_master_and_one_worker() -> None:
    m5 = find_type("M5")
    assert m5 is not None
    assert m5.worker_count == 1
    assert m5.worker_instance_type
    assert m5.gpus == 0
    assert [node for node, _ in m5.node_types()] == ["master", "worker"]
    assert m5.node_types() == [("master", m5.master_instance_type), ("worker", m5.worker_instance_type)]


def test_there_is_a_single_node_type() -> None:
    single = [t for t in CATALOG.values() if t.worker_count == 0]
    assert single, "no single-node type"
    assert all(t.node_types() == [("master", t.master_instance_type)] for t in single)


def test_there_is_a_gpu_type_on_gpu_instances() -> None:
    gpu = [t for t in CATALOG.values() if t.gpus > 0]
    assert gpu, "no GPU type"
    for t in gpu:
        families = {instance_type.split(".")[0] for _, instance_type in t.node_types()}
        assert families <= {"g4dn", "g5", "g6", "g6e", "p3", "p4d", "p5"}, families


@pytest.mark.parametrize("milvus_type", sorted(CATALOG))
def test_bounds_are_sane(milvus_type: str) -> None:
    t = CATALOG[milvus_type]
    assert t.name == milvus_type
    assert 0 < t.min_disk_size <= t.max_disk_size <= 16384  # gp3's largest volume is 16 TiB
    assert t.vcpus > 0 and t.memory_gib > 0 and t.gpus >= 0
    assert t.worker_count >= 0
    assert (t.worker_instance_type is None) == (t.worker_count == 0)
    assert t.description
    assert len(t.node_types()) == 1 + t.worker_count


def test_names_are_unique_and_find_type_misses_unknown() -> None:
    raw = json.loads(CATALOG_FILE.read_text())["milvus-types"]
    names = [item["milvus-type"] for item in raw]
    assert len(names) == len(set(names)) == len(CATALOG)
    assert find_type("m5") is None  # names are exact
    assert find_type("NOPE") is None


def test_catalog_entries_refuse_unknown_fields() -> None:
    entry = json.loads(CATALOG_FILE.read_text())["milvus-types"][0]
    assert MilvusType.from_entry(entry).to_entry() == entry
    with pytest.raises(ValueError, match="extra"):
        MilvusType.from_entry({**entry, "price": 1})
    with pytest.raises(ValueError, match="missing"):
        MilvusType.from_entry({k: v for k, v in entry.items() if k != "gpus"})
    with pytest.raises(ValueError):
        MilvusType.from_entry({**entry, "min-disk-size": 0})
