"""milvus-cloud shared layer: settings, models, errors and the EC2/MongoDB data access."""
