"""What every workflow step shares: observability, and faults sorted into retry or roll back."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from milvus_cloud.errors import PermanentStepError, TransientStepError
from milvus_cloud.observability import logger, metrics, tracer
from milvus_cloud.spec import ClusterSpec

StepHandler = Callable[[dict[str, Any], Any], Any]
# Faults are sorted by module and name, so a step imports neither boto3 nor pymongo unless it uses them.
MONGO_TRANSIENT = {
    "AutoReconnect",
    "ConnectionFailure",
    "NetworkTimeout",
    "ServerSelectionTimeoutError",
    "ExecutionTimeout",
}


def workflow_step(fn: Callable[[dict[str, Any]], Any]) -> StepHandler:
    """Wrap a step: TransientStepError is retried by the state machine, PermanentStepError rolls back."""

    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    @wraps(fn)
    def handler(event: dict[str, Any], context: Any) -> Any:
        logger.append_keys(cluster=f"{event.get('username')}/{event.get('milvus-name')}")
        try:
            return fn(event)
        except Exception as exc:
            module = type(exc).__module__
            if module.startswith("botocore"):
                from milvus_cloud.dal.aws import error_code, is_transient  # only steps that called AWS pay for boto3

                message = f"{error_code(exc)}: {exc}"
                if is_transient(exc):
                    logger.warning("transient AWS fault", extra={"error": message})
                    raise TransientStepError(message) from exc
                logger.exception("permanent AWS fault")
                raise PermanentStepError(message) from exc
            if module.startswith("pymongo") and type(exc).__name__ in MONGO_TRANSIENT:
                raise TransientStepError(f"MongoDB unavailable: {exc}") from exc
            raise

    return handler


def spec_of(event: dict[str, Any]) -> ClusterSpec:
    return ClusterSpec.from_input(event)
