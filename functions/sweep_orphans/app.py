"""Scheduled: find (and, unless dry-run, remove) AWS resources of milvus-cloud that no record accounts for."""

from collections import Counter
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from milvus_cloud.logic.sweep import sweep
from milvus_cloud.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    report = sweep(dry_run=event.get("dry-run"))
    for kind, count in Counter(f["kind"] for f in report["found"]).items():
        metrics.add_metric(name=f"Orphans.{kind}", unit=MetricUnit.Count, value=count)
    metrics.add_metric(name="OrphansRemoved", unit=MetricUnit.Count, value=len(report["removed"]))
    return report
