"""GET /milvus: the caller's clusters, and only theirs."""

from aws_lambda_powertools.event_handler import Response

from milvus_cloud.api import authenticate, build_resolver, lambda_entry, success
from milvus_cloud.logic.read import list_user_clusters
from milvus_cloud.models import ClusterListResponse
from milvus_cloud.openapi import responses

app = build_resolver()


@app.get("/milvus", responses=responses(200, ClusterListResponse), summary="List your clusters")
def list_clusters() -> Response[str]:
    username = authenticate(app)
    return success(list_user_clusters(username))


lambda_handler = lambda_entry(app)
