"""POST /milvus: create a cluster (202; it keeps starting in the background)."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header

from milvus_cloud.api import authenticate, build_resolver, lambda_entry, success
from milvus_cloud.logic.create import create_cluster, idempotency_config
from milvus_cloud.models import CreateClusterRequest, CreateClusterResponse
from milvus_cloud.openapi import responses

app = build_resolver()


@app.post("/milvus", responses=responses(202, CreateClusterResponse), summary="Create a Milvus cluster")
def create(
    body: Annotated[CreateClusterRequest, Body()],
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> Response[str]:
    username = authenticate(app, body.session_token, body.username)
    idempotency_config.register_lambda_context(app.lambda_context)
    answer = create_cluster(username, body, idempotency_key)
    return success(CreateClusterResponse.model_validate(answer), 202)


lambda_handler = lambda_entry(app)
