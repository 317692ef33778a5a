"""GET /milvus-types: the type catalog. Public: no token, no database."""

from aws_lambda_powertools.event_handler import Response

from milvus_cloud.api import build_resolver, lambda_entry, success
from milvus_cloud.logic.types import milvus_types
from milvus_cloud.models import MilvusTypesResponse
from milvus_cloud.openapi import responses

app = build_resolver()


@app.get("/milvus-types", responses=responses(200, MilvusTypesResponse, public=True), summary="The type catalog")
def list_types() -> Response[str]:
    return success(milvus_types())


lambda_handler = lambda_entry(app)
