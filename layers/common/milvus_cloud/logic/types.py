"""The type catalog as the API serves it."""

from milvus_cloud.catalog import load_catalog
from milvus_cloud.models import MilvusTypesResponse


def milvus_types() -> MilvusTypesResponse:
    entries = [t.to_entry() for t in load_catalog().values()]
    return MilvusTypesResponse.model_validate({"milvus-types": entries})
