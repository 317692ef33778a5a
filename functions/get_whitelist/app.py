"""GET /milvus/{milvus-name}/whitelist: the whitelist as applied."""

from aws_lambda_powertools.event_handler import Response

from milvus_cloud.api import authenticate, build_resolver, lambda_entry, success
from milvus_cloud.logic.read import get_whitelist
from milvus_cloud.models import WhitelistResponse
from milvus_cloud.openapi import responses

app = build_resolver()


@app.get("/milvus/<milvus_name>/whitelist", responses=responses(200, WhitelistResponse), summary="Read the whitelist")
def read_whitelist(milvus_name: str) -> Response[str]:
    username = authenticate(app)
    return success(get_whitelist(username, milvus_name))


lambda_handler = lambda_entry(app)
