"""A MongoDB persistence layer for Powertools' Idempotency utility (it supports custom stores)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import STATUS_CONSTANTS, DataRecord
from pymongo.errors import DuplicateKeyError

from milvus_cloud.dal.mongo import IDEMPOTENCY, get_db


class MongoPersistenceLayer(BasePersistenceLayer):
    def _collection(self) -> Any:
        return get_db()[IDEMPOTENCY]

    def _document(self, record: DataRecord) -> dict[str, Any]:
        expiry = record.expiry_timestamp or 0
        return {
            "_id": record.idempotency_key,
            "status": record.status,
            "expiry": expiry,
            "in-progress-expiry": record.in_progress_expiry_timestamp,
            "payload-hash": record.payload_hash,
            "data": record.response_data,
            "expires-at": dt.datetime.fromtimestamp(expiry, dt.UTC),  # the TTL index removes it then
        }

    @staticmethod
    def _record(doc: dict[str, Any]) -> DataRecord:
        return DataRecord(
            idempotency_key=doc["_id"],
            status=doc["status"],
            expiry_timestamp=doc.get("expiry"),
            in_progress_expiry_timestamp=doc.get("in-progress-expiry"),
            response_data=doc.get("data") or "",
            payload_hash=doc.get("payload-hash") or "",
        )

    def _get_record(self, idempotency_key: str) -> DataRecord:
        doc = self._collection().find_one({"_id": idempotency_key})
        if doc is None:
            raise IdempotencyItemNotFoundError
        return self._record(doc)

    def _put_record(self, data_record: DataRecord) -> None:
        doc = self._document(data_record)
        try:
            self._collection().insert_one(doc)
            return
        except DuplicateKeyError:
            pass
        now = dt.datetime.now()
        # Take over only a record that expired, or an in-progress one whose Lambda timed out.
        replaced = self._collection().replace_one(
            {
                "_id": data_record.idempotency_key,
                "$or": [
                    {"expiry": {"$lt": int(now.timestamp())}},
                    {
                        "status": STATUS_CONSTANTS["INPROGRESS"],
                        "in-progress-expiry": {"$ne": None, "$lt": int(now.timestamp() * 1000)},
                    },
                ],
            },
            doc,
        )
        if replaced.matched_count == 0:
            existing = self._collection().find_one({"_id": data_record.idempotency_key})
            old = self._record(existing) if existing else None
            if old is not None:
                self._validate_payload(data_payload=data_record, stored_data_record=old)  # same key, other body
            raise IdempotencyItemAlreadyExistsError(old_data_record=old)

    def _update_record(self, data_record: DataRecord) -> None:
        doc = self._document(data_record)
        doc.pop("_id")
        doc.pop("in-progress-expiry")
        self._collection().update_one({"_id": data_record.idempotency_key}, {"$set": doc})

    def _delete_record(self, data_record: DataRecord) -> None:
        self._collection().delete_one({"_id": data_record.idempotency_key})
