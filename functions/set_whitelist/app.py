"""PUT /milvus/{milvus-name}/whitelist: set the whole whitelist (declaratively)."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from milvus_cloud.api import authenticate, build_resolver, lambda_entry, success
from milvus_cloud.logic.whitelist import set_whitelist
from milvus_cloud.models import WhitelistRequest, WhitelistResponse
from milvus_cloud.openapi import responses

app = build_resolver()


@app.put("/milvus/<milvus_name>/whitelist", responses=responses(200, WhitelistResponse), summary="Set the whitelist")
def put_whitelist(milvus_name: str, body: Annotated[WhitelistRequest, Body()]) -> Response[str]:
    username = authenticate(app, body.session_token, body.username)
    return success(set_whitelist(username, milvus_name, body))


lambda_handler = lambda_entry(app)
