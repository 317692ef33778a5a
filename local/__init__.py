"""The local stack: template.yaml run on moto (server mode) and SecantusDB, with no Docker."""
