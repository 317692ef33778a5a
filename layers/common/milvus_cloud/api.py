"""What every API function shares: the resolver with the contract's error mapping, and authentication."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from milvus_cloud import request_context
from milvus_cloud.errors import ApiError, BadRequest, NotFound, ServiceUnavailable, Unauthorized
from milvus_cloud.models import ClusterActionRequest
from milvus_cloud.observability import logger, metrics, tracer
from milvus_cloud.settings import get_settings

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def failure(error: ApiError) -> Response[str]:
    return Response(
        status_code=error.status_code,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(error.body()),
        headers=error.headers,
    )


def success(model: BaseModel, status_code: int = 200) -> Response[str]:
    return Response(
        status_code=status_code,
        content_type=content_types.APPLICATION_JSON,
        body=model.model_dump_json(by_alias=True),
    )


def describe_validation_errors(errors: list[Any]) -> str:
    """Turn pydantic's error list into one sentence a person can act on."""
    reasons = []
    for err in errors[:5]:
        loc = [str(part) for part in err.get("loc", ()) if part not in ("body", "path", "query", "header")]
        field = ".".join(loc) or "body"
        if err.get("type") == "extra_forbidden":
            reasons.append(f"unknown field: {field}")
        elif err.get("type") == "missing":
            reasons.append(f"missing field: {field}")
        elif err.get("type") == "json_invalid":
            reasons.append("the body is not valid JSON")
        else:
            reasons.append(f"{field}: {err.get('msg', 'invalid value')}")
    return "; ".join(reasons) or "invalid request"


def json_body(text: str) -> Any:
    """json.loads, with a body nested too deeply for the parser refused as invalid JSON (a 400, not a 500)."""
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise json.JSONDecodeError("the body is nested too deeply", text[:100], 0) from exc


def build_resolver() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=json_body)

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response[str]:
        return failure(BadRequest(describe_validation_errors(list(exc.errors()))))

    @app.exception_handler(ApiError)
    def _api_error(exc: ApiError) -> Response[str]:
        return failure(exc)

    @app.exception_handler(Exception)
    def _fault(exc: Exception) -> Response[str]:
        return failure(map_fault(exc))

    @app.not_found
    def _not_found(_: Exception) -> Response[str]:
        return failure(NotFound("no such route", code="no-such-route"))

    return app


def map_fault(exc: Exception) -> ApiError:
    """MongoDB or AWS trouble is a 503 the client may retry; anything else is our bug: 500."""
    from pymongo.errors import PyMongoError  # imported here: the API functions all use MongoDB anyway

    retry_after = get_settings().retry_after_seconds
    if isinstance(exc, PyMongoError):
        logger.exception("MongoDB unavailable")
        return ServiceUnavailable(
            "the database is unavailable; retry later", retry_after=retry_after, code="database-unavailable"
        )
    if type(exc).__module__.startswith("botocore"):
        logger.exception("AWS call failed")
        return ServiceUnavailable(
            "AWS is unavailable or out of capacity; retry later", retry_after=retry_after, code="aws-unavailable"
        )
    logger.exception("unexpected error")
    return ApiError("internal error")


def request_token(app: APIGatewayRestResolver, body_token: str | None = None) -> str:
    """The session token from the body, or from `Authorization: Bearer <token>`."""
    if body_token:
        return body_token
    header = app.current_event.headers.get("Authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    raise Unauthorized("a session token is required: send session-token in the body or Authorization: Bearer <token>")


def authenticate(app: APIGatewayRestResolver, body_token: str | None = None, username: str | None = None) -> str:
    from milvus_cloud.logic.auth import authenticate_token  # lazy: public routes never load pymongo

    user = authenticate_token(request_token(app, body_token), username)
    request_context.authenticated_user.set(user)
    return user


def authenticate_action(app: APIGatewayRestResolver, body: ClusterActionRequest | None, milvus_name: str) -> str:
    """Delete, suspend and resume: the token from the optional body or the header; names must agree."""
    if body is None:
        return authenticate(app)
    if body.milvus_name is not None and body.milvus_name != milvus_name:
        raise BadRequest("milvus-name in the body must equal the one in the path", code="name-mismatch")
    return authenticate(app, body.session_token, body.username)


def as_json_request(event: dict[str, Any]) -> dict[str, Any]:
    """Every body is JSON by contract, whatever Content-Type the client sent (curl -d sends a form type)."""
    headers = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() != "content-type"}
    multi = {k: v for k, v in (event.get("multiValueHeaders") or {}).items() if k.lower() != "content-type"}
    return {
        **event,
        "headers": {**headers, "Content-Type": "application/json"},
        "multiValueHeaders": {**multi, "Content-Type": ["application/json"]},
    }


STATE_CHANGING = {"POST", "PUT", "DELETE", "PATCH"}


def audit(user: str, event: dict[str, Any], response: dict[str, Any]) -> None:
    """Record the call; an audit failure is logged, never turned into the user's error."""
    from milvus_cloud.dal.audit import record_action

    if request_context.nothing_changed.get():
        return
    try:
        body = json.loads(response.get("body") or "{}")
        record_action(
            user,
            f"{event['httpMethod']} {event.get('resource')}",
            (event.get("pathParameters") or {}).get("milvus-name") or body.get("milvus-name"),
            int(response["statusCode"]),
            body.get("code"),
            str((event.get("requestContext") or {}).get("requestId", "")),
        )
    except Exception:  # noqa: BLE001
        logger.exception("audit record failed")


def lambda_entry(app: APIGatewayRestResolver) -> Handler:
    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        request_context.start_invocation()
        response = app.resolve(as_json_request(event), context)
        user = request_context.authenticated_user.get()
        # Accepted changes only: a refused request writes nothing, not even to the audit trail.
        if user and event.get("httpMethod") in STATE_CHANGING and int(response["statusCode"]) < 400:
            audit(user, event, response)
        return response

    return handler
