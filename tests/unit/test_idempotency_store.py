"""The MongoDB persistence layer for Powertools' Idempotency utility."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
    IdempotencyValidationError,
)

from local.lambdas import LocalContext
from milvus_cloud.dal.idempotency import MongoPersistenceLayer
from milvus_cloud.dal.mongo import IDEMPOTENCY, get_db
from tests.support import Env

DATA: dict[str, Any] = {"key": "k1", "body": {"a": 1}}


def layer(expires: int = 60) -> MongoPersistenceLayer:
    store = MongoPersistenceLayer()
    store.configure(
        IdempotencyConfig(event_key_jmespath="key", payload_validation_jmespath="body", expires_after_seconds=expires),
        function_name="unit",
    )
    return store


def test_in_progress_then_completed_then_deleted(env: Env) -> None:
    store = layer()
    store.save_inprogress(DATA, remaining_time_in_millis=30_000)
    assert store.get_record(DATA).status == "INPROGRESS"
    with pytest.raises(IdempotencyItemAlreadyExistsError):
        store.save_inprogress(DATA, remaining_time_in_millis=30_000)
    store.save_success(DATA, {"answer": 42})
    record = store.get_record(DATA)
    assert record.status == "COMPLETED"
    assert record.response_json_as_dict() == {"answer": 42}
    assert env.db[IDEMPOTENCY].count_documents({}) == 1
    store.delete_record(DATA, RuntimeError("boom"))
    with pytest.raises(IdempotencyItemNotFoundError):
        store.get_record(DATA)


def test_the_same_key_with_another_payload_is_refused(env: Env) -> None:
    store = layer()
    store.save_inprogress(DATA, remaining_time_in_millis=30_000)
    store.save_success(DATA, {"answer": 42})
    with pytest.raises(IdempotencyValidationError):
        store.get_record({"key": "k1", "body": {"a": 2}})
    with pytest.raises(IdempotencyItemNotFoundError):
        store.get_record({"key": "k2", "body": {"a": 1}})


def test_an_expired_record_is_taken_over(env: Env) -> None:
    store = layer()
    store.save_inprogress(DATA, remaining_time_in_millis=30_000)
    store.save_success(DATA, {"answer": 1})
    env.db[IDEMPOTENCY].update_many({}, {"$set": {"expiry": int(time.time()) - 10}})
    store.save_inprogress(DATA, remaining_time_in_millis=30_000)
    assert store.get_record(DATA).status == "INPROGRESS"
    assert env.db[IDEMPOTENCY].count_documents({}) == 1


def test_an_in_progress_record_is_taken_over_only_after_its_lambda_timed_out(env: Env) -> None:
    store = layer()
    store.save_inprogress(DATA, remaining_time_in_millis=30_000)
    with pytest.raises(IdempotencyItemAlreadyExistsError):
        store.save_inprogress(DATA, remaining_time_in_millis=30_000)
    env.db[IDEMPOTENCY].update_many({}, {"$set": {"in-progress-expiry": int(time.time() * 1000) - 1000}})
    store.save_inprogress(DATA, remaining_time_in_millis=30_000)
    assert env.db[IDEMPOTENCY].count_documents({}) == 1


def test_records_carry_a_ttl_and_the_ttl_index_removes_them(env: Env) -> None:
    store = layer(expires=3600)
    store.save_inprogress(DATA, remaining_time_in_millis=30_000)
    doc = env.db[IDEMPOTENCY].find_one()
    assert doc is not None and doc["expires-at"].timestamp() == pytest.approx(time.time() + 3600, abs=5)
    ttl = [ix for ix in get_db()[IDEMPOTENCY].index_information().values() if "expireAfterSeconds" in ix]
    assert ttl and ttl[0]["key"] == [("expires-at", 1)]
    env.db[IDEMPOTENCY].update_many({}, {"$set": {"expires-at": doc["expires-at"].replace(year=2000)}})
    env.db.client.admin.command("secantusAdmin.pruneTtl")
    assert env.db[IDEMPOTENCY].count_documents({}) == 0


def test_an_idempotent_function_runs_once_per_key(env: Env) -> None:
    calls: list[dict[str, Any]] = []
    config = IdempotencyConfig(event_key_jmespath="key", payload_validation_jmespath="body")
    config.register_lambda_context(LocalContext(function_name="unit"))

    @idempotent_function(data_keyword_argument="payload", persistence_store=MongoPersistenceLayer(), config=config)
    def work(payload: dict[str, Any]) -> dict[str, Any]:
        calls.append(payload)
        return {"n": len(calls)}

    assert work(payload=DATA) == {"n": 1}
    assert work(payload=DATA) == {"n": 1}
    assert work(payload={"key": "k2", "body": {"a": 1}}) == {"n": 2}
    with pytest.raises(IdempotencyValidationError):
        work(payload={"key": "k1", "body": {"a": 2}})
    assert len(calls) == 2


def test_a_failed_call_can_be_retried_with_the_same_key(env: Env) -> None:
    attempts: list[int] = []
    config = IdempotencyConfig(event_key_jmespath="key")
    config.register_lambda_context(LocalContext(function_name="unit"))

    @idempotent_function(data_keyword_argument="payload", persistence_store=MongoPersistenceLayer(), config=config)
    def flaky(payload: dict[str, Any]) -> dict[str, Any]:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("first try fails")
        return {"ok": True}

    with pytest.raises(RuntimeError):
        flaky(payload=DATA)
    assert flaky(payload=DATA) == {"ok": True}
    assert len(attempts) == 2


def test_a_duplicate_while_the_first_is_running_sees_in_progress(env: Env) -> None:
    config = IdempotencyConfig(event_key_jmespath="key")
    config.register_lambda_context(LocalContext(function_name="unit"))
    seen: list[type[Exception]] = []

    @idempotent_function(data_keyword_argument="payload", persistence_store=MongoPersistenceLayer(), config=config)
    def work(payload: dict[str, Any], depth: int = 0) -> dict[str, Any]:
        if depth == 0:  # the same request arrives again while this one still runs
            with pytest.raises(IdempotencyAlreadyInProgressError) as info:
                work(payload=payload, depth=1)
            seen.append(info.type)
        return {"depth": depth}

    assert work(payload=DATA) == {"depth": 0}
    assert seen == [IdempotencyAlreadyInProgressError]
