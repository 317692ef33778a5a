"""POST /milvus/{milvus-name}/resume: start the instances again, at the same url (202)."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from milvus_cloud.api import authenticate_action, build_resolver, lambda_entry, success
from milvus_cloud.logic.lifecycle import change_cluster
from milvus_cloud.models import ClusterActionRequest, ClusterActionResponse
from milvus_cloud.openapi import responses

app = build_resolver()


@app.post("/milvus/<milvus_name>/resume", responses=responses(202, ClusterActionResponse), summary="Resume a cluster")
def resume(milvus_name: str, body: Annotated[ClusterActionRequest | None, Body()] = None) -> Response[str]:
    username = authenticate_action(app, body, milvus_name)
    return success(change_cluster(username, milvus_name, "resume"), 202)


lambda_handler = lambda_entry(app)
