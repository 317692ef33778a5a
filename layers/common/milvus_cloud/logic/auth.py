"""Session authentication: a token acts only for its own user."""

from __future__ import annotations

from datetime import timedelta

from milvus_cloud.dal import sessions
from milvus_cloud.errors import Forbidden, Unauthorized
from milvus_cloud.settings import get_settings


def authenticate_token(token: str, username: str | None = None) -> str:
    """The token's username. 401 for a missing, unknown or expired token; 403 for someone else's username."""
    session = sessions.find_session(token)
    if session is None:
        raise Unauthorized("the session token is unknown or expired; ask an operator for a new one")
    if username is not None and username != session["username"]:
        raise Forbidden("the session token does not belong to this username")
    return str(session["username"])


def issue_session(username: str, ttl_hours: float | None = None) -> str:
    hours = ttl_hours if ttl_hours is not None else get_settings().session_ttl_hours
    return sessions.issue_token(username, timedelta(hours=hours))
