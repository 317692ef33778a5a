"""Session tokens: only a hash at rest, with the username and an expiry that a TTL index enforces."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from milvus_cloud.dal import sessions
from milvus_cloud.dal.mongo import SESSIONS, get_db
from milvus_cloud.errors import Forbidden, Unauthorized
from milvus_cloud.logic.auth import authenticate_token, issue_session
from tests.support import Env


def test_only_the_hash_is_stored(env: Env) -> None:
    token = sessions.issue_token("alice", timedelta(hours=1))
    docs = list(env.db[SESSIONS].find())
    assert len(docs) == 1
    doc = docs[0]
    assert doc["_id"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in {str(v) for v in doc.values()}
    assert doc["username"] == "alice"
    assert timedelta(minutes=59) < doc["expires-at"] - datetime.now(UTC) <= timedelta(hours=1)


def test_tokens_are_long_and_distinct(env: Env) -> None:
    tokens = {sessions.issue_token("alice", timedelta(hours=1)) for _ in range(20)}
    assert len(tokens) == 20
    assert all(len(t) >= 32 for t in tokens)


def test_find_session_by_token(env: Env) -> None:
    token = sessions.issue_token("alice", timedelta(hours=1))
    session = sessions.find_session(token)
    assert session is not None and session["username"] == "alice"
    assert sessions.find_session(token + "x") is None
    assert sessions.find_session(sessions.hash_token(token)) is None  # the stored hash is no token


def test_an_expired_token_is_refused_before_any_sweep(env: Env) -> None:
    token = sessions.issue_token("alice", timedelta(seconds=-1))
    assert env.db[SESSIONS].count_documents({}) == 1  # still stored: the sweep has not run
    assert sessions.find_session(token) is None
    with pytest.raises(Unauthorized):
        authenticate_token(token)


def test_ttl_index_exists_and_removes_expired_sessions(env: Env) -> None:
    live = sessions.issue_token("alice", timedelta(hours=1))
    sessions.issue_token("bob", timedelta(seconds=-5))
    indexes = get_db()[SESSIONS].index_information()
    ttl = [ix for ix in indexes.values() if "expireAfterSeconds" in ix]
    assert ttl and ttl[0]["key"] == [("expires-at", 1)] and ttl[0]["expireAfterSeconds"] == 0
    env.db.client.admin.command("secantusAdmin.pruneTtl")
    assert [d["username"] for d in env.db[SESSIONS].find()] == ["alice"]
    assert sessions.find_session(live) is not None


def test_authenticate_token(env: Env, issue_token: Callable[..., str]) -> None:
    token = issue_token("alice")
    assert authenticate_token(token) == "alice"
    assert authenticate_token(token, "alice") == "alice"
    with pytest.raises(Forbidden):
        authenticate_token(token, "bob")
    with pytest.raises(Unauthorized):
        authenticate_token("not-a-token", "alice")


def test_issue_session_uses_the_configured_ttl(env: Env) -> None:
    env.set(SESSION_TTL_HOURS=2)
    issue_session("alice")
    doc = env.db[SESSIONS].find_one()
    assert doc is not None
    assert timedelta(hours=1, minutes=59) < doc["expires-at"] - datetime.now(UTC) <= timedelta(hours=2)
