"""GET /milvus/{milvus-name}: describe one of the caller's clusters."""

from aws_lambda_powertools.event_handler import Response

from milvus_cloud.api import authenticate, build_resolver, lambda_entry, success
from milvus_cloud.logic.read import describe_cluster
from milvus_cloud.models import ClusterResponse
from milvus_cloud.openapi import responses

app = build_resolver()


@app.get("/milvus/<milvus_name>", responses=responses(200, ClusterResponse), summary="Describe a cluster")
def describe(milvus_name: str) -> Response[str]:
    username = authenticate(app)
    return success(describe_cluster(username, milvus_name))


lambda_handler = lambda_entry(app)
