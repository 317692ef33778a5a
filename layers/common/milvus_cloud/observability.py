"""Powertools Logger (JSON, correlation id), Tracer and Metrics, shared by every function."""

import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer

# A route that records no business metric is normal; Powertools would warn on every call.
warnings.filterwarnings("ignore", message="No application metrics to publish")

logger = Logger(service="milvus-cloud")
tracer = Tracer(service="milvus-cloud")
metrics = Metrics(namespace="MilvusCloud", service="milvus-cloud")
